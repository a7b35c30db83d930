"""Between the canvas and the workflow model: the file on disk is always our own format.

`to_workflow` reads the canvas into a Workflow (stable ids, names, params, links by port
name, positions and backdrops in `layout`); `add_workflow` puts a Workflow (a whole file
or a pasted fragment) onto the canvas, checking every link with the core.
"""
from __future__ import annotations

import re
from typing import Any

from NodeGraphQt import BackdropNode, BaseNode

from nodeflow.core.validate import migrate_nodes
from nodeflow.core import Issue, Link, Node, Workflow, WorkflowFileError, link_problem
from nodeflow.core.workflow import ID_PATTERN
from nodeflow.gui.graph import ID_PROP, PARAM_PREFIX, FlowGraph, graph_type, params_of, set_tooltips, spec_of


def flow_nodes(graph: FlowGraph) -> list[BaseNode]:
    return [n for n in graph.all_nodes() if spec_of(n) is not None]


def to_workflow(graph: FlowGraph, meta: Workflow, nodes: list[BaseNode] | None = None) -> Workflow:
    """The canvas (or just `nodes`) as a Workflow carrying `meta`'s name, description and path."""
    chosen = nodes if nodes is not None else flow_nodes(graph)
    ids = {n.id: n.get_property(ID_PROP) for n in chosen if spec_of(n)}
    workflow = Workflow(name=meta.name, description=meta.description, path=meta.path,
                        layout={k: v for k, v in meta.layout.items() if k not in ("nodes", "backdrops")})
    positions: dict[str, Any] = {}
    for node in chosen:
        spec = spec_of(node)
        if spec is None:
            continue
        nid = ids[node.id]
        workflow.nodes[nid] = Node(nid, spec.type, node.name(), params_of(node), spec.version)
        positions[nid] = {"pos": [round(v) for v in node.pos()]}
        for port in node.input_ports():
            for src in port.connected_ports():
                if src.node().id in ids:
                    workflow.links.append(Link(ids[src.node().id], src.name(), nid, port.name()))
    workflow.layout["nodes"] = positions
    backdrops = [_backdrop(b) for b in graph.all_nodes() if isinstance(b, BackdropNode)
                 and (nodes is None or b in nodes)]
    if backdrops:
        workflow.layout["backdrops"] = backdrops
    return workflow


def _backdrop(node: BackdropNode) -> dict[str, Any]:
    width, height = node.size()
    return {"name": node.name(), "text": node.get_property("backdrop_text") or "",
            "pos": [round(v) for v in node.pos()], "size": [round(width), round(height)],
            "color": list(node.color()[:3])}


def add_workflow(graph: FlowGraph, workflow: Workflow, offset: tuple[float, float] = (0, 0),
                 fresh: bool = False) -> list[BaseNode]:
    """Create the workflow's nodes, links and backdrops; `fresh` gives pasted nodes new ids and names.

    Raises WorkflowFileError for unknown node types or links the core refuses.
    """
    problems = preflight(graph, workflow)
    if problems:
        raise WorkflowFileError(problems)
    migrate_nodes(workflow, graph.registry)  # params saved by older node versions, brought up to date
    positions = workflow.layout.get("nodes", {}) if isinstance(workflow.layout.get("nodes"), dict) else {}
    made: dict[str, BaseNode] = {}
    for index, node in enumerate(workflow.nodes.values()):
        spec = graph.registry.get(node.type)
        x, y = _pos(positions.get(node.id), index)
        name = unique_name(graph, node.name) if fresh else node.name
        view = graph.create_node(graph_type(spec), name=name, pos=(x + offset[0], y + offset[1]),
                                 selected=fresh, push_undo=True)
        view.set_property(ID_PROP, unique_id(graph, node.id) if fresh else node.id, push_undo=False)
        for param in spec.params:
            if param.name in node.params:
                view.set_property(PARAM_PREFIX + param.name, node.params[param.name], push_undo=False)
        set_tooltips(view)
        made[node.id] = view
    for link in workflow.links:
        made[link.dst].get_input(link.dst_port).connect_to(made[link.src].get_output(link.src_port))
    for data in workflow.layout.get("backdrops", []) if isinstance(workflow.layout.get("backdrops"), list) else []:
        _add_backdrop(graph, data, offset)
    return list(made.values())


def preflight(graph: FlowGraph, workflow: Workflow) -> list[Issue]:
    """What stops the canvas from showing this workflow faithfully: unknown types, refused links.

    Checked before anything is created, so a bad file never half-replaces the canvas.
    """
    issues = [Issue(f"unknown node type {n.type!r}", node=n.name, file=workflow.label)
              for n in workflow.nodes.values() if n.type not in graph.registry]
    taken: set[tuple[str, str]] = set()
    for link in workflow.links:
        src, dst = workflow.nodes.get(link.src), workflow.nodes.get(link.dst)
        if src is None or dst is None:
            missing = link.src if src is None else link.dst
            issues.append(Issue(f"link refers to a node id that does not exist: {missing!r}", file=workflow.label))
        elif src.type in graph.registry and dst.type in graph.registry:
            problem = link_problem(graph.registry.get(src.type), link.src_port, graph.registry.get(dst.type),
                                   link.dst_port, src.name)
            if not problem and (dst.id, link.dst_port) in taken:
                problem = "input has more than one link"
            if problem:
                issues.append(Issue(problem, node=dst.name, field=link.dst_port, file=workflow.label))
            taken.add((dst.id, link.dst_port))
    return issues


def _pos(entry: Any, index: int) -> tuple[float, float]:
    pos = entry.get("pos") if isinstance(entry, dict) else None
    if isinstance(pos, list) and len(pos) == 2 and all(isinstance(v, (int, float)) for v in pos):
        return float(pos[0]), float(pos[1])
    return 260.0 * index, 0.0


def _add_backdrop(graph: FlowGraph, data: Any, offset: tuple[float, float]) -> None:
    if not isinstance(data, dict):
        return
    node = graph.create_node("nodeGraphQt.nodes.BackdropNode", name=str(data.get("name", "Note")), push_undo=True)
    node.set_text(str(data.get("text", "")))
    x, y = _pos(data, 0)
    node.set_pos(x + offset[0], y + offset[1])
    size = data.get("size")
    if isinstance(size, list) and len(size) == 2:
        node.set_size(*size)
    color = data.get("color")
    if isinstance(color, list) and len(color) == 3:
        node.set_color(*color)


def unique_name(graph: FlowGraph, name: str) -> str:
    taken = {n.name() for n in graph.all_nodes()}
    if name not in taken:
        return name
    stem = re.sub(r"\d+$", "", name) or name
    return next(f"{stem}{i}" for i in range(2, len(taken) + 3) if f"{stem}{i}" not in taken)


def unique_id(graph: FlowGraph, wanted: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", wanted.lower())[:56] or "node"
    taken = {n.get_property(ID_PROP) for n in flow_nodes(graph)}
    candidates = [stem] + [f"{stem}_{i}" for i in range(2, len(taken) + 3)]
    return next(c for c in candidates if c not in taken and ID_PATTERN.match(c))
