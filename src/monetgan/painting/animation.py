"""GIF and MP4 writing shared by the time-lapse and the latent walk (`interpolate`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UserError
from ..files import atomic_output

SUFFIXES = (".gif", ".mp4")
# Browsers replace GIF delays under 20 ms with 100 ms, which would make a "fast" GIF slow.
_MIN_GIF_FRAME_MS = 20
_PAD = (24, 24, 24)  # the colour of the pixel row or column that makes an MP4 frame's sides even


def check_animation_args(out: Path, fps: float, hold_last: float, scale: int | None) -> str:
    """Validate the user's options up front (before any work) and return the lower-cased suffix."""
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError(f"--out {out}: unsupported suffix {out.suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")
    if not (math.isfinite(fps) and fps > 0):
        raise UserError(f"--fps {fps}: must be a positive number of frames per second")
    if not (math.isfinite(hold_last) and hold_last >= 0):
        raise UserError(f"--hold-last {hold_last}: must be zero or a positive number of seconds")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int) or scale < 1):
        raise UserError(f"--scale {scale}: must be a whole number of at least 1 (or leave it out for automatic)")
    return suffix


def _pad_even(img: Image.Image) -> Image.Image:
    """Pad right/bottom by one pixel where needed: H.264 with yuv420p needs even width and height."""
    width, height = img.width + img.width % 2, img.height + img.height % 2
    if (width, height) == img.size:
        return img
    padded = Image.new("RGB", (width, height), _PAD)
    padded.paste(img, (0, 0))
    return padded


def write_gif(images: Iterator[Image.Image], count: int, path: Path, fps: float, hold_last: float) -> None:
    """Write an endlessly looping GIF; the last frame stays up for an extra `hold_last` seconds."""
    # Quantize as we go (what Pillow would do on save anyway) so long runs need 1/3 of the memory.
    paletted = [img.convert("P", palette=Image.Palette.ADAPTIVE, colors=256) for img in images]
    frame_ms = max(_MIN_GIF_FRAME_MS, round(1000.0 / fps))
    durations = [frame_ms] * count
    durations[-1] = frame_ms + round(1000.0 * hold_last)
    first, rest = paletted[0], paletted[1:]
    first.save(path, format="GIF", save_all=True, append_images=rest, duration=durations, loop=0)


def write_mp4(images: Iterator[Image.Image], path: Path, fps: float, hold_last: float) -> None:
    """Stream frames to H.264 (yuv420p, playable everywhere); repeat the last one to hold it."""
    import imageio.v2 as imageio  # deferred: spawning ffmpeg machinery is only needed for MP4

    repeats = round(hold_last * fps)
    # macro_block_size=1: frames are already padded to even sizes, so stop imageio from resizing them.
    writer = imageio.get_writer(
        str(path), format="FFMPEG", fps=fps, codec="libx264", quality=8,
        macro_block_size=1, pixelformat="yuv420p",
    )
    try:
        last = None
        for img in images:
            last = np.asarray(_pad_even(img))
            writer.append_data(last)
        for _ in range(repeats if last is not None else 0):
            writer.append_data(last)
    finally:
        writer.close()


def write_animation(images: Iterator[Image.Image], count: int, out: Path, fps: float, hold_last: float) -> Path:
    """`count` frames to `out`, a GIF or an MP4 by its suffix (checked first with
    `check_animation_args`), through a temporary file renamed into place: never half a file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp:
        if out.suffix.lower() == ".gif":
            write_gif(images, count, tmp, fps, hold_last)
        else:
            write_mp4(images, tmp, fps, hold_last)
    return out
