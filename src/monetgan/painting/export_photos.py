"""`export_kaggle_from_photos()`: the Kaggle submission made from stylized photographs.

The leaderboard of "I'm Something of a Painter Myself" is topped by photo -> Monet translation, not
painting from noise: each of Kaggle's 7,038 photos becomes one painting. The zip and manifest are
written exactly as for a painter (`export.py`), with the same checks, and one more: a painting that
lies within the near-copy distance of a training painting is left out and listed (MiFID punishes
memorisation); the export is refused if that leaves fewer than Kaggle's minimum.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ..data.dataset import KAGGLE_PHOTO_FOLDER, load_dataset
from ..errors import UserError
from ..files import sha256_of_file
from ..metrics.stats import nearest_pixel_l2
from ..nets.generator_file import weights_dir
from .export import (KAGGLE_MAX, KAGGLE_MIN, KAGGLE_SIZE, NEAR_COPY_RMS, SUBMISSION_QUALITY, ExportResult, _training_images,
                     submission_path, validate_submission, write_manifest, write_submission_zip)
from .paint import resolve_checkpoint
from .stylize import STYLIZER_NAME, check_precision, load_stylizer, stylize_batch


def _stylizer_source(run, checkpoint, weights, ema) -> tuple[Path | None, dict]:
    """(checkpoint folder or None, the manifest's record of which stylizer painted)."""
    if weights is not None:
        return None, {"weights": str(weights), "weights_sha256": sha256_of_file(Path(weights))}
    if run is None and checkpoint is None:
        file = weights_dir() / f"{STYLIZER_NAME}.safetensors"
        return None, {"weights": str(file), "weights_sha256": sha256_of_file(file)}
    ckpt = resolve_checkpoint(run, checkpoint)
    which = "generator_ema" if ema is not False and (ckpt / "generator_ema.safetensors").exists() else "generator"
    return ckpt, {"checkpoint": str(ckpt), "checkpoint_sha256": sha256_of_file(ckpt / f"{which}.safetensors"),
                  "ema": which}


def export_kaggle_from_photos(photos: str | os.PathLike, *, run: str | os.PathLike | None = None,
                              checkpoint: str | os.PathLike | None = None, weights: str | os.PathLike | None = None,
                              num: int | None = None, out: str | os.PathLike = "images.zip", ema: bool | None = None,
                              data: str | os.PathLike | None = None, near_copy_rms: float = NEAR_COPY_RMS,
                              quality: int = SUBMISSION_QUALITY, batch_size: int = 16, device: str = "auto",
                              strength: float | None = None, chroma_blur: float | None = None,
                              precision: str = "auto", show_progress: bool = True) -> ExportResult:
    """Stylize `photos` (all of them, or the first `num` in name order) into the Kaggle zip.

    The stylizer comes from `run`, `checkpoint` or `weights`; with none of them, the bundled one.
    `data`: the paintings to check for near-copies; default: the run's own data.
    `strength`: the stylizer's (nets/translator.py); None: its card's, else 1.
    `chroma_blur`: None paints without the stylizer's colour blur: the zip's 4:2:0 JPEGs store colour at
    half resolution, which is that low-pass already, and the two together blur colour past the paintings'
    (docs/photo-to-monet.md, "Colour noise"). A number is applied before the JPEG all the same.
    `precision`: how the stylizer computes (painting/stylize.check_precision).
    """
    check_precision(precision)
    out_path = submission_path(out)
    translator = load_stylizer(run, checkpoint, weights, ema, device, strength,
                               0.0 if chroma_blur is None else chroma_blur)
    ckpt, source = _stylizer_source(run, checkpoint, weights, ema)
    source["strength"], source["chroma_blur"] = translator.strength, translator.chroma_blur
    if ckpt is None and data is None:
        raise UserError("a stylizer file has no run to find its paintings in; pass --data PAINTINGS (a folder, or "
                        "Kaggle's gan-getting-started.zip) to check for near-copies")
    found = load_dataset(photos, KAGGLE_SIZE, show_progress=show_progress, prefer=KAGGLE_PHOTO_FOLDER,
                         flag="--photos", what="photos")
    count = len(found) if num is None else num
    if not KAGGLE_MIN <= count <= KAGGLE_MAX:
        raise UserError(f"--photos {photos}: {count:,} photos to paint; Kaggle accepts {KAGGLE_MIN:,} to "
                        f"{KAGGLE_MAX:,} (there are {len(found):,} usable photos; choose --num in that range)")
    if count > len(found):
        raise UserError(f"--num {count:,}: --photos {photos} has only {len(found):,} usable photos")
    started = time.perf_counter()
    names = found.names[:count]
    images = stylize_batch(translator, found.images[:count].permute(0, 2, 3, 1).numpy(), batch_size, show_progress,
                           precision)
    del found
    reals = _training_images(ckpt, data, KAGGLE_SIZE)
    copies = np.flatnonzero(nearest_pixel_l2(images, reals)[0] < near_copy_rms)
    if count - len(copies) < KAGGLE_MIN:
        raise UserError(f"{len(copies)} of the stylized photos lie within RMS {near_copy_rms} of a training painting, "
                        f"leaving fewer than Kaggle's {KAGGLE_MIN:,}; export refused")
    keep = np.setdiff1d(np.arange(count), copies)
    write_submission_zip(out_path, images[keep], quality, show_progress)
    written = validate_submission(out_path)  # the zip is read back and checked as Kaggle would
    manifest = {
        "zip": out_path.name,
        "num_images": written,
        "image_size": [KAGGLE_SIZE, KAGGLE_SIZE],
        "format": f"JPEG quality {quality}, 4:2:0 colour, RGB",
        "made_from": f"photos stylized at {KAGGLE_SIZE}x{KAGGLE_SIZE}",
        **source,
        "photos": str(Path(photos).resolve()),
        "photo_names": [names[i] for i in keep],
        "near_copy_check": {"metric": "RMS pixel distance to the nearest training painting at 256 px",
                            "threshold": near_copy_rms, "training_images": len(reals),
                            "left_out": [names[i] for i in copies]},
        "seconds": round(time.perf_counter() - started, 1),
    }
    return ExportResult(out_path, write_manifest(out_path, manifest), written, [], None)
