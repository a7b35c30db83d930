"""The node palette: categories from the registry, a search box, drag onto the canvas."""
from __future__ import annotations

from NodeGraphQt.constants import MIME_TYPE, URN_SCHEME
from PySide6 import QtCore, QtWidgets

from nodeflow.core import NodeSpec, Registry
from nodeflow.gui.graph import graph_type

SPEC_ROLE = QtCore.Qt.ItemDataRole.UserRole


class PaletteTree(QtWidgets.QTreeWidget):
    """Items drag as NodeGraphQt's node URN, which its viewer turns into a node at the drop point."""

    def mimeData(self, items: list[QtWidgets.QTreeWidgetItem]) -> QtCore.QMimeData:
        data = QtCore.QMimeData()
        types = ";".join(f"node:{graph_type(i.data(0, SPEC_ROLE))}" for i in items if i.data(0, SPEC_ROLE))
        data.setData(MIME_TYPE, QtCore.QByteArray(f"{URN_SCHEME}{types}".encode()))
        return data


class Palette(QtWidgets.QWidget):
    """Emits `chosen(spec)` on double-click or Enter; items can also be dragged to the canvas."""

    chosen = QtCore.Signal(object)

    def __init__(self, registry: Registry, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.search = QtWidgets.QLineEdit(self)
        self.search.setObjectName("palette_search")
        self.search.setPlaceholderText("Search nodes…")
        self.search.setClearButtonEnabled(True)
        self.tree = PaletteTree(self)
        self.tree.setObjectName("palette")
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QtWidgets.QAbstractItemView.DragDropMode.DragOnly)
        for category in registry.categories():
            top = QtWidgets.QTreeWidgetItem(self.tree, [category])
            top.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
            for spec in sorted((s for s in registry.all() if s.category == category), key=lambda s: s.title):
                item = QtWidgets.QTreeWidgetItem(top, [spec.title])
                item.setData(0, SPEC_ROLE, spec)
                item.setToolTip(0, f"{spec.type}\n{spec.description}")
        self.tree.expandAll()
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._choose_first)
        self.tree.itemActivated.connect(lambda item, _col: self._choose(item))

    def filter(self, text: str) -> None:
        needle = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            shown = 0
            for j in range(top.childCount()):
                item = top.child(j)
                spec: NodeSpec = item.data(0, SPEC_ROLE)
                match = not needle or needle in f"{spec.title} {spec.type} {spec.category} {spec.description}".lower()
                item.setHidden(not match)
                shown += match
            top.setHidden(shown == 0)

    def visible_specs(self) -> list[NodeSpec]:
        found = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            found += [top.child(j).data(0, SPEC_ROLE) for j in range(top.childCount()) if not top.child(j).isHidden()]
        return found

    def _choose_first(self) -> None:
        """Enter picks the best match: an exact title, then a title that starts with the text."""
        needle = self.search.text().strip().lower()
        specs = sorted(self.visible_specs(), key=lambda s: (s.title.lower() != needle,
                                                             not s.title.lower().startswith(needle)))
        if specs:
            self.chosen.emit(specs[0])

    def _choose(self, item: QtWidgets.QTreeWidgetItem) -> None:
        spec = item.data(0, SPEC_ROLE)
        if spec is not None:
            self.chosen.emit(spec)
