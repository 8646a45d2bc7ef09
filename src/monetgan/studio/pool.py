"""The studio's models (painters and stylizers): each loaded once, on first use, and shared by every
request, with one lock each.

A generator is an `nn.Module` whose forward pass is not meant to run from several threads at once,
and a stylizer's strength and colour blur are attributes of its module, so each model's lock is held
around every use of it. Models are named by index in URLs, never by path.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn


@dataclass
class ModelSpec:
    """Where a model comes from: the bundled one (run and checkpoint None), a run folder (its
    latest checkpoint when first used) or a checkpoint folder."""

    label: str
    run: Path | None = None
    checkpoint: Path | None = None


@dataclass
class LoadedModel:
    spec: ModelSpec
    module: nn.Module | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class LazyModelPool:
    """Models loaded lazily and once by `_load`; `loads` counts actual loads."""

    def __init__(self, specs: list[ModelSpec], device: str = "cpu"):
        self.models = [LoadedModel(spec) for spec in specs]
        self.device = device
        self.loads = 0
        self._load_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.models)

    def describe(self) -> list[dict]:
        return [{"index": i, "label": m.spec.label} for i, m in enumerate(self.models)]

    def _load(self, spec: ModelSpec) -> nn.Module:
        raise NotImplementedError

    def loaded(self, index: int) -> LoadedModel:
        """Model `index`, loaded on first use (KeyError for an index outside the pool)."""
        if not 0 <= index < len(self.models):
            raise KeyError(index)
        entry = self.models[index]
        if entry.module is None:
            with self._load_lock:  # double-checked: two first requests must not load it twice
                if entry.module is None:
                    entry.module = self._load(entry.spec)
                    self.loads += 1
        return entry
