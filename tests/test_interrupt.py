"""Ctrl-C during training finishes the step, writes a checkpoint, and the run resumes from there."""

import json
import signal
import subprocess
import sys
import time

from monetgan.training.checkpoint import latest_checkpoint

from conftest import TINY


def start_endless_training(paintings, run):
    """A tiny `monetgan train` that would run for ages, checkpointing only when stopped."""
    set_items = [f"{k}={v}" for k, v in TINY.items()] + ["checkpoint_every=100000", "sample_every=100000"]
    return subprocess.Popen([sys.executable, "-m", "monetgan", "train", "--data", str(paintings), "--run", str(run),
                             "--steps", "100000", "--quiet", "--set", *set_items],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_log_lines(run, count, timeout=120.0):
    log = run / "log.jsonl"
    deadline = time.time() + timeout
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < count):
        time.sleep(0.2)


def test_sigint_checkpoints_then_resume_finishes(paintings, tmp_path):
    run = tmp_path / "run"
    proc = start_endless_training(paintings, run)
    wait_for_log_lines(run, 3)
    log = run / "log.jsonl"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    ckpt = latest_checkpoint(run)
    assert ckpt is not None, "Ctrl-C must write a checkpoint even between checkpoint_every intervals"
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert json.loads((ckpt / "state.json").read_text())["step"] == steps[-1] >= 3
    # Resume from there and finish a couple more steps.
    done = subprocess.run([sys.executable, "-m", "monetgan", "train", "--run", str(run), "--quiet",
                           "--steps", str(steps[-1] + 2)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert latest_checkpoint(run).name == f"step-{steps[-1] + 2:06d}"


def test_second_train_on_the_same_run_is_refused(paintings, tmp_path):
    run = tmp_path / "run"
    first = start_endless_training(paintings, run)
    try:
        wait_for_log_lines(run, 1)
        second = subprocess.run([sys.executable, "-m", "monetgan", "train", "--run", str(run), "--quiet"],
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert "in use by another monetgan train" in second.stderr and second.stderr.count("\n") == 1
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert first.returncode == 130  # the first run was not disturbed and stopped cleanly
