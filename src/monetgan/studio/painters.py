"""The studio's painters: paintings, walk frames and walk videos, as `monetgan paint` and
`monetgan interpolate` make them.

Each painter is loaded once and used under its own lock (`pool.py`); encoded PNGs are kept in a
small LRU cache with a byte budget, so scrolling back and 20 clients asking for the same seed cost
one forward pass.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from torch import nn

from ..data.images import png_bytes
from ..errors import UserError
from ..painting.interpolate import walk_frames, write_walk
from ..painting.paint import output_size, paint_seeds, painting_metadata, pick_generator, require_painter
from .pool import LazyModelPool, ModelSpec


class PngCache:
    """A thread-safe LRU of encoded images, bounded by total bytes (not entries: sizes vary 100x)."""

    def __init__(self, max_bytes: int = 64 * 2**20):
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
            return data

    def put(self, key: tuple, data: bytes) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    @property
    def total_bytes(self) -> int:
        return self._bytes


class PainterPool(LazyModelPool):
    """All painters the studio offers (generators that paint from noise), loaded lazily and once."""

    def __init__(self, specs: list[ModelSpec], device: str = "cpu", size: int | None = None,
                 cache: PngCache | None = None):
        super().__init__(specs, device)
        self.size = size
        self.cache = cache or PngCache()

    def _load(self, spec: ModelSpec) -> nn.Module:
        # A photo -> painting checkpoint named directly is not a painter: one clear error, not a crash.
        return require_painter(pick_generator(spec.run, spec.checkpoint, None, None, self.device))

    def source(self, index: int) -> str:
        return str(self.loaded(index).module.painter_source)

    def painting_png(self, index: int, seed: int) -> bytes:
        """Seed `seed`'s painting as `monetgan paint` writes it: same pixels, same metadata, same bytes."""
        key = ("paint", index, seed, self.size)
        data = self.cache.get(key)
        if data is None:
            painter = self.loaded(index)
            with painter.lock:
                image = paint_seeds(painter.module, [seed], self.size)[0]
            data = png_bytes(image, painting_metadata(painter.module, seed))
            self.cache.put(key, data)
        return data

    def walk_frame_png(self, index: int, seeds: list[int], frames: int, mode: str, frame: int) -> bytes:
        """One frame of a walk, painted alone (frames are fetched one by one as the page plays them)."""
        if not 0 <= frame < frames:
            raise UserError(f"frame {frame} is outside 0..{frames - 1}")
        key = ("walk", index, tuple(seeds), frames, mode, frame, self.size)
        data = self.cache.get(key)
        if data is None:
            painter = self.loaded(index)
            with painter.lock:
                image = walk_frames(painter.module, seeds, frames, mode, self.size, indices=[frame])[0]
            data = png_bytes(image)
            self.cache.put(key, data)
        return data

    def walk_video(self, index: int, seeds: list[int], frames: int, mode: str, suffix: str, fps: float,
                   workdir: Path) -> Path:
        """The whole walk written as .gif or .mp4 into `workdir` (the caller deletes it)."""
        painter = self.loaded(index)
        with painter.lock:
            images: np.ndarray = walk_frames(painter.module, seeds, frames, mode, self.size)
        return write_walk(images, workdir / f"walk{suffix}", fps)

    def side(self, index: int) -> int:
        return self.size or output_size(self.loaded(index).module)
