"""Choosing the torch device from a config string."""

from __future__ import annotations

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
