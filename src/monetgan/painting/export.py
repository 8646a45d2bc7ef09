"""`export_kaggle()`: the submission "I'm Something of a Painter Myself" expects.

A zip of 7,000-10,000 JPEGs, each 256x256 RGB, plus a `manifest.json` beside it recording the
seeds, the checkpoint hash and the checks made. Before writing, every painting is compared with
the training set; near-copies are replaced by fresh seeds and reported, because Kaggle's MiFID
punishes memorisation and because copying is not painting.
"""

from __future__ import annotations

import errno
import io
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..errors import UserError
from ..files import atomic_output, atomic_write_text, sha256_of_file
from ..metrics.stats import nearest_pixel_l2
from .bundled import BUNDLED_NAME, weights_dir
from .paint import load_generator, pick_generator, require_painter, resize_square, resolve_checkpoint
from ..nets.sampling import generate, latents_for_seeds

KAGGLE_SIZE = 256
KAGGLE_MIN, KAGGLE_MAX = 7_000, 10_000
JPEG_SUBSAMPLING = 2  # Pillow's code for 4:2:0 (colour at half resolution, as in Kaggle's files); 0 is 4:4:4
# A painting whose RMS pixel distance (0-1 scale) to some training image, compared at the
# generator's resolution, is below this is treated as a near-copy.
NEAR_COPY_RMS = 0.04
MAX_COPY_FRACTION = 0.1  # more near-copies than this on the first pass: refuse rather than re-draw
SUBMISSION_QUALITY = 95  # export-kaggle's JPEG quality


def encode_jpeg(image: np.ndarray, quality: int = SUBMISSION_QUALITY) -> bytes:
    """One (H, W, 3) uint8 image as the submission stores it: JPEG at `quality`, 4:2:0 colour (as Kaggle's
    own paintings are stored; said, not left to Pillow's default)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality, subsampling=JPEG_SUBSAMPLING)
    return buf.getvalue()


def check_jpeg_quality(quality: int) -> None:
    """Refuse `evaluate --jpeg` outside Pillow's 1..100 (one line), before any painting is judged."""
    if not 1 <= quality <= 100:
        raise UserError(f"--jpeg {quality}: a JPEG quality is 1 to 100 (the submission uses {SUBMISSION_QUALITY})")


def as_submitted(images: np.ndarray, quality: int = SUBMISSION_QUALITY) -> np.ndarray:
    """(N, H, W, 3) uint8 images after the JPEG round trip of a submission: what Kaggle's scorer decodes."""
    check_jpeg_quality(quality)
    decoded = []
    for image in images:
        with Image.open(io.BytesIO(encode_jpeg(image, quality))) as jpeg:
            decoded.append(np.asarray(jpeg.convert("RGB")))
    return np.stack(decoded)


@dataclass
class ExportResult:
    zip_path: Path
    manifest_path: Path
    num_images: int
    replaced: list[int]  # seeds replaced as near-copies
    upsampled_from: int | None


def _training_images(checkpoint: Path | None, data: str | os.PathLike | None, resolution: int) -> np.ndarray:
    from ..data.dataset import load_dataset

    if data is None and checkpoint is not None:
        run_json = checkpoint.parent.parent / "run.json"
        if not run_json.exists():
            raise UserError(f"checkpoint {checkpoint}: cannot find its training data; pass --data to check for near-copies")
        data = json.loads(run_json.read_text())["data"]
    return load_dataset(data, resolution, show_progress=False).pixels()


def _recorded_metrics(checkpoint: Path) -> dict:
    """The evaluation of this checkpoint that `monetgan evaluate --checkpoint all` stored, if any."""
    path = checkpoint.parent.parent / "metrics.jsonl"
    step = int(json.loads((checkpoint / "state.json").read_text())["step"])
    found: dict = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("step") == step:
                found = record
    return found


def export_kaggle(run: str | os.PathLike | None = None, *, checkpoint: str | os.PathLike | None = None,
                  weights: str | os.PathLike | None = None, num: int = 7_000, out: str | os.PathLike = "images.zip", seed: int = 0, ema: bool | None = None,
                  data: str | os.PathLike | None = None, near_copy_rms: float = NEAR_COPY_RMS,
                  quality: int = SUBMISSION_QUALITY, batch_size: int = 64, device: str = "auto",
                  show_progress: bool = True, metrics: dict | None = None) -> ExportResult:
    """Paint `num` images (seeds seed, seed+1, ...), replace near-copies, and write the Kaggle zip.

    The generator comes from `run` (its latest checkpoint), `checkpoint`, or `weights` (a generator
    file with its card); with none of them, the painter bundled with monetgan paints.

    Args:
        data: the training images to check against; defaults to the run's own data (run.json). A
            generator file or the bundled painter has no run, so it needs `data` (Kaggle's zip works).
        near_copy_rms: RMS pixel distance (0-1) under which a painting counts as a copy.
        metrics: optional metrics to record in the manifest (e.g. from `evaluate`).
    """
    if not KAGGLE_MIN <= num <= KAGGLE_MAX:
        raise UserError(f"--num {num}: Kaggle accepts {KAGGLE_MIN:,} to {KAGGLE_MAX:,} images; choose a number in that range")
    out_path = submission_path(out)
    if run is not None or checkpoint is not None:
        if weights is not None:
            raise UserError("give only one of --run, --checkpoint or --weights")
        ckpt: Path | None = resolve_checkpoint(run, checkpoint)
        generator = require_painter(load_generator(ckpt, ema=ema, device=device))
        source = {"checkpoint": str(ckpt), "checkpoint_sha256": sha256_of_file(ckpt / "generator.safetensors"),
                  "ema": "generator_ema" if ema is not False and (ckpt / "generator_ema.safetensors").exists()
                  else "generator"}
    else:
        if data is None:
            what = f"--weights {weights}" if weights else "the bundled painter"
            raise UserError(f"{what} has no run to find its paintings in; pass --data PAINTINGS (a folder, or "
                            "Kaggle's gan-getting-started.zip) to check for near-copies")
        ckpt = None
        generator = require_painter(pick_generator(None, None, weights, ema, device))
        file = Path(weights) if weights else weights_dir() / f"{BUNDLED_NAME}.safetensors"
        source = {"weights": str(file), "weights_sha256": sha256_of_file(file)}
    resolution = generator.resolution
    reals = _training_images(ckpt, data, resolution)
    who = f"checkpoint {ckpt}" if ckpt is not None else "this generator"
    started = time.perf_counter()

    # Paint, then re-draw near-copies from seeds beyond the requested range until none remain.
    seeds = list(range(seed, seed + num))
    next_seed = seed + num
    images = np.empty((num, resolution, resolution, 3), np.uint8)
    todo = np.arange(num)
    replaced: list[int] = []
    bar = tqdm(total=num, desc="painting", unit="img", disable=not show_progress, leave=False)
    for round_ in range(20):
        for i in range(0, len(todo), 1024):
            block = todo[i : i + 1024]
            images[block] = generate(generator, latents_for_seeds([seeds[j] for j in block], generator.latent_dim),
                                     batch_size=batch_size)
            bar.update(len(block))
        copies = todo[nearest_pixel_l2(images[todo], reals)[0] < near_copy_rms]
        if len(copies) == 0:
            break
        if round_ == 0 and len(copies) > MAX_COPY_FRACTION * num:
            raise UserError(f"{who}: {len(copies) / num:.0%} of the paintings lie within RMS {near_copy_rms} "
                            "of a training image; the generator copies (or has collapsed), so the export is refused: "
                            "use another checkpoint or train further")
        for j in copies:
            replaced.append(seeds[j])
            seeds[j], next_seed = next_seed, next_seed + 1
        todo = copies
        bar.total += len(copies)
    else:
        raise UserError(f"{who} keeps painting copies of training images after 20 re-draws; export refused")
    bar.close()

    write_submission_zip(out_path, images, quality, show_progress)
    upsampled = resolution if resolution != KAGGLE_SIZE else None
    manifest = {
        "zip": out_path.name,
        "num_images": num,
        "image_size": [KAGGLE_SIZE, KAGGLE_SIZE],
        "format": f"JPEG quality {quality}, 4:2:0 colour, RGB",
        **source,
        "generator_resolution": resolution,
        "upsampling": f"Lanczos from {resolution}x{resolution} to {KAGGLE_SIZE}x{KAGGLE_SIZE}" if upsampled else None,
        "seeds": seeds,
        "near_copy_check": {"metric": "RMS pixel distance to the nearest training image at the generator's resolution",
                            "threshold": near_copy_rms, "training_images": len(reals), "replaced_seeds": replaced},
        "metrics": metrics if metrics is not None else _recorded_metrics(ckpt) if ckpt is not None else {},
        "seconds": round(time.perf_counter() - started, 1),
    }
    manifest_path = write_manifest(out_path, manifest)
    return ExportResult(out_path, manifest_path, num, replaced, upsampled)


def submission_path(out: str | os.PathLike) -> Path:
    """--out checked and resolved: a .zip name (not a folder), its folder resolved as the OS would."""
    # The folder is resolved (`..`, symlinks) without creating stray folders on the way; the zip
    # itself is not followed: a symlink at --out is replaced by the new file, never written through.
    try:
        out_path = Path(out).parent.resolve() / Path(out).name
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python < 3.13)
        raise UserError(f"--out {out}: cannot resolve its folder ({exc})") from None
    if out_path.suffix.lower() != ".zip":
        raise UserError(f"--out {out_path}: the submission is a zip file; give a name ending in .zip")
    if out_path.is_dir():
        raise UserError(f"--out {out_path} is a folder; give the zip file's name, e.g. {out_path / 'images.zip'}")
    return out_path


def write_submission_zip(out_path: Path, images: np.ndarray, quality: int, show_progress: bool) -> None:
    """The zip of `images` as 256x256 JPEGs named 00000.jpg ... (upsampled with Lanczos when smaller).

    Only the zip and manifest.json are ever written, each through a hidden temporary file in the
    same folder that is renamed into place (or deleted on failure)."""
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(out_path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for i in tqdm(range(0, len(images), 256), desc="writing JPEGs", unit="batch", disable=not show_progress,
                          leave=False):
                for k, image in enumerate(resize_square(images[i : i + 256], KAGGLE_SIZE)):
                    archive.writestr(f"{i + k:05d}.jpg", encode_jpeg(image, quality))  # flat names: Kaggle wants no folders
    except OSError as exc:
        raise _write_error(out_path, exc) from None


def write_manifest(out_path: Path, manifest: dict) -> Path:
    manifest_path = out_path.with_name("manifest.json")
    try:
        atomic_write_text(manifest_path, json.dumps(manifest, indent=1) + "\n")
    except OSError as exc:
        raise _write_error(manifest_path, exc) from None
    return manifest_path


def validate_submission(zip_path: str | os.PathLike) -> int:
    """Check a zip as Kaggle's competition expects it; the number of images, or `UserError` saying what is wrong.

    7,000-10,000 members, each a flat-named .jpg that decodes to 256x256 RGB, no duplicate names."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            if len(names) != len(set(names)):
                raise UserError(f"{zip_path}: duplicate file names inside")
            if not KAGGLE_MIN <= len(names) <= KAGGLE_MAX:
                raise UserError(f"{zip_path}: {len(names):,} images; Kaggle accepts {KAGGLE_MIN:,} to {KAGGLE_MAX:,}")
            for name in names:
                if "/" in name or not name.lower().endswith(".jpg"):
                    raise UserError(f"{zip_path}: {name} is not a flat .jpg name")
                with Image.open(io.BytesIO(archive.read(name))) as img:
                    if img.format != "JPEG" or img.mode != "RGB" or img.size != (KAGGLE_SIZE, KAGGLE_SIZE):
                        raise UserError(f"{zip_path}: {name} is {img.format} {img.mode} {img.size}, "
                                        f"not a {KAGGLE_SIZE}x{KAGGLE_SIZE} RGB JPEG")
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(f"{zip_path}: not a readable zip ({exc})") from None
    return len(names)


def _write_error(path: Path, exc: OSError) -> UserError:
    reason = "the disk is full" if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)) else exc.strerror
    return UserError(f"--out {path}: cannot write it ({reason or exc}); nothing half-written was left behind: "
                     "free space or choose another --out, and rerun")
