"""FID against process CPU-minutes, and whether the Wasserstein estimate tracks it, for finished runs.

    python -m benchmarks.quality_over_time RUN [RUN ...] --real ../shared/data/monet_jpg
        [--num 1000] [--every 1] [--marks 5,10,15] [--bootstrap 2000] [--json out.json] [--plot out.png]

For each run it evaluates checkpoints (every `--every`-th one, or the one nearest each CPU-minute in
`--marks`) with `monetgan.evaluate`: `--num` EMA paintings, judged at 256 px against the 256-px
paintings (smaller paintings upsampled as export does). Each checkpoint's process CPU time comes
from its state.json (`cpu_time`: all threads, summed over resumes), so budgets compare fairly on a
shared machine where wall time is noise.

Printed per run:
- FID, KID and SWD against CPU-minutes, and the first evaluated checkpoint at which FID fell below
  150, 125 and 100 ("not reached" otherwise): an upper bound on the CPU-minutes needed, to the
  spacing of the checkpoints;
- the Spearman rho between the logged Wasserstein estimate (mean of the 50 steps up to each
  checkpoint) and FID, with a percentile bootstrap 95% interval over checkpoints.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

import monetgan
from monetgan.metrics.stats import spearman
from monetgan.reports.evaluate import _wasserstein_near
from monetgan.training.checkpoint import list_checkpoints

THRESHOLDS = (150.0, 125.0, 100.0)


def cpu_minutes(checkpoint: Path) -> float | None:
    state = json.loads((checkpoint / "state.json").read_text())
    return state["cpu_time"] / 60 if "cpu_time" in state else None


def pick(checkpoints: list[Path], every: int, marks: list[float] | None) -> list[Path]:
    if not marks:
        return checkpoints[every - 1 :: every] if every > 1 else checkpoints
    timed = [(cpu_minutes(c), c) for c in checkpoints]
    chosen = []
    for mark in marks:
        best = min((abs(t - mark), c) for t, c in timed if t is not None)[1]
        if best not in chosen:
            chosen.append(best)
    return chosen


def bootstrap_spearman(x: np.ndarray, y: np.ndarray, reps: int, seed: int = 0) -> tuple[float, float, float]:
    """rho and its percentile-bootstrap 95% interval, resampling checkpoints with replacement."""
    rng = np.random.default_rng(seed)
    rho = spearman(x, y)
    draws = []
    for _ in range(reps):
        idx = rng.integers(0, len(x), len(x))
        if len(set(idx)) > 2:
            value = spearman(x[idx], y[idx])
            if math.isfinite(value):
                draws.append(value)
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (math.nan, math.nan)
    return rho, float(low), float(high)


def measure(run: Path, real: str, num: int, every: int, marks: list[float] | None, reps: int) -> dict[str, Any]:
    chosen = pick(list_checkpoints(run), every, marks)
    # One evaluate call: the real set, its floors and the feature network are set up once.
    report = monetgan.evaluate(run, checkpoint=",".join(c.name for c in chosen), real=real, num=num,
                               show_progress=False)
    rows = []
    for ckpt, row in zip(chosen, report["results"]):
        rows.append({"checkpoint": ckpt.name, "step": row["step"], "cpu_minutes": cpu_minutes(ckpt),
                     "fid": row["fid"], "kid": row["kid"], "swd": row["swd"],
                     "wasserstein_estimate": _wasserstein_near(run / "log.jsonl", row["step"])})
        print(f"{run.name} {ckpt.name}: {rows[-1]['cpu_minutes']:.1f} CPU-min  FID {row['fid']:.1f}  "
              f"KID {row['kid']:.4f}  SWD {row['swd']:.1f}  W {rows[-1]['wasserstein_estimate']}", flush=True)
    reached = {}
    for threshold in THRESHOLDS:
        below = [r for r in rows if r["fid"] < threshold]
        reached[str(int(threshold))] = below[0]["cpu_minutes"] if below else None
    out: dict[str, Any] = {"run": str(run), "num": num, "rows": rows, "cpu_minutes_to_fid": reached,
                           "real_floor": report["real_floor"], "resolution_floor": report.get("resolution_floor")}
    w = np.array([r["wasserstein_estimate"] for r in rows], dtype=float)
    if len(rows) >= 3 and np.isfinite(w).all():
        rho, low, high = bootstrap_spearman(w, np.array([r["fid"] for r in rows]), reps)
        out["spearman_w_fid"] = {"rho": rho, "ci95": [low, high], "checkpoints": len(rows)}
    return out


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    for result in results:
        rows = [r for r in result["rows"] if r["cpu_minutes"] is not None]
        ax.plot([r["cpu_minutes"] for r in rows], [r["fid"] for r in rows], marker="o", label=Path(result["run"]).name)
    for threshold in THRESHOLDS:
        ax.axhline(threshold, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("process CPU-minutes of training")
    ax.set_ylabel("FID at 256 px (lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--real", required=True)
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--every", type=int, default=1, help="evaluate every k-th checkpoint (default all)")
    parser.add_argument("--marks", help="instead: the checkpoints nearest these CPU-minutes, e.g. 5,10,20")
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args(argv)
    marks = [float(m) for m in args.marks.split(",")] if args.marks else None
    results = [measure(run, args.real, args.num, args.every, marks, args.bootstrap) for run in args.runs]
    for result in results:
        reach = ", ".join(f"FID {k}: {'%.1f CPU-min' % v if v is not None else 'not reached'}"
                          for k, v in result["cpu_minutes_to_fid"].items())
        print(f"{Path(result['run']).name}: {reach}")
        if "spearman_w_fid" in result:
            s = result["spearman_w_fid"]
            print(f"  Spearman rho(W estimate, FID) = {s['rho']:+.2f}, 95% bootstrap interval "
                  f"[{s['ci95'][0]:+.2f}, {s['ci95'][1]:+.2f}] over {s['checkpoints']} checkpoints")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
