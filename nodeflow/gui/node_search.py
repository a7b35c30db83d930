"""Adding nodes from the canvas itself: a link dropped on empty canvas opens a search of the node
types that accept it, and the chosen node is created there and linked (one undo step); a
double-click on empty canvas opens the same search over every node type. While a link is dragged,
the ports it may be dropped on are ringed.

Which ports fit is the core's link check (`FlowGraph.refusal`), the same that keeps or refuses a
link dropped on a port.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from NodeGraphQt.qgraphics.port import PortItem
from PySide6 import QtCore, QtGui, QtWidgets

from nodeflow.core import NodeSpec, link_problem
from nodeflow.core.tasks import task_problem
from nodeflow.gui import editing
from nodeflow.gui.node_fields import spec_of

if TYPE_CHECKING:
    from nodeflow.gui.graph import FlowGraph

SPEC_ROLE, PORT_ROLE = QtCore.Qt.ItemDataRole.UserRole, QtCore.Qt.ItemDataRole.UserRole + 1
RING = QtGui.QColor(255, 214, 80)


@dataclass(frozen=True)
class Choice:
    spec: NodeSpec
    port: str  # the new node's port the dragged link ends on ("" for a double-click: no link)

    def text(self) -> str:
        return f"{self.spec.title}  ·  {self.port}" if self.port else self.spec.title


def choices(graph: FlowGraph, start: PortItem | None) -> list[Choice]:
    """Every node type with a port that accepts a link from `start` (each such port once), or every
    node type when there is no dragged link."""
    specs = sorted(graph.registry.all(), key=lambda s: (s.category, s.title))
    if start is None:
        return [Choice(spec, "") for spec in specs]
    node = graph.get_node_by_id(start.node.id)
    found = []
    for spec in specs:
        if start.port_type == "out":
            given, label = graph.tasks_given(node, start.name), f"{node.name()}.{start.name}"
            ports = [p.name for p in spec.inputs
                     if not link_problem(spec_of(node), start.name, spec, p.name, node.name())
                     and not task_problem(given, spec, p.name, label)]
        else:
            ports = [p.name for p in spec.outputs if not link_problem(spec, p.name, spec_of(node), start.name,
                                                                       spec.title)]
        found += [Choice(spec, port) for port in ports]
    return found


class NodeSearch(QtWidgets.QFrame):
    """A small popup: a search field over a list of node types; Enter or a click picks one."""

    picked = QtCore.Signal(object)  # Choice

    def __init__(self, parent: QtWidgets.QWidget):
        super().__init__(parent, QtCore.Qt.WindowType.Popup)
        self.setObjectName("node_search")
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        self.title = QtWidgets.QLabel(self)
        self.title.setObjectName("node_search_title")
        self.text = QtWidgets.QLineEdit(self)
        self.text.setObjectName("node_search_text")
        self.text.setPlaceholderText("Search nodes…")
        self.list = QtWidgets.QListWidget(self)
        self.list.setObjectName("node_search_list")
        self.empty = QtWidgets.QLabel(self)  # says why the list is empty, in its place
        self.empty.setObjectName("node_search_empty")
        self.empty.setWordWrap(True)
        self.empty.hide()
        self.none_text = ""
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for widget in (self.title, self.text, self.list, self.empty):
            layout.addWidget(widget)
        self.resize(300, 320)
        self.text.textChanged.connect(self._filter)
        self.text.returnPressed.connect(self._pick_current)
        self.text.installEventFilter(self)
        self.list.itemActivated.connect(self._pick)
        self.list.itemClicked.connect(self._pick)

    def open(self, title: str, options: list[Choice], at: QtCore.QPoint, none_text: str = "") -> None:
        """Show `options` at the global point `at`; `none_text` says why when there are none."""
        self.title.setText(title)
        self.none_text = none_text or "No node type fits here."
        self.list.clear()
        for choice in options:
            item = QtWidgets.QListWidgetItem(choice.text(), self.list)
            item.setData(SPEC_ROLE, choice)
            item.setToolTip(f"{choice.spec.type}\n{choice.spec.description}")
        self.text.clear()
        self._filter("")
        self.text.setVisible(bool(options))
        self._place(at, 320 if options else self.sizeHint().height())
        self.show()
        (self.text if options else self).setFocus()  # with nothing to search, Escape still closes it

    def _place(self, at: QtCore.QPoint, height: int) -> None:
        """At `at`, moved up (above the point) or left as needed so that the whole popup, its list's
        last entries and scroll bar included, is on the screen."""
        screen = QtGui.QGuiApplication.screenAt(at) or self.screen()
        area = screen.availableGeometry()
        width, height = min(300, area.width()), min(height, area.height())
        self.resize(width, height)
        x = max(area.left(), min(at.x(), area.right() + 1 - width))
        y = at.y() if at.y() + height <= area.bottom() + 1 else at.y() - height
        self.move(x, max(area.top(), min(y, area.bottom() + 1 - height)))

    def shown(self) -> list[str]:
        """The entries the search now lists."""
        return [self.list.item(i).text() for i in range(self.list.count()) if not self.list.item(i).isHidden()]

    def _filter(self, text: str) -> None:
        """Hide what does not match; the best match (a title that starts with the text) is current."""
        needle = text.strip().lower()
        hits = []
        for i in range(self.list.count()):
            item = self.list.item(i)
            spec = item.data(SPEC_ROLE).spec
            hit = not needle or needle in f"{item.text()} {spec.type} {spec.category} {spec.description}".lower()
            item.setHidden(not hit)
            if hit:
                hits.append(item)
        if hits:
            self.list.setCurrentItem(min(hits, key=lambda i: not i.text().lower().startswith(needle)))
        if not self.list.count():
            self.empty.setText(self.none_text)
        elif not hits:
            self.empty.setText(f"No node type matches \u201c{text.strip()}\u201d.")
        self.list.setVisible(bool(hits))
        self.empty.setVisible(not hits)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        """Up and Down in the search field move through the list."""
        if event.type() == QtCore.QEvent.Type.KeyPress and event.key() in (QtCore.Qt.Key.Key_Up,
                                                                           QtCore.Qt.Key.Key_Down):
            QtWidgets.QApplication.sendEvent(self.list, QtGui.QKeyEvent(event.type(), event.key(), event.modifiers()))
            return True
        return False

    def _pick_current(self) -> None:
        item = self.list.currentItem()
        if item is not None and not item.isHidden():
            self._pick(item)

    def _pick(self, item: QtWidgets.QListWidgetItem) -> None:
        self.hide()
        self.picked.emit(item.data(SPEC_ROLE))


class CanvasSearch(QtCore.QObject):
    """Watches the canvas for a link dropped on nothing, a double-click on nothing, and a link being dragged."""

    def __init__(self, graph: FlowGraph):
        super().__init__(graph)
        self.graph = graph
        self.popup = NodeSearch(graph.viewer())
        self.popup.picked.connect(self._add)
        self.rings: list[QtWidgets.QGraphicsEllipseItem] = []
        self.start: tuple[Any, str, str] | None = None  # (node, port, "in"/"out") of the dropped link
        self.at = QtCore.QPointF()
        graph.viewer().viewport().installEventFilter(self)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind, viewer = event.type(), self.graph.viewer()
        if kind == QtCore.QEvent.Type.MouseMove and self._dragged() is not None and not self.rings:
            self._ring(self._dragged())
        elif kind == QtCore.QEvent.Type.MouseButtonRelease:
            start = self._dragged()
            self._unring()
            scene = viewer.mapToScene(event.position().toPoint())
            if start is not None and viewer._detached_port is None and not self._port_at(scene):
                node = self.graph.get_node_by_id(start.node.id)
                self.start, self.at = (node, start.name, start.port_type), scene
                QtCore.QTimer.singleShot(0, self, lambda: self._open(start.name))  # after the drag has ended
        elif kind == QtCore.QEvent.Type.MouseButtonDblClick and event.button() == QtCore.Qt.MouseButton.LeftButton:
            if viewer.itemAt(event.position().toPoint()) is None:
                self.start, self.at = None, viewer.mapToScene(event.position().toPoint())
                self.popup.open("Add a node", choices(self.graph, None), viewer.mapToGlobal(event.position().toPoint()))
                return True
        return False

    def _dragged(self) -> PortItem | None:
        viewer = self.graph.viewer()
        return viewer._start_port if viewer._LIVE_PIPE.isVisible() else None

    def _port_at(self, scene: QtCore.QPointF) -> bool:
        return any(isinstance(item, PortItem) for item in self.graph.scene().items(scene))

    def _open(self, port: str) -> None:
        if self.start is None:
            return
        node, _, direction = self.start
        item = node.get_output(port) if direction == "out" else node.get_input(port)
        options = choices(self.graph, item.view) if item is not None else []
        where = self.graph.viewer().mapToGlobal(self.graph.viewer().mapFromScene(self.at))
        self.popup.open(f"Link {node.name()}.{port} to a new node", options, where, _none_text(node, port, direction))

    def _ring(self, start: PortItem) -> None:
        """Ring every port on the canvas the dragged link may be dropped on."""
        node = self.graph.get_node_by_id(start.node.id)
        for other in self.graph.all_nodes():
            if spec_of(other) is None or other is node:
                continue
            ports = other.input_ports() if start.port_type == "out" else other.output_ports()
            for port in ports:
                if start.port_type == "out":
                    refused = self.graph.refusal(node, start.name, other, port.name())
                else:
                    refused = self.graph.refusal(other, port.name(), node, start.name)
                if refused is None:
                    rect = port.view.boundingRect().adjusted(-3, -3, 3, 3)
                    ring = QtWidgets.QGraphicsEllipseItem(rect, port.view)
                    ring.setPen(QtGui.QPen(RING, 2))
                    ring.setData(0, f"{other.name()}.{port.name()}")
                    self.rings.append(ring)

    def _unring(self) -> None:
        for ring in self.rings:
            if ring.scene() is not None:
                ring.scene().removeItem(ring)
        self.rings = []

    def ringed(self) -> list[str]:
        """The ports now ringed, as `Node.port`."""
        return sorted(ring.data(0) for ring in self.rings)

    def _add(self, choice: Choice) -> None:
        """Create the chosen node where the search was opened, linked to the dragged port: one undo step."""
        graph, start = self.graph, self.start
        graph.undo_stack().beginMacro(f"Add {choice.spec.title}")
        node = editing.add_node(graph, choice.spec, (self.at.x(), self.at.y()))
        if start is not None and choice.port:
            other, port, direction = start
            if direction == "out":
                node.get_input(choice.port).connect_to(other.get_output(port))
            else:
                node.get_output(choice.port).connect_to(other.get_input(port))
        graph.undo_stack().endMacro()
        self.start = None
        graph.viewer().ensureVisible(node.view)
        graph.viewer().setFocus()


def _none_text(node: Any, port: str, direction: str) -> str:
    """Why no node type is offered for a link dropped from `node`'s `port`."""
    spec = spec_of(node)
    ports = () if spec is None else (spec.outputs if direction == "out" else spec.inputs)
    kind = next((p.type for p in ports if p.name == port), "")
    if direction == "out":
        return (f"No node type has an input that takes {node.name()}.{port}"
                + (f" (a {kind} output)." if kind else "."))
    return f"No node type has an output that can feed {node.name()}.{port}" + (f" (a {kind} input)." if kind else ".")
