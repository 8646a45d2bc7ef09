"""Image conversions with Pillow and numpy: decode any painting to square RGB uint8, tensors to PNGs, grids."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

from ..files import atomic_output

# Refuse images that declare more pixels than this (decompression bombs), before any pixel is
# decoded. 64 MP covers any photo. Our own check, so it holds whatever Image.MAX_IMAGE_PIXELS is.
MAX_PIXELS = 64_000_000

# Decode by content with these Pillow plugins only (JPEG includes cameras' multi-picture MPO files).
# A .jpg that is really an EPS, PSD or TIFF is refused instead of reaching a rarely used decoder
# (EPS would even start Ghostscript).
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")

# What Pillow raises on malformed input: OSError (truncated file, broken data stream), ValueError,
# SyntaxError (some header parsers), EOFError. Anything else is a bug here or in Pillow; the fuzz
# tests (tests/test_fuzz.py) look for them.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


class UnusableImage(Exception):
    """A file that cannot be turned into a training image; the message says why."""


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB. Transparency is composited onto white, as a painting's canvas."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale PNG (mode I;16, or I in older Pillow): scale the full range to 8 bits rather
        # than clipping at 255. Decided by the mode, not the pixels, so a dark image stays dark.
        arr = np.asarray(img, dtype=np.float32)
        img = Image.fromarray(np.clip(arr * (255.0 / 65535.0) + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        canvas = Image.new("RGBA", img.size, (255, 255, 255, 255))
        canvas.alpha_composite(img.convert("RGBA"))
        img = canvas
    return img.convert("RGB")


def decode_square(data: bytes, resolution: int) -> np.ndarray:
    """Encoded image bytes -> (resolution, resolution, 3) uint8, centre-cropped and Lanczos-resized.

    EXIF orientation is applied, so a phone photo trains the right way up. Raises `UnusableImage`
    for anything that is not a JPEG, PNG or WebP Pillow can decode, or that declares more than
    `MAX_PIXELS` pixels (checked from the header, before decoding).
    """
    img = decode_rgb(data, resolution)
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != resolution:
        img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def decode_rgb(data: bytes, at_least: int) -> Image.Image:
    """Encoded image bytes -> an RGB Pillow image, whole, EXIF-rotated, with the checks of
    `decode_square`. A JPEG may be decoded at a reduced scale whose sides stay above 2 * `at_least`."""
    if not data:
        raise UnusableImage("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow warns about a file's flaws (corrupt EXIF; a size between its own bomb limit and
            # twice it), and under -W error the warning would escape as an exception. The file is
            # either decoded or skipped with a reason, and our stricter MAX_PIXELS decides on size.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise UnusableImage(f"declares {width}x{height} pixels, over the {MAX_PIXELS:,} limit")
                # JPEG only: let libjpeg decode at a reduced scale that still exceeds 2x the target.
                img.draft("RGB", (2 * at_least, 2 * at_least))
                img = ImageOps.exif_transpose(img)
                img = _to_rgb(img)
    except UnusableImage:
        raise
    except Image.UnidentifiedImageError:  # its message names a BytesIO object, which helps nobody
        raise UnusableImage("not a JPEG, PNG or WebP image, judged by its content") from None
    except _DECODE_ERRORS as exc:
        message = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise UnusableImage(f"not a readable image ({exc.__class__.__name__}: {message})") from None
    if min(img.size) < 1:
        raise UnusableImage("has zero width or height")
    return img


def from_uint8(pixels: np.ndarray) -> torch.Tensor:
    """(B, H, W, 3) pixels in 0..255 (uint8, or float from a resize) -> (B, 3, H, W) float in [-1, 1]:
    what the networks take, the inverse of `to_uint8`."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


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


def png_bytes(array: np.ndarray, metadata: dict[str, str] | None = None) -> bytes:
    """An (H, W, 3) uint8 array encoded as PNG, with `metadata` as tEXt chunks in the given order.

    The one encoder behind `save_png` and the studio's downloads, so both give the same bytes.
    """
    info = None
    if metadata:
        info = PngInfo()
        for key, value in metadata.items():
            info.add_text(key, value)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def save_png(array: np.ndarray, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write an (H, W, 3) uint8 array as PNG (tEXt chunks from `metadata`), atomically (a kill never
    leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = png_bytes(array, metadata)
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(data)
