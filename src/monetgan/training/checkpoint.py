"""Checkpoints as data, not code: safetensors for tensors, JSON for everything else, no pickles.

A checkpoint is a folder `RUN_DIR/checkpoints/step-NNNNNN/`:

    generator.safetensors        critic.safetensors      generator_ema.safetensors (if EMA is on)
    optimizers.safetensors       rng.safetensors         state.json  config.json

It is written into a hidden temporary folder and renamed into place, so a kill at any moment
leaves either the complete new checkpoint or none of it, never a half-written one. A save that
fails (a full disk) removes its temporary folder, leaves the earlier checkpoints as they were and
becomes one `UserError` line. Retention keeps the newest K checkpoints plus, optionally, the best
one by a metric that `monetgan evaluate --checkpoint all` recorded in RUN_DIR/metrics.jsonl.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import UserError

FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.jsonl"  # written by `monetgan evaluate --checkpoint all`, one line per step
_STEP_DIR = re.compile(r"^step-(\d{6,})$")
_TMP_PREFIX = ".tmp-"
PAINTER_FILES = ("generator", "generator_ema")  # either one paints
REQUIRED_FILES = ("generator.safetensors", "critic.safetensors", "optimizers.safetensors",
                  "rng.safetensors", "state.json", "config.json")


@dataclass
class Checkpoint:
    """A loaded checkpoint: tensors grouped by file stem, plus the JSON state and config."""

    path: Path
    tensors: dict[str, dict[str, torch.Tensor]]
    state: dict[str, Any]
    config: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.state["step"])

    def painter(self, ema: bool | None = None) -> str:
        """Which generator paints: "generator_ema" or "generator". `ema=None` takes the EMA when the
        checkpoint has one; True requires it; False requires the raw one."""
        has_ema = "generator_ema" in self.tensors
        if ema and not has_ema:
            raise UserError(f"--ema: checkpoint {self.path} has no EMA generator (trained with ema_decay=0); use --no-ema")
        if ema is False and "generator" not in self.tensors:
            raise UserError(f"--no-ema: checkpoint {self.path} holds only its EMA generator; leave out --no-ema")
        return "generator_ema" if has_ema and ema is not False else "generator"


def step_dir_name(step: int) -> str:
    return f"step-{step:06d}"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def checkpoints_named(run_dir: Path, names: str, flag: str, other_choices: str = "") -> list[Path]:
    """The run's checkpoints that a comma list names, in its order: each item a folder name
    (step-000250) or a step (250). One line naming `flag` and the choices when one is missing."""
    run_dir = Path(run_dir)
    found = list_checkpoints(run_dir)
    chosen = []
    for item in names.split(","):
        item = item.strip()
        name = item if item.startswith("step-") else step_dir_name(int(item)) if item.isdigit() else item
        match = [p for p in found if p.name == name]
        if not match:
            choices = ", ".join(p.name for p in found) or "none yet"
            raise UserError(f"{flag} {item}: {name} is not in {run_dir}; choose from {choices}{other_choices}")
        chosen += match
    return chosen


def _step_of(path: Path) -> int:
    return int(_STEP_DIR.match(path.name).group(1))


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def remove_partial_checkpoints(run_dir: Path) -> None:
    """Delete temporary folders left by a save that was killed part-way."""
    root = Path(run_dir) / CHECKPOINT_DIR
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith(_TMP_PREFIX):
                shutil.rmtree(p, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open folders; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def save_checkpoint(run_dir: Path, step: int, tensors: dict[str, dict[str, torch.Tensor]],
                    state: dict[str, Any], config: dict[str, Any], keep: int = 0) -> Path:
    """Write a checkpoint atomically and return its folder.

    `keep` > 0 then prunes older checkpoints to the newest `keep`, plus the best one by the metric
    `config["keep_best"]` names, if any. A failed write (full disk, permissions) leaves every
    earlier checkpoint untouched and raises a `UserError` that says so.
    """
    root = Path(run_dir) / CHECKPOINT_DIR
    final = root / step_dir_name(step)
    previous = latest_checkpoint(run_dir)
    try:
        _write(root, final, step, tensors, state, config)
    except OSError as exc:
        raise _save_error(Path(run_dir), final, previous, exc) from None
    except SafetensorError as exc:  # safetensors writes the file itself and reports I/O errors as its own type
        found = re.search(r"\(os error (\d+)\)", str(exc))
        if found is None:
            raise
        code = int(found.group(1))
        raise _save_error(Path(run_dir), final, previous, OSError(code, os.strerror(code))) from None
    if keep > 0:
        prune_checkpoints(run_dir, keep, str(config.get("keep_best") or ""), protect=final)
    return final


def _write(root: Path, final: Path, step: int, tensors: dict[str, dict[str, torch.Tensor]],
           state: dict[str, Any], config: dict[str, Any]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f"{_TMP_PREFIX}{final.name}-{os.getpid()}"
    old = root / f"{_TMP_PREFIX}old-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    moved_old = False
    try:
        tmp.mkdir()
        for stem, group in tensors.items():
            path = tmp / f"{stem}.safetensors"
            save_file({k: v.detach().contiguous().cpu() for k, v in group.items()}, str(path))
            _fsync_file(path)
        _write_json(tmp / "config.json", config)
        _write_json(tmp / "state.json", {**state, "step": step, "format_version": FORMAT_VERSION})
        for name in ("config.json", "state.json"):
            _fsync_file(tmp / name)
        _fsync_dir(tmp)
        if final.exists():  # re-saving the same step (e.g. after a rollback): replace it whole
            os.replace(final, old)
            moved_old = True
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if moved_old and not final.exists():  # the second rename failed: put the old checkpoint back
            os.replace(old, final)
        raise


def _save_error(run_dir: Path, final: Path, previous: Path | None, exc: OSError) -> UserError:
    """One line: what failed, that nothing earlier was lost, and how to go on."""
    if previous is not None and previous.is_dir():
        kept = f"the previous checkpoint {previous.name} is intact"
        again = "rerun the same command to resume from it"
    else:
        kept = "no earlier checkpoint exists"
        again = "rerun the same command to start again"
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return UserError(f"--run {run_dir}: cannot save checkpoint {final.name}: the disk is full "
                         f"({exc.strerror}); {kept}; free space and {again}")
    what = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    return UserError(f"--run {run_dir}: cannot save checkpoint {final.name}: {what}{where}; {kept}; "
                     f"fix that and {again}")


def prune_checkpoints(run_dir: Path, keep: int, keep_best: str = "", protect: Path | None = None) -> list[Path]:
    """Delete complete checkpoints beyond the newest `keep`; return the ones deleted.

    Also kept: `protect` (the one just written) and, when `keep_best` names a metric, the
    checkpoint with the lowest value of it in RUN_DIR/metrics.jsonl. Folders that are not
    complete checkpoints (temporary, or damaged by hand) are neither counted nor deleted, so the
    last good checkpoint always survives. A checkpoint is renamed to a temporary name before it is
    deleted, so a kill part-way through leaves no half-deleted checkpoint behind.
    """
    if keep <= 0:
        return []
    good = [p for p in list_checkpoints(run_dir) if all((p / name).is_file() for name in REQUIRED_FILES)]
    kept = set(good[-keep:])
    if protect is not None:
        kept.add(Path(protect))
    if keep_best:
        best = best_checkpoint(run_dir, keep_best, good)
        if best is not None:
            kept.add(best)
    if not kept & set(good):  # never delete the last good checkpoint
        return []
    deleted = []
    for old in (p for p in good if p not in kept):
        trash = old.with_name(f"{_TMP_PREFIX}deleted-{old.name}-{os.getpid()}")
        try:
            os.replace(old, trash)
        except OSError:  # cannot even rename it: leave it for the next save to try again
            continue
        shutil.rmtree(trash, ignore_errors=True)
        deleted.append(old)
    return deleted


def best_checkpoint(run_dir: Path, metric: str, candidates: list[Path] | None = None) -> Path | None:
    """The checkpoint (of `candidates`, default all) with the lowest recorded `metric`; None if none has one.

    Lines of metrics.jsonl that are not JSON objects with an integer step and a finite number
    for `metric` are skipped, and so are steps whose checkpoint no longer exists. Ties go to the newer step.
    """
    values = _recorded_metric(Path(run_dir) / METRICS_FILE, metric)
    pool = candidates if candidates is not None else list_checkpoints(run_dir)
    scored = [(values[step], -step, p) for p in pool if (step := _step_of(p)) in values]
    return min(scored)[2] if scored else None


def _recorded_metric(path: Path, metric: str) -> dict[int, float]:
    try:
        lines = path.read_bytes().splitlines()
    except OSError:  # no evaluation yet, or unreadable: retention keeps the newest only
        return {}
    values: dict[int, float] = {}
    for line in lines:
        try:
            record = json.loads(line.decode("utf-8"))
            step, value = record["step"], float(record[metric])
        except (ValueError, RecursionError, TypeError, KeyError, OverflowError):  # a damaged line: skip it
            continue
        if type(step) is int and type(record[metric]) in (int, float) and math.isfinite(value):
            values[step] = value  # a later line for the same step replaces an earlier one
    return values


def load_checkpoint(path: Path, require_training_state: bool = True) -> Checkpoint:
    """Read and validate a checkpoint folder. Refuses pickles and unknown format versions.

    With `require_training_state=False` only a generator (the raw one, the EMA or both), state and
    config must be present, which is all that painting needs: a folder holding the EMA alone is
    what comes back from a lease that could not return the rest (experiments/gpu_bundles.sh).
    """
    path = Path(path)
    if path.is_file():
        if path.suffix in (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin"):
            raise UserError(f"--checkpoint {path}: pickle-based files are refused because loading them can run code; "
                            "pass a monetgan checkpoint folder (step-NNNNNN) holding safetensors")
        raise UserError(f"--checkpoint {path}: expected a checkpoint folder (step-NNNNNN), got a file")
    if not path.is_dir():
        raise UserError(f"--checkpoint {path}: no such checkpoint folder")
    needed = REQUIRED_FILES if require_training_state else ("state.json", "config.json")
    missing = [name for name in needed if not (path / name).is_file()]
    if not require_training_state and not any((path / f"{stem}.safetensors").is_file() for stem in PAINTER_FILES):
        missing.insert(0, "generator.safetensors")
    if missing:
        raise UserError(f"checkpoint {path} is incomplete (missing {', '.join(missing)}); use an earlier checkpoint")
    try:
        state = json.loads((path / "state.json").read_text())
        config = json.loads((path / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"checkpoint {path}: cannot read its JSON ({exc})") from None
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise UserError(f"checkpoint {path} has format version {version!r}; this monetgan reads version "
                        f"{FORMAT_VERSION}: upgrade monetgan or re-export the checkpoint")
    tensors = {}
    for file in sorted(path.glob("*.safetensors")):
        try:
            tensors[file.stem] = load_file(str(file))
        except (SafetensorError, OSError, ValueError) as exc:
            raise UserError(f"checkpoint file {file} is damaged ({exc}); use an earlier checkpoint") from None
    return Checkpoint(path=path, tensors=tensors, state=state, config=config)


# ----------------------------------------------------------------------------------------------
# Optimizer state <-> (tensors, JSON)
# ----------------------------------------------------------------------------------------------

def flatten_optimizer_state(prefix: str, state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split `optimizer.state_dict()` into safetensors-ready tensors and a JSON-ready rest."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict[str, Any]] = {}
    for index, entries in state_dict["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{name}"] = value
            else:
                plain.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state_dict["param_groups"], "plain_state": plain}


def unflatten_optimizer_state(prefix: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    """Inverse of `flatten_optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        head, index, name = key.split(".", 2)
        if head == prefix:
            state.setdefault(int(index), {})[name] = value
    for index, entries in meta["plain_state"].items():
        state.setdefault(int(index), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}
