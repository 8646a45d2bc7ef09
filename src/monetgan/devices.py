"""Choosing the torch device from a config string, and the per-device settings that make it fast."""

from __future__ import annotations

import ctypes
import os
import sys

import torch

from .errors import UserError


def pick_device(name: str) -> torch.device:
    """'auto' -> the first CUDA GPU if PyTorch sees one, else the CPU; 'cpu', 'cuda', 'cuda:N' as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name} was asked for but PyTorch sees no CUDA GPU; use device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"device {name!r} is not a valid torch device; use auto, cpu, cuda or cuda:N") from None


def enable_fast_gpu_math(device: torch.device) -> None:
    """On CUDA: TF32 for any fp32 matmul/conv left outside autocast, and cuDNN's autotuner
    (our shapes never change within a run, so its one-off search pays back at once)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on CUDA, where bf16 convolutions are fastest in NHWC; the default elsewhere."""
    return torch.channels_last if device.type == "cuda" else torch.contiguous_format


def host_to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU tensor (latents, indices, augmentation parameters drawn on the CPU generator) to
    `device` without stalling the host.

    A plain `.to("cuda")` from pageable memory waits for every kernel queued before it, so the host
    could never run ahead of the GPU: with five or more such copies per critic step, a small GAN
    becomes bound by launch latency. Through pinned memory the copy is queued like a kernel. The
    pinned block comes from PyTorch's caching host allocator, which does not reuse it until the copy
    has finished, so the source can't be overwritten in flight.
    """
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameter numbers (malloc.h)


def keep_freed_memory() -> bool:
    """On Linux with glibc, make `malloc` keep freed memory for reuse instead of returning it to the OS.

    A critic step at 256 px frees and reallocates activations of 30+ MB. glibc serves blocks that
    large with mmap and unmaps them on free, so every step maps fresh pages that the kernel must
    zero: about 10x the page faults of a plain loop, and 1.1-1.2x slower critic steps on a CPU
    (benchmarks/README.md). Process-wide; peak memory is unchanged because the same blocks are
    reused. Left alone when the user already tunes malloc through the environment, or sets
    MONETGAN_KEEP_FREED_MEMORY=0. Returns whether the setting was applied.
    """
    if not sys.platform.startswith("linux") or os.environ.get("MONETGAN_KEEP_FREED_MEMORY") == "0":
        return False
    if any(k.startswith("MALLOC_") or k == "GLIBC_TUNABLES" for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # only glibc has it; musl's mallopt is a no-op
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False
