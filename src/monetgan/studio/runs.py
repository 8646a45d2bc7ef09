"""Run folders as the studio sees them: a dashboard summary, read incrementally, and files served
only from inside the folder.

Nothing here executes or unpickles anything from a run folder: it reads JSON, JSON lines and PNG
names. The page polls the summary every second or two while `monetgan train` appends to the log,
so the log is read from where the last poll stopped, not from the start.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..painting.timelapse import list_frames
from ..training.checkpoint import latest_checkpoint

# The log fields the dashboard draws (the rest of a record stays on disk).
SERIES = ("wasserstein_estimate", "generator_loss", "critic_loss")
METRICS = ("fid", "kid", "swd")
# Files a page may fetch from a run folder; checkpoints, event files and anything else are refused.
SERVED_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".mp4", ".json", ".jsonl"}
MAX_POINTS = 500
# A log written to within this many seconds means training is running (steps/s and ETA are shown).
LIVE_SECONDS = 60.0


def _number(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN; a diverged loss is shown as a gap)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class RunFolder:
    """One run folder: `dashboard()` for the page, `safe_file()` for the files it links to."""

    def __init__(self, root: Path, name: str | None = None):
        self.root = Path(root).resolve()
        self.name = name or Path(root).name
        self._lock = threading.Lock()
        self._reset_log()

    def _reset_log(self) -> None:
        self._log_offset = 0
        self._log_inode: int | None = None
        self._steps: list[int] = []
        self._wall: list[float | None] = []
        self._series: dict[str, list[float | None]] = {key: [] for key in SERIES}

    def _read_new_log_lines(self) -> float | None:
        """Append records written since the last call; returns the log's mtime (None if absent)."""
        path = self.root / "log.jsonl"
        try:
            st = path.stat()
        except OSError:
            self._reset_log()
            return None
        # A resume truncates the log (a new file, or a shorter one): start over.
        if st.st_ino != self._log_inode or st.st_size < self._log_offset:
            self._reset_log()
            self._log_inode = st.st_ino
        if st.st_size > self._log_offset:
            with open(path, "rb") as f:
                f.seek(self._log_offset)
                chunk = f.read(st.st_size - self._log_offset)
            end = chunk.rfind(b"\n") + 1  # a line still being written is read at the next poll
            self._log_offset += end
            for line in chunk[:end].splitlines():
                try:
                    record = json.loads(line)
                    step = int(record["step"])
                except (ValueError, KeyError, TypeError):
                    continue
                if self._steps and step <= self._steps[-1]:
                    continue
                self._steps.append(step)
                self._wall.append(_number(record.get("wall_time")))
                for key in SERIES:
                    self._series[key].append(_number(record.get(key)))
        return st.st_mtime

    def _steps_per_second(self) -> float | None:
        """From the last ~20 logged records' wall times."""
        n = len(self._steps)
        for back in (min(20, n - 1), 1):
            if back < 1:
                return None
            w1, w0 = self._wall[-1], self._wall[-1 - back]
            if w1 is not None and w0 is not None and w1 > w0:
                return (self._steps[-1] - self._steps[-1 - back]) / (w1 - w0)
        return None

    def _metrics(self) -> list[dict[str, Any]]:
        rows = []
        try:
            lines = (self.root / "metrics.jsonl").read_text().splitlines()
        except OSError:
            return rows
        for line in lines:
            try:
                record = json.loads(line)
                row = {"step": int(record["step"])}
            except (ValueError, KeyError, TypeError):
                continue
            row.update({key: _number(record.get(key)) for key in METRICS})
            rows.append(row)
        return sorted(rows, key=lambda r: r["step"])

    def dashboard(self, index: int) -> dict[str, Any]:
        """What the page shows: config, progress, decimated curves, metric points and frame steps."""
        with self._lock:
            mtime = self._read_new_log_lines()
            n = len(self._steps)
            stride = max(1, math.ceil(n / MAX_POINTS))
            picks = list(range(0, n, stride))
            if n and picks[-1] != n - 1:
                picks.append(n - 1)  # the newest point is always drawn
            curves = {"step": [self._steps[i] for i in picks]}
            curves.update({key: [values[i] for i in picks] for key, values in self._series.items()})
            latest = self._steps[-1] if n else None
            rate = self._steps_per_second()
        config = _read_json(self.root / "config.json")
        total = config.get("steps") if isinstance(config, dict) else None
        # A resume may raise `steps`; the run's config.json keeps the first value, the newest
        # checkpoint's config the current one.
        newest = latest_checkpoint(self.root)
        checkpoint_config = _read_json(newest / "config.json") if newest is not None else None
        if isinstance(checkpoint_config, dict) and isinstance(checkpoint_config.get("steps"), int):
            total = checkpoint_config["steps"]
        live = mtime is not None and time.time() - mtime < LIVE_SECONDS
        eta = None
        if live and rate and isinstance(total, int) and latest is not None and total > latest:
            eta = (total - latest) / rate
        frames = [step for step, _ in list_frames(self.root)] if self.root.is_dir() else []
        return {"index": index, "name": self.name, "latest_step": latest, "steps": total, "live": live,
                "steps_per_second": rate if live else None, "eta_seconds": eta, "config": config,
                "curves": curves, "metrics": self._metrics(), "frames": frames,
                "log_records": n}

    def safe_file(self, relative: str) -> Path | None:
        """The file `relative` names inside the run folder, or None if it is not one we serve.

        Refused: absolute paths, any `..` or empty part, backslashes, NUL, symlinks (or folders) that
        resolve outside the run folder, and suffixes not in SERVED_SUFFIXES. The router has already
        percent-decoded the path once, so `%2e%2e%2f` arrives here as `../`; a double-encoded
        `%252e` arrives as `%2e` and names a file that does not exist.
        """
        if not relative or "\x00" in relative or "\\" in relative or relative.startswith("/"):
            return None
        parts = relative.split("/")
        if any(part in ("", ".", "..") for part in parts):
            return None
        candidate = self.root.joinpath(*parts)
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.root) or not resolved.is_file():
            return None
        if resolved.suffix.lower() not in SERVED_SUFFIXES:
            return None
        return resolved


def is_run_folder(path: Path) -> bool:
    """A folder `monetgan train` wrote (or is starting to write): it has a config, a log or frames."""
    return path.is_dir() and any(os.path.exists(path / name) for name in ("config.json", "log.jsonl", "frames"))
