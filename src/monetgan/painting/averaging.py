"""Post-hoc averaging of a run's raw generator snapshots: a painter chosen after training.

The EMA's half-life is fixed before a run starts, and on a short CPU run no fixed choice is right
throughout: 0.999 (693 steps) helped at step 1,500 and lagged behind the raw generator by step
3,909. Every checkpoint keeps the raw generator, so a uniform mean over the last few checkpoints
(checkpoint averaging, as SWA and EDM2's post-hoc EMA do) can be tried afterwards at the cost of one
evaluation, and the best window bundled. Measured (docs/experiments.md): the mean of the raw
generators at steps 2,500, 2,750 and 3,000 scored FID 128.5 where the ramped EMA at step 3,000
scored 130.4; at step 4,000 the mean of 3,500-4,000 scored 126.9 and the EMA 125.7. Neither wins
everywhere, and a window of 1,000 steps (137.7) lost to one of 500, so it is chosen by evaluation.

The mean's BatchNorm statistics are its own (standing statistics, as for the EMA). It is written as
a paint-only checkpoint folder whose EMA generator is the mean, so `paint`, `evaluate --checkpoint`
and `python -m monetgan.painting.bundled` take it unchanged:

    monetgan average --run runs/main --steps 2500,2750,3000 --out runs/main/averaged-3000
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..config import config_from_dict
from ..errors import UserError
from ..files import atomic_output, atomic_write_text
from ..nets import build_generator
from ..training.checkpoint import load_checkpoint
from ..training.step import standing_statistics

AVERAGED_FROM = "averaged_from.json"


def mean_state_dict(snapshots: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of floating-point tensors (accumulated in float64); other tensors (such
    as BatchNorm's batch counter) are taken from the last snapshot."""
    last = snapshots[-1]
    for i, s in enumerate(snapshots):
        if s.keys() != last.keys() or any(s[k].shape != last[k].shape for k in last):
            raise UserError(f"snapshot {i + 1} of {len(snapshots)} has other tensors than the last; "
                            "average checkpoints of one run")
    return {k: (torch.stack([s[k].double() for s in snapshots]).mean(0).to(v.dtype) if v.is_floating_point() else v)
            for k, v in last.items()}


def average_snapshots(checkpoints: list[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Write the mean of the checkpoints' raw generators, with standing BatchNorm statistics, as the
    EMA generator of a paint-only checkpoint folder `out` (config and state from the last one)."""
    if not checkpoints:
        raise UserError("averaging needs at least one checkpoint")
    out = Path(out)
    if out.exists() and not (out / AVERAGED_FROM).is_file():  # refused before any work is done
        raise UserError(f"--out {out} exists and is not an earlier average; pick a new folder")
    loaded = [load_checkpoint(Path(c), require_training_state=False) for c in checkpoints]
    if len({json.dumps(c.config, sort_keys=True) for c in loaded}) > 1:
        raise UserError("the checkpoints to average have different configs; average checkpoints of one run")
    raw_missing = [str(c.path) for c in loaded if "generator" not in c.tensors]
    if raw_missing:
        raise UserError(f"checkpoint {raw_missing[0]} holds only its EMA generator; averaging needs raw generators")
    last = loaded[-1]
    cfg = config_from_dict(last.config, str(last.path / "config.json"))
    generator = build_generator(cfg)
    generator.load_state_dict(mean_state_dict([c.tensors["generator"] for c in loaded]))
    standing_statistics(generator, torch.device("cpu"))

    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "state.json", "generator.safetensors"):
        shutil.copy2(last.path / name, out / name)
    with atomic_output(out / "generator_ema.safetensors") as tmp:
        save_file({k: v.contiguous() for k, v in generator.state_dict().items()}, str(tmp))
    atomic_write_text(out / AVERAGED_FROM, json.dumps(
        {"checkpoints": [str(c.path.resolve()) for c in loaded], "steps": [c.step for c in loaded]}, indent=2) + "\n")
    return out
