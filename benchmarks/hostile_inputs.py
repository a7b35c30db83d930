"""Hostile inputs, tried as a user would: each case plants a file or link, runs one real
`nodeflow` command in a child process, and checks what a user must be able to rely on.

    python benchmarks/hostile_inputs.py            # every case (about 2 minutes on 2 cores)
    python benchmarks/hostile_inputs.py --only link

A case holds when the command exits 0 or 2, prints no traceback and at most one line on
stderr, changes nothing in the folder outside the run (`outside/`, hashed before and after),
stays under the memory ceiling (peak RSS of the child), and passes the case's own check.
The table printed at the end is the one in docs/reliability.md.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WINE = ROOT / "workflows" / "wine_mlp.json"
CEILING_MB = 1500  # torch alone takes ~400 MB; a bomb that expands takes gigabytes


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    peak_mb: float


@dataclass(frozen=True)
class Case:
    name: str
    surface: str
    what: str
    plant: Callable[[Path], list[str]]  # makes the hostile input in a case folder, returns the command's arguments
    check: Callable[[Path, Outcome], str | None] = lambda folder, outcome: None  # a failure, or None
    cwd: str = "."  # where the command runs, inside the case folder
    launch: str = "cli"  # "cli": python main.py; "child": python -m nodeflow as the editor starts it


def nodeflow(folder: Path, args: list[str], cwd: Path, launch: str) -> Outcome:
    env = {**os.environ, "NODEFLOW_HOME": str(folder / "home"), "OMP_NUM_THREADS": "1",
           "SECRET_TOKEN": "hunter2-do-not-print"}
    if launch == "child":  # the way the editor, sweep workers and --nproc ranks start a child
        try:
            from nodeflow.launch import child_pythonpath, nodeflow_command
        except ImportError:  # a NodeFlow from before children had a command builder of their own
            command, env["PYTHONPATH"] = [sys.executable, "-m", "nodeflow", *args], str(ROOT)
        else:
            command = nodeflow_command(args)
            env["PYTHONPATH"] = child_pythonpath(env.get("PYTHONPATH"))
    else:
        command = [sys.executable, str(ROOT / "main.py"), *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # fork, not vfork: a vforked child reports the parent's peak memory as its own (ru_maxrss at exec)
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                 preexec_fn=os.getpid)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        return Outcome(child.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                       usage.ru_maxrss / 1024)


def digest(folder: Path) -> dict[str, str]:
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            found[str(path)] = "link" if path.is_symlink() else "folder"
        else:
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# --- what the cases start from ------------------------------------------------------------

def train(run: Path, *extra: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "main.py"), "run", str(WINE), "--until", "Trainer",
                    "--set", "Trainer.epochs=3", "--set", "Trainer.save_every_n_epochs=1",
                    "--set", f"Trainer.checkpoint_dir={run}", *extra], check=True, capture_output=True,
                   env={**os.environ, "NODEFLOW_HOME": str(run.parent / "home"), "OMP_NUM_THREADS": "1"})


def sweep(folder: Path) -> None:
    doc = json.loads(WINE.read_text())  # one epoch a trial: `sweep` takes no --set
    for node in doc["nodes"].values():
        if node["name"] == "Trainer":
            node["params"]["epochs"] = 1
        if node["name"] == "Wine":
            node["params"]["path"] = str(WINE.parent / node["params"]["path"])
    (folder / "wine.json").write_text(json.dumps(doc))
    subprocess.run([sys.executable, str(ROOT / "main.py"), "sweep", str(folder / "wine.json"), "--param",
                    "Trainer.lr=loguniform:1e-4:1e-2", "--param", "Trainer.batch_size=choice:16,32", "--trials", "2",
                    "--metric", "val_loss", "--storage",
                    f"sqlite:///{folder / 'study.db'}", "--study", "wine"],
                   check=True, capture_output=True, cwd=folder,
                   env={**os.environ, "NODEFLOW_HOME": str(folder / "home"), "OMP_NUM_THREADS": "1"})


BASE: dict[str, Path] = {}


def copy_run(folder: Path) -> Path:
    shutil.copytree(BASE["run"], folder / "run", symlinks=True)
    return folder / "run"


def resume_args(run: Path) -> list[str]:
    return ["run", str(WINE), "--until", "Trainer", "--set", "Trainer.epochs=4", "--set",
            f"Trainer.checkpoint_dir={run}", "--resume", "auto"]


def link_in_run(name: str, to: str) -> Callable[[Path], list[str]]:
    def plant(folder: Path) -> list[str]:
        run = copy_run(folder)
        target = run / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        target.symlink_to(folder / "outside" / to)
        return resume_args(run)
    return plant


def previous_link(folder: Path) -> list[str]:
    run = copy_run(folder)
    (run / "previous").symlink_to(folder / "outside" / "dir")
    return ["run", str(WINE), "--until", "Trainer", "--set", "Trainer.epochs=1", "--set",
            f"Trainer.checkpoint_dir={run}", "--overwrite"]


def backups_link(command: str) -> Callable[[Path], list[str]]:
    def plant(folder: Path) -> list[str]:
        run = copy_run(folder)
        (run / "backups").symlink_to(folder / "outside" / "dir")
        return ["ckpt", "prune", "--keep", "1", str(run)] if command == "prune" else \
            ["ckpt", "delete", str(run / "checkpoint_epoch_1.pt")]
    return plant


def manifest_agrees(folder: Path, outcome: Outcome) -> str | None:
    run = folder / "run"
    entries = json.loads((run / "manifest.json").read_text())["checkpoints"]
    missing = [name for name in entries if not (run / name).exists()]
    return f"the manifest lists files that are gone: {missing}" if missing else None


def foreign_file(content: bytes, command: str) -> Callable[[Path], list[str]]:
    def plant(folder: Path) -> list[str]:
        path = folder / "model.pt"
        path.write_bytes(content)
        if command == "resume":
            run = copy_run(folder)
            return [*resume_args(run)[:-1], str(path)]
        return ["ckpt", command, str(path)]
    return plant


def manifest_field(field: str, value: object, command: str) -> Callable[[Path], list[str]]:
    def plant(folder: Path) -> list[str]:
        run = copy_run(folder)
        doc = json.loads((run / "manifest.json").read_text())
        for entry in doc["checkpoints"].values():
            entry[field] = value
        (run / "manifest.json").write_text(json.dumps(doc))
        return resume_args(run) if command == "resume" else ["ckpt", command, str(run)]
    return plant


def payload_field(field: str, value: object, command: str) -> Callable[[Path], list[str]]:
    def plant(folder: Path) -> list[str]:
        import torch

        run = copy_run(folder)
        path = run / "final_model.pt"
        checkpoint = torch.load(path, weights_only=False)
        checkpoint[field] = value
        torch.save(checkpoint, path)
        return {"show": ["ckpt", "show", str(path)], "plot": ["ckpt", "plot", str(run), "-o", str(folder / "p.png")],
                "safetensors": ["ckpt", "export", str(path), str(folder / "m.safetensors"), "--format",
                                "safetensors"],
                "resume": [*resume_args(run)[:-1], str(path)]}[command]
    return plant


def refused_resume_leaves_no_run(folder: Path, outcome: Outcome) -> str | None:
    again = nodeflow(folder, resume_args(folder / "run"), folder, "cli")
    return None if again.code == 0 else f"the next run failed: {again.err.strip()[:200]}"


def zstd_bomb(folder: Path) -> list[str]:
    import zstandard

    path = folder / "bomb.pt.zst"
    zeros = bytes(1 << 24)
    with path.open("wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as out:
        for _ in range(192):  # 3 GiB of zeros, about 100 KB on disk
            out.write(zeros)
    return ["ckpt", "show", str(path)]


def gzip_bomb(folder: Path) -> list[str]:
    path = folder / "bomb.pt.gz"
    zeros = bytes(1 << 24)
    with gzip.open(path, "wb", compresslevel=1) as out:
        for _ in range(64):  # 1 GiB of zeros
            out.write(zeros)
    return ["ckpt", "show", str(path)]


def yaml_bomb(folder: Path) -> list[str]:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [" + ",".join(f"*{previous}" for _ in range(9)) + "]")
    lines.append("checkpoint: {enabled: true, dir: *i}")
    (folder / "bomb.yaml").write_text("\n".join(lines) + "\n")
    return ["run", str(WINE), "--until", "Trainer", "--checkpoint-config", str(folder / "bomb.yaml")]


def template(value: str) -> Callable[[Path], list[str]]:
    return lambda folder: ["validate", str(WINE), "--set", f"Trainer.checkpoint_dir={folder / value}"]


def study(edit: str) -> Callable[[Path], list[str]]:
    def plant(folder: Path) -> list[str]:
        db = folder / "study.db"
        shutil.copy(BASE["study"], db)
        with sqlite3.connect(db) as sql:
            sql.executescript(edit.replace("OUTSIDE", str(folder / "outside" / "dir")))
        return ["sweep", "show", "wine", "--storage", f"sqlite:///{db}", "--apply-best", str(folder / "best.json")]
    return plant


def applied_within_study(folder: Path, outcome: Outcome) -> str | None:
    best = folder / "best.json"
    if not best.exists():
        return None
    trainer = next(n for n in json.loads(best.read_text())["nodes"].values() if n["name"] == "Trainer")["params"]
    if trainer.get("overwrite") or "outside" in str(trainer.get("checkpoint_dir", "")):
        return f"applied a param the study never searched: {trainer}"
    if not 1e-4 <= trainer["lr"] <= 1e-2:
        return f"applied lr={trainer['lr']}, outside the study's range"
    return None


def node_pack_in_cwd(folder: Path) -> list[str]:
    work = folder / "work"
    (work / "evil-1.0.dist-info").mkdir(parents=True)
    (work / "evil-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
    (work / "evil-1.0.dist-info" / "entry_points.txt").write_text("[nodeflow.nodes]\nevil = evilpack\n")
    (work / "evilpack.py").write_text(f"from pathlib import Path\nPath({str(folder / 'ran')!r}).write_text('x')\n")
    return ["validate", str(WINE)]


def code_did_not_run(folder: Path, outcome: Outcome) -> str | None:
    return "code from the working directory ran" if (folder / "ran").exists() else None


def csv_environ(folder: Path) -> list[str]:
    return ["validate", str(WINE), "--set", "Wine.path=/proc/self/environ"]


def no_environment_printed(folder: Path, outcome: Outcome) -> str | None:
    return "printed the environment" if "hunter2" in outcome.out + outcome.err else None


def escapes_in_manifest(folder: Path) -> list[str]:
    run = copy_run(folder)
    doc = json.loads((run / "manifest.json").read_text())
    for entry in doc["checkpoints"].values():
        entry["description"] = "\x1b[2J\x1b]0;owned\x07cleared"
        entry["tags"] = ["\x1b[31mred"]
    (run / "manifest.json").write_text(json.dumps(doc))
    return ["ckpt", "list", str(run)]


def no_escapes(folder: Path, outcome: Outcome) -> str | None:
    return "a terminal escape reached the terminal" if "\x1b" in outcome.out + outcome.err else None


def export_copy(folder: Path) -> list[str]:
    run = copy_run(folder)
    return ["ckpt", "export", str(run / "final_model.pt"), str(folder / "copy.pt")]


def readable_by_group(folder: Path, outcome: Outcome) -> str | None:
    mode = stat.S_IMODE((folder / "copy.pt").stat().st_mode) if (folder / "copy.pt").exists() else None
    return None if mode == 0o644 else f"export written with mode {oct(mode) if mode is not None else None}, not 0o644"


def device_force(folder: Path) -> list[str]:
    run = copy_run(folder)
    os.mknod(folder / "device", 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null
    return ["ckpt", "export", str(run / "final_model.pt"), str(folder / "device"), "--force"]


def device_kept(folder: Path, outcome: Outcome) -> str | None:
    return None if stat.S_ISCHR((folder / "device").lstat().st_mode) else "--force replaced a device node"


def proc_storage(folder: Path) -> list[str]:
    return ["sweep", str(WINE), "--param", "Trainer.lr=loguniform:1e-4:1e-2", "--trials", "1",
            "--storage", "sqlite:////proc/nodeflow-test/study.db"]


def proc_apply_best(folder: Path) -> list[str]:
    shutil.copy(BASE["study"], folder / "study.db")
    return ["sweep", "show", "wine", "--storage", f"sqlite:///{folder / 'study.db'}", "--apply-best",
            "/proc/nodeflow-test.json"]


def exits_2(folder: Path, outcome: Outcome) -> str | None:
    return None if outcome.code == 2 else f"exit {outcome.code}, expected 2"


def all_of(*checks: Callable[[Path, Outcome], str | None]) -> Callable[[Path, Outcome], str | None]:
    return lambda folder, outcome: next((p for p in (c(folder, outcome) for c in checks) if p), None)


NOISE = b"\x80\x02\x8a\x0alZ\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19" + bytes(range(256)) * 3
CASES = [
    *[Case(f"link {name}", "run folder", f"`{name}` in a run folder is a link to a {to.split('/')[-1]} outside; "
           "run --resume auto", link_in_run(name, to), exits_2)
      for name, to in [("training_log.txt", "target.txt"), ("history", "dir"), ("metrics", "dir"),
                       ("tensorboard", "dir"), ("hyperparameters.json", "target.txt")]],
    Case("link previous", "run folder", "`previous` is a link outside; run --overwrite", previous_link, exits_2),
    Case("link backups prune", "run folder", "`backups` is a link outside; ckpt prune --keep 1",
         backups_link("prune"), all_of(manifest_agrees)),
    Case("link backups delete", "run folder", "`backups` is a link outside; ckpt delete",
         backups_link("delete"), all_of(manifest_agrees)),
    Case("child cwd node pack", "child processes", "a node pack (*.dist-info) in the working directory; "
         "a child started as the editor starts it", node_pack_in_cwd, code_did_not_run, cwd="work", launch="child"),
    Case("passwd as checkpoint", "checkpoint payload", "ckpt show /etc/passwd",
         lambda folder: ["ckpt", "show", "/etc/passwd"], exits_2),
    *[Case(f"noise {command}", "checkpoint payload", f"random bytes as a checkpoint: {command}",
           foreign_file(NOISE, command), exits_2) for command in ("show", "workflow", "resume")],
    Case("noise verify", "checkpoint payload", "random bytes as a checkpoint: verify (exit 1 names the bad file)",
         foreign_file(NOISE, "verify"), lambda folder, outcome: None if outcome.code == 1 and "✗ model.pt" in
         outcome.out else f"exit {outcome.code}: {outcome.out.strip()[:200]}"),
    *[Case(f"payload {field}={value!r} {command}", "checkpoint payload",
           f"`{field}` of the wrong type ({value!r}): {command}", payload_field(field, value, command),
           exits_2 if command != "plot" else lambda f, o: None)
      for field, value, command in [("model_state_dict", [1, 2], "show"), ("model_state_dict", [1, 2], "resume"),
                                    ("model_state_dict", {"w": "x"}, "safetensors"), ("config", "x", "show"),
                                    ("history", 5, "plot"), ("history", {"loss": "x"}, "plot"),
                                    ("epoch", "three", "show"), ("epoch", "three", "resume")]],
    *[Case(f"manifest {field} {command}", "manifest", f'every entry\'s "{field}" is {value!r}: {command}',
           manifest_field(field, value, command))
      for field, value, command in [("step", "seven", "list"), ("file_size", "big", "summary"),
                                    ("tags", [1], "list"), ("step", "seven", "resume"),
                                    ("file_size", "big", "verify")]],
    Case("manifest refused resume", "manifest", "a refused resume (epoch of the wrong type) leaves the folder "
         "as it was: the next run continues", payload_field("epoch", "three", "resume"),
         all_of(exits_2, refused_resume_leaves_no_run)),
    Case("zstd bomb", "compressed checkpoint", "98 KB of zstd that expands to 3 GiB: ckpt show", zstd_bomb, exits_2),
    Case("gzip bomb", "compressed checkpoint", "1 MB of gzip that expands to 1 GiB: ckpt show", gzip_bomb, exits_2),
    Case("yaml alias bomb", "YAML block", "a 400-byte YAML block with nested aliases", yaml_bomb, exits_2),
    Case("template width", "checkpoint_dir", "`{model:>1500000000}` in checkpoint_dir: validate",
         template("{model:>1500000000}"), exits_2),
    Case("template attribute", "checkpoint_dir", "`{model.__class__.__mro__}` in checkpoint_dir: validate",
         template("{model.__class__.__mro__}"), exits_2),
    Case("study lr out of range", "sweep study", "a trial's lr set to 5.0 and made the best; --apply-best",
         study("UPDATE trial_params SET param_value=5.0 WHERE param_name='Trainer.lr';"
               "UPDATE trial_values SET value=-1;"), applied_within_study),
    Case("study extra params", "sweep study", "the best trial gains Trainer.checkpoint_dir and "
         "Trainer.overwrite; --apply-best",
         study("INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
               "SELECT trial_id, 'Trainer.overwrite', 1, '{\"name\": \"CategoricalDistribution\", "
               "\"attributes\": {\"choices\": [false, true]}}' FROM trials;"
               "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) "
               "SELECT trial_id, 'Trainer.checkpoint_dir', 0, '{\"name\": \"CategoricalDistribution\", "
               "\"attributes\": {\"choices\": [\"OUTSIDE\"]}}' FROM trials;"), applied_within_study),
    Case("study dir attribute", "sweep study", "the study's `dir` attribute names a folder outside; sweep show",
         study("UPDATE study_user_attributes SET value_json='\"OUTSIDE\"' WHERE key='dir';"), lambda f, o: None),
    Case("study categorical index", "sweep study", "a categorical param's index is 99; --apply-best",
         study("UPDATE trial_params SET param_value=99 WHERE param_name='Trainer.batch_size';"), lambda f, o: None),
    Case("study nan value", "sweep study", "every trial's value is NaN (stored as NULL); --apply-best",
         study("UPDATE trial_values SET value=NULL;"), lambda f, o: None),
    Case("study null param", "sweep study", "the best trial's lr is NaN (stored as NULL); --apply-best",
         study("UPDATE trial_params SET param_value=NULL WHERE param_name='Trainer.lr';"), applied_within_study),
    Case("storage under /proc", "sweep study", "--storage sqlite:////proc/...", proc_storage, exits_2),
    Case("apply-best under /proc", "sweep study", "--apply-best /proc/x.json", proc_apply_best, exits_2),
    Case("csv /proc/self/environ", "data files", "a CSV path of /proc/self/environ: validate", csv_environ,
         no_environment_printed),
    Case("escapes in manifest", "console", "terminal escapes in a manifest's description and tags: ckpt list",
         escapes_in_manifest, no_escapes),
    Case("umask", "written files", "ckpt export under umask 022", export_copy, readable_by_group),
    Case("force device", "written files", "ckpt export onto a device node with --force", device_force,
         all_of(exits_2, device_kept)),
]


def run_case(case: Case, base: Path) -> str | None:
    folder = base / "".join(c if c.isalnum() else "_" for c in case.name)
    (folder / "outside" / "dir").mkdir(parents=True)
    (folder / "outside" / "target.txt").write_text("a file outside the run\n")
    (folder / "outside" / "dir" / "keep.txt").write_text("a file in a folder outside the run\n")
    args = case.plant(folder)
    before = digest(folder / "outside")
    outcome = nodeflow(folder, args, folder / case.cwd, case.launch)
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    if outcome.code not in ((0, 1, 2) if args[:2] == ["ckpt", "verify"] else (0, 2)):  # verify: 1 = a bad file
        return f"exit {outcome.code}: {outcome.err.strip()[-300:]}"
    if "Traceback" in outcome.err + outcome.out:
        return f"traceback: {outcome.err.strip()[-300:]}"
    if outcome.code == 2 and len(lines) != 1:
        return f"{len(lines)} lines on stderr, expected one: {outcome.err[:300]!r}"
    if any(len(line) > 1000 for line in lines):
        return f"an error line of {max(len(line) for line in lines)} characters"
    if digest(folder / "outside") != before:
        return "changed a file outside the run folder"
    if outcome.peak_mb > CEILING_MB:
        return f"peak memory {outcome.peak_mb:.0f} MB"
    return case.check(folder, outcome)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="cases whose name contains this word")
    args = parser.parse_args()
    os.umask(0o022)
    cases = [case for case in CASES if args.only in case.name]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nodeflow-hostile-") as temp:
        base = Path(temp)
        BASE["run"] = base / "base" / "run"
        train(BASE["run"])
        if any("study" in case.name or "apply-best" in case.name for case in cases):
            (base / "sweep").mkdir()
            sweep(base / "sweep")
            BASE["study"] = base / "sweep" / "study.db"
        held: dict[str, list[int]] = {}
        for case in cases:
            problem = run_case(case, base)
            held.setdefault(case.surface, [0, 0])[problem is None] += 1
            print(f"{'held' if problem is None else 'FAILED':6}  {case.name}: {problem or case.what}", flush=True)
    print("\n| surface | tried | held |\n|---|---|---|")
    for surface, (failed, ok) in held.items():
        print(f"| {surface} | {failed + ok} | {ok} |")
    total = sum(ok for _, ok in held.values())
    print(f"\n{total} of {len(cases)} held in {time.perf_counter() - started:.0f} s")
    return 0 if total == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
