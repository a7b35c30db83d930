"""The Help menu: a sheet of the keyboard shortcuts (read from the menus themselves, so it never
goes out of date) and the first-run hint that says what to do first."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtGui, QtWidgets

if TYPE_CHECKING:
    from nodeflow.gui.window import MainWindow

FIRST_STEPS = ("New here? Open an example (File > Examples > digits_cnn), then press Run (F5): it trains in "
               "seconds, and its curves, checkpoints and results appear below. Check (F6) shows what flows on "
               "each link without training.")
OPENED_STEPS = ("New here? Press Run (F5) to train this workflow: its curves, checkpoints and results appear "
                "below. Check (F6) shows what flows on each link without training; File > Examples has more.")
CANVAS_KEYS = (("Tab", "Search the node types; the node lands where the cursor was"),
               ("Double-click a node", "Edit its parameters"),
               ("Drag from an output to an input", "Link two nodes"),
               ("Scroll / middle-drag", "Zoom / pan the canvas"))


def shortcuts(window: QtWidgets.QMainWindow) -> list[tuple[str, str, str]]:
    """(menu, command, keys) for every menu command that has a shortcut."""
    rows = []
    for menu_action in window.menuBar().actions():
        menu = menu_action.menu()
        for action in menu.actions() if menu else ():
            named = [k.toString(QtGui.QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
            keys = ", ".join(k for i, k in enumerate(named) if i == 0 or "+" in k)  # not X11's F14 or Undo keys
            if keys:
                rows.append((menu_action.text().replace("&", ""), action.text().replace("&", ""), keys))
    return rows


class ShortcutSheet(QtWidgets.QDialog):
    def __init__(self, window: QtWidgets.QMainWindow):
        super().__init__(window)
        self.setObjectName("shortcut_sheet")
        self.setWindowTitle("Keyboard shortcuts")
        rows = [(keys, f"{menu} > {command}") for menu, command, keys in shortcuts(window)] + list(CANVAS_KEYS)
        table = QtWidgets.QTableWidget(len(rows), 2, self)
        table.setObjectName("shortcut_table")
        table.setHorizontalHeaderLabels(["Keys", "Does"])
        table.verticalHeader().hide()
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for r, (keys, does) in enumerate(rows):
            table.setItem(r, 0, QtWidgets.QTableWidgetItem(keys))
            table.setItem(r, 1, QtWidgets.QTableWidgetItem(does))
        table.resizeColumnsToContents()
        table.horizontalHeader().setStretchLastSection(True)
        close = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(table, 1)
        layout.addWidget(close)
        screen = window.screen() or QtWidgets.QApplication.primaryScreen()
        room = screen.availableGeometry().height() - 80 if screen is not None else 600
        self.resize(680, min(room, 60 + 26 * len(rows)))


def add_menu(window: MainWindow, bar: QtWidgets.QMenuBar) -> None:
    menu = bar.addMenu("&Help")
    sheet = menu.addAction("&Keyboard Shortcuts")
    sheet.setShortcut(QtGui.QKeySequence("F1"))
    sheet.triggered.connect(lambda *_: ShortcutSheet(window).exec())
    start = menu.addAction("&Getting Started")
    start.triggered.connect(lambda *_: show_first_steps(window))


def show_first_steps(window: MainWindow) -> None:
    """What to do first, in the banner: press Run, or (an empty canvas) open the digits example first."""
    if window.graph.all_nodes():
        window.banner.say(OPENED_STEPS, (("Run", window.runs.run),))
        return
    example = next((a for a in window.findChildren(QtGui.QAction) if a.text() == "digits_cnn"), None)
    window.banner.say(FIRST_STEPS, (("Open the digits example", example.trigger),) if example else ())


def first_run_hint(window: MainWindow) -> None:
    """The first time the editor starts (per its settings), the first steps show, once."""
    if window.settings.value("first_run_seen", False, type=bool) or window.banner.isVisible():
        return
    window.settings.setValue("first_run_seen", True)
    show_first_steps(window)
