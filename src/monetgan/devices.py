"""Choosing the torch device from a config string, and the per-device settings that make it fast."""

from __future__ import annotations

import functools
from contextlib import nullcontext

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



@functools.cache  # a fact about this machine: read once per process
def cpu_has_native_bf16() -> bool:
    """Whether the CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX), where oneDNN's bf16
    convolutions beat fp32 (measured: 2.0x per training step on a 2-core AVX-512 BF16 EPYC). On
    AVX2-only CPUs bf16 is emulated and slower, so it must not be the default there."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            flags = f.read()
    except OSError:  # not Linux: stay with fp32
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def computes_in_bf16(device: torch.device, precision: str) -> bool:
    """Whether `precision` (auto, fp32 or bf16) means bf16 autocast on `device`. auto: on CUDA, and
    on CPUs with native bf16 (cpu_has_native_bf16); on other CPUs bf16 is emulated and slower."""
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16())


def autocast_for(device: torch.device, precision: str):
    """bf16 autocast where computes_in_bf16, else nothing."""
    if computes_in_bf16(device, precision):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
