"""Shared fixtures: small generated image folders and a tiny training config, so tests run in seconds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Tiny networks: every test run of train() uses these unless it says otherwise.
TINY = dict(resolution=32, generator_channels=8, critic_channels=8, max_channels=32, latent_dim=16,
            batch_size=8, min_images=4, num_frame_samples=4, precision="fp32", log_every=1, keep_checkpoints=0)
# A tiny CUT run: 32-px crops of 48-px images, a narrow translator, the pixel critic (fast).
CUT_TINY = dict(TINY, crop_from=48, batch_size=4, translator_blocks=2, nce_patches=16, critic="pixel",
                photo_holdout_percent=20, num_frame_samples=4)


def one_thread_env() -> dict[str, str]:
    """The environment for a monetgan subprocess on one thread: the machine's cores are shared by
    parallel tests, and one thread is also what keeps a killed-and-resumed run byte-exact."""
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def write_paintings(folder: Path, count: int = 12, size: tuple[int, int] = (48, 40), seed: int = 0) -> list[Path]:
    """Smooth random colour fields (not noise), saved as JPEG and PNG alternately."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        w, h = size
        yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
        base = rng.uniform(0, 255, size=(3,))
        slope = rng.uniform(-200, 200, size=(3, 2))
        img = np.stack([base[c] + slope[c, 0] * xx + slope[c, 1] * yy for c in range(3)], -1)
        path = folder / (f"p{i:03d}.jpg" if i % 2 == 0 else f"p{i:03d}.png")
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def tiny_state(paintings: Path, **overrides):
    """A CPU TrainingState on the TINY wgan-gp config (plus overrides) over a paintings folder."""
    import torch

    from monetgan.config import build_config
    from monetgan.data.dataset import load_dataset
    from monetgan.training.step import build_state

    cfg = build_config("wgan-gp-64", {**TINY, **overrides})
    images = load_dataset(paintings, cfg.resolution, show_progress=False).images
    return build_state(cfg, images, torch.device("cpu"))


@pytest.fixture
def paintings(tmp_path: Path) -> Path:
    folder = tmp_path / "paintings"
    write_paintings(folder)
    return folder


@pytest.fixture
def monet_data() -> Path:
    """The shared Kaggle Monet folder (MONETGAN_DATA overrides); tests needing it skip loudly if absent."""
    path = Path(os.environ.get("MONETGAN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "monet_jpg"))
    if not path.is_dir():
        pytest.skip(f"Monet data not found at {path}; set MONETGAN_DATA")
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished 3-step run with tiny nets (checkpoints at steps 2 and 3, a frame every step)."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("tiny_run")
    write_paintings(root / "data")
    run = root / "run"
    set_items = [f"{k}={v}" for k, v in TINY.items()] + ["checkpoint_every=2", "sample_every=1", "gp_every=1"]
    result = subprocess.run([sys.executable, "-m", "monetgan", "train", "--data", str(root / "data"), "--run", str(run),
                             "--steps", "3", "--set", *set_items], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return run, result


@pytest.fixture(scope="session")
def cut_run(tmp_path_factory):
    """A finished 2-step photo -> painting run (CUT_TINY): (root, TrainResult); root holds
    paintings/, photos/ and run/."""
    import monetgan

    root = tmp_path_factory.mktemp("cut")
    write_paintings(root / "paintings", count=12)
    write_paintings(root / "photos", count=20, seed=3)
    result = monetgan.train(root / "paintings", root / "run", preset="cut-128", photos=root / "photos",
                            show_progress=False, tensorboard=False, **dict(CUT_TINY, steps=2, checkpoint_every=2))
    return root, result
