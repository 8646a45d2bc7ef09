"""bf16 autocast against fp32 for one training step of a preset on this machine, as a ratio.

    python -m benchmarks.cpu_precision [--preset projected-128] [--threads 1] [--reps 3] [--iters 3]

Both precisions train the same state (same preset, seed and data shape) in one process, interleaved
rep by rep (fp32, bf16, fp32, bf16, ...), so both see the same machine load; the printed figure is
the ratio of their median seconds per generator step. `precision=auto` picks bf16 on CPUs that
multiply bf16 in hardware (`monetgan.devices.cpu_has_native_bf16`), and this is the measurement
behind that choice. Random uint8 images stand in for the paintings: the step's cost does not
depend on the pixels.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from monetgan.config import build_config
from monetgan.devices import cpu_has_native_bf16
from monetgan.training.step import build_state, train_step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="projected-128")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--iters", type=int, default=3, help="generator steps per rep")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    states = {}
    for precision in ("fp32", "bf16"):
        cfg = build_config(args.preset, {"precision": precision})
        images = torch.randint(0, 256, (64, 3, cfg.resolution, cfg.resolution), dtype=torch.uint8)
        states[precision] = build_state(cfg, images, torch.device("cpu"))
        train_step(states[precision])  # warm-up: oneDNN picks its kernels on the first call
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(args.reps):
        for precision, state in states.items():
            start = time.process_time()
            for _ in range(args.iters):
                train_step(state)
            times[precision].append((time.process_time() - start) / args.iters)
    fp32, bf16 = (statistics.median(times[p]) for p in ("fp32", "bf16"))
    print(f"{args.preset}, {args.threads} thread(s), native bf16: {cpu_has_native_bf16()}")
    print(f"CPU-seconds per generator step: fp32 {fp32:.3f}, bf16 {bf16:.3f} (medians of {args.reps} reps)")
    print(f"bf16 speed-up: {fp32 / bf16:.2f}x")


if __name__ == "__main__":
    main()
