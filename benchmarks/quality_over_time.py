"""FID against process CPU-minutes, and whether the Wasserstein estimate tracks it, for finished runs.

    python -m benchmarks.quality_over_time RUN [RUN ...] --real ../shared/data/monet_jpg
        [--num 1000] [--judge-at 256|native] [--every 1] [--marks 5,10,15] [--bootstrap 2000]
        [--json out.json] [--plot out.png] [--tracking-plot out.png] [--markdown] [--fresh | --cached-only]

For each run it evaluates checkpoints (every `--every`-th one, or the one nearest each CPU-minute in
`--marks`) with `monetgan.evaluate`: `--num` EMA paintings, judged at 256 px against the 256-px
paintings (smaller paintings upsampled as export does), or with `--judge-at native` at the
generator's own resolution (cheaper, but those FIDs are not comparable with 256-px ones). Each
checkpoint's process CPU time comes from its state.json (`cpu_time`: all threads, summed over
resumes), so budgets compare fairly on a shared machine where wall time is noise.

Rows already measured with the same `--num`, `--judge-at` and seed are kept in
RUN/quality_over_time.json and reused, so the script can be rerun while a run is still training and
only new checkpoints cost anything (`--fresh` measures everything again).

Printed per run:
- step, CPU-minutes, Wasserstein estimate, FID, KID and SWD per checkpoint, and the first evaluated
  checkpoint at which FID fell below 150, 125 and 100 ("not reached" otherwise): an upper bound on
  the CPU-minutes needed, to the spacing of the checkpoints (judged at 256 px only);
- the Spearman rho between the logged Wasserstein estimate (mean of the 50 steps up to each
  checkpoint) and each of FID, KID and SWD, with a percentile bootstrap 95% interval over
  checkpoints (resampled with replacement) and the number of checkpoints n.
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
METRICS = ("fid", "kid", "swd")
CACHE_NAME = "quality_over_time.json"


def cpu_minutes(checkpoint: Path) -> float | None:
    state = json.loads((checkpoint / "state.json").read_text())
    return state["cpu_time"] / 60 if "cpu_time" in state else None


def pick(checkpoints: list[Path], every: int, marks: list[float] | None) -> list[Path]:
    if not marks:
        return checkpoints[every - 1 :: every] if every > 1 else checkpoints
    timed = [(t, c) for c in checkpoints if (t := cpu_minutes(c)) is not None]
    if not timed:
        raise SystemExit("--marks needs checkpoints with a recorded cpu_time")
    chosen = []
    for mark in marks:
        best = min(timed, key=lambda tc: abs(tc[0] - mark))[1]
        if best not in chosen:
            chosen.append(best)
    return chosen


def bootstrap_spearman(x: np.ndarray, y: np.ndarray, reps: int, seed: int = 0) -> tuple[float, float, float]:
    """rho and its percentile-bootstrap 95% interval, resampling checkpoints with replacement.

    Resamples with fewer than 3 distinct checkpoints, or constant in x or y, have no rho and are
    skipped.
    """
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


def _key(name: str, num: int, judge_at: str, seed: int) -> str:
    return f"{name}|num={num}|judge_at={judge_at}|seed={seed}"


def measure(run: Path, real: str, num: int, every: int, marks: list[float] | None, reps: int,
            judge_at: str = "256", seed: int = 0, fresh: bool = False, cached_only: bool = False) -> dict[str, Any]:
    chosen = pick(list_checkpoints(run), every, marks)
    cache_path = run / CACHE_NAME
    cache: dict[str, Any] = {} if fresh or not cache_path.exists() else json.loads(cache_path.read_text())
    rows_by_key = cache.setdefault("rows", {})
    todo = [c for c in chosen if _key(c.name, num, judge_at, seed) not in rows_by_key]
    if cached_only:  # report what has been measured so far, evaluate nothing
        chosen, todo = [c for c in chosen if c not in todo], []
    if todo:
        # One evaluate call: the real set, its floors and the feature network are set up once.
        report = monetgan.evaluate(run, checkpoint=",".join(c.name for c in todo), real=real, num=num,
                                   judge_at=judge_at, seed=seed, show_progress=False)
        for ckpt, row in zip(todo, report["results"]):
            rows_by_key[_key(ckpt.name, num, judge_at, seed)] = {
                "checkpoint": ckpt.name, "step": row["step"], "cpu_minutes": cpu_minutes(ckpt),
                "fid": row["fid"], "kid": row["kid"], "kid_std": row["kid_std"], "swd": row["swd"]}
        cache.setdefault("floors", {})[_key("", num, judge_at, seed)] = {
            "real_floor": report["real_floor"], "resolution_floor": report.get("resolution_floor"),
            "resolution": report["settings"]["resolution"]}
        cache_path.write_text(json.dumps(cache, indent=1, default=float) + "\n")
    floors = cache.get("floors", {}).get(_key("", num, judge_at, seed), {})
    rows = []
    for ckpt in chosen:
        row = dict(rows_by_key[_key(ckpt.name, num, judge_at, seed)])
        # Read from the log every time: cheap, and a resumed run may have logged more since.
        row["wasserstein_estimate"] = _wasserstein_near(run / "log.jsonl", row["step"])
        rows.append(row)
        cpu = "   ?" if row["cpu_minutes"] is None else f"{row['cpu_minutes']:5.1f}"
        w = "None" if row["wasserstein_estimate"] is None else f"{row['wasserstein_estimate']:.3f}"
        print(f"{run.name} {ckpt.name}: {cpu} CPU-min  W {w}  FID {row['fid']:.1f}  "
              f"KID {row['kid']:.4f}  SWD {row['swd']:.1f}", flush=True)
    reached = {}
    for threshold in THRESHOLDS:
        below = [r for r in rows if r["fid"] < threshold]
        reached[str(int(threshold))] = below[0]["cpu_minutes"] if below else None
    out: dict[str, Any] = {"run": str(run), "num": num, "judge_at": judge_at, "resolution": floors.get("resolution"),
                           "rows": rows, "cpu_minutes_to_fid": reached, "real_floor": floors.get("real_floor"),
                           "resolution_floor": floors.get("resolution_floor")}
    w = np.array([r["wasserstein_estimate"] for r in rows], dtype=float)
    if len(rows) >= 3 and np.isfinite(w).all():
        for metric in METRICS:
            rho, low, high = bootstrap_spearman(w, np.array([r[metric] for r in rows], dtype=float), reps)
            out[f"spearman_w_{metric}"] = {"rho": rho, "ci95": [low, high], "checkpoints": len(rows),
                                           "bootstrap": reps}
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
    judged = {r["judge_at"] for r in results}
    ax.set_ylabel("FID at 256 px (lower is better)" if judged == {"256"} else "FID (lower is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def plot_tracking(results: list[dict[str, Any]], path: Path) -> None:
    """One panel per run: FID (left axis) and the Wasserstein estimate (right axis) against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(3.6 * len(results), 3.0), squeeze=False)
    for ax, result in zip(axes[0], results):
        rows = result["rows"]
        steps = [r["step"] for r in rows]
        ax.plot(steps, [r["fid"] for r in rows], marker="o", ms=3, color="tab:blue")
        ax.set_xlabel("generator step")
        ax.set_ylabel(f"FID at {result.get('resolution') or result['judge_at']} px", color="tab:blue")
        twin = ax.twinx()
        twin.plot(steps, [np.nan if r["wasserstein_estimate"] is None else r["wasserstein_estimate"] for r in rows],
                  marker="s", ms=3, color="tab:red")
        twin.set_ylabel("W estimate (50-step mean)", color="tab:red")
        title = Path(result["run"]).name
        if "spearman_w_fid" in result:
            s = result["spearman_w_fid"]
            title += f"\nrho(W, FID) {s['rho']:+.2f} [{s['ci95'][0]:+.2f}, {s['ci95'][1]:+.2f}], n={s['checkpoints']}"
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def markdown(result: dict[str, Any]) -> str:
    """The per-checkpoint table and the correlations as Markdown."""
    lines = ["| step | CPU-min | W estimate | FID | KID | SWD |", "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in result["rows"]:
        cpu = "?" if r["cpu_minutes"] is None else f"{r['cpu_minutes']:.1f}"
        w = "–" if r["wasserstein_estimate"] is None else f"{r['wasserstein_estimate']:.3f}"
        lines.append(f"| {r['step']} | {cpu} | {w} | {r['fid']:.1f} | {r['kid']:.3f} | {r['swd']:.1f} |")
    lines.append("")
    for metric in METRICS:
        if f"spearman_w_{metric}" in result:
            s = result[f"spearman_w_{metric}"]
            lines.append(f"rho(W, {metric.upper()}) = {s['rho']:+.2f}, 95% interval "
                         f"[{s['ci95'][0]:+.2f}, {s['ci95'][1]:+.2f}], n = {s['checkpoints']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--real", required=True)
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--judge-at", choices=("256", "native"), default="256",
                        help="judge at 256 px (default) or at the generator's own resolution")
    parser.add_argument("--seed", type=int, default=0, help="seed for latents and metric subsets")
    parser.add_argument("--every", type=int, default=1, help="evaluate every k-th checkpoint (default all)")
    parser.add_argument("--marks", help="instead: the checkpoints nearest these CPU-minutes, e.g. 5,10,20")
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--fresh", action="store_true", help=f"ignore rows kept in RUN/{CACHE_NAME}")
    parser.add_argument("--cached-only", action="store_true",
                        help=f"evaluate nothing: report only the checkpoints already in RUN/{CACHE_NAME}")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path, help="FID against CPU-minutes, all runs on one axis")
    parser.add_argument("--tracking-plot", type=Path, help="FID and W estimate against step, one panel per run")
    parser.add_argument("--markdown", action="store_true", help="also print each run's table as Markdown")
    args = parser.parse_args(argv)
    marks = [float(m) for m in args.marks.split(",")] if args.marks else None
    results = [measure(run, args.real, args.num, args.every, marks, args.bootstrap, args.judge_at, args.seed,
                       args.fresh, args.cached_only) for run in args.runs]
    for result in results:
        print(f"{Path(result['run']).name} (n = {len(result['rows'])} checkpoints, {result['num']} images, "
              f"judged at {result.get('resolution') or result['judge_at']} px):")
        if result["judge_at"] == "256":
            print("  " + ", ".join(f"FID {k}: {'%.1f CPU-min' % v if v is not None else 'not reached'}"
                                   for k, v in result["cpu_minutes_to_fid"].items()))
        for metric in METRICS:
            if f"spearman_w_{metric}" in result:
                s = result[f"spearman_w_{metric}"]
                print(f"  Spearman rho(W estimate, {metric.upper()}) = {s['rho']:+.2f}, 95% bootstrap interval "
                      f"[{s['ci95'][0]:+.2f}, {s['ci95'][1]:+.2f}] over {s['checkpoints']} checkpoints")
        if args.markdown:
            print(markdown(result))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float) + "\n")
    if args.plot:
        plot(results, args.plot)
    if args.tracking_plot:
        plot_tracking(results, args.tracking_plot)


if __name__ == "__main__":
    main()
