"""Photo -> painting: a light ResNet encoder-decoder for unpaired translation (CUT, Park et al. 2020).

The shape is CycleGAN's and CUT's generator (Johnson et al. 2016): a 7x7 stem, two stride-2
downsamplings, residual blocks at a quarter of the resolution, and two upsamplings back. It is
narrowed for a CPU (32 channels at full resolution instead of 64, 4 residual blocks instead of 9),
and it upsamples with nearest-neighbour + 3x3 convolution instead of transposed convolutions, so it
paints no checkerboard (Odena et al. 2016). Instance normalisation, as both papers: a photo's
contrast should not depend on the other photos in its batch.

It is fully convolutional, so it translates a photo of any size whose sides are multiples of 4.
`encode(x)` returns the encoder's feature maps that PatchNCE compares between a photo and its
painting (CUT's layers: the stem, both downsamplings, and two residual blocks).

With `residual=True` the network paints a change to the photo rather than a new image:
painting = tanh(atanh(photo) + delta), and the layer that outputs delta starts at zero. Step 0 then
returns the photo itself, which already scores far better than noise against the paintings, and
training only has to learn the style (the zero-initialised output layer is ControlNet's and
ReZero's trick; the residual output is the usual one of image restoration networks).

A residual translator also has a `strength`: painting = tanh(atanh(photo) + strength * delta). It
is not trained (1 in training); after training it says how far along its learned change to paint,
from 0 (the photo) through 1 (as trained), like StyleGAN's truncation psi. A stylizer's card may
give the strength chosen for it on validation photos.

`chroma_blur` (a Gaussian sigma in pixels; 0 = off) low-passes the painting's colour (Cb, Cr) and
leaves its brightness alone. Trained translators paint colour noise at the finest scales, 10 to 17
times the paintings' power above 64 cycles per 256 px, which Kaggle's paintings lack (they are JPEGs
with colour at half resolution) and Inception sees (docs/photo-to-monet.md). Like the strength it has
no weights: a run's config sets it (`translator_chroma_blur`, so the critic judges what is painted)
and a stylizer's card may give the one chosen for it after training.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UserError
from .layers import chroma_low_pass


def _conv_norm_relu(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, padding_mode="reflect"),
                         nn.InstanceNorm2d(c_out, affine=True), nn.ReLU(inplace=True))


PHOTO_LIMIT = 0.995  # |photo| is clamped here before atanh (atanh(0.995) = 3.0)
STRENGTH_RANGE = (0.0, 2.0)  # residual strengths a translator accepts: 0 paints the photo itself
CHROMA_BLUR_MAX = 8.0  # px; far past where colour is one flat wash at 256 px


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(_conv_norm_relu(channels, channels, 3),
                                 nn.Conv2d(channels, channels, 3, 1, 1, padding_mode="reflect"),
                                 nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class Translator(nn.Module):
    """photo (B, 3, H, W) in [-1, 1] -> painting (B, 3, H, W) in [-1, 1]."""

    def __init__(self, channels: int = 32, blocks: int = 4, max_channels: int = 256, residual: bool = False,
                 chroma_blur: float = 0.0):
        super().__init__()
        self.residual = residual
        self.strength = 1.0  # residual only: how far along its learned change it paints (not trained)
        self.chroma_blur = chroma_blur  # px: a fixed low-pass on the painting's colour (not trained)
        widths = [channels, min(max_channels, 2 * channels), min(max_channels, 4 * channels)]
        self.stem = _conv_norm_relu(3, widths[0], 7)
        self.down = nn.ModuleList([_conv_norm_relu(widths[0], widths[1], 3, 2), _conv_norm_relu(widths[1], widths[2], 3, 2)])
        self.blocks = nn.ModuleList(ResidualBlock(widths[2]) for _ in range(blocks))
        self.up = nn.ModuleList([_conv_norm_relu(widths[2], widths[1], 3), _conv_norm_relu(widths[1], widths[0], 3)])
        self.to_rgb = nn.Conv2d(widths[0], 3, 7, 1, 3, padding_mode="reflect")
        if residual:  # start as the identity: delta = 0
            nn.init.zeros_(self.to_rgb.weight)
            nn.init.zeros_(self.to_rgb.bias)
        # PatchNCE taps: the stem, each downsampling, the first and the middle residual block.
        self.nce_block_taps = sorted({0, len(self.blocks) // 2}) if blocks else []
        self.feature_channels = [widths[0], widths[1], widths[2]] + [widths[2]] * len(self.nce_block_taps)

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps PatchNCE compares (see `feature_channels` for their widths)."""
        h = self.stem(x)
        feats = [h]
        for down in self.down:
            h = down(h)
            feats.append(h)
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in self.nce_block_taps:
                feats.append(h)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for down in self.down:
            h = down(h)
        for block in self.blocks:
            h = block(h)
        for up in self.up:
            h = up(F.interpolate(h, scale_factor=2, mode="nearest"))
        if self.residual:
            # The photo in tanh's pre-image; the clamp keeps atanh finite at pure black and white.
            delta = self.to_rgb(h)
            if self.strength != 1.0:
                delta = self.strength * delta
            painting = torch.tanh(torch.atanh(x.clamp(-PHOTO_LIMIT, PHOTO_LIMIT)) + delta)
        else:
            painting = torch.tanh(self.to_rgb(h))
        return chroma_low_pass(painting, self.chroma_blur)


def _check_number(value: object, where: str) -> None:
    # Cards are JSON: a string or true would otherwise fail later, far from its cause.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{where} must be a number, got {value!r}")


def check_strength(strength: float, where: str = "--strength") -> None:
    """Refuse a strength outside STRENGTH_RANGE (one line), before any translator is loaded."""
    _check_number(strength, where)
    low, high = STRENGTH_RANGE
    if not (math.isfinite(strength) and low <= strength <= high):
        raise UserError(f"{where} must lie in {low:g}..{high:g} (0 = the photo, 1 = as trained), got {strength}")


def set_strength(translator: Translator, strength: float, where: str = "--strength") -> None:
    """Give a residual translator the strength it paints at, refusing what it cannot do (one line)."""
    check_strength(strength, where)
    if not translator.residual and strength != 1.0:
        raise UserError(f"{where}: this stylizer paints whole images, not a change to the photo "
                        "(translator_residual=false), so it has no strength to set; leave it at 1")
    translator.strength = float(strength)


def check_chroma_blur(sigma: float, where: str = "--chroma-blur") -> None:
    """Refuse a colour blur outside 0..CHROMA_BLUR_MAX px (one line), before any translator is loaded."""
    _check_number(sigma, where)
    if not (math.isfinite(sigma) and 0 <= sigma <= CHROMA_BLUR_MAX):
        raise UserError(f"{where} must lie in 0..{CHROMA_BLUR_MAX:g} px (0 = off, 1 = about the paintings' "
                        f"colour detail), got {sigma}")


def set_chroma_blur(translator: Translator, sigma: float, where: str = "--chroma-blur") -> None:
    check_chroma_blur(sigma, where)
    translator.chroma_blur = float(sigma)


# A stylizer's painting settings, chosen after training (no weights): name -> (flag, check, set).
PAINTING_SETTINGS = {"strength": ("--strength", check_strength, set_strength),
                     "chroma_blur": ("--chroma-blur", check_chroma_blur, set_chroma_blur)}


def settings_given(**settings: float | None) -> list[str]:
    """The command-line flags of the painting settings given (not None), to refuse them where they
    mean nothing."""
    return [PAINTING_SETTINGS[name][0] for name, value in settings.items() if value is not None]


def check_painting_settings(**settings: float | None) -> None:
    """Refuse a bad --strength or --chroma-blur (one line) before minutes of loading; None = not given."""
    for name, value in settings.items():
        flag, check, _ = PAINTING_SETTINGS[name]
        if value is not None:
            check(value, flag)


def apply_painting_settings(translator: Translator, source: str | None = None, **settings: float | None) -> None:
    """Give a translator each painting setting that is not None. Errors name `source` (a card file)
    and the key, or else the command-line flag."""
    for name, value in settings.items():
        flag, _, set_value = PAINTING_SETTINGS[name]
        if value is not None:
            set_value(translator, value, f"{source}: {name}" if source else flag)


def translation_gflops(translator: nn.Module, side: int) -> float:
    """Forward GFLOP (2 per multiply-add) of one side x side photo, counted by torch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next(translator.parameters()).device
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        translator(torch.zeros(1, 3, side, side, device=device))
    return counter.get_total_flops() / 1e9
