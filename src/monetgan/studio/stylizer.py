"""The studio's photo -> Monet: the bundled stylizer and the stylizers of the runs it was given, one
photo per request.

A painting here has the pixels and bytes `monetgan stylize` writes for the same stylizer, photo,
size, strength and colour blur: the same loader (`load_stylizer`), the same decoder (checks, EXIF
turn, grey/CMYK/alpha to RGB), the same `stylize_image` and the same PNG encoder. A stylizer's
strength and colour blur are attributes of its module, so they are set and used under its lock.
"""

from __future__ import annotations

from torch import nn

from ..data.images import UnusableImage, decode_rgb, png_bytes
from ..errors import UserError
from ..nets.translator import CHROMA_BLUR_MAX, STRENGTH_RANGE, check_chroma_blur, check_strength, set_chroma_blur, \
    set_strength
from ..painting.stylize import load_stylizer, stylize_image
from .pool import LazyModelPool, ModelSpec

MAX_UPLOAD_BYTES = 32 * 2**20  # a 24-megapixel JPEG is ~10 MB; the decoder refuses huge images from their header
SIZE_RANGE = (16, 1024)  # px, the painting's longer side: 1024 px is ~16 times a 256-px forward pass


class StylizerPool(LazyModelPool):
    """The stylizers the studio offers: the bundled one first, then each photo -> painting run or
    checkpoint it was given; each paints with its own card's or run's settings unless told others."""

    def __init__(self, specs: list[ModelSpec] | None = None, device: str = "cpu"):
        super().__init__(specs if specs is not None else [ModelSpec("bundled stylizer")], device)
        self._defaults: dict[int, dict[str, float]] = {}

    def _load(self, spec: ModelSpec) -> nn.Module:
        return load_stylizer(spec.run, spec.checkpoint, device=self.device)

    def _module_and_defaults(self, index: int):
        entry = self.loaded(index)
        with entry.lock:  # read once, before any request has changed the module's settings
            defaults = self._defaults.setdefault(index, {"strength": entry.module.strength,
                                                         "chroma_blur": entry.module.chroma_blur})
        return entry, defaults

    def settings(self, index: int) -> dict:
        """What the page's controls offer for stylizer `index`: its settings as defaults, and their ranges."""
        entry, defaults = self._module_and_defaults(index)
        return {"index": index, "label": self.models[index].spec.label,
                # A plain (not residual) translator paints whole images: it has no strength to change.
                "strength": defaults["strength"],
                "strength_range": list(STRENGTH_RANGE) if entry.module.residual else [1.0, 1.0],
                "chroma_blur": defaults["chroma_blur"], "chroma_blur_range": [0.0, CHROMA_BLUR_MAX],
                "size": 256, "size_range": list(SIZE_RANGE)}

    def stylize_png(self, index: int, data: bytes, size: int = 256, strength: float | None = None,
                    chroma_blur: float | None = None) -> bytes:
        """An uploaded photo painted by stylizer `index` as PNG bytes; None settings are its own.
        Bad input: UserError; an index outside the pool: KeyError."""
        if not SIZE_RANGE[0] <= size <= SIZE_RANGE[1]:
            raise UserError(f"size must lie in {SIZE_RANGE[0]}..{SIZE_RANGE[1]} px, got {size}")
        if strength is not None:
            check_strength(strength, "strength")
        if chroma_blur is not None:
            check_chroma_blur(chroma_blur, "chroma_blur")
        entry, defaults = self._module_and_defaults(index)
        try:
            photo = decode_rgb(data, size)
        except UnusableImage as exc:
            raise UserError(f"that photo cannot be used: {exc}") from None
        with entry.lock:
            set_strength(entry.module, defaults["strength"] if strength is None else strength, "strength")
            set_chroma_blur(entry.module, defaults["chroma_blur"] if chroma_blur is None else chroma_blur,
                            "chroma_blur")
            painting = stylize_image(entry.module, photo, size)
        return png_bytes(painting)
