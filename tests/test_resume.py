"""Resume is exact: N steps straight, or k steps then a resume to N, give byte-identical files."""

import hashlib
import os
import subprocess
import sys

import pytest

import monetgan
from monetgan.training.checkpoint import latest_checkpoint

from conftest import TINY


def digests(checkpoint):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(checkpoint.glob("*.safetensors"))}


@pytest.mark.parametrize("loss", ["wgan-gp", "wgan"])
def test_resume_is_byte_identical(paintings, tmp_path, loss):
    settings = dict(TINY, loss=loss, steps=6, checkpoint_every=2, sample_every=3)
    straight = monetgan.train(paintings, tmp_path / "straight", show_progress=False, tensorboard=False, **settings)
    monetgan.train(paintings, tmp_path / "split", show_progress=False, tensorboard=False, **{**settings, "steps": 3})
    resumed = monetgan.train(paintings, tmp_path / "split", show_progress=False, tensorboard=False, steps=6)
    assert straight.step == resumed.step == 6
    a, b = digests(straight.checkpoint), digests(resumed.checkpoint)
    assert set(a) == {"critic.safetensors", "generator.safetensors", "generator_ema.safetensors",
                      "optimizers.safetensors", "rng.safetensors"}
    assert a == b
    # The log reads as if never interrupted: one line per step, same values.
    log_a = (tmp_path / "straight" / "log.jsonl").read_text().splitlines()
    log_b = (tmp_path / "split" / "log.jsonl").read_text().splitlines()
    strip = lambda lines: [{k: v for k, v in __import__("json").loads(l).items()
                            if k not in ("wall_time", "cpu_time", "seconds_per_step", "images_per_second")} for l in lines]
    assert strip(log_a) == strip(log_b)
    assert len(log_a) == 6


def test_resume_from_an_earlier_checkpoint_after_a_kill(paintings, tmp_path):
    """A run killed after its step-4 checkpoint but before step 6 resumes from step 4 and ends identical."""
    settings = dict(TINY, steps=6, checkpoint_every=2)
    straight = monetgan.train(paintings, tmp_path / "a", show_progress=False, tensorboard=False, **settings)
    monetgan.train(paintings, tmp_path / "b", show_progress=False, tensorboard=False, **settings)
    # Simulate the kill: the last checkpoint never made it, and the log has lines past step 4.
    import shutil

    shutil.rmtree(latest_checkpoint(tmp_path / "b"))
    assert latest_checkpoint(tmp_path / "b").name == "step-000004"
    resumed = monetgan.train(paintings, tmp_path / "b", show_progress=False, tensorboard=False)
    assert digests(straight.checkpoint) == digests(resumed.checkpoint)


def test_resume_with_different_images_is_refused(paintings, tmp_path):
    from conftest import write_paintings
    from monetgan.errors import UserError

    monetgan.train(paintings, tmp_path / "run", show_progress=False, tensorboard=False, **dict(TINY, steps=1))
    other = tmp_path / "other"
    write_paintings(other, seed=5)
    with pytest.raises(UserError, match="differs from the images"):
        monetgan.train(other, tmp_path / "run", show_progress=False, tensorboard=False, steps=2)


def test_import_asks_mkl_for_reproducible_products_and_keeps_a_users_choice():
    """Without MKL's strict CNR mode a resumed multi-threaded run drifted by ~1e-6 on AVX-512/AMX CPUs."""
    show = [sys.executable, "-c", "import os, monetgan; print(os.environ['MKL_CBWR'])"]
    env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}
    assert subprocess.run(show, env=env, capture_output=True, text=True, check=True).stdout.strip() == "AUTO,STRICT"
    mine = subprocess.run(show, env={**env, "MKL_CBWR": "COMPATIBLE"}, capture_output=True, text=True, check=True)
    assert mine.stdout.strip() == "COMPATIBLE"
