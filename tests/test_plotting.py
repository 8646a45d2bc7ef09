"""Tests for monetgan.reports.plotting: log reading, EMA smoothing, and the training-curves PNG."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monetgan.errors import UserError
from monetgan.reports.plotting import ema, plot, read_log

N_STEPS = 50


def make_log(run: Path, gradient_penalty: bool = True, shuffle: bool = False) -> None:
    """Write N_STEPS synthetic log lines plus a truncated last line, like a killed trainer leaves."""
    run.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    records = []
    for step in range(1, N_STEPS + 1):
        record = {
            "step": step,
            "wall_time": step * 0.5,
            "wasserstein_estimate": 5.0 * math.exp(-step / 20) + float(rng.normal(0, 0.2)),
            "critic_loss": -3.0 + float(rng.normal(0, 0.3)),
            "generator_loss": 2.0 + float(rng.normal(0, 0.3)),
            "critic_grad_norm": 1.0 + abs(float(rng.normal(0, 0.5))),
            "generator_grad_norm": 0.5 + abs(float(rng.normal(0, 0.2))),
            "images_per_second": 900.0 + float(rng.normal(0, 20)),
            "critic_real": 1.0 + float(rng.normal(0, 0.1)),
            "critic_fake": -1.0 + float(rng.normal(0, 0.1)),
            "n_critic": 5,
        }
        if gradient_penalty:
            record["gradient_penalty"] = 0.1 + abs(float(rng.normal(0, 0.05)))
            record["penalty_grad_norm"] = 1.0 + float(rng.normal(0, 0.1))
        records.append(record)
    if shuffle:
        records = records[::-1]
    lines = [json.dumps(r) for r in records]
    lines.append('{"step": 51, "wall_time": 25.5, "wasserstein_esti')  # truncated mid-write
    (run / "log.jsonl").write_text("\n".join(lines))
    loss = "wgan-gp" if gradient_penalty else "wgan"
    (run / "config.json").write_text(json.dumps({"loss": loss, "resolution": 64}))


def png_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB")).copy()


def ink(pixels: np.ndarray) -> int:
    """Number of clearly non-white pixels: a rough measure of how much is drawn in a region."""
    return int((pixels.min(axis=-1) < 200).sum())


def test_read_log_skips_truncated_line_and_sorts(tmp_path: Path) -> None:
    make_log(tmp_path / "run", shuffle=True)
    records = read_log(tmp_path / "run")
    assert len(records) == N_STEPS
    assert [r["step"] for r in records] == list(range(1, N_STEPS + 1))
    assert records[0]["n_critic"] == 5


def test_read_log_skips_garbage_and_blank_lines(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.jsonl").write_text('{"step": 3, "x": 1}\n\nnot json\n[1, 2]\n{"x": 2}\n{"step": 1, "x": 3}\n')
    assert [r["step"] for r in read_log(run)] == [1, 3]


def test_read_log_missing_file_is_user_error(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(UserError, match="log.jsonl"):
        read_log(tmp_path / "run")
    with pytest.raises(UserError):
        read_log(tmp_path / "missing")


def test_ema_is_bias_corrected() -> None:
    # A constant series stays constant (no warm-up from zero), and smoothing=0 returns the input.
    assert ema([4.0, 4.0, 4.0], 0.9) == pytest.approx([4.0, 4.0, 4.0])
    assert ema([1.0, 5.0, 2.0], 0.0) == pytest.approx([1.0, 5.0, 2.0])
    smoothed = ema([0.0, 10.0], 0.5)
    assert smoothed[0] == pytest.approx(0.0)
    assert smoothed[1] == pytest.approx((0.5 * 0.0 * 0.5 + 0.5 * 10.0) / (1 - 0.25))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """One wgan-gp run plotted once (plots take ~1 s) and shared by the comparison tests."""
    root = tmp_path_factory.mktemp("baseline")
    make_log(root / "run")
    out = plot(root / "run", root / "plots" / "curves.png")
    assert out == root / "plots" / "curves.png"
    assert [p.name for p in out.parent.iterdir()] == ["curves.png"]  # no temp file left
    return root / "run", png_pixels(out)


def test_plot_writes_png(baseline: tuple[Path, np.ndarray]) -> None:
    _, pixels = baseline
    height, width = pixels.shape[:2]
    assert 800 <= width <= 3000 and 500 <= height <= 2000
    assert pixels.std() > 5  # not a blank canvas


def test_plot_without_gradient_penalty(tmp_path: Path, baseline: tuple[Path, np.ndarray]) -> None:
    _, with_gp = baseline
    make_log(tmp_path / "clip", gradient_penalty=False)
    (tmp_path / "clip" / "config.json").write_text("{broken")  # config only feeds the title: ignored
    without = png_pixels(plot(tmp_path / "clip", tmp_path / "clip.png"))
    assert with_gp.shape == without.shape
    # The top-right (gradient penalty) panel holds curves for wgan-gp but only a note without it.
    top_right = (slice(int(0.1 * len(with_gp)), len(with_gp) // 2), slice(2 * with_gp.shape[1] // 3, None))
    assert ink(without[top_right]) < 0.5 * ink(with_gp[top_right])


def test_plot_with_metrics_overlay_changes_image(tmp_path: Path, baseline: tuple[Path, np.ndarray]) -> None:
    _, before = baseline
    run = tmp_path / "run"
    make_log(run)
    (run / "metrics.jsonl").write_text(
        "\n".join(json.dumps({"step": s, "fid": 300.0 / s * 10, "kid": 0.5 / s * 10}) for s in (10, 20, 30, 40, 50))
        + '\n{"step": 60, "fi'
    )
    after = png_pixels(plot(run, tmp_path / "after.png"))
    assert before.shape == after.shape
    height, width = before.shape[:2]
    # The overlay lands on the Wasserstein (top-left) panel and leaves e.g. throughput untouched.
    assert not np.array_equal(before[: height // 2, : width // 3], after[: height // 2, : width // 3])
    assert np.array_equal(before[height // 2 :, 2 * width // 3 :], after[height // 2 :, 2 * width // 3 :])


def test_plot_missing_or_empty_log_is_user_error(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(UserError, match="log.jsonl"):
        plot(run, tmp_path / "x.png")
    (run / "log.jsonl").write_text('{"step": 1, "wasser')
    with pytest.raises(UserError, match="log.jsonl"):
        plot(run, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("out,smoothing,flag", [("x.jpg", 0.9, "--out"), ("x", 0.9, "--out"),
                                                 ("x.png", 1.0, "--smoothing"), ("x.png", -0.1, "--smoothing")])
def test_plot_bad_options_are_user_errors(tmp_path: Path, out: str, smoothing: float, flag: str) -> None:
    make_log(tmp_path / "run")
    with pytest.raises(UserError, match=flag):
        plot(tmp_path / "run", tmp_path / out, smoothing=smoothing)
