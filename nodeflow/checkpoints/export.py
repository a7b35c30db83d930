"""Exporting a checkpoint: a verified copy (torch or safetensors), or its model for deployment.

`export_file` copies a verified checkpoint (`nodeflow ckpt export`, CheckpointManager.export_checkpoint).
Models exported for deployment (ONNX, TorchScript) are checked against torch before they are written.

The model is rebuilt from the checkpoint (restore_model, with its trust rules), converted
in memory, then run by the deployment runtime (onnxruntime; torch.jit.load for TorchScript)
on batches of two sizes, neither of them the size it was exported with, and compared with
the torch model: the largest absolute difference must be within TOLERANCE (fp32) or nothing
is written. CLIP is exported as two graphs, its image and its text encoder.
onnx, onnxscript and onnxruntime are imported only here, only when an export asks for them.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from nodeflow.checkpoints.manifest import read_entries
from nodeflow.core.errors import CheckpointError, Issue
from nodeflow.core.files import write_bytes
from nodeflow.core.outputs import output_problem, write_output, write_output_text
from nodeflow.checkpoints.torch_files import load_checkpoint, restore_model
from nodeflow.checkpoints.export_inputs import Graph, graphs_of, outputs_of

TOLERANCE, TOLERANCE_TEXT = 1e-4, "1e-4"
EXPORT_BATCH, CHECK_BATCHES = 2, (1, 5)
Runner = Callable[[torch.Tensor], list[torch.Tensor]]


class VerificationFailed(Exception):
    """The exported model does not give the torch model's outputs (or not for every batch size)."""


@dataclass(frozen=True)
class Exported:
    path: Path
    graph: Graph
    difference: float  # largest absolute difference against torch over CHECK_BATCHES

    def line(self) -> str:
        sizes = " and ".join(str(n) for n in CHECK_BATCHES)
        return (f"{self.path}: {self.graph.signature()}; max |difference| against torch {self.difference:.1e} "
                f"on batches of {sizes} (tolerance {TOLERANCE_TEXT})")


def targets(dest: Path, graphs: list[Graph]) -> list[Path]:
    """Where each graph goes: DEST itself, or DEST with the part before the suffix (model.image.onnx)."""
    if len(graphs) == 1:
        return [dest]
    suffix = dest.suffix
    stem = dest.name[: len(dest.name) - len(suffix)] if suffix else dest.name
    return [dest.with_name(f"{stem}.{g.part}{suffix}") for g in graphs]


def export_model(source: Path, dest: Path, format: str, force: bool = False, trust: bool = False) -> list[Exported]:
    """Rebuild the checkpoint's model, convert it, check it, then write it (with DEST.json beside it).

    Raises CheckpointError (one line; exit 2) when it cannot be rebuilt or converted, or when a
    file in the way was not written by NodeFlow (unless `force`); VerificationFailed (exit 1)
    when the exported model's outputs differ from torch's."""
    model, checkpoint = restore_model(source, "cpu", trust=trust, trust_code=trust)
    graphs = graphs_of(model, checkpoint, str(source))
    paths = targets(dest, graphs)
    for target in [p for path in paths for p in (path, sidecar_of(path))]:
        problem = output_problem(target, force, "--force replaces it")
        if problem:
            raise CheckpointError(Issue(problem))
    convert, load = (to_onnx, onnx_runner) if format == "onnx" else (to_torchscript, torchscript_runner)
    done: list[tuple[Path, Graph, bytes, float]] = []
    for path, graph in zip(paths, graphs):
        blob = convert(graph, str(source))
        done.append((path, graph, blob, difference(graph, load(blob), path)))
    entry = read_entries(source.parent).get(source.name) or {}
    for path, graph, blob, diff in done:  # written only once every graph passed
        write_output(path, partial(write_bytes, blob), "ckpt export")
        info = {"format": format, "checkpoint": str(source), "checkpoint_sha256": entry.get("checksum"),
                "graph": graph.part or "model", **graph.describe(), "max_abs_difference": diff,
                "checked_batches": list(CHECK_BATCHES), "config": checkpoint.get("config") or {}}
        write_output_text(sidecar_of(path), json.dumps(info, indent=2, default=str) + "\n", "ckpt export")
    return [Exported(path, graph, diff) for path, graph, _, diff in done]


def sidecar_of(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def difference(graph: Graph, run: Runner, path: Path) -> float:
    """Largest |exported - torch| over batches of CHECK_BATCHES; VerificationFailed past TOLERANCE."""
    worst = 0.0
    for size in CHECK_BATCHES:
        batch = graph.batch(size, seed=size)
        with torch.no_grad():
            expected = outputs_of(graph.module(batch))
        try:
            got = run(batch)
        except Exception as exc:  # the runtime refuses this batch: the exported graph fixed its size
            raise VerificationFailed(f"{path}: the exported model does not run a batch of {size} "
                                     f"(exported with {EXPORT_BATCH}): {first_line(exc)}; nothing written") from None
        if len(got) != len(expected) or any(g.shape != e.shape for g, e in zip(got, expected)):
            raise VerificationFailed(f"{path}: on a batch of {size} the exported model gives shapes "
                                     f"{[tuple(g.shape) for g in got]}, torch {[tuple(e.shape) for e in expected]}; "
                                     "nothing written")
        diff = max(float((g.float() - e.float()).abs().max()) if e.numel() else 0.0 for g, e in zip(got, expected))
        if not diff <= TOLERANCE:  # also catches NaN
            raise VerificationFailed(f"{path}: max |difference| against torch {diff:.1e} on a batch of {size} "
                                     f"exceeds {TOLERANCE_TEXT} (fp32); nothing written")
        worst = max(worst, diff)
    return worst


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The exporters' progress prints, deprecation notices and logger chatter stay off the user's terminal."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def needs_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise CheckpointError(Issue(f"ONNX export needs onnx, onnxscript and onnxruntime ({exc.name} is missing): "
                                    'pip install "nodeflow[export]"')) from None


def to_onnx(graph: Graph, label: str) -> bytes:
    """torch.export (batch axis dynamic) then torch.onnx's exporter; the ONNX file's bytes.

    Strict tracing first (it keeps `len(tensor)` symbolic, which the encoders use), the
    non-strict tracer when strict tracing cannot follow the code."""
    needs_onnx()
    example = (graph.batch(EXPORT_BATCH, seed=0),)
    shapes = ({0: torch.export.Dim("batch")},)
    problems = []
    with quiet():
        for strict in (True, False):
            try:
                program = torch.export.export(graph.module, example, dynamic_shapes=shapes, strict=strict)
                onnx_program = torch.onnx.export(program, example, None, dynamo=True, verbose=False,
                                                 input_names=[graph.input_name], output_names=graph.output_names())
                break
            except Exception as exc:  # torch.export or the converter cannot follow this model's code
                problems.append(first_line(exc))
        else:
            raise CheckpointError(Issue(f"cannot export {graph.title()} to ONNX: {problems[-1]}", file=label))
    assert onnx_program is not None  # the loop above either set it or raised
    proto = onnx_program.model_proto
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_param = "batch"
    try:
        return proto.SerializeToString()
    except ValueError as exc:  # protobuf's limit: one ONNX file holds at most 2 GB
        raise CheckpointError(Issue(f"cannot export {graph.title()} to ONNX: {first_line(exc)}", file=label)) from None


def onnx_runner(blob: bytes) -> Runner:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the same threads torch uses: a fair comparison
    session = onnxruntime.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: [torch.from_numpy(out) for out in session.run(None, {name: batch.numpy()})]


def to_torchscript(graph: Graph, label: str) -> bytes:
    """torch.jit.script (keeps batch sizes symbolic), else torch.jit.trace; the saved file's bytes."""
    problems = []
    with quiet():
        for way in ("script", "trace"):
            try:
                scripted = torch.jit.script(graph.module) if way == "script" else \
                    torch.jit.trace(graph.module, (graph.batch(EXPORT_BATCH, seed=0),), check_trace=False)
                buffer = io.BytesIO()
                torch.jit.save(scripted, buffer)
                return buffer.getvalue()
            except Exception as exc:  # this model's code is outside what TorchScript can compile or trace
                problems.append(f"{way}: {first_line(exc)}")
    raise CheckpointError(Issue(f"cannot export {graph.title()} to TorchScript: {'; '.join(problems)}", file=label))


def torchscript_runner(blob: bytes) -> Runner:
    with quiet():
        module = torch.jit.load(io.BytesIO(blob), map_location="cpu")
    module.eval()

    def run(batch: torch.Tensor) -> list[torch.Tensor]:
        with torch.no_grad():
            return outputs_of(module(batch))
    return run


def runner_for(format: str, blob: bytes) -> Runner:
    return onnx_runner(blob) if format == "onnx" else torchscript_runner(blob)


def export_file(source: Path, dest: Path, format: str = "torch", force: bool = False) -> Path:
    """Copy a verified checkpoint to `dest` (safetensors: weights only) with its manifest entry as DEST.json.

    Replaces a file there only when NodeFlow wrote it, unless `force`."""
    sidecar = dest.with_name(dest.name + ".json")
    for target in (dest, sidecar):
        problem = output_problem(target, force, "--force replaces it")
        if problem:
            raise CheckpointError(Issue(problem))
    data = load_checkpoint(source)  # refuses a file that does not match its manifest entry
    entry = read_entries(source.parent).get(source.name)
    if format == "safetensors":
        from safetensors.torch import save

        meta = {"epoch": str(data.get("epoch")), "config": json.dumps(data.get("config") or {}, default=str)}
        try:
            blob = save({k: v.contiguous() for k, v in data["model_state_dict"].items()}, metadata=meta)
        except Exception as exc:  # tensors safetensors cannot hold: shared, sparse, quantized, a size it refuses
            raise CheckpointError(Issue(f"cannot export as safetensors: {first_line(exc)}",
                                        field="model_state_dict", file=str(source))) from None
        write_output(dest, lambda handle: handle.write(blob), "ckpt export")
    else:
        with source.open("rb") as handle:
            write_output(dest, lambda out: shutil.copyfileobj(handle, out), "ckpt export")
    write_output_text(sidecar, json.dumps(entry or {}, indent=2) + "\n", "ckpt export")
    return dest
