"""The studio's photo -> Monet: the bundled stylizer, loaded once on first use, one photo per request.

A painting here has the pixels and bytes `monetgan stylize` writes for the same photo, size,
strength and colour blur: the same decoder (checks, EXIF turn, grey/CMYK/alpha to RGB), the same
`stylize_image` and the same PNG encoder. The stylizer's strength and colour blur are attributes of
one shared module, so they are set and used under one lock, per request.
"""

from __future__ import annotations

import threading

from torch import nn

from ..data.images import UnusableImage, decode_rgb, png_bytes
from ..errors import UserError
from ..nets.translator import CHROMA_BLUR_MAX, STRENGTH_RANGE, check_chroma_blur, check_strength, set_chroma_blur, \
    set_strength
from ..painting.stylize import load_stylizer, stylize_image

MAX_UPLOAD_BYTES = 32 * 2**20  # a 24-megapixel JPEG is ~10 MB; the decoder refuses huge images from their header
SIZE_RANGE = (16, 1024)  # px, the painting's longer side: 1024 px is ~16 times a 256-px forward pass


class StudioStylizer:
    """The bundled stylizer for the studio's requests; `loads` counts actual loads."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.loads = 0
        self._model: nn.Module | None = None
        self._card: dict[str, float] = {}
        self._lock = threading.Lock()

    def _loaded(self) -> nn.Module:
        with self._lock:
            if self._model is None:
                self._model = load_stylizer(device=self.device)
                self._card = {"strength": self._model.strength, "chroma_blur": self._model.chroma_blur}
                self.loads += 1
            return self._model

    def describe(self) -> dict:
        """What the page's controls offer: the card's settings as defaults, and their ranges."""
        self._loaded()
        return {"strength": self._card["strength"], "strength_range": list(STRENGTH_RANGE),
                "chroma_blur": self._card["chroma_blur"], "chroma_blur_range": [0.0, CHROMA_BLUR_MAX],
                "size": 256, "size_range": list(SIZE_RANGE)}

    def stylize_png(self, data: bytes, size: int = 256, strength: float | None = None,
                    chroma_blur: float | None = None) -> bytes:
        """An uploaded photo painted as PNG bytes; None settings are the card's. Bad input: UserError."""
        if not SIZE_RANGE[0] <= size <= SIZE_RANGE[1]:
            raise UserError(f"size must lie in {SIZE_RANGE[0]}..{SIZE_RANGE[1]} px, got {size}")
        if strength is not None:
            check_strength(strength, "strength")
        if chroma_blur is not None:
            check_chroma_blur(chroma_blur, "chroma_blur")
        try:
            photo = decode_rgb(data, size)
        except UnusableImage as exc:
            raise UserError(f"that photo cannot be used: {exc}") from None
        model = self._loaded()
        with self._lock:
            set_strength(model, self._card["strength"] if strength is None else strength, "strength")
            set_chroma_blur(model, self._card["chroma_blur"] if chroma_blur is None else chroma_blur, "chroma_blur")
            painting = stylize_image(model, photo, size)
        return png_bytes(painting)
