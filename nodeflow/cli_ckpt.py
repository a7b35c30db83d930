"""`nodeflow ckpt`: list, show, verify, compare, export, prune, delete, plot, workflow, tag, summary and
restore-backup. The commands that change or load files call nodeflow.checkpoints, the Python API."""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from nodeflow.checkpoints.manifest import (COLUMNS, cells, problem_text, read_entries, rows, size_text, summary,
                                     summary_line, value_text)
from nodeflow.core.errors import CheckpointError, Issue, UserError
from nodeflow.checkpoints.layout import checkpoint_home
from nodeflow.core.files import not_a_file
from nodeflow.core.outputs import output_problem, write_output

EXIT_OK, EXIT_BAD = 0, 1


def add_parser(sub: Any) -> None:
    ckpt = sub.add_parser("ckpt", help="inspect and manage checkpoints").add_subparsers(dest="ckpt_command",
                                                                                         required=True)
    listing = ckpt.add_parser("list", help="table of the checkpoints in a folder")
    listing.add_argument("folder")
    listing.add_argument("--json", action="store_true", help="one JSON object per file (manifest entry + problem)")
    listing.add_argument("--tag", help="only checkpoints with this tag")
    show = ckpt.add_parser("show", help="what one checkpoint holds")
    show.add_argument("file")
    show.add_argument("--trust", action="store_true", help="allow pickled objects (can run code)")
    ckpt.add_parser("verify", help="check files against the manifest; exit 1 naming each bad file") \
        .add_argument("path")
    compare = ckpt.add_parser("compare", help="metrics side by side and per-tensor differences")
    compare.add_argument("files", nargs="+")
    compare.add_argument("--trust", action="store_true", help="allow pickled objects (can run code)")
    export = ckpt.add_parser("export", help="copy a verified checkpoint, or export its model for deployment "
                             "(ONNX, TorchScript) checked against torch")
    export.add_argument("file")
    export.add_argument("dest")
    export.add_argument("--format", choices=("torch", "safetensors", "onnx", "torchscript", "hf"), default="torch",
                        help="safetensors: weights only; onnx, torchscript: the model, run and compared with "
                        "torch on two batch sizes before it is written (CLIP: DEST.image and DEST.text); hf: a "
                        "Pretrained model as a Hugging Face folder DEST (LoRA merged), loaded back and compared")
    export.add_argument("--adapter", action="store_true", help="hf: write the LoRA adapter (PEFT) instead of "
                        "merging it into the base model")
    export.add_argument("--force", action="store_true", help="replace DEST even when NodeFlow did not write it")
    export.add_argument("--trust", action="store_true", help="onnx, torchscript: allow pickled objects and "
                        "rebuilding a model from your own Python code (PythonModel)")
    prune = ckpt.add_parser("prune", help="keep N periodic checkpoints: a periodic best among them, then the "
                                          "newest (never best, final or tagged keep)")
    prune.add_argument("folder")
    prune.add_argument("--keep", type=int, required=True)
    ckpt.add_parser("delete", help="remove one checkpoint file and its manifest entry").add_argument("file")
    ckpt.add_parser("workflow", help="print the workflow a checkpoint was trained with, from the file alone") \
        .add_argument("file")
    tag = ckpt.add_parser("tag", help="add or remove tags and set the description of a checkpoint")
    tag.add_argument("file")
    tag.add_argument("--add", action="append", default=[], metavar="TAG", help="repeatable; 'keep' also "
                     "protects it from pruning and backs it up")
    tag.add_argument("--remove", action="append", default=[], metavar="TAG")
    tag.add_argument("--description")
    summary = ckpt.add_parser("summary", help="count, total size, best, latest, oldest and newest")
    summary.add_argument("folder")
    summary.add_argument("--json", action="store_true")
    ckpt.add_parser("restore-backup", help="put the verified copy from backups/ back in place of a damaged file") \
        .add_argument("file")
    scan = ckpt.add_parser("scan", help="every checkpoint under a folder, whoever wrote it (nothing is unpickled)")
    scan.add_argument("root")
    scan.add_argument("--json", action="store_true", help="one JSON object per file, then one listing the folders")
    plot = ckpt.add_parser("plot", help="train/val curves of the newest valid checkpoint to a PNG")
    plot.add_argument("folder")
    plot.add_argument("-o", "--output", default="curves.png")
    plot.add_argument("--force", action="store_true", help="replace the output even when NodeFlow did not write it")


def run(args: argparse.Namespace) -> int:
    return COMMANDS[args.ckpt_command](args)


def _folder(value: str) -> Path:
    folder = Path(value)
    if not folder.is_dir():
        raise UserError(Issue("not a folder", file=value))
    return checkpoint_home(folder)


def _check_outputs(paths: list[Path], force: bool) -> None:
    """Refuse to replace any file NodeFlow did not write, unless --force; refuse anything but a
    regular file (a folder, device, FIFO or socket) even with --force."""
    for path in paths:
        what = not_a_file(path)
        if what:
            raise UserError(Issue(f"is {what}, not a regular file; --force replaces only a file: choose another path",
                                  file=str(path)))
        problem = output_problem(path, force, "--force replaces it")
        if problem:
            raise UserError(Issue(problem))


def cmd_list(args: argparse.Namespace) -> int:
    folder = _folder(args.folder)
    found = [r for r in rows(folder) if args.tag is None or args.tag in ((r[1] or {}).get("tags") or [])]
    if args.json:
        for name, entry, problem in found:
            print(json.dumps({"file": name, "entry": entry, "problem": problem,
                              "cells": cells(name, entry, problem)}, default=str))
        return EXIT_OK
    _print_table(COLUMNS, [tuple(cells(*row).values()) for row in found])
    if not found:
        print(f"(no checkpoints{f' tagged {args.tag!r}' if args.tag else ''} in {folder})")
    return EXIT_OK


def _print_table(columns: tuple[str, ...], rows_: list[tuple[str, ...]]) -> None:
    table = [columns, *rows_]
    widths = [max(len(r[i]) for r in table) for i in range(len(columns) - 1)]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])


def cmd_scan(args: argparse.Namespace) -> int:
    from nodeflow.checkpoints import scan

    root = Path(args.root)
    if not root.is_dir():
        raise UserError(Issue("the library root does not exist or is not a folder", file=args.root))
    records, folders = scan.scan(root)
    if args.json:
        for record in records:
            print(json.dumps(record, default=str))
        print(json.dumps({"folders": [str(f.resolve()) for f in folders]}))
        return EXIT_OK
    _print_table(scan.COLUMNS, [tuple(scan.cells(r).values()) for r in records])
    print(f"{len(records)} file(s) under {root}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from nodeflow.checkpoints.manifest import read_entries, usable_file
    from nodeflow.checkpoints.torch_files import load_checkpoint

    path = Path(args.file)
    entry = read_entries(path.parent).get(path.name) if path.parent.is_dir() else None
    source, problem = usable_file(path, entry)
    # the status is reported below; a damaged file with a verified backup is read from the backup (with a warning)
    data = load_checkpoint(path, trust=args.trust, verify=source not in (None, path))
    config = data.get("config") or {}
    model, weights = config.get("model") or {}, data["model_state_dict"]
    count = sum(t.numel() for t in weights.values())
    size = sum(t.numel() * t.element_size() for t in weights.values())
    print(f"file:     {path}")
    print(f"epoch:    {value_text(data.get('epoch'))}   step: {value_text(data.get('step'))}   "
          f"loss: {value_text(data.get('loss'))}"
          + (f"   (interrupted after batch {data['batch_in_epoch']})" if data.get("batch_in_epoch") else ""))
    if data.get("monitor"):
        epoch = f" (epoch {data['best_epoch']})" if data.get("best_epoch") is not None else ""
        print(f"monitor:  {data['monitor']}   best: {value_text(data.get('best'))}{epoch}")
    print("metrics:  " + ", ".join(f"{k} {value_text(v)}" for k, v in (data.get("metrics") or {}).items()))
    print(f"model:    {model.get('type', '?')} {json.dumps(model.get('params', {}), default=str)} "
          f"input {model.get('input_shape')} -> {model.get('output_size')} outputs")
    print("trainer:  " + ", ".join(f"{k}={v}" for k, v in (config.get("trainer") or {}).items()))
    print(f"weights:  {len(weights)} tensors, {count:,} values ({size_text(size)})")
    status = "✓ verified" if problem is None else f"✗ {problem}"
    extra = (f" (sha256 {entry.get('checksum', '?')[:12]}…, {entry.get('file_size', 0):,} bytes, "
             f"{entry.get('timestamp', '?')})") if entry else ""
    print(f"manifest: {status}{extra}")
    if entry:
        print(f"id:       {entry.get('checkpoint_id')}   tags: {', '.join(entry.get('tags') or []) or '-'}")
        if entry.get("description"):
            print(f"description: {entry['description']}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.is_file():
        found: list[tuple[str, dict[str, Any] | None, str | None]] = [
            (path.name, None, problem_text(path, read_entries(path.parent).get(path.name)))]
    else:
        found = rows(_folder(args.path))
    bad = [(n, p) for n, _, p in found if p is not None]
    for name, problem in bad:
        print(f"✗ {name}: {problem}")
    print(f"{len(found) - len(bad)} of {len(found)} checkpoint(s) verified")
    return EXIT_BAD if bad else EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from nodeflow.checkpoints import weight_differences
    from nodeflow.checkpoints.torch_files import load_checkpoint

    loaded = [(f, load_checkpoint(f, trust=args.trust)) for f in args.files]
    names = [Path(f).name for f, _ in loaded]
    metrics = sorted({k for _, d in loaded for k in d.get("metrics") or {}})
    keys = list(dict.fromkeys(["epoch", "step", "loss", *metrics]))
    width = max(12, *(len(n) for n in names))
    print("".ljust(16) + "".join(n.ljust(width + 2) for n in names))
    for key in keys:
        values = [d.get(key, (d.get("metrics") or {}).get(key)) for _, d in loaded]
        print(key.ljust(16) + "".join(value_text(v).ljust(width + 2) for v in values))
    base_name, base = names[0], loaded[0][1]["model_state_dict"]
    for name, (_, data) in zip(names[1:], loaded[1:]):
        print(f"\n{name} vs {base_name}: max |difference| per tensor")
        weights = data["model_state_dict"]
        try:
            diffs = weight_differences(base, weights)
        except RuntimeError as exc:  # tensors torch cannot subtract (sparse, quantized, another dtype kind)
            raise CheckpointError(Issue(f"cannot compare its weights with {base_name}'s: {_first_line(exc)}",
                                        field="model_state_dict", file=name)) from None
        for tensor_name, diff in diffs.items():
            print(f"  {tensor_name}: {'missing or different shape' if diff is None else f'{diff:.3g}'}")
        equal = set(weights) == set(base) and None not in diffs.values() and all(base[k].equal(weights[k])
                                                                                  for k in diffs)
        print(f"  bitwise equal: {'yes' if equal else 'no'}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    source, dest = Path(args.file), Path(args.dest)
    if args.adapter and args.format != "hf":
        raise UserError(Issue("--adapter goes with --format hf", field="--adapter"))
    if args.format == "hf":
        return _export_hf(source, dest, args)
    if dest.is_dir():
        raise UserError(Issue(f"is a folder; give the file to write, e.g. {dest / 'model'}", file=args.dest))
    try:
        if args.format in ("onnx", "torchscript"):
            return _export_model(source, dest, args)
        from nodeflow.checkpoints.export import export_file

        export_file(source, dest, args.format, args.force)
    except OSError as exc:  # the destination cannot be written (permissions, a full disk, a folder in the way)
        raise UserError(Issue(f"cannot write the export: {exc.strerror or exc}", file=args.dest)) from None
    print(f"exported {source} -> {dest} ({args.format}) with {dest.name}.json")
    return EXIT_OK


def _export_model(source: Path, dest: Path, args: argparse.Namespace) -> int:
    from nodeflow.checkpoints.export import VerificationFailed, export_model

    try:
        done = export_model(source, dest, args.format, args.force, args.trust)
    except VerificationFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD
    for exported in done:
        print(f"exported {source} -> {exported.line()}")
    return EXIT_OK


def _export_hf(source: Path, dest: Path, args: argparse.Namespace) -> int:
    from nodeflow.checkpoints.export_inputs import graphs_of
    from nodeflow.checkpoints.torch_files import load_checkpoint, model_config_of, rebuild_model
    from nodeflow.pretrained.build import TYPE
    from nodeflow.pretrained.export import ExportMismatch, export_hf

    checkpoint = load_checkpoint(source)
    kind = model_config_of(checkpoint, source).get("type")
    if kind != TYPE:  # before rebuilding: a PythonModel's code never runs for this
        raise CheckpointError(Issue(f"--format hf exports a Pretrained model (Hugging Face format); this checkpoint's "
                                    f"model is {kind or 'not named'} (use --format onnx or torchscript)",
                                    file=str(source)))
    model = rebuild_model(checkpoint, source)
    graph = graphs_of(model, checkpoint, str(source))[0]
    try:
        done = export_hf(model, checkpoint, source, dest, [graph.batch(n, seed=n) for n in (1, 5)], args.force,
                         args.adapter)
    except ExportMismatch as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD
    except OSError as exc:
        raise UserError(Issue(f"cannot write the export: {exc.strerror or exc}", file=args.dest)) from None
    print(f"exported {source} -> {done.line()}")
    return EXIT_OK


def cmd_prune(args: argparse.Namespace) -> int:
    from nodeflow.checkpoints.manifest import prune_periodic

    folder = _folder(args.folder)
    if args.keep < 0:
        raise UserError(Issue("--keep must be 0 or more"))
    for name in prune_periodic(folder, args.keep):
        print(f"removed {folder / name}")
    print(f"kept at most {args.keep} periodic checkpoint(s); best, final and files tagged keep are never pruned")
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    from nodeflow.checkpoints.manifest import remove_checkpoints

    path = Path(args.file)
    if not path.is_file():
        raise UserError(Issue("no such checkpoint file", file=args.file))
    remove_checkpoints(path.parent, [path.name])
    print(f"deleted {path}")
    return EXIT_OK


def cmd_workflow(args: argparse.Namespace) -> int:
    from nodeflow.checkpoints.torch_files import load_checkpoint

    text = load_checkpoint(args.file).get("workflow")
    if not isinstance(text, str) or not text:
        raise CheckpointError(Issue("no workflow stored in this checkpoint (written before NodeFlow kept it)",
                                    file=args.file))
    sys.stdout.write(text)
    return EXIT_OK


def cmd_plot(args: argparse.Namespace) -> int:
    from nodeflow.checkpoints.torch_files import load_checkpoint
    from nodeflow.training.plots import plot_history
    from nodeflow.checkpoints.resume import newest_valid

    folder, output = _folder(args.folder), Path(args.output)
    _check_outputs([output], args.force)
    path, skipped = newest_valid(folder)
    for name, problem in skipped:
        print(f"skipping {name}: {problem}")
    if path is None:
        raise CheckpointError(Issue("no valid checkpoint to plot", file=str(folder)))
    history = _drawable(load_checkpoint(path).get("history") or {}, str(path))
    write_output(output, lambda handle: plot_history(history, handle, title=f"{folder.name} ({path.name})"),
                 "ckpt plot")
    print(f"wrote {args.output} from {path} ({len(history.get('train_loss', []))} epochs)")
    return EXIT_OK


def _drawable(history: dict[str, Any], label: str) -> dict[str, list[float]]:
    """The curves ckpt plot draws, one value per epoch (as many as train_loss); values no axis can
    hold (inf, NaN, beyond 1e100: a diverged run) become gaps."""
    epochs = len(history.get("train_loss") or [])
    for key in ("val_loss", "train_accuracy", "val_accuracy"):
        if history.get(key) and len(history[key]) != epochs:
            raise CheckpointError(Issue(f"{len(history[key])} values for {epochs} epochs of train_loss",
                                        field=f"history.{key}", file=label))
    return {k: [float(v) if abs(v) < 1e100 else math.nan for v in values] for k, values in history.items()}


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__


def cmd_tag(args: argparse.Namespace) -> int:
    from nodeflow.checkpoints import CheckpointManager

    path = Path(args.file)
    if not args.add and not args.remove and args.description is None:
        raise UserError(Issue("nothing to change: give --add, --remove or --description"))
    manager = CheckpointManager.open(path.parent, backup_checkpoints=True)  # asking to keep a file backs it up
    meta = manager.tag_checkpoint(path.name, args.add, args.remove, args.description)
    described = f"; description: {meta.description}" if meta.description else ""
    print(f"{path}: tags {', '.join(meta.tags) or '-'}{described}")
    return EXIT_OK


def cmd_summary(args: argparse.Namespace) -> int:
    folder = _folder(args.folder)
    entries = read_entries(folder)
    print(json.dumps(summary(entries), indent=2) if args.json else summary_line(entries))
    return EXIT_OK


def cmd_restore_backup(args: argparse.Namespace) -> int:
    from nodeflow.checkpoints import CheckpointManager

    path = Path(args.file)
    print(CheckpointManager.open(path.parent).restore_backup(path.name))
    return EXIT_OK


COMMANDS = {"scan": cmd_scan, "list": cmd_list, "show": cmd_show, "verify": cmd_verify, "compare": cmd_compare,
            "export": cmd_export, "prune": cmd_prune, "delete": cmd_delete, "plot": cmd_plot,
            "workflow": cmd_workflow, "tag": cmd_tag, "summary": cmd_summary, "restore-backup": cmd_restore_backup}
