"""The Export dialog of the Checkpoints panel: a format, a file, and `nodeflow ckpt export` in a child process.

ONNX and TorchScript exports rebuild the model, run the exported file and compare it with
torch before writing it; the dialog shows that difference line, or the one-line error, where
the user is looking. The editor stays live meanwhile. A file NodeFlow did not write is never
replaced from here: the command refuses it and the dialog says so.
"""
from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from nodeflow.gui.runner import run_tool

FORMATS = (  # (the command's --format, what the user sees, the file's suffix)
    ("onnx", "ONNX, checked with onnxruntime (.onnx)", ".onnx"),
    ("torchscript", "TorchScript, checked with torch.jit.load (.pt)", ".pt"),
    ("torch", "Checkpoint copy (.pt)", ".pt"),
    ("safetensors", "safetensors, weights only (.safetensors)", ".safetensors"),
)
MODEL_FORMATS = ("onnx", "torchscript")


class ExportDialog(QtWidgets.QDialog):
    """Export one checkpoint; `exported(exit_code, lines)` when the command ends."""

    exported = QtCore.Signal(int, str)

    def __init__(self, checkpoint: Path, run_dir: Path, parent: QtWidgets.QWidget):
        super().__init__(parent)
        self.checkpoint, self.run_dir = checkpoint, run_dir
        self.setObjectName("export_dialog")
        self.setWindowTitle(f"Export {checkpoint.name}")
        self.format = QtWidgets.QComboBox(self)
        self.format.setObjectName("export_format")
        for key, text, _ in FORMATS:
            self.format.addItem(text, key)
        self.path = QtWidgets.QLineEdit(str(run_dir / (checkpoint.name.split(".")[0] + FORMATS[0][2])), self)
        self.path.setObjectName("export_path")
        browse = QtWidgets.QPushButton("Browse…", self)
        browse.setObjectName("export_browse")
        browse.clicked.connect(self.browse)
        self.trust = QtWidgets.QCheckBox("Run the model's own Python code to rebuild it (PythonModel; only code "
                                         "you trust)", self)
        self.trust.setObjectName("export_trust")
        self.result = QtWidgets.QLabel("", self)
        self.result.setObjectName("export_result")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.run_button = QtWidgets.QPushButton("Export", self)
        self.run_button.setObjectName("export_run")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run)
        close = QtWidgets.QPushButton("Close", self)
        close.clicked.connect(self.reject)
        self.format.currentIndexChanged.connect(self._suffix)
        file_row = QtWidgets.QHBoxLayout()
        file_row.addWidget(self.path, 1)
        file_row.addWidget(browse)
        form = QtWidgets.QFormLayout()
        form.addRow("Checkpoint", QtWidgets.QLabel(str(checkpoint), self))
        form.addRow("Format", self.format)
        form.addRow("File", file_row)
        form.addRow("", self.trust)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.run_button)
        buttons.addWidget(close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.result)
        layout.addLayout(buttons)
        self.resize(640, self.sizeHint().height())

    def chosen(self) -> tuple[str, str]:
        return self.format.currentData(), FORMATS[self.format.currentIndex()][2]

    def _suffix(self) -> None:
        """A path still ending in one of our suffixes follows the format."""
        text, (_, suffix) = self.path.text(), self.chosen()
        for _, _, known in FORMATS:
            if text.endswith(known):
                self.path.setText(text[: -len(known)] + suffix)
                return

    def browse(self) -> None:
        _, text, suffix = FORMATS[self.format.currentIndex()]
        # the command, not this dialog, decides about a file already there (it replaces only its own)
        dest, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export to", self.path.text(), f"{text} (*{suffix})",
                                                        options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
        if dest:
            self.path.setText(dest)

    def run(self) -> None:
        format, _ = self.chosen()
        dest = self.path.text().strip()
        if not dest:
            self._show(2, "Choose a file to export to.")
            return
        args = ["ckpt", "export", str(self.checkpoint), dest, "--format", format]
        args += ["--trust"] if format in MODEL_FORMATS and self.trust.isChecked() else []
        self.run_button.setEnabled(False)
        self.result.setStyleSheet("")
        self.result.setText("Exporting…" + (" (converting, then running the file and comparing it with torch)"
                                            if format in MODEL_FORMATS else ""))
        run_tool(self, args, self.run_dir, lambda code, out, err: self._show(code, (out + err).strip()))

    def _fit_height(self) -> None:
        """Grow to show the whole result: a wrapped label's height depends on the width, which a window's
        size hint ignores, so the fields above it were squashed instead."""
        needed = self.layout().totalHeightForWidth(self.width())
        if needed > self.height():
            self.resize(self.width(), needed)

    def _show(self, code: int, text: str) -> None:
        text = "\n".join(line.removeprefix("error: ") for line in text.splitlines()) or f"exit code {code}"
        if "not loaded: rebuilding its model runs" in text:  # the command's way to say yes is this dialog's box
            text += f"\nHere: tick “{self.trust.text()}” and export again."
        # the command's own way to replace a file it did not write is a flag; here it is another file name
        text = text.replace("; --force replaces it, or choose another path",
                            ": this dialog never replaces it; choose another file name")
        self.result.setStyleSheet("color: #2e7d32;" if code == 0 else "color: #d9534f;")
        self.result.setText(text)
        self._fit_height()
        self.run_button.setEnabled(True)
        self.exported.emit(code, text)
