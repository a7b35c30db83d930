"""The canvas: NodeGraphQt node classes generated from NodeSpecs, links checked by the core.

Each canvas node carries our stable node id and one hidden property per param; the
NodeGraphQt undo stack therefore covers adding, deleting, moving, linking and param edits.
"""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

from NodeGraphQt import BaseNode, NodeGraph
from NodeGraphQt.constants import NodePropWidgetEnum
from NodeGraphQt.qgraphics.node_base import NodeItem
from PySide6 import QtCore, QtGui, QtWidgets

from nodeflow.core import NodeSpec, Registry, link_problem
from nodeflow.core.tasks import task_problem, tasks_at
from nodeflow.gui.node_fields import PARAM_PREFIX, ParamField, params_of, spec_of

ID_PROP = "nf_id"
IDENTIFIER = "nodeflow"
PORT_COLOURS = {"dataset": (86, 156, 214), "model": (232, 145, 56), "history": (106, 190, 110),
                "metrics": (190, 120, 210)}


def port_colour(port_type: str) -> tuple[int, int, int]:
    """A fixed colour per port type; third-party types get a stable colour from their name."""
    if port_type in PORT_COLOURS:
        return PORT_COLOURS[port_type]
    digest = hashlib.sha1(port_type.encode()).digest()
    return (80 + digest[0] % 150, 80 + digest[1] % 150, 80 + digest[2] % 150)


def graph_type(spec: NodeSpec) -> str:
    return f"{IDENTIFIER}.{spec.type.replace('.', '_')}"


class FlowNodeItem(NodeItem):
    """A node's view: a double-click anywhere on it, title included, opens its parameter dialog
    (NodeGraphQt starts an inline rename on the title; the dialog's name field renames)."""

    def mouseDoubleClickEvent(self, event: QtWidgets.QGraphicsSceneMouseEvent) -> None:
        if event.button() == QtCore.Qt.MouseButton.LeftButton and self.viewer() is not None:
            self.viewer().node_double_clicked.emit(self.id)
            event.accept()
            return
        super().mouseDoubleClickEvent(event)


def node_class(spec: NodeSpec) -> type[BaseNode]:
    """The NodeGraphQt class for one declaration: its ports, coloured by type, and hidden params."""

    def __init__(self: BaseNode) -> None:
        BaseNode.__init__(self, FlowNodeItem)
        for port in spec.inputs:
            self.add_input(port.name, color=port_colour(port.type))
        for port in spec.outputs:
            self.add_output(port.name, color=port_colour(port.type))
        self.create_property(ID_PROP, "", widget_type=NodePropWidgetEnum.HIDDEN.value)
        for param in spec.params:
            if param.on_node:  # the field's property is the param's property
                self.add_custom_widget(ParamField(self.view, PARAM_PREFIX + param.name, param,
                                                  copy.deepcopy(param.default)))
            else:
                self.create_property(PARAM_PREFIX + param.name, copy.deepcopy(param.default),
                                     widget_type=NodePropWidgetEnum.HIDDEN.value)

    return type(spec.type.replace(".", "_"), (BaseNode,),
                {"__identifier__": IDENTIFIER, "NODE_NAME": spec.title, "__init__": __init__, "spec": spec})


def set_tooltips(node: BaseNode) -> None:
    """Node and port tooltips from the declaration's help texts."""
    spec = spec_of(node)
    if spec is None:
        return
    node.view.setToolTip(f"<b>{node.name()}</b> ({spec.title})<br/>{spec.description}")
    for port_spec, port in [*zip(spec.inputs, node.input_ports()), *zip(spec.outputs, node.output_ports())]:
        optional = ", optional" if port_spec.optional else ""
        port.view.setToolTip(f"<b>{port_spec.name}</b> ({port_spec.type}{optional})<br/>{port_spec.help}")


class FlowGraph(NodeGraph):
    """A NodeGraph whose mouse-made links are checked by the core before they exist."""

    link_refused = QtCore.Signal(str)
    field_refused = QtCore.Signal(str)  # a value typed on a node's body that its param refuses
    tab_pressed = QtCore.Signal(QtCore.QPointF)  # scene position of the cursor (the view centre when outside)

    def __init__(self, registry: Registry, parent: Any = None):
        super().__init__(parent)
        self.registry = registry
        self.base_dir = Path.cwd()  # where the workflow's relative paths resolve (the window keeps it current)
        self.register_nodes([node_class(s) for s in registry.all()])
        self.node_created.connect(self._wire_fields)
        self.viewer().installEventFilter(self)
        self.viewer().viewport().installEventFilter(self)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        """Tab on the canvas: search the palette, then add the chosen node where the cursor was.

        The view keeps its own Ctrl/Shift/Alt flags from key events; a dialog opened with a
        shortcut swallows the release, so they are taken from the keyboard whenever the view
        gets focus back or the mouse is pressed on it. Likewise a dialog opened by a double-click
        takes the mouse release, leaving the node grabbing the mouse: the next press frees it,
        or that first click after the dialog would go to the node and select nothing else."""
        kind = event.type()
        if kind in (QtCore.QEvent.Type.FocusIn, QtCore.QEvent.Type.Enter):
            self.sync_modifiers(QtWidgets.QApplication.queryKeyboardModifiers())
        elif kind == QtCore.QEvent.Type.MouseButtonPress:
            self.sync_modifiers(event.modifiers())
            stale = self.scene().mouseGrabberItem()  # a release the dialog a double-click opened took
            if stale is not None:
                stale.ungrabMouse()
        if kind == QtCore.QEvent.Type.KeyPress and event.key() == QtCore.Qt.Key.Key_Tab:
            viewer = self.viewer()
            cursor = viewer.viewport().mapFromGlobal(QtGui.QCursor.pos())
            if not viewer.viewport().rect().contains(cursor):
                cursor = viewer.viewport().rect().center()
            self.tab_pressed.emit(viewer.mapToScene(cursor))
            return True
        return super().eventFilter(watched, event)

    def _wire_fields(self, node: BaseNode) -> None:
        for widget in getattr(node.view, "widgets", {}).values():  # backdrops have none
            if isinstance(widget, ParamField):
                widget.refused.connect(self.field_refused)

    def sync_modifiers(self, held: QtCore.Qt.KeyboardModifier) -> None:
        viewer = self.viewer()
        mods = QtCore.Qt.KeyboardModifier
        viewer.CTRL_state = held == mods.ControlModifier
        viewer.SHIFT_state = held in (mods.ShiftModifier, mods.ShiftModifier | mods.AltModifier)
        viewer.ALT_state = held in (mods.AltModifier, mods.ShiftModifier | mods.AltModifier)
        if not held:
            viewer._cursor_text.setVisible(False)

    def refusal(self, out_node: BaseNode, out_port: str, in_node: BaseNode, in_port: str) -> str | None:
        src, dst = spec_of(out_node), spec_of(in_node)
        if src is None or dst is None:
            return None
        problem = link_problem(src, out_port, dst, in_port, out_node.name())
        if problem:
            return f"Link refused: {problem} '{in_node.name()}.{in_port}'."
        problem = task_problem(self.tasks_given(out_node, out_port), dst, in_port, f"{out_node.name()}.{out_port}")
        return f"Link refused: {problem}." if problem else None

    def tasks_given(self, node: BaseNode, port: str) -> tuple[str, ...] | None:
        """The tasks an output can carry, following Split and Augment back to the data (as validation does)."""
        def source(view: BaseNode, in_port: str) -> tuple[BaseNode, str] | None:
            linked = view.inputs().get(in_port)
            sources = linked.connected_ports() if linked else []
            return (sources[0].node(), sources[0].name()) if sources else None

        return tasks_at(node, port, spec_of, params_of, source)

    def _on_connection_changed(self, disconnected: list, connected: list) -> None:
        """A refused drop changes nothing: the link it would have replaced stays, a link dragged
        off its port goes back."""
        for a, b in connected:
            out_view, in_view = (a, b) if a.port_type == "out" else (b, a)
            reason = self.refusal(self.get_node_by_id(out_view.node.id), out_view.name,
                                  self.get_node_by_id(in_view.node.id), in_view.name)
            if reason:
                self.link_refused.emit(reason)
                for start, detached in disconnected:
                    if start is a:  # the view already removed the dragged link's pipe; the model kept it
                        self.viewer().establish_connection(start, detached)
                return
        super()._on_connection_changed(disconnected, connected)
