"""Training logs: one JSON line per logged step in RUN_DIR/log.jsonl, mirrored to TensorBoard."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..files import atomic_write_text

LOG_FILE = "log.jsonl"


def truncate_log(run_dir: Path, last_step: int) -> None:
    """Drop log lines after `last_step` (and any half-written line), so a resumed run's log
    reads as if it had never been interrupted."""
    path = Path(run_dir) / LOG_FILE
    if not path.exists():
        return
    kept = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            if json.loads(line)["step"] <= last_step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    atomic_write_text(path, "".join(f"{line}\n" for line in kept))


class RunLog:
    """Appends step records to log.jsonl and TensorBoard event files (under RUN_DIR/tensorboard)."""

    def __init__(self, run_dir: Path, start_step: int, tensorboard: bool = True):
        self._file = open(Path(run_dir) / LOG_FILE, "a", encoding="utf-8")
        self._writer = None
        if tensorboard:
            from tensorboardX import SummaryWriter  # imported here: only training needs it

            # purge_step hides events a killed run wrote after its last checkpoint.
            self._writer = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=start_step + 1)

    def write(self, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        self._file.write(json.dumps(clean) + "\n")
        self._file.flush()
        if self._writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(f"train/{key}", value, record["step"])

    def add_image(self, tag: str, image_hwc, step: int) -> None:
        if self._writer is not None:
            self._writer.add_image(tag, image_hwc, step, dataformats="HWC")

    def close(self) -> None:
        self._file.close()
        if self._writer is not None:
            self._writer.close()
