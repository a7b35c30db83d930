"""Where a pretrained model's files are, and which files they are.

A source is a local folder in Hugging Face format (relative to the workflow file) or a hub id
(`name` or `owner/name`). A hub id is looked up in the Hugging Face cache first; it is
downloaded only when it is not there, the machine is online (HF_HUB_OFFLINE unset) and the
caller allows it: a reload never does. The identity (resolved revision, SHA-256 of each weight
file) is what a checkpoint records and what a reload checks.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeflow.core.errors import DataError, Issue

LOCAL = "local"  # the resolved revision recorded for a local folder
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
HUB_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")
# other frameworks' weights and exports: never needed to load the PyTorch model
NOT_NEEDED = ["*.h5", "*.msgpack", "*.ot", "*.tflite", "*.onnx", "*.gguf", "*.mlmodel", "onnx/*", "coreml/*",
              "openvino/*", "flax_model*", "tf_model*", "rust_model*"]


@dataclass(frozen=True)
class Located:
    """A model's folder on this machine, and what it is."""

    source: str  # as given
    folder: Path
    hub: bool
    resolved: str  # the snapshot's commit for a hub id; "local" for a folder


def offline() -> bool:
    """Offline mode as Hugging Face's libraries read it."""
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def local_folder(source: str, base_dir: Path) -> Path | None:
    """The folder `source` names (relative to the workflow file), when there is one."""
    path = Path(source).expanduser()
    path = path if path.is_absolute() else base_dir / path
    return path.resolve() if path.is_dir() else None


def is_hub_id(source: str) -> bool:
    return bool(HUB_ID.match(source)) and ".." not in source and not source.endswith((".", "-"))


def cached_snapshot(repo: str, revision: str) -> Path | None:
    """The cache's snapshot folder of `repo` at `revision` (a branch, tag or commit), without the network."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo, revision=revision or None, local_files_only=True))
    except Exception:  # not cached (huggingface_hub's LocalEntryNotFoundError, or a bad id): nothing here
        return None
    return folder if (folder / "config.json").is_file() else None


def _download(repo: str, revision: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo, revision=revision or None, ignore_patterns=NOT_NEEDED))
    except Exception as exc:  # no such repo or revision, gated, no network: the user's to fix
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(Issue(f"cannot download {repo!r}{f' at {revision}' if revision else ''} from the "
                              f"Hugging Face hub: {first}", field="source")) from None


def locate(source: str, revision: str, base_dir: Path, download: bool = True) -> Located:
    """The folder of `source`: a local folder, else a hub id from the cache (downloaded when allowed)."""
    source = source.strip()
    if not source:
        raise DataError(Issue("name a folder in Hugging Face format or a hub id (e.g. gpt2)", field="source"))
    folder = local_folder(source, base_dir)
    if folder is not None:
        return Located(source, folder, False, LOCAL)
    if not is_hub_id(source):
        raise DataError(Issue(f"no such folder: {source} (relative to the workflow file)", field="source"))
    snapshot = cached_snapshot(source, revision)
    if snapshot is None:
        at = f" at revision {revision}" if revision else ""
        if offline() or not download:
            why = "offline (HF_HUB_OFFLINE is set)" if offline() else "a reload never downloads"
            raise DataError(Issue(f"{source!r}{at} is neither a folder (relative to the workflow file) nor a "
                                  f"model in the local Hugging Face cache, and {why}", field="source"))
        snapshot = _download(source, revision)
    return Located(source, snapshot, True, snapshot.name)


def weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def identity(located: Located, revision: str, task: str) -> dict[str, Any]:
    """What names the base model exactly: source, revision asked and resolved, task, weight files' SHA-256."""
    found = {"source": located.source, "revision": revision, "resolved_revision": located.resolved, "task": task,
             "weights_sha256": {p.name: sha256(p) for p in weight_files(located.folder)}}
    return found | ({"folder": str(located.folder)} if not located.hub else {})


def relocate(base: dict[str, Any]) -> Located:
    """The recorded base model's folder again, from this machine only (a reload never downloads)."""
    source, resolved = str(base.get("source", "")), str(base.get("resolved_revision", ""))
    if resolved == LOCAL:
        folder = Path(str(base.get("folder", "")))
        if not folder.is_dir():
            raise DataError(Issue(f"the base model's folder {folder} is gone", field="source"))
        return Located(source, folder, False, LOCAL)
    snapshot = cached_snapshot(source, resolved)
    if snapshot is None:
        raise DataError(Issue(f"the base model {source!r} at revision {resolved} is not in the local Hugging Face "
                              f"cache, and a reload never downloads (fetch it first: hf download {source} "
                              f"--revision {resolved})", field="source"))
    return Located(source, snapshot, True, snapshot.name)


def differs(base: dict[str, Any], located: Located) -> str:
    """Why the weight files found are not the ones recorded, or ''."""
    recorded = dict(base.get("weights_sha256") or {})
    found = {p.name: sha256(p) for p in weight_files(located.folder)}
    for name in sorted(set(recorded) | set(found)):
        if recorded.get(name) != found.get(name):
            what = "is missing" if name not in found else "is new" if name not in recorded else "has changed"
            return f"the base model's weight file {name} {what} in {located.folder} since the checkpoint was saved"
    return ""
