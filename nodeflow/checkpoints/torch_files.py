"""Checkpoint files: durable atomic writes, safe loading, and rebuilding the model.

A checkpoint is a plain dict that `torch.load(path)` opens with torch's default
weights_only=True: tensors, plain containers and Python scalars only.
"""
from __future__ import annotations

import importlib.util
import pickle
import shutil
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from nodeflow.checkpoints.manifest import read_entries, usable_file
from nodeflow.core.errors import CheckpointError, Issue, UntrustedCodeError, UserError
from nodeflow.core.files import atomic_write
from nodeflow.core.outputs import read_json
from nodeflow.core.registry import Registry, default_registry
from nodeflow.checkpoints import compress
from nodeflow.checkpoints.payload import check_payload
from nodeflow.checkpoints.model_state import STATE_IS, TRAINABLE, base_problem, saves_trainable, trainable_state


MAX_CONFIG = 16 << 20  # bytes of a config.json beside a checkpoint


class CheckpointWarning(UserWarning):
    """Loading went on in a way the user should hear about (a backup stood in for a damaged file)."""


def atomic_save(payload: dict[str, Any], path: Path, compression: str = "none") -> str:
    """torch.save through the durable atomic-write protocol (see nodeflow.core.files), after
    checking that the state fits on the disk (a write that cannot fit is refused, not started).
    Returns the file's SHA-256, hashed while writing."""
    needed = _tensor_bytes(payload) + (1 << 20)
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise OSError(28, f"not enough free space ({free >> 20} MiB free, about {needed >> 20} MiB needed)")
    found = storages(payload)
    # CPU storages: memory torch.save writes from in place, which stays as it is while this runs
    # (`payload` is held until atomic_write returns), so its SHA-256 may be finished during the fsync
    lasting = {address: n for (device, address), n in found.items() if device == "cpu"}
    size = sum(found.values()) + 512 * len(found) + (64 << 10)  # each record's zip headers, the pickle
    with without_zip_crc():
        return atomic_write(path, lambda handle: compress.save(payload, handle, compression), digest=True,
                            lasting=lasting if compression == "none" else None,
                            size=size if compression == "none" else 0) or ""


def storages(obj: Any, found: dict[tuple[str, int], int] | None = None) -> dict[tuple[str, int], int]:
    """{(device type, address): bytes} of the tensor storages in `obj`: what torch.save writes
    (a storage once, however many tensors view it; all of it, however little they view)."""
    found = {} if found is None else found
    if isinstance(obj, torch.Tensor):
        if obj.layout == torch.strided:
            try:
                storage = obj.untyped_storage()
            except (RuntimeError, NotImplementedError):  # a tensor subclass without plain storage
                return found
            if storage.nbytes():
                found[str(obj.device), storage.data_ptr()] = storage.nbytes()
    elif isinstance(obj, dict):
        for value in obj.values():
            storages(value, found)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            storages(value, found)
    return found


@contextmanager
def without_zip_crc() -> Iterator[None]:
    """torch.save computes a CRC-32 of every record inside the zip, a third of a save's time,
    holding the GIL (which stalls the hashing thread). Our files carry a SHA-256 in the
    manifest, checked on every load, so they leave the CRC out, as torch allows
    (set_crc32_options). torch.load reads them as always; `unzip -t` reports the missing CRCs.

    The option is set for this thread only and put back before returning: torch keeps a user
    override of its config per thread (torch.utils._config_module), so a user's own torch.save
    on another thread keeps its CRCs. A torch whose option is process-wide keeps them too."""
    if not _CRC_OPTION_PER_THREAD:
        yield
        return
    before = torch.serialization.get_crc32_options()
    torch.serialization.set_crc32_options(False)
    try:
        yield
    finally:
        torch.serialization.set_crc32_options(before)


_CRC_OPTION_PER_THREAD = importlib.util.find_spec("torch.utils.serialization") is not None


def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    trust: bool = False, verify: bool = True, any_weights: bool = False) -> dict[str, Any]:
    """Load with weights_only=True; any problem is a CheckpointError naming the file.

    With `verify`, a file listed in its folder's manifest must match its size and
    SHA-256 there; when it does not and backups/ holds a copy that does, the copy is
    loaded and a CheckpointWarning says so. Compressed files (.pt.zst, .pt.gz) are
    read transparently. `trust=True` (the CLI's --trust) allows arbitrary pickled objects:
    only for files from a source you trust, since loading them can run code.
    `any_weights`: also accept other tools' files: a dict with `state_dict`, or a bare
    state_dict, returned as {"model_state_dict": ...}.
    """
    path = Path(path)
    label = str(path)
    entry = read_entries(path.parent).get(path.name) if verify and path.parent.is_dir() else None
    source = path
    if entry is not None:
        usable, problem = usable_file(path, entry)
        if usable is None:
            raise CheckpointError(Issue(f"not used: {problem}", file=label))
        source = usable
        if problem:
            warnings.warn(f"{label}: {problem}; loaded its verified backup {source} instead "
                          f"(`nodeflow ckpt restore-backup {label}` puts it back)", CheckpointWarning, stacklevel=2)
    elif not path.is_file():
        raise CheckpointError(Issue("checkpoint file not found", file=label))
    try:
        data = torch.load(compress.opened(source), map_location=map_location, weights_only=not trust)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise CheckpointError(Issue("refused: the file contains pickled Python objects that "
                                        "could run code when loaded (only plain tensors and "
                                        "containers are accepted; --trust overrides)", file=label)) from None
        raise CheckpointError(Issue(f"corrupt checkpoint: {_first_line(exc)}", file=label)) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(Issue(f"corrupt or truncated checkpoint: {_first_line(exc)}",
                                    file=label)) from None
    except Exception as exc:  # torch.load on bytes it did not write: IndexError, KeyError, struct.error, ...
        raise CheckpointError(Issue(f"not a readable checkpoint ({type(exc).__name__}: {_first_line(exc)})",
                                    file=label)) from None
    if any_weights and isinstance(data, dict) and "model_state_dict" not in data:
        if isinstance(data.get("state_dict"), dict):
            data = {**data, "model_state_dict": data["state_dict"]}
        elif data and all(isinstance(v, torch.Tensor) for v in data.values()):
            data = {"model_state_dict": data}
    return check_payload(data, label)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def restore_model(path: str | Path, map_location: str | torch.device = "cpu", registry: Registry | None = None,
                  trust: bool = False, model: torch.nn.Module | None = None,
                  trust_code: bool = False) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint was trained with and load its weights (into `model` instead,
    when given: for files with no config naming a model type, such as bare state_dicts).

    The config is the checkpoint's own, else a `config.json` beside the file.
    Returns `(model, checkpoint)`; the model is in eval mode on `map_location`.
    A model built by the user's own code (a PythonModel: a `.py` file or a module) is
    rebuilt only with `trust_code=True`; otherwise UntrustedCodeError names that code and
    nothing of it is imported or run. `trust` is about pickles (see load_checkpoint).
    """
    checkpoint = load_checkpoint(path, map_location, trust, any_weights=True)
    if model is not None:
        load_model_state(model, checkpoint, str(path), "the linked model")
        return model.to(map_location).eval(), checkpoint
    return rebuild_model(checkpoint, Path(path), map_location, registry, trust_code), checkpoint


def rebuild_model(checkpoint: dict[str, Any], path: Path, map_location: str | torch.device = "cpu",
                  registry: Registry | None = None, trust_code: bool = False) -> torch.nn.Module:
    """The model `checkpoint` (read from `path` by load_checkpoint) was trained with, its weights in,
    in eval mode: restore_model's second half, with the same trust rules."""
    model_config = model_config_of(checkpoint, Path(path))
    registry = registry or default_registry()
    spec = registry.get(model_config.get("type", ""))
    if spec is None or spec.rebuild is None:
        known = f"unknown model type {model_config['type']!r}" if model_config.get("type") else \
            "no config names its model type (a 'config' key, or config.json beside it)"
        raise CheckpointError(Issue(f"cannot rebuild model: {known}; link a model node to LoadCheckpoint's "
                                    "model input to load the weights into it", file=str(path)))
    kind, source = spec.runs_code(model_config) if spec.runs_code is not None and not trust_code else ("", "")
    if kind or source:  # an empty answer: this config runs no code
        raise UntrustedCodeError(str(path), source, kind)
    try:
        model = spec.rebuild(model_config)
    except UserError as exc:  # the node's own one-line refusal (a base model gone or changed), naming the file
        raise CheckpointError([replace(i, file=i.file or str(path)) for i in exc.issues]) from None
    except Exception as exc:  # the saved config's params are not ones its model type takes
        raise CheckpointError(Issue(f"cannot rebuild model {model_config['type']!r} from its saved config: "
                                    f"{type(exc).__name__}: {_first_line(exc)}", field="config.model",
                                    file=str(path))) from None
    load_model_state(model, checkpoint, str(path), "the saved config")
    model.nodeflow_data = (checkpoint.get("config") or {}).get("data")  # its tokenizer, checked against new data
    model.nodeflow_batch_size = ((checkpoint.get("config") or {}).get("trainer") or {}).get("batch_size")
    return model.to(map_location).eval()


def model_config_of(checkpoint: dict[str, Any], path: Path) -> dict[str, Any]:
    """The model config naming a type: the checkpoint's own, else a config.json beside it."""
    beside = read_json(path.parent / "config.json", MAX_CONFIG)
    for config in (checkpoint.get("config"), beside):
        model = config.get("model", config) if isinstance(config, dict) else None
        if isinstance(model, dict) and model.get("type") and isinstance(model["type"], str):
            return model
    return {}


def load_model_state(model: torch.nn.Module, checkpoint: dict[str, Any], label: str,
                     what: str = "this model") -> None:
    """The checkpoint's weights into `model`: for a file holding only what trained, first checked
    that `model`'s frozen base is the one the checkpoint was trained on."""
    if checkpoint.get(STATE_IS) == TRAINABLE:
        problem = base_problem(model_config_of(checkpoint, Path(label)), model)
        if problem:
            raise CheckpointError(Issue(problem, field="config.model.base", file=label))
    load_weights(model, checkpoint["model_state_dict"], label, what)


def load_weights(model: torch.nn.Module, weights: dict[str, Any], label: str, what: str = "this model") -> None:
    """model.load_state_dict, or one line naming the first key or shape that differs. A file
    holding only the trained parameters of a model that keeps a frozen base loads over that base."""
    partial = check_weights(model, weights, label, what)
    try:
        model.load_state_dict(weights, strict=not partial)
    except RuntimeError as exc:
        raise CheckpointError(Issue(f"weights do not fit {what}: {_first_line(exc)}", file=label)) from None


def check_weights(model: torch.nn.Module, weights: dict[str, Any], label: str, what: str = "this model") -> bool:
    """CheckpointError naming the first key or shape that differs between `model` and `weights`;
    True when `weights` holds exactly what trains of a model that saves only that (saved_state)."""
    own = model.state_dict()
    partial = saves_trainable(model) and not set(own) <= set(weights)
    expected = set(trainable_state(model)) if partial else set(own)
    for key in list(own) + [k for k in weights if k not in own]:
        if key not in weights and key in expected:
            problem = f"the checkpoint has no {key!r}"
        elif key not in own:
            problem = f"{what} has no {key!r} (the checkpoint has it)"
        elif key not in expected and key in weights:
            problem = f"{what} keeps {key!r} frozen (the checkpoint trained it)"
        elif key not in weights or tuple(own[key].shape) == tuple(getattr(weights[key], "shape", ())):
            continue
        else:
            problem = f"{key!r} is {tuple(weights[key].shape)} in the checkpoint, {tuple(own[key].shape)} in {what}"
        raise CheckpointError(Issue(f"weights do not fit {what}: {problem}", file=label))
    return partial
