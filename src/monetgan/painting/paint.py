"""`paint()`: new paintings from a trained generator, as PNG files and an optional grid."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from ..training.checkpoint import latest_checkpoint, load_checkpoint
from ..config import config_from_dict
from ..devices import pick_device
from ..errors import UserError
from ..data.images import make_grid, save_png
from ..nets import build_generator
from ..nets.sampling import generate, latents_for_seeds


def output_size(generator: nn.Module) -> int:
    """The side a painter's pictures are delivered at: its card's `output_size` (bundled), else its own."""
    return int(getattr(generator, "output_size", generator.resolution))


def resize_square(images: np.ndarray, size: int) -> np.ndarray:
    """(N, h, h, 3) uint8 -> (N, size, size, 3) with Lanczos (a no-op at the same size)."""
    if images.shape[1] == size:
        return images
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.LANCZOS)) for im in images])


def load_generator(checkpoint: str | os.PathLike, ema: bool | None = None, device: str = "auto") -> nn.Module:
    """The generator stored in a checkpoint folder, in eval mode.

    `ema=None` takes the EMA generator when the checkpoint has one; True requires it; False takes the raw one.
    """
    ckpt = load_checkpoint(Path(checkpoint), require_training_state=False)
    cfg = config_from_dict(ckpt.config, str(ckpt.path / "config.json"))
    which = ckpt.painter(ema)
    weights = ckpt.tensors[which]
    generator = build_generator(cfg)
    try:
        generator.load_state_dict(weights)
    except RuntimeError as exc:
        raise UserError(f"checkpoint {ckpt.path}: generator weights do not match its config ({str(exc).splitlines()[0]})") from None
    # Which weights paint, for the PNG metadata (`painter_source`).
    generator.painter_source = f"checkpoint {ckpt.path.resolve()} ({'EMA' if which == 'generator_ema' else 'raw'} generator)"
    return generator.to(pick_device(device)).eval()


def resolve_checkpoint(run: str | os.PathLike | None, checkpoint: str | os.PathLike | None) -> Path:
    """The checkpoint folder meant by `--run` (its latest) or `--checkpoint` (exactly that one)."""
    if (run is None) == (checkpoint is None):
        raise UserError("give exactly one of --run RUN_DIR or --checkpoint DIR")
    if checkpoint is not None:
        return Path(checkpoint)
    run_dir = Path(run)
    if not run_dir.is_dir():
        raise UserError(f"--run {run_dir}: no such run folder")
    found = latest_checkpoint(run_dir)
    if found is None:
        raise UserError(f"--run {run_dir} has no checkpoint yet; train it for at least checkpoint_every steps")
    return found


def pick_generator(run: str | os.PathLike | None, checkpoint: str | os.PathLike | None,
                   weights: str | os.PathLike | None, ema: bool | None, device: str) -> nn.Module:
    """The generator named by --run, --checkpoint or --weights; with none of them, the bundled one.

    Its `painter_source` attribute names it (the bundled painter, a weights file, or a checkpoint
    folder and which of its generators), for the metadata of the PNGs it paints.
    """
    from .bundled import BUNDLED_NAME, load_bundled

    if weights is not None:
        if run is not None or checkpoint is not None:
            raise UserError("give only one of --run, --checkpoint or --weights")
        path = Path(weights)
        if path.suffix != ".safetensors":
            raise UserError(f"--weights {path}: expected a .safetensors file with its .json card beside it")
        generator = load_bundled(path.stem, device=device, folder=path.parent)
        generator.painter_source = f"weights {path.resolve()}"
        return generator
    if run is None and checkpoint is None:
        generator = load_bundled(device=device)  # the shipped Monet generator: works offline on a fresh install
        generator.painter_source = f"bundled {BUNDLED_NAME}"
        return generator
    return load_generator(resolve_checkpoint(run, checkpoint), ema=ema, device=device)


def require_painter(generator: nn.Module) -> nn.Module:
    """The generator, if it paints from noise; a photo -> painting translator gets one line instead."""
    if not hasattr(generator, "latent_dim"):
        raise UserError("that generator turns photos into paintings; use `monetgan stylize PHOTOS --out DIR` "
                        "with the same --run/--checkpoint/--weights")
    return generator


def painting_metadata(generator: nn.Module, seed: int) -> dict[str, str]:
    """The PNG tEXt chunks of one painting: its seed and the painter (checkpoint) that painted it.

    `paint` and the studio's downloads both use it, so the same seed gives the same file bytes.
    """
    from ..version import __version__

    return {"Seed": str(seed), "Painter": str(getattr(generator, "painter_source", "unknown")),
            "Software": f"monetgan {__version__}"}


def paint_seeds(generator: nn.Module, seeds: list[int] | range, size: int | None = None) -> np.ndarray:
    """(len(seeds), size, size, 3) uint8: each seed's painting, at `size` (default `output_size`).

    One forward pass per seed: batched convolutions on CPU may round differently with the batch's
    size, so painting each seed alone is what makes its picture independent of its neighbours.
    """
    images = generate(generator, latents_for_seeds(seeds, generator.latent_dim), batch_size=1)
    return resize_square(images, size or output_size(generator))


def paint(run: str | os.PathLike | None = None, *, checkpoint: str | os.PathLike | None = None,
          weights: str | os.PathLike | None = None, num: int = 16,
          out: str | os.PathLike = "paintings", seed: int = 0, grid: str | os.PathLike | None = None,
          ema: bool | None = None, batch_size: int = 64, device: str = "auto", size: int | None = None,
          show_progress: bool = True) -> list[Path]:
    """Paint `num` new images as PNGs named `seed000123.png` into `out`.

    The generator comes from `run` (its latest checkpoint), `checkpoint`, or `weights` (a
    generator file written by `monetgan.painting.bundled`, card beside it); with none of them, the
    generator bundled with monetgan paints.

    Image i uses latent seed `seed + i`, so any painting can be reproduced alone, and the same
    seed always gives the same picture (each seed is painted by its own forward pass; `batch_size`
    is kept for compatibility). Each PNG carries its seed and painter as tEXt chunks
    (`painting_metadata`). `grid` also writes all of them as one PNG.

    `size`: the side of the PNGs. None: the painter's output size, which is its own resolution for a
    run's checkpoint and the size its card states for a bundled painter (256 px for the shipped one).
    A larger size is upsampled with Lanczos, as `export-kaggle` does; `output_size(generator)` says so.

    Example:
        >>> monetgan.paint(num=16, out="paintings")  # the bundled generator  # doctest: +SKIP
        >>> monetgan.paint("runs/quick", num=16, out="paintings", grid="grid.png")  # doctest: +SKIP
    """
    if num < 1:
        raise UserError(f"--num must be at least 1, got {num}")
    if seed < 0:
        raise UserError(f"--seed must be 0 or more, got {seed}")
    if size is not None and not 16 <= size <= 4096:
        raise UserError(f"--size must lie in 16..4096 pixels, got {size}")
    grid_path = Path(grid) if grid is not None else None
    if grid_path is not None and grid_path.suffix.lower() != ".png":
        raise UserError(f"--grid {grid_path}: the grid is written as PNG; give a .png file name")
    generator = require_painter(pick_generator(run, checkpoint, weights, ema, device))
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, images = [], []
    # One seed at a time, written as it is painted: a long job shows its progress and keeps what it made.
    for s in tqdm(range(seed, seed + num), desc="painting", unit="painting", disable=not show_progress):
        image = paint_seeds(generator, [s], size)[0]
        path = out_dir / f"seed{s:06d}.png"
        save_png(image, path, painting_metadata(generator, s))
        paths.append(path)
        if grid_path is not None:
            images.append(image)
    if grid_path is not None:
        grid_path.parent.mkdir(parents=True, exist_ok=True)
        save_png(make_grid(np.stack(images)), grid_path)
    return paths
