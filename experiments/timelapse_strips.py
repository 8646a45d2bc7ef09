"""One image of time-lapse strips: for each run, evenly spaced frames of its fixed-latent grid.

    python experiments/timelapse_strips.py OUT.jpg RUN [RUN ...] [--frames 5]

Each run's `frames/step-*.png` (written by `monetgan train` every `sample_every` steps) gives one
row, oldest on the left; the first and the last frame are always included.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def strip(run: Path, count: int) -> np.ndarray:
    frames = sorted((run / "frames").glob("step-*.png"))
    if not frames:
        raise SystemExit(f"{run}: no frames/step-*.png; train it with sample_every set")
    picks = sorted({round(i * (len(frames) - 1) / max(count - 1, 1)) for i in range(count)})
    return np.concatenate([np.asarray(Image.open(frames[i]).convert("RGB")) for i in picks], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--frames", type=int, default=5)
    args = parser.parse_args()
    rows = [strip(run, args.frames) for run in args.runs]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out, quality=88)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
