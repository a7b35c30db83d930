"""Error types a user can cause, each rendering as one line naming file, node and field."""
from __future__ import annotations

from dataclasses import dataclass

from nodeflow.core.printable import cut, printable

FILE_LIMIT = 400  # characters of a file's path shown in an error line
PART_LIMIT = 200  # characters of a node or field name
MESSAGE_LIMIT = 1000  # characters of a message: values echoed from a file cannot make a line megabytes long


@dataclass(frozen=True)
class Issue:
    """One problem found in a workflow, tied to a node and field where there is one."""

    message: str
    node: str = ""  # node name (human), or id when the name is unknown
    field: str = ""  # param or port name
    file: str = ""

    def __str__(self) -> str:
        """One line: control characters escaped (newlines too), each part cut to a readable length."""
        node, field = (printable(cut(part, PART_LIMIT)) for part in (self.node, self.field))
        file = printable(cut(self.file, FILE_LIMIT))
        loc = " ".join(part for part in (f"node '{node}'" if node else "", f"field '{field}'" if field else "")
                       if part)
        head = f"{file}: " if file else ""
        return f"{head}{loc + ': ' if loc else ''}{printable(cut(self.message, MESSAGE_LIMIT))}"


class UserError(Exception):
    """Something the user can fix: bad file, bad param, missing path, bad data.

    The CLI prints `str(error)` (one line per issue) and exits 2, without a traceback.
    """

    def __init__(self, issues: list[Issue] | Issue | str):
        if isinstance(issues, str):
            issues = Issue(issues)
        self.issues: list[Issue] = [issues] if isinstance(issues, Issue) else list(issues)
        super().__init__("\n".join(str(i) for i in self.issues))


class WorkflowFileError(UserError):
    """The workflow file is missing, unreadable, not JSON or not a workflow."""


class ValidationError(UserError):
    """The workflow loaded but cannot run: every issue found is attached."""


class DataError(UserError):
    """A node found its input data unusable (empty file, missing column, ...)."""


class CheckpointError(UserError):
    """A checkpoint file is missing, corrupt or unsafe to load."""


class UntrustedCodeError(CheckpointError):
    """Rebuilding a checkpoint's model would run Python code, and nobody said yes to that.

    A PythonModel checkpoint names the user code that builds its model: a `.py` file or
    an importable module. Loading it runs that code, so it is refused (nothing imported,
    nothing executed) until the caller passes `trust_code=True` (the CLI's `--trust`,
    LoadCheckpoint's `trust_code` param). Qt-free, so the editor can catch it, ask the user
    about `source` and call again with `trust_code=True`.

    Attributes: `checkpoint` (the file asked for), `source` (the `.py` file's absolute path,
    or the module's name), `kind` ("file" or "module").
    """

    def __init__(self, checkpoint: str, source: str, kind: str):
        self.checkpoint, self.source, self.kind = checkpoint, source, kind
        what = f"the Python file {source}" if kind == "file" else f"the Python module {source!r} (imported)"
        super().__init__(Issue(f"not loaded: rebuilding its model runs {what}; allow it only if you trust "
                               "that code (--trust on the command line, trust_code=True in Python or on "
                               "LoadCheckpoint)", file=checkpoint))


class RunInterrupted(Exception):
    """The run was stopped cooperatively (Ctrl-C, SIGTERM, Stop button)."""


class NodeRunError(Exception):
    """A node failed at run time for a reason we could not see up front."""

    def __init__(self, node: str, message: str):
        self.node = node
        self.message = message
        super().__init__(f"node '{printable(cut(node, PART_LIMIT))}' failed: "
                         f"{printable(cut(message, MESSAGE_LIMIT), newlines=True)}")
