"""Turn a run's sample grids (RUN_DIR/frames/step-NNNNNN.png) into a captioned GIF or MP4 timelapse.

Every frame shows the same fixed latent vectors, so playing them in step order shows the
generator learning. Each frame gets a caption strip *above* the grid (never over the samples)
saying which generator step it is.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from monetgan.errors import UserError
from .animation import check_animation_args, write_animation

# The trainer zero-pads steps to at least 6 digits; longer runs simply get more digits.
_FRAME_NAME = re.compile(r"^step-(\d{6,})\.png$")

# Sample grids of 32 px tiles are tiny on screen; by default upscale until at least this wide.
_TARGET_WIDTH = 512

_CAPTION_BACKGROUND = (24, 24, 24)
_CAPTION_TEXT = (235, 235, 235)



def list_frames(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """Return `(step, path)` for every `frames/step-NNNNNN.png` in `run_dir`, sorted numerically by step.

    A missing `frames` folder gives an empty list; a missing `run_dir` is a `UserError`.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(f"{run}: run folder not found; pass the folder that `monetgan train` wrote")
    frames_dir = run / "frames"
    if not frames_dir.is_dir():
        return []
    found = []
    for path in frames_dir.iterdir():
        match = _FRAME_NAME.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    # Sort on the integer: a string sort would put step-1000000 before step-200000.
    found.sort(key=lambda item: item[0])
    return found


def _default_scale(width: int) -> int:
    """Smallest integer factor that makes a frame at least `_TARGET_WIDTH` px wide (never below 1)."""
    return max(1, math.ceil(_TARGET_WIDTH / max(1, width)))


def _load_frame(path: Path, size: tuple[int, int] | None) -> Image.Image:
    """Read one frame as RGB; resize to `size` if a frame disagrees with the first one."""
    try:
        with Image.open(path) as img:
            frame = img.convert("RGB")
    except (OSError, ValueError, SyntaxError) as exc:
        raise UserError(f"{path}: not a readable PNG ({exc.__class__.__name__}); delete it and run again") from None
    if size is not None and frame.size != size:
        # Frames of one run should match; if not (e.g. hand-edited folder), keep the video consistent.
        frame = frame.resize(size, Image.Resampling.NEAREST)
    return frame


def _caption_font(width: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font, sized relative to the frame so captions stay readable at any scale."""
    return ImageFont.load_default(size=max(12, width // 24))


def _captioned(frame: Image.Image, step: int, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> Image.Image:
    """Return a new image: a dark strip reading `step 1,200` stacked above `frame`."""
    text = f"step {step:,}"
    # Measure a fixed string so every frame gets the same strip height whatever its digits.
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), "step 0,123,456,789", font=font)
    pad = max(4, (bottom - top) // 3)
    strip_height = (bottom - top) + 2 * pad
    canvas = Image.new("RGB", (frame.width, frame.height + strip_height), _CAPTION_BACKGROUND)
    canvas.paste(frame, (0, strip_height))
    draw = ImageDraw.Draw(canvas)
    t_left, t_top, t_right, _ = draw.textbbox((0, 0), text, font=font)
    x = max(pad, (frame.width - (t_right - t_left)) // 2 - t_left)
    draw.text((x, pad - top), text, font=font, fill=_CAPTION_TEXT)
    return canvas


def _rendered_frames(frames: list[tuple[int, Path]], scale: int | None) -> Iterator[Image.Image]:
    """Yield each frame scaled (nearest neighbour, so pixels stay crisp) and captioned, one at a time."""
    size: tuple[int, int] | None = None
    font = None
    factor = 1
    for step, path in frames:
        frame = _load_frame(path, size)
        if size is None:
            size = frame.size
            factor = scale if scale is not None else _default_scale(frame.width)
            font = _caption_font(frame.width * factor)
        if factor > 1:
            frame = frame.resize((frame.width * factor, frame.height * factor), Image.Resampling.NEAREST)
        assert font is not None
        yield _captioned(frame, step, font)


def timelapse(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    fps: float = 8.0,
    hold_last: float = 2.0,
    scale: int | None = None,
) -> Path:
    """Render `run_dir/frames/*.png` in step order to `out` (.gif or .mp4) and return its path.

    `fps` frames per second; the last frame is shown for an extra `hold_last` seconds (MP4: it is
    repeated `round(hold_last * fps)` more times). `scale` is an integer nearest-neighbour factor;
    `None` picks the smallest one that makes frames at least 512 px wide. The file is written to a
    temporary name beside `out` and renamed into place, so an interrupted run never leaves half a file.
    """
    out_path = Path(out)
    check_animation_args(out_path, fps, hold_last, scale)
    frames = list_frames(run_dir)
    if not frames:
        raise UserError(
            f"{run_dir}: no frames in {Path(run_dir) / 'frames'}; train for at least one sample_every interval first"
        )
    return write_animation(_rendered_frames(frames, scale), len(frames), out_path, fps, hold_last)
