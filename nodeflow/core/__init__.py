"""The headless core: node declarations, registry, workflow files, validation, execution.

Standard library only: no torch, no Qt, no matplotlib.
"""
from __future__ import annotations

from nodeflow.core.errors import (
    CheckpointError,
    DataError,
    Issue,
    NodeRunError,
    RunInterrupted,
    UntrustedCodeError,
    UserError,
    ValidationError,
    WorkflowFileError,
)
from nodeflow.core.executor import Executor, RunResult
from nodeflow.core.overrides import apply_overrides
from nodeflow.core.registry import Registry, default_registry
from nodeflow.core.spec import CheckInput, NodeSpec, ParamSpec, PortSpec
from nodeflow.core.validate import Plan, link_problem, plan
from nodeflow.core.workflow import Link, Node, Workflow, load_workflow, save_workflow

__all__ = [
    "CheckInput", "CheckpointError", "DataError", "Executor", "Issue", "Link", "Node",
    "NodeRunError", "NodeSpec", "ParamSpec", "Plan", "PortSpec", "Registry", "RunInterrupted",
    "RunResult", "UntrustedCodeError", "UserError", "ValidationError", "Workflow", "WorkflowFileError",
    "apply_overrides", "default_registry", "link_problem", "load_workflow", "plan", "save_workflow",
]
