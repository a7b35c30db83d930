"""Tags… in the Checkpoints panel: edit a checkpoint's tags and description, checked as you type."""
from __future__ import annotations

from typing import Any

from PySide6 import QtWidgets

from nodeflow.core.errors import CheckpointError
from nodeflow.checkpoints.manifest import check_tags


class TagsDialog(QtWidgets.QDialog):
    """Comma-separated tags and a one-line description; OK stays disabled while a tag is invalid."""

    def __init__(self, name: str, entry: dict[str, Any], parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tags_dialog")
        self.setWindowTitle(f"Tags — {name}")
        self.old_tags: list[str] = list(entry.get("tags") or [])
        self.old_description = str(entry.get("description") or "")
        self.tags = QtWidgets.QLineEdit(", ".join(self.old_tags), self)
        self.tags.setObjectName("tags")
        self.tags.setPlaceholderText("best-so-far, keep")
        self.tags.setToolTip("Comma-separated; 'keep' protects the file from pruning and backs it up")
        self.description = QtWidgets.QLineEdit(self.old_description, self)
        self.description.setObjectName("description")
        self.error = QtWidgets.QLabel("", self)
        self.error.setObjectName("tags_error")
        self.error.setStyleSheet("color: #d9534f")
        self.error.setWordWrap(True)
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.StandardButton.Ok | QtWidgets.QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QtWidgets.QFormLayout(self)
        form.addRow("Tags", self.tags)
        form.addRow(self.error)  # the dialog's width, as in the parameter dialog
        form.addRow("Description", self.description)
        form.addRow(self.buttons)
        self.tags.textChanged.connect(self._check)
        self._check()

    def new_tags(self) -> list[str]:
        return check_tags([t for t in (part.strip() for part in self.tags.text().split(",")) if t])

    def _check(self) -> None:
        try:
            self.new_tags()
            self.error.setText("")
        except CheckpointError as exc:
            self.error.setText(str(exc))
        self.buttons.button(QtWidgets.QDialogButtonBox.StandardButton.Ok).setEnabled(not self.error.text())

    def tag_args(self) -> list[str]:
        """The `nodeflow ckpt tag` options that turn the old tags and description into the new ones."""
        new = self.new_tags()
        args = [x for t in new if t not in self.old_tags for x in ("--add", t)]
        args += [x for t in self.old_tags if t not in new for x in ("--remove", t)]
        if self.description.text() != self.old_description:
            args += ["--description", self.description.text()]
        return args
