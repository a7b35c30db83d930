"""Where nodes go: new and pasted nodes on free canvas, and a layered auto layout whose links
do not pass under nodes.

Positions are NodeGraphQt node positions (top-left corners in scene coordinates). Moves go
through `set_pos`, so they are undoable like any drag.
"""
from __future__ import annotations

from collections.abc import Iterable

from NodeGraphQt import BaseNode
from PySide6 import QtCore, QtGui

from nodeflow.gui.convert import flow_nodes
from nodeflow.gui.graph import FlowGraph
from nodeflow.gui.results import footprint

GAP = 40.0  # free space kept around a placed node
COLUMN_GAP = 120.0
ROW_GAP = 50.0


def rect_of(node: BaseNode) -> QtCore.QRectF:
    """The space a node takes: its body, its badge and the results or Check line drawn by it."""
    return footprint(node.view)


def union(nodes: Iterable[BaseNode]) -> QtCore.QRectF:
    rect = QtCore.QRectF()
    for node in nodes:
        rect = rect.united(rect_of(node))
    return rect


def move_to_free_space(graph: FlowGraph, nodes: list[BaseNode]) -> None:
    """Shift `nodes` together, down then right, until they overlap no other node."""
    others = [rect_of(n).adjusted(-GAP, -GAP, GAP, GAP) for n in graph.all_nodes() if n not in nodes]
    block = union(nodes)
    dx = dy = 0.0
    for attempt in range(400):
        moved = block.translated(dx, dy)
        if not any(moved.intersects(o) for o in others):
            break
        dy += GAP
        if attempt % 20 == 19:  # a column of the canvas is full: try the next one to the right
            dx, dy = dx + block.width() + GAP, 0.0
    for node in nodes:
        x, y = node.pos()
        node.set_pos(x + dx, y + dy)


def pipe_crosses(pipe: QtCore.QObject, rect: QtCore.QRectF) -> bool:
    stroke = QtGui.QPainterPathStroker()
    stroke.setWidth(2.0)
    return stroke.createStroke(pipe.mapToScene(pipe.path())).intersects(rect)


def links_under_nodes(graph: FlowGraph) -> list[tuple[str, str]]:
    """(node, link) pairs where a link passes under a node it does not connect, or under the
    badge above it, or within a few pixels of its sides."""
    found = []
    for node in flow_nodes(graph):
        rect = rect_of(node).adjusted(-6, 0, 6, 6)
        for other in flow_nodes(graph):
            for port in other.output_ports():
                for pipe in port.view.connected_pipes:
                    ends = {pipe.input_port.node, pipe.output_port.node}
                    if node.view not in ends and pipe_crosses(pipe, rect):
                        found.append((node.name(), f"{other.name()}.{port.name()}"))
    return found


def layers(nodes: list[BaseNode]) -> list[list[BaseNode]]:
    """Columns by longest path from the sources, each ordered by where its inputs come from."""
    rank: dict[BaseNode, int] = {}

    def rank_of(node: BaseNode, seen: frozenset = frozenset()) -> int:
        if node not in rank:
            ups = [p.node() for port in node.input_ports() for p in port.connected_ports()
                   if p.node() in nodes and p.node() not in seen]
            rank[node] = 1 + max((rank_of(u, seen | {node}) for u in ups), default=-1)
        return rank[node]

    columns: list[list[BaseNode]] = [[] for _ in range(1 + max(rank_of(n) for n in nodes))]
    for node in nodes:
        columns[rank_of(node)].append(node)
    order: dict[BaseNode, float] = {}
    for column in columns:
        def centre(node: BaseNode) -> float:
            ups = [order[p.node()] for port in node.input_ports() for p in port.connected_ports() if p.node() in order]
            return sum(ups) / len(ups) if ups else float(len(order))
        column.sort(key=centre)
        for index, node in enumerate(column):
            order[node] = float(index)
    return columns


def auto_layout(graph: FlowGraph) -> None:
    """Columns left to right; then any node a link passes under moves down until the links clear it."""
    nodes = flow_nodes(graph)
    if not nodes:
        return
    graph.undo_stack().beginMacro("Auto layout")
    x = 0.0
    for column in layers(nodes):
        y = 0.0
        for node in column:
            node.set_pos(x, y)
            y += rect_of(node).height() + ROW_GAP
        x += max(rect_of(n).width() for n in column) + COLUMN_GAP
    for _ in range(40 * len(nodes)):
        crossed = links_under_nodes(graph)
        if not crossed:
            break
        node = next(n for n in nodes if n.name() == crossed[0][0])
        left = rect_of(node).left()
        below = [rect_of(n).bottom() for n in nodes if n is not node and abs(rect_of(n).left() - left) < 1]
        x, y = node.pos()
        node.set_pos(x, max([y + ROW_GAP, *[b + ROW_GAP for b in below if b > y]]))
    graph.undo_stack().endMacro()
