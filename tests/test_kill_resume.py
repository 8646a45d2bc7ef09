"""SIGKILL at random moments (checkpoint writes included), resume each time: nothing is lost or changed.

With checkpoint_every=1 every step is a resume point. The run uses the default preset, so the
projected critic (its frozen feature network and seeded projection) is what gets killed and resumed. The run is killed 10 times at random
moments after it has made progress; the final weights must equal an uninterrupted run's, byte for byte.

Every process runs on one thread. With two, on a Sapphire Rapids Xeon (AVX-512, AMX), a run killed
under heavy machine load drifted from the uninterrupted one by rounding (~1e-6), even with MKL's
strict reproducible mode (see monetgan/__init__.py); on one thread it never did. README says so.
"""

import hashlib
import json
import random
import signal
import subprocess
import sys
import time

from monetgan.training.checkpoint import latest_checkpoint

from conftest import TINY, one_thread_env

STEPS = 80  # the default projected recipe (n_critic 1) takes short steps
KILLS = 10


def train_command(paintings, run):
    set_items = [f"{k}={v}" for k, v in TINY.items()] + ["checkpoint_every=1", "sample_every=4", "log_every=1"]
    return [sys.executable, "-m", "monetgan", "train", "--data", str(paintings), "--run", str(run),
            "--steps", str(STEPS), "--quiet", "--set", *set_items]


def log_lines(run):
    path = run / "log.jsonl"
    return path.read_text().count("\n") if path.exists() else 0


def digests(checkpoint):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(checkpoint.glob("*.safetensors"))}


def test_random_sigkills_then_resume_give_identical_weights(paintings, tmp_path):
    straight = subprocess.run(train_command(paintings, tmp_path / "straight"), capture_output=True, text=True,
                              env=one_thread_env(), timeout=600)
    assert straight.returncode == 0, straight.stderr

    run, rng, kills, mid_save = tmp_path / "killed", random.Random(1234), 0, 0
    while kills < KILLS:
        before = log_lines(run)
        proc = subprocess.Popen(train_command(paintings, run), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                env=one_thread_env())
        deadline = time.time() + 120
        while proc.poll() is None and log_lines(run) <= before and time.time() < deadline:
            time.sleep(0.02)  # wait for progress, so every cycle moves the run forward
        time.sleep(rng.uniform(0.0, 0.25))  # then a random moment: mid-step, mid-save, mid-log line
        if proc.poll() is not None:
            break  # finished before we could kill it (should not happen with these settings)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        mid_save += any(p.name.startswith(".tmp-") for p in (run / "checkpoints").glob(".tmp-*"))
    assert kills == KILLS, "the run finished before it could be killed 10 times; raise STEPS"
    finish = subprocess.run(train_command(paintings, run), capture_output=True, text=True, env=one_thread_env(),
                            timeout=600)
    assert finish.returncode == 0, finish.stderr

    final = latest_checkpoint(run)
    assert final.name == f"step-{STEPS:06d}"
    assert digests(final) == digests(latest_checkpoint(tmp_path / "straight"))
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, STEPS + 1))  # the log reads as one uninterrupted run
    print(f"{kills} kills, {mid_save} during a checkpoint write, final weights byte-identical")
