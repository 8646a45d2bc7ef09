"""What a training iteration of CUT costs against one of CycleGAN, on the same parts and the same data.

    python -m benchmarks.translation_cost [--device cpu|cuda] [--iters 2] [--reps 3] [--set key=value ...] [--json out.json]

Both sides start from the `cut-128` preset with the overrides given (EMA off on both, since CycleGAN
here keeps none): the same translator, critic, loss, batch, crops, precision and optimizer.
  cut       monetgan's `training.step.train_step`: one critic step, one generator step with PatchNCE.
  cyclegan  benchmarks/speed/cyclegan.py: two translators and two critics (photos <-> paintings), one
            critic step per critic with monetgan's `critic_step`, and a generator step with both
            adversarial terms, the cycle term and the identity term.
Timed interleaved rep by rep (the order alternates), so both see the same machine load. Printed: seconds
per iteration (median, min..max over reps), the ratio cyclegan / cut, and FLOPs per iteration of
each (torch.utils.flop_counter, multiply-add = 2; counted on one extra iteration). Random uint8
images: speed does not depend on what the pictures show.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from monetgan.config import build_config, parse_set_items
from monetgan.devices import pick_device
from monetgan.errors import UserError
from monetgan.nets import count_parameters
from monetgan.training.step import build_state, train_step

from .speed.cyclegan import CycleGAN
from .speed.timing import count_flops, fmt, seconds_per_call, spread, synchronizer

IMAGES = 32  # random paintings and photos each, at the preset's decode size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--iters", type=int, default=2, help="iterations per rep (after one warm-up)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides of cut-128, on both sides")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        sets = parse_set_items(args.set)
    except UserError as exc:
        parser.error(str(exc))
    device = pick_device(args.device)
    cfg = build_config("cut-128", {**sets, "ema_decay": 0.0})
    side = cfg.crop_from or cfg.resolution
    g = torch.Generator().manual_seed(0)
    paintings = torch.randint(0, 256, (IMAGES, 3, side, side), dtype=torch.uint8, generator=g)
    photos = torch.randint(0, 256, (IMAGES, 3, side, side), dtype=torch.uint8, generator=g)

    cut = build_state(cfg, paintings, device, photos=photos)
    cyclegan = CycleGAN(cfg, paintings, photos, device)
    runs = {"cut": lambda: train_step(cut), "cyclegan": cyclegan.train_step}
    print(f"cut-128 {' '.join(args.set)}: {cfg.resolution} px, batch {cfg.batch_size}, n_critic {cfg.n_critic}, "
          f"critic {cfg.critic}, precision {cfg.precision}, device {device}")
    print(f"  trained parameters: cut {count_parameters(cut.generator) + count_parameters(cut.projector):,} "
          f"(translator + PatchNCE MLPs) + critic heads; cyclegan "
          f"{2 * count_parameters(cut.generator):,} (two translators) + two critics' heads")

    flops = {name: count_flops(run) for name, run in runs.items()}  # also the warm-up iteration
    sync = synchronizer(device)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for rep in range(args.reps):
        order = list(runs) if rep % 2 == 0 else list(reversed(runs))
        for name in order:
            seconds[name].append(seconds_per_call(runs[name], args.iters, sync))
        print(f"  rep {rep + 1}/{args.reps}: cut {seconds['cut'][-1]:.3f} s, cyclegan {seconds['cyclegan'][-1]:.3f} s "
              "per iteration", flush=True)
    ratios = [c / u for c, u in zip(seconds["cyclegan"], seconds["cut"])]
    result = {
        "config": {"preset": "cut-128", "sets": args.set, "resolution": cfg.resolution, "batch_size": cfg.batch_size,
                   "device": str(device), "threads": torch.get_num_threads()},
        "seconds_per_iteration": {name: spread(values) for name, values in seconds.items()},
        "gflop_per_iteration": {name: f / 1e9 for name, f in flops.items()},
        "time_ratio_cyclegan_over_cut": {"of_medians": statistics.median(seconds["cyclegan"]) / statistics.median(seconds["cut"]),
                                         "median_of_rep_ratios": statistics.median(ratios)},
        "flop_ratio_cyclegan_over_cut": flops["cyclegan"] / flops["cut"],
    }
    for name in runs:
        print(f"  {name:9s} {fmt(spread(seconds[name]))} s per iteration, {flops[name] / 1e9:8.1f} GFLOP")
    print(f"  cyclegan / cut: {result['time_ratio_cyclegan_over_cut']['of_medians']:.2f}x the time "
          f"(median of per-rep ratios {result['time_ratio_cyclegan_over_cut']['median_of_rep_ratios']:.2f}), "
          f"{result['flop_ratio_cyclegan_over_cut']:.2f}x the FLOPs")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
