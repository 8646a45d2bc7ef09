"""Timing, FLOPs and peaks: the clock, interleaved reps, backend flags, FLOP counting, matmul peaks, and
the spread / fmt helpers for what is printed."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch.utils.flop_counter import FlopCounterMode


def interleaved_reps(ref_run, mine_run, reps: int, peaks, label: str, fmt: str, unit: str) -> tuple[list, list]:
    """`reps` measurements of each path, alternating which goes first so that a load change
    mid-rep does not always favour one side; the matmul peak is sampled after each rep."""
    ref, mine = [], []
    for r in range(reps):
        if r % 2 == 0:
            ref.append(ref_run())
            mine.append(mine_run())
        else:
            mine.append(mine_run())
            ref.append(ref_run())
        peaks.sample()
        print(f"  [{label}] rep {r + 1}/{reps}: reference {ref[-1]:{fmt}} {unit}, monetgan {mine[-1]:{fmt}} {unit}, "
              f"fp32 matmul {peaks.fp32[-1]:.1f} GFLOP/s", flush=True)
    return ref, mine


def synchronizer(device: torch.device):
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)


def seconds_per_call(fn, n: int, sync) -> float:
    sync()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return (time.perf_counter() - start) / n


def current_backend_flags() -> tuple[bool, bool, bool]:
    """The (matmul TF32, cuDNN TF32, cuDNN benchmark) flags in force now."""
    return (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)


@contextmanager
def backend_flags(flags: tuple[bool, bool, bool]):
    """Run under the given (matmul TF32, cuDNN TF32, cuDNN benchmark) flags: build_state may set them
    globally on CUDA, and the reference must keep torch's defaults."""
    saved = current_backend_flags()
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = flags
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


class _NoModuleTracker:
    """FlopCounterMode's per-module tracker breaks autograd.grad on a leaf input (the penalty's x_hat:
    "A leaf node was passed to _will_engine_execute_node"); only the global total is needed here."""

    parents: ClassVar[set[str]] = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return None


def count_flops(fn) -> int:
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _NoModuleTracker()
    with counter:
        fn()
    return counter.get_total_flops()

def matmul_gflops(n: int, dtype: torch.dtype, device: torch.device, reps: int = 3) -> float:
    """2 n^3 / median seconds of an n x n @ n x n matmul."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    sync = synchronizer(device)
    a @ b
    return 2 * n**3 / statistics.median(seconds_per_call(lambda: a @ b, 1, sync) for _ in range(reps)) / 1e9


def bf16_peak(device: torch.device, cap_s: float) -> tuple[float, int]:
    """bf16 matmul GFLOP/s and the size used: 8192 on CUDA; on a CPU the largest of 64..512 whose
    single matmul is predicted under cap_s (CPUs without AVX-512-BF16/AMX take minutes for 2048)."""
    if device.type == "cuda":
        return matmul_gflops(8192, torch.bfloat16, device), 8192
    n, gflops = 64, matmul_gflops(64, torch.bfloat16, device)
    while n < 512 and 2 * (2 * n) ** 3 / (gflops * 1e9) < cap_s / 3:  # three timed reps + warm-up
        n *= 2
        gflops = matmul_gflops(n, torch.bfloat16, device)
    return gflops, n


@dataclass
class Peaks:
    fp32: list[float]  # GFLOP/s, measured once per rep of every case
    bf16: float
    bf16_size: int
    fp32_size: int
    device: torch.device

    def sample(self) -> None:
        with backend_flags((False, False, False)):  # true fp32, not TF32
            self.fp32.append(matmul_gflops(self.fp32_size, torch.float32, self.device))


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(s: dict[str, float], digits: int = 3) -> str:
    return f"{s['median']:9.{digits}f}  ({s['min']:.{digits}f}..{s['max']:.{digits}f})"
