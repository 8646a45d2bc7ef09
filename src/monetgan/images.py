"""Image conversions with Pillow and numpy: decode any painting to square RGB uint8, tensors to PNGs, grids."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .files import atomic_output

# Refuse images that declare more pixels than this (decompression bombs). 64 MP covers any photo.
MAX_PIXELS = 64_000_000


class UnusableImage(Exception):
    """A file that cannot be turned into a training image; the message says why."""


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB. Transparency is composited onto white, as a painting's canvas."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-/32-bit greyscale: scale the full range to 8 bits rather than clipping at 255.
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        canvas = Image.new("RGBA", img.size, (255, 255, 255, 255))
        canvas.alpha_composite(img.convert("RGBA"))
        img = canvas
    return img.convert("RGB")


def decode_square(data: bytes, resolution: int) -> np.ndarray:
    """Encoded image bytes -> (resolution, resolution, 3) uint8, centre-cropped and Lanczos-resized.

    EXIF orientation is applied, so a phone photo trains the right way up.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise UnusableImage(f"declares {width}x{height} pixels, over the {MAX_PIXELS:,} limit")
            # JPEG only: let libjpeg decode at a reduced scale that still exceeds 2x the target.
            img.draft("RGB", (2 * resolution, 2 * resolution))
            img = ImageOps.exif_transpose(img)
            img = _to_rgb(img)
    except UnusableImage:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError) as exc:
        raise UnusableImage(f"not a readable image ({exc.__class__.__name__}: {exc})") from None
    side = min(img.size)
    if side < 1:
        raise UnusableImage("has zero width or height")
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != resolution:
        img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) float in [-1, 1] -> (B, H, W, 3) uint8, rounding to nearest."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def make_grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """(B, H, W, 3) uint8 -> one (rows*H, columns*W, 3) image with a dark gutter between tiles."""
    count, h, w, _ = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.full((rows * (h + padding) + padding, columns * (w + padding) + padding, 3), 16, np.uint8)
    for i, tile in enumerate(images):
        r, c = divmod(i, columns)
        y, x = padding + r * (h + padding), padding + c * (w + padding)
        grid[y : y + h, x : x + w] = tile
    return grid


def save_png(array: np.ndarray, path: Path) -> None:
    """Write an (H, W, 3) uint8 array as PNG, atomically (a kill never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        Image.fromarray(array).save(tmp, format="PNG")
