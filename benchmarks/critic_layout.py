"""The projected critic's feature network reading channels_last (NHWC) images against plain NCHW ones.

    python -m benchmarks.critic_layout [--device cpu|cuda] [--iters 2] [--reps 3] [--preset P ...]
                                       [--set key=value ...] [--json out.json]

For each preset (default: projected-128, the painter, and cut-128 with whole 256-px images at batch 8,
the stylizer's GPU recipe), two training states are built from the same config and seed; they differ
only in `critic.channels_last`. Whole training iterations (`training.step.train_step`) are timed
interleaved rep by rep (the order alternates), so both see the same machine load. Printed: seconds per
iteration (median, min..max over reps) and the ratio NCHW / NHWC. Before timing, one iteration of each
from the same state checks that the layouts compute the same critic scores (up to rounding), so the
speed-up changes no result beyond floating-point order. Random uint8 images: speed does not depend on
what the pictures show.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from monetgan.config import build_config, parse_set_items
from monetgan.devices import pick_device
from monetgan.errors import UserError
from monetgan.training.step import build_state, train_step

from .speed.timing import fmt, seconds_per_call, spread, synchronizer

IMAGES = 32  # random paintings (and photos) at the preset's decode size
CASES = {"projected-128": {}, "cut-128": {"resolution": 256, "batch_size": 8}}


def _states(preset: str, sets: dict, device: torch.device):
    cfg = build_config(preset, {**CASES.get(preset, {}), **sets})
    side = cfg.crop_from or cfg.resolution
    g = torch.Generator().manual_seed(0)
    paintings = torch.randint(0, 256, (IMAGES, 3, side, side), dtype=torch.uint8, generator=g)
    photos = (torch.randint(0, 256, (IMAGES, 3, side, side), dtype=torch.uint8, generator=g)
              if cfg.generator == "translator" else None)
    states = {}
    for layout in ("nchw", "nhwc"):
        state = build_state(cfg, paintings, device, photos=photos)
        state.critic.channels_last = layout == "nhwc"
        states[layout] = state
    return cfg, states


def _same_scores(states) -> float:
    """The largest relative difference between the two layouts' critic scores on one batch."""
    image = torch.rand(4, 3, states["nchw"].cfg.resolution, states["nchw"].cfg.resolution,
                       generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        scores = {name: state.critic(image.to(state.device)).float().cpu() for name, state in states.items()}
    return float(((scores["nchw"] - scores["nhwc"]).abs().max() / scores["nchw"].abs().max().clamp_min(1e-6)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iters", type=int, default=2, help="iterations per rep (after one warm-up)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--preset", nargs="*", default=list(CASES), help="presets with a projected critic")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides, on both sides")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        sets = parse_set_items(args.set)
    except UserError as exc:
        parser.error(str(exc))
    device = pick_device(args.device)
    sync = synchronizer(device)
    results = {}
    for preset in args.preset:
        cfg, states = _states(preset, sets, device)
        if cfg.critic != "projected":
            parser.error(f"--preset {preset}: its critic is {cfg.critic}, not projected")
        difference = _same_scores(states)
        print(f"{preset} (resolution {cfg.resolution}, batch {cfg.batch_size}, precision {cfg.precision}, "
              f"device {device}, {torch.get_num_threads()} threads): critic scores of the two layouts differ by "
              f"{difference:.1e} (relative)", flush=True)
        runs = {name: (lambda state=state: train_step(state)) for name, state in states.items()}
        for run in runs.values():
            run()  # warm-up: allocations and kernel choice
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        for rep in range(args.reps):
            for name in (list(runs) if rep % 2 == 0 else list(reversed(runs))):
                seconds[name].append(seconds_per_call(runs[name], args.iters, sync))
            print(f"  rep {rep + 1}/{args.reps}: NCHW {seconds['nchw'][-1]:.3f} s, NHWC {seconds['nhwc'][-1]:.3f} s "
                  "per iteration", flush=True)
        ratio = statistics.median(seconds["nchw"]) / statistics.median(seconds["nhwc"])
        for name in runs:
            print(f"  {name.upper()} {fmt(spread(seconds[name]))} s per iteration")
        print(f"  NCHW / NHWC: {ratio:.2f}x the time")
        results[preset] = {"resolution": cfg.resolution, "batch_size": cfg.batch_size, "device": str(device),
                           "threads": torch.get_num_threads(), "score_difference": difference,
                           "seconds_per_iteration": {name: spread(v) for name, v in seconds.items()},
                           "time_ratio_nchw_over_nhwc": ratio}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
