"""`stylize()`: photographs in, Monet paintings out, with a photo -> painting translator.

The translator is fully convolutional, so every photo keeps its own aspect ratio: its longer side
becomes `size` pixels (both sides rounded to multiples of 4 for the network's two downsamplings,
then resized to the exact size with Lanczos). Photos are read with the same safe decoder as the
training data; one that cannot be used is skipped and listed, never fatal for the others. No
existing file is overwritten unless asked, and that is checked before anything is written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from ..config import PRECISIONS
from ..data.dataset import KAGGLE_PHOTO_FOLDER, display_name, image_sources
from ..data.images import UnusableImage, decode_rgb, from_uint8, save_png, to_uint8
from ..devices import autocast_for
from ..errors import UserError
from ..nets.generator_file import load_bundled, weights_dir
from ..nets.translator import Translator, apply_painting_settings, settings_given
from .paint import pick_generator

STYLIZER_NAME = "stylizer"  # monetgan/weights/stylizer.safetensors + .json, when one is bundled


@dataclass
class StylizeResult:
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (photo, why)


def load_stylizer(run: str | os.PathLike | None = None, checkpoint: str | os.PathLike | None = None,
                  weights: str | os.PathLike | None = None, ema: bool | None = None, device: str = "auto",
                  strength: float | None = None, chroma_blur: float | None = None) -> nn.Module:
    """The translator named by --run, --checkpoint or --weights (as `paint` picks a painter); with
    none, the bundled stylizer. `strength` and `chroma_blur` (None: the card's, else the run's
    config: 1 and translator_chroma_blur) see nets/translator.py."""
    if run is None and checkpoint is None and weights is None:
        if not (weights_dir() / f"{STYLIZER_NAME}.safetensors").is_file():
            raise UserError("no stylizer is bundled with this monetgan yet; train one with "
                            "`monetgan train --preset cut-128 --data PAINTINGS --photos PHOTOS --run RUN` "
                            "and pass --run RUN")
        model = load_bundled(STYLIZER_NAME, device=device, folder=weights_dir())
    else:
        model = pick_generator(run, checkpoint, weights, ema, device)
    if not isinstance(model, Translator):
        raise UserError("that generator paints from noise, not from photos; use `monetgan paint`, or give a run "
                        "trained with --preset cut-128 --photos ...")
    apply_painting_settings(model, strength=strength, chroma_blur=chroma_blur)
    return model


def check_precision(precision: str) -> None:
    """How a stylizer computes: auto (bf16 autocast on CUDA and on CPUs with native bf16, where it
    paints in 1.4-1.8x less CPU time with FID unchanged; docs/photo-to-monet.md), fp32 or bf16."""
    if precision not in PRECISIONS:
        raise UserError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def stylizer_flags_given(strength: float | None, chroma_blur: float | None, precision: str) -> list[str]:
    """The stylizer-only flags given (a painting setting not None, a precision not auto), to refuse
    them where a generator paints from noise."""
    return settings_given(strength=strength, chroma_blur=chroma_blur) + (["--precision"] if precision != "auto" else [])


def output_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) with the longer side `size` and the photo's aspect ratio."""
    scale = size / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


@torch.no_grad()
def stylize_image(translator: nn.Module, photo: Image.Image, size: int, precision: str = "auto") -> np.ndarray:
    """One RGB photo -> its painting, (H, W, 3) uint8, longer side `size`, aspect ratio kept;
    `precision`: check_precision's."""
    width, height = output_shape(photo.width, photo.height, size)
    net_w, net_h = max(4, round(width / 4) * 4), max(4, round(height / 4) * 4)
    pixels = np.asarray(photo.resize((net_w, net_h), Image.Resampling.LANCZOS), dtype=np.float32)
    device = next(translator.parameters()).device
    x = from_uint8(pixels[None]).to(device)
    with autocast_for(device, precision):
        painting = to_uint8(translator.eval()(x).float())[0]
    if (net_w, net_h) != (width, height):
        painting = np.asarray(Image.fromarray(painting).resize((width, height), Image.Resampling.LANCZOS))
    return painting


@torch.no_grad()
def stylize_batch(translator: torch.nn.Module, photos: np.ndarray, batch_size: int = 16,
                  show_progress: bool = False, precision: str = "auto") -> np.ndarray:
    """(N, S, S, 3) uint8 photos -> their paintings, same shape, through a translator in eval mode;
    `precision`: check_precision's."""
    translator.eval()
    device = next(translator.parameters()).device
    out = []
    bar = tqdm(total=len(photos), desc="stylizing", unit="photo", disable=not show_progress)
    for i in range(0, len(photos), batch_size):
        with autocast_for(device, precision):
            out.append(to_uint8(translator(from_uint8(photos[i : i + batch_size]).to(device)).float()))
        bar.update(len(out[-1]))
    bar.close()
    return np.concatenate(out)


def _output_name(name: str) -> str:
    """A flat, printable file name for a photo found at `name` (a path inside a folder or zip)."""
    stem = str(Path(display_name(name)).with_suffix("")).replace("/", "__").replace("\\", "__")
    return f"{stem}.png"


def stylize(photos: str | os.PathLike, out: str | os.PathLike, *, run: str | os.PathLike | None = None,
            checkpoint: str | os.PathLike | None = None, weights: str | os.PathLike | None = None,
            size: int = 256, overwrite: bool = False, ema: bool | None = None, device: str = "auto",
            strength: float | None = None, chroma_blur: float | None = None, precision: str = "auto",
            show_progress: bool = True) -> StylizeResult:
    """Paint every photo of a file, folder or zip (Kaggle's zip: its photo_jpg/) as PNGs in `out`;
    `precision`: check_precision's.

    Example:
        >>> monetgan.stylize("photo_jpg", "monets", run="runs/cut")  # doctest: +SKIP
    """
    if not 16 <= size <= 4096:
        raise UserError(f"--size must lie in 16..4096 pixels, got {size}")
    check_precision(precision)
    translator = load_stylizer(run, checkpoint, weights, ema, device, strength, chroma_blur)
    out_dir = Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir} is a file; give a folder for the paintings")
    result = StylizeResult()
    with image_sources(photos, prefer=KAGGLE_PHOTO_FOLDER, flag="stylize", what="photos", single_file=True) as (
            sources, bad):
        targets = [(name, read, out_dir / _output_name(name)) for name, read in sources]
        clashes = [t for _, _, t in targets if t.exists()]
        if clashes and not overwrite:
            raise UserError(f"{clashes[0]} exists ({len(clashes)} of the outputs do); pass --overwrite "
                            "or choose another --out")
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, read, target in tqdm(targets, desc="stylizing", unit="photo", disable=not show_progress):
            try:
                photo = decode_rgb(read(), size)
            except UnusableImage as exc:
                bad.append((name, str(exc)))
                continue
            save_png(stylize_image(translator, photo, size, precision), target)
            result.written.append(target)
    result.skipped = [(display_name(name), display_name(why)) for name, why in bad]
    if not result.written:
        raise UserError(f"stylize {photos}: none of the {len(result.skipped)} photos could be used "
                        f"(e.g. {result.skipped[0][0]}: {result.skipped[0][1]})")
    return result
