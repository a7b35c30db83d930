"""The window's banner (a message across the top, never modal) and its first size."""
from __future__ import annotations

from PySide6 import QtWidgets


class Banner(QtWidgets.QFrame):
    """A message across the top of the window with optional action buttons (never modal)."""

    def __init__(self, parent: QtWidgets.QWidget):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setStyleSheet("#banner { background: #fff3cd; color: #5c4400; border-bottom: 1px solid #e0c36a; }")
        self.text = QtWidgets.QLabel(self)
        self.text.setObjectName("banner_text")
        self.text.setWordWrap(True)
        self.row = QtWidgets.QHBoxLayout(self)
        self.row.addWidget(self.text, 1)
        self.buttons: list[QtWidgets.QPushButton] = []
        self.hide()

    def say(self, text: str, actions: tuple[tuple[str, object], ...] = ()) -> None:
        for button in self.buttons:
            button.deleteLater()
        self.buttons = []
        for label, slot in (*actions, ("Dismiss", None)):
            button = QtWidgets.QPushButton(label, self)
            button.setObjectName(f"banner_{label.split()[0].lower()}")
            button.clicked.connect(self.hide)
            if slot is not None:
                button.clicked.connect(slot)
            self.row.addWidget(button)
            self.buttons.append(button)
        self.text.setText(text)
        self.show()


def fitting_size(window: QtWidgets.QWidget, wanted: tuple[int, int] = (1440, 900)) -> tuple[int, int]:
    """The window's first size: `wanted`, shrunk to the screen's free area (title bar and frame included)."""
    screen = window.screen() or QtWidgets.QApplication.primaryScreen()
    if screen is None:
        return wanted
    free = screen.availableGeometry()
    return min(wanted[0], free.width() - 20), min(wanted[1], free.height() - 60)
