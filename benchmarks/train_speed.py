"""How fast monetgan trains and paints, against a plain PyTorch reference and this machine's FLOP limit.

    python -m benchmarks.train_speed [--device cpu|cuda] [--iters 2] [--reps 3]
                                     [--only wgan,wgan-gp,256,paint] [--set key=value ...] [--json out.json]

Each case runs two implementations of the same work in one process, interleaved rep by rep so that
both see the same machine load:
  reference  the straightforward fp32 code in benchmarks/speed/reference.py, in the style of the
             papers' own code (Arjovsky's WGAN `main.py`, Gulrajani's `gan_64x64.py` and its PyTorch
             port): separate netG / netD modules, real batches indexed from a float tensor, one
             backward per term, the penalty through autograd.grad(create_graph=True), default torch
             settings.
  monetgan   `monetgan.training.step.train_step` on a state from `build_state(build_config(preset, ...))`,
             so whatever the config does (precision, memory format, fused optimizers) is measured.
The reference copies its sizes, optimizer and norm from the resolved monetgan config and starts from
monetgan's initial weights; the script checks that both have the same parameter count and compute
the same outputs before it times anything.

Cases: wgan (wgan-64: RMSprop 5e-5, clipping, batch-norm critic; the 100-step warm-up is switched off
so every iteration has n_critic 5), wgan-gp (wgan-gp-64: Adam 1e-4 (0, 0.9), layer-norm critic),
256 (wgan-gp-256: batch 16, base width 32) and paint (256 px images/s: `painting.paint.load_generator`
on a saved checkpoint + `nets.sampling.generate`, against a plain no-grad netG loop). `--set` overrides apply to
the monetgan side of every case (and through the config to the reference's sizes); EMA is off
(ema_decay 0) unless set, since the reference has none.

Printed per case: seconds per generator iteration (median and min..max over reps of --iters
iterations, after one warm-up iteration), the speed-up reference / monetgan, FLOPs of one iteration
(torch.utils.flop_counter, multiply-add = 2), achieved GFLOP/s and its fraction of the fp32 and bf16
matmul peaks measured in the same run. On a CPU the 256 px case times critic steps and generator
steps separately (`--iters` of each) and reports n_critic x critic + generator, because one of its
iterations takes about a minute; `--whole` times whole iterations there too.

This file parses the flags and runs the cases; the cases, the reference and the timing live in
benchmarks/speed/.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time
from pathlib import Path

import torch

from monetgan.config import parse_set_items
from monetgan.errors import UserError

from .speed.cases import CASES
from .speed.paint_case import run_paint_case
from .speed.timing import Peaks, backend_flags, bf16_peak, current_backend_flags, matmul_gflops, spread
from .speed.training_case import run_training_case


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameter numbers (malloc.h)


def keep_freed_memory() -> bool:
    """--malloc keep: on Linux with glibc, make `malloc` keep freed memory instead of unmapping it
    (the MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_ experiment in benchmarks/README.md, in-process).
    Process-wide, so the reference gets it too. Returns whether it was applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # only glibc has it; musl's mallopt is a no-op
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--iters", type=int, default=2, help="generator iterations per rep (paint: batches per rep)")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions per path (median and spread)")
    parser.add_argument("--only", default=",".join(CASES), help=f"comma list of cases: {', '.join(CASES)}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="monetgan config override for every case, e.g. --set precision=bf16 (repeatable)")
    parser.add_argument("--data", default="random",
                        help="random (default), real ($MONETGAN_DATA or ../shared/data/monet_jpg), or a folder/zip")
    parser.add_argument("--paint-batch", type=int, default=64, help="images per generator call in the paint case")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--whole", action="store_true", help="time whole iterations at 256 px on a CPU too")
    parser.add_argument("--bf16-cap", type=float, default=20.0,
                        help="seconds one CPU bf16 matmul may take when probing its peak")
    parser.add_argument("--malloc", choices=("glibc", "keep"), default="glibc",
                        help="CPU allocator: glibc's defaults, or keep freed memory (mallopt; process-wide, "
                             "so the reference gets it too)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown or not names:
        parser.error(f"--only {args.only!r}: choose from {', '.join(CASES)}")
    if args.iters < 1 or args.reps < 1 or args.paint_batch < 1:
        parser.error("--iters, --reps and --paint-batch must be at least 1")
    try:
        sets = parse_set_items(args.set)
        device = torch.device(args.device)
    except (UserError, RuntimeError) as exc:
        parser.error(str(exc))
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: PyTorch sees no CUDA GPU")
    if args.threads:
        torch.set_num_threads(args.threads)

    plain_flags = current_backend_flags()  # torch's defaults, before build_state may change them
    header = (f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
              f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    if device.type == "cuda":
        header += f", GPU {torch.cuda.get_device_name(device)}"
    print(header)
    malloc_env = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES"}
    if malloc_env:  # glibc allocator settings change CPU timings by up to 20% (benchmarks/README.md)
        print(f"allocator environment: {malloc_env}")
    if device.type == "cpu" and args.malloc == "keep":
        print("allocator: " + ("freed memory kept (mallopt M_MMAP_MAX=0, M_TRIM_THRESHOLD=2^31-1)"
                               if keep_freed_memory() else "glibc defaults (mallopt is not available here)"))
    if sets:
        print(f"--set overrides for monetgan: {sets}")
    fp32_size = 8192 if device.type == "cuda" else 2048
    start = time.perf_counter()
    bf16, bf16_size = bf16_peak(device, args.bf16_cap)
    peaks = Peaks(fp32=[], bf16=bf16, bf16_size=bf16_size, fp32_size=fp32_size, device=device)
    peaks.sample()
    print(f"matmul peaks: fp32 {peaks.fp32[0]:.1f} GFLOP/s ({fp32_size}^2), bf16 {bf16:.1f} GFLOP/s ({bf16_size}^2)"
          f" [{time.perf_counter() - start:.1f} s]")
    if device.type == "cuda":
        with backend_flags((True, True, False)):
            print(f"              tf32 {matmul_gflops(fp32_size, torch.float32, device):.1f} GFLOP/s "
                  "(cuDNN convolutions use TF32 by default even in 'fp32')")
    print(flush=True)

    results = []
    try:
        for name in names:
            if name == "paint":
                results.append(run_paint_case(CASES[name], sets, args, device, plain_flags, peaks))
            else:
                results.append(run_training_case(name, CASES[name], sets, args, device, plain_flags, peaks))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    print("summary (speed-up > 1: monetgan faster)")
    for r in results:
        if r["case"] == "paint":
            s = r["images_per_second"]
            print(f"  paint    {s['reference']['median']:8.2f} -> {s['monetgan']['median']:8.2f} img/s   "
                  f"{r['speedup']:.2f}x  monetgan at {r['fraction_of_fp32_peak']['monetgan']:.2f} of fp32 peak")
        else:
            s = r["seconds_per_iteration"]
            print(f"  {r['case']:8s} {s['reference']['median']:8.3f} -> {s['monetgan']['median']:8.3f} s/it     "
                  f"{r['speedup']:.2f}x  monetgan at {r['fraction_of_fp32_peak']['monetgan']:.2f} of fp32 peak")
    if args.json is not None:
        payload = {"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads(),
                   "overrides": sets, "peaks": {"fp32_gflops": spread(peaks.fp32), "fp32_size": fp32_size,
                                                "bf16_gflops": bf16, "bf16_size": bf16_size},
                   "results": results}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
