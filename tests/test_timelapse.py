"""Tests for monetgan.painting.timelapse: frame discovery, captioned GIF/MP4 output, and user errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from monetgan.errors import UserError
from monetgan.painting.timelapse import list_frames, timelapse

# Distinct, saturated colours that survive GIF palette quantization and H.264 well.
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 220), (230, 210, 30), (200, 40, 200)]
STEPS = [200, 400, 1000, 20_000, 1_000_000]


def make_run(root: Path, size: tuple[int, int] = (35, 35), steps: list[int] = STEPS) -> Path:
    """A run folder with one solid-colour frame per step (odd-sized by default, like real grids can be)."""
    frames = root / "run" / "frames"
    frames.mkdir(parents=True)
    for step, colour in zip(steps, COLOURS):
        arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        arr[:] = colour
        Image.fromarray(arr, "RGB").save(frames / f"step-{step:06d}.png")
    return root / "run"


def test_list_frames_sorts_numerically_and_ignores_other_files(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    # step-1000000 sorts before step-200000 as a string; numerically it is last.
    for name in ["step-1000000.png", "step-200000.png", "step-001000.png", "step-000200.png", "step-000010.png"]:
        Image.new("RGB", (4, 4)).save(frames / name)
    (frames / "notes.txt").write_text("x")
    (frames / "step-12.png").write_bytes(b"")  # too few digits: not a trainer frame
    (frames / "step-000300.png.tmp").write_bytes(b"")
    result = list_frames(tmp_path)
    assert [step for step, _ in result] == [10, 200, 1000, 200_000, 1_000_000]
    assert result[-1][1].name == "step-1000000.png"


def test_list_frames_missing_frames_folder_is_empty(tmp_path: Path) -> None:
    assert list_frames(tmp_path) == []


def test_gif_has_one_captioned_frame_per_input_in_order(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    out = timelapse(run, tmp_path / "sub" / "t.gif", fps=10, hold_last=1.5)
    assert out == tmp_path / "sub" / "t.gif" and out.is_file()
    with Image.open(out) as gif:
        frames = [(frame.convert("RGB").copy(), frame.info.get("duration")) for frame in ImageSequence.Iterator(gif)]
    assert len(frames) == len(STEPS)
    first, first_ms = frames[0]
    _, last_ms = frames[-1]
    # Default scale makes a 35 px frame at least 512 px wide; the caption strip adds height only.
    assert first.width >= 512 and first.width % 35 == 0
    assert first.height > first.width
    strip = first.height - first.width
    # Every frame's image region shows its own input colour, in step order (palette error allowed).
    for (img, _), colour in zip(frames, COLOURS):
        pixel = img.getpixel((img.width // 2, strip + img.width // 2))
        assert np.abs(np.array(pixel) - np.array(colour)).max() <= 12, (pixel, colour)
        # The strip above is dark caption background, not the image.
        bg = img.getpixel((1, 1))
        assert max(bg) < 60
    # The caption contains light text pixels somewhere in the strip.
    strip_arr = np.asarray(first)[:strip]
    assert strip_arr.max() > 180
    assert first_ms == 100
    assert last_ms == 100 + 1500


def test_gif_captions_differ_between_frames(tmp_path: Path) -> None:
    # Same colour everywhere: only the caption ("step 200" vs "step 1,000,000") can tell frames apart.
    run = make_run(tmp_path, size=(20, 20), steps=[200, 1_000_000])
    for path in (run / "frames").iterdir():
        Image.new("RGB", (20, 20), (90, 90, 90)).save(path)
    out = timelapse(run, tmp_path / "t.gif", scale=3)
    with Image.open(out) as gif:
        frames = [np.asarray(frame.convert("RGB")).copy() for frame in ImageSequence.Iterator(gif)]
    assert len(frames) == 2
    assert frames[0].shape[1] == 60  # explicit scale honoured
    assert not np.array_equal(frames[0], frames[1])


def test_mp4_frame_count_includes_held_repeats_and_dims_are_even(tmp_path: Path) -> None:
    import imageio.v2 as imageio

    run = make_run(tmp_path)
    fps, hold = 4.0, 1.0
    out = timelapse(run, tmp_path / "t.MP4", fps=fps, hold_last=hold, scale=5)
    assert out.is_file() and out.stat().st_size > 0
    reader = imageio.get_reader(str(out), format="FFMPEG")
    try:
        frames = [frame for frame in reader]
    finally:
        reader.close()
    assert len(frames) == len(STEPS) + round(hold * fps)
    height, width = frames[0].shape[:2]
    assert width % 2 == 0 and height % 2 == 0
    assert width == 35 * 5 + 1  # 175 padded to 176
    # Colour of the last frame's image area survives H.264 (loosely: chroma subsampling, quantization).
    last = frames[-1].astype(int)
    centre = last[height - 175 // 2, width // 2]
    assert np.abs(centre - np.array(COLOURS[-1])).max() <= 30, centre
    # No temp files left beside the output.
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_bad_suffix_is_user_error(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    with pytest.raises(UserError, match="--out"):
        timelapse(run, tmp_path / "t.avi")
    with pytest.raises(UserError, match="--out"):
        timelapse(run, tmp_path / "t")
    assert not (tmp_path / "t.avi").exists()


def test_no_frames_is_user_error(tmp_path: Path) -> None:
    (tmp_path / "run" / "frames").mkdir(parents=True)
    with pytest.raises(UserError, match="no frames"):
        timelapse(tmp_path / "run", tmp_path / "t.gif")
    (tmp_path / "run2").mkdir()
    with pytest.raises(UserError, match="no frames"):
        timelapse(tmp_path / "run2", tmp_path / "t.gif")
    assert not (tmp_path / "t.gif").exists()


def test_missing_run_dir_is_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        timelapse(tmp_path / "nope", tmp_path / "t.gif")


@pytest.mark.parametrize("kwargs", [{"fps": 0}, {"hold_last": -1}, {"scale": 0}])
def test_bad_options_are_user_errors(tmp_path: Path, kwargs: dict) -> None:
    run = make_run(tmp_path)
    with pytest.raises(UserError):
        timelapse(run, tmp_path / "t.gif", **kwargs)


def test_user_error_messages_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        timelapse(tmp_path / "nope", tmp_path / "t.gif")
    assert "\n" not in str(info.value)
