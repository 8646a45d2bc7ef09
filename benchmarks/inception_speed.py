"""How close Inception feature extraction gets to this machine's FLOP limit.

    python -m benchmarks.inception_speed [--images 64] [--repeats 3] [--batch-size 50]

In one process, interleaved so that both see the same machine load, each repeat measures
  1. plain fp32 matmul GFLOP/s (N x N @ N x N, median of several),
  2. the Inception network alone on already resized images (images/s, GFLOP/s),
  3. the whole extractor: PIL resize of uint8 256x256 images + network.
It prints medians and min..max spread, achieved GFLOP/s = images/s x flops_per_image(), and the
ratio achieved / matmul. The target is a ratio >= 0.5 (within 2x of the machine's FLOP limit).

bf16 is measured only if a small probe (one typical Inception convolution under CPU autocast)
shows it is at least half as fast as fp32; on CPUs without native bf16 it is several times slower.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from monetgan.metrics.inception import FEATURE_DIM, InceptionFeatures, flops_per_image, resize_for_inception


def matmul_gflops(n: int, reps: int = 5, dtype: torch.dtype = torch.float32) -> float:
    a = torch.randn(n, n, dtype=dtype)
    b = torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def conv_probe_gflops(bf16: bool, reps: int = 3) -> float:
    """One mid-network Inception convolution (3x3, 64 -> 96 channels at 35x35, batch 8), best of reps."""
    x = torch.randn(8, 64, 35, 35).contiguous(memory_format=torch.channels_last)
    w = torch.randn(96, 64, 3, 3)
    flops = 2 * 8 * 96 * 64 * 9 * 35 * 35
    best = float("inf")
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        torch.nn.functional.conv2d(x, w, padding=1)
        for _ in range(reps):
            start = time.perf_counter()
            torch.nn.functional.conv2d(x, w, padding=1)
            best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def time_network(extractor: InceptionFeatures, x: torch.Tensor) -> float:
    """Images/s of the network alone over x (already resized), in the extractor's batches."""
    start = time.perf_counter()
    for i in range(0, len(x), extractor.batch_size):
        extractor.network_forward(x[i:i + extractor.batch_size])
    return len(x) / (time.perf_counter() - start)


def time_full(extractor: InceptionFeatures, images: np.ndarray) -> float:
    start = time.perf_counter()
    features = extractor(images)
    elapsed = time.perf_counter() - start
    assert features.shape == (len(images), FEATURE_DIM)
    return len(images) / elapsed


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):8.2f}  (spread {min(values):.2f}..{max(values):.2f})"


def run(label: str, extractor: InceptionFeatures, images: np.ndarray, repeats: int, matmul_n: int,
        flops: int) -> None:
    x = resize_for_inception(images, extractor.resize)
    # Warm-up: oneDNN builds its kernels once per batch shape.
    for shape in sorted({min(extractor.batch_size, len(x)), len(x) % extractor.batch_size} - {0}):
        extractor.network_forward(x[:shape])
    mm, net, full = [], [], []
    for r in range(repeats):
        mm.append(matmul_gflops(matmul_n))
        net.append(time_network(extractor, x))
        full.append(time_full(extractor, images))
        print(f"  [{label}] repeat {r + 1}/{repeats}: matmul {mm[-1]:.1f} GFLOP/s, network {net[-1]:.2f} img/s, "
              f"with resize {full[-1]:.2f} img/s", flush=True)
    mm.append(matmul_gflops(matmul_n))
    gf = flops / 1e9
    matmul = statistics.median(mm)
    print(f"\n== {label}: batch {extractor.batch_size}, channels_last {extractor.channels_last}, "
          f"{len(images)} images {images.shape[1]}x{images.shape[2]}, {repeats} repeats")
    print(f"fp32 matmul {matmul_n}x{matmul_n}   GFLOP/s  {summary(mm)}")
    print(f"network only            img/s    {summary(net)}")
    print(f"                        GFLOP/s  {summary([v * gf for v in net])}")
    print(f"resize + network        img/s    {summary(full)}")
    print(f"                        GFLOP/s  {summary([v * gf for v in full])}")
    ratio_net = statistics.median(net) * gf / matmul
    ratio_full = statistics.median(full) * gf / matmul
    verdict = "meets" if ratio_net >= 0.5 else "MISSES"
    print(f"ratio achieved/matmul   network only {ratio_net:.2f}, with resize {ratio_full:.2f}  "
          f"({verdict} the >= 0.5 target)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="number of random 256x256 uint8 images")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--size", type=int, default=256, help="side of the input images before resizing")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--skip-bf16", action="store_true", help="do not even probe bf16")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, mkldnn {torch.backends.mkldnn.is_available()}")
    flops = flops_per_image()
    print(f"flops_per_image {flops:,} ({flops / 1e9:.2f} GFLOP, multiply-add = 2)")

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, args.size, args.size, 3), dtype=np.uint8)
    extractor = InceptionFeatures(batch_size=args.batch_size, channels_last=not args.no_channels_last)
    run("fp32", extractor, images, args.repeats, args.matmul_size, flops)

    if args.skip_bf16:
        return
    fp32_probe, bf16_probe = conv_probe_gflops(False), conv_probe_gflops(True)
    print(f"\nbf16 probe (3x3 conv 64->96 @35x35, batch 8): fp32 {fp32_probe:.1f} GFLOP/s, "
          f"bf16 autocast {bf16_probe:.1f} GFLOP/s ({bf16_probe / fp32_probe:.2f}x)")
    if bf16_probe < 0.5 * fp32_probe:
        print("bf16 skipped: slower than half of fp32 on this CPU (no native bf16 support)")
        return
    bf16 = InceptionFeatures(batch_size=args.batch_size, dtype="bf16", channels_last=not args.no_channels_last)
    run("bf16", bf16, images, args.repeats, args.matmul_size, flops)
    few = images[: min(8, len(images))]
    a, b = extractor(few), bf16(few)
    print(f"bf16 vs fp32 features: max relative difference {np.abs(a - b).max() / np.abs(a).max():.2e}")


if __name__ == "__main__":
    main()
