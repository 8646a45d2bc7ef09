"""The command line: user mistakes give one clear line and a non-zero exit, never a traceback."""

import json
import subprocess
import sys


from conftest import TINY

TINY_SET = [f"{k}={v}" for k, v in TINY.items() if k != "resolution"]


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "monetgan", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_data_path(tmp_path):
    assert_one_line_error(run_cli("train", "--data", tmp_path / "nope", "--run", tmp_path / "run"), "--data", "nope")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("train", "--data", tmp_path / "empty", "--run", tmp_path / "run"),
                          "--data", "no .jpg")


def test_unknown_preset(tmp_path, paintings):
    assert_one_line_error(run_cli("train", "--data", paintings, "--run", tmp_path / "run", "--preset", "wgan-gp-65"),
                          "unknown preset", "wgan-gp-64")


def test_unknown_set_key_and_bad_value(tmp_path, paintings):
    assert_one_line_error(run_cli("train", "--data", paintings, "--run", tmp_path / "r", "--set", "n_critc=3"),
                          "n_critc", "n_critic")
    assert_one_line_error(run_cli("train", "--data", paintings, "--run", tmp_path / "r", "--set", "batch_size=big"),
                          "batch_size")
    assert_one_line_error(run_cli("train", "--data", paintings, "--run", tmp_path / "r", "--set", "gp_weight=-1"),
                          "gp_weight")


def test_argparse_mistake_is_one_line(tmp_path):
    assert_one_line_error(run_cli("train", "--data", tmp_path), "--run")
    assert_one_line_error(run_cli("train", "--run", tmp_path / "r", "--loss", "lsgan"), "lsgan")


def test_dry_run_prints_resolved_config_and_writes_nothing(tmp_path):
    result = run_cli("train", "--data", tmp_path, "--run", tmp_path / "run", "--preset", "wgan-gp-64", "--loss", "wgan",
                     "--dry-run")
    assert result.returncode == 0, result.stderr
    cfg = json.loads(result.stdout)
    assert (cfg["loss"], cfg["optimizer"], cfg["lr_critic"], cfg["clip_value"]) == ("wgan", "rmsprop", 5e-5, 0.01)
    assert not (tmp_path / "run").exists()


def test_resume_rejects_contradicting_flag(tmp_path, paintings):
    run = tmp_path / "run"
    first = run_cli("train", "--data", paintings, "--run", run, "--steps", 1, "--quiet", "--set", *TINY_SET,
                    "resolution=32")
    assert first.returncode == 0, first.stderr
    assert_one_line_error(run_cli("train", "--run", run, "--loss", "wgan"), "loss", "wgan-gp", "--run")
    # Extending the run is not a contradiction; --data may be omitted on resume.
    more = run_cli("train", "--run", run, "--steps", 2, "--quiet")
    assert more.returncode == 0, more.stderr
    assert "step 2" in more.stdout


def test_paint_needs_a_run(tmp_path):
    assert_one_line_error(run_cli("paint", "--run", tmp_path / "nope", "--out", tmp_path / "o"), "--run")


def test_paint_refuses_pickles(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"\x80\x04K\x01.")
    assert_one_line_error(run_cli("paint", "--checkpoint", bad, "--out", tmp_path / "o"), "pickle")
