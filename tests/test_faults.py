"""Faults seen from the command line: a save that fails part-way, hostile pickles, weights that do not fit.

Each runs `python -m monetgan` in a subprocess, as a user would, and checks for one clear line on
stderr, exit status 2, and that nothing already on disk was lost or executed.
"""

import hashlib
import pickle
import shutil
import subprocess
import sys

import pytest
import torch
from conftest import TINY
from safetensors.torch import load_file, save_file

from monetgan.training.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint

resource = pytest.importorskip("resource")  # POSIX only: the file-size limit stands in for a full disk


def monetgan(*args, preexec_fn=None):
    return subprocess.run([sys.executable, "-m", "monetgan", *map(str, args)], check=False, capture_output=True,
                          text=True, timeout=300, preexec_fn=preexec_fn)


def assert_one_line_error(result, *needles):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def limit_file_size(max_bytes):
    """For the child process: writing a file past `max_bytes` fails with EFBIG, a real I/O error from the OS
    (Python ignores the SIGXFSZ that comes with it). Training's own small files stay below the limit; every
    checkpoint's tensor files are larger, so the save fails part-way, as it would on a full disk."""

    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return apply


def test_train_whose_checkpoint_cannot_be_written_stops_in_one_line_and_resumes(paintings, tmp_path):
    run = tmp_path / "run"
    command = ["train", "--data", paintings, "--run", run, "--quiet", "--set",
               *[f"{k}={v}" for k, v in TINY.items()], "checkpoint_every=1", "keep_checkpoints=1"]
    first = monetgan(*command, "--steps", 1)
    assert first.returncode == 0, first.stderr
    step1 = run / "checkpoints" / "step-000001"
    before = digests(step1)
    assert min((step1 / name).stat().st_size for name in before if name.endswith(".safetensors")) > 0

    # No monkeypatching: the OS itself refuses the write, inside safetensors, part-way through the checkpoint.
    failed = monetgan(*command, "--steps", 2, preexec_fn=limit_file_size(20_000))
    line = assert_one_line_error(failed, f"--run {run}", "cannot save checkpoint step-000002", "File too large",
                                 "the previous checkpoint step-000001 is intact", "rerun the same command")
    assert "disk is full" not in line  # EFBIG is not ENOSPC: the OS's own words are given
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-000001"]  # no temporary folder left
    assert digests(step1) == before and load_checkpoint(step1).step == 1

    again = monetgan(*command, "--steps", 2)  # "space freed": the same command resumes and finishes
    assert again.returncode == 0, again.stderr
    assert latest_checkpoint(run).name == "step-000002" and load_checkpoint(latest_checkpoint(run)).step == 2
    assert [p.name for p in list_checkpoints(run)] == ["step-000002"]  # retention ran only after a good save


# ----------------------------------------------------------------------------------------------
# Pickles are never unpickled
# ----------------------------------------------------------------------------------------------

def evil_pickle(marker):
    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))  # unpickling creates `marker`

    return pickle.dumps(Payload())


def _write(path, data):
    path.write_bytes(data)
    return path


def test_the_payload_is_live_when_unpickled(tmp_path):
    marker = tmp_path / "control"
    subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))",
                    str(_write(tmp_path / "control.pt", evil_pickle(marker)))], check=True)
    assert marker.exists()


@pytest.mark.parametrize("command", ["paint", "export-kaggle"])
def test_a_pickle_passed_as_checkpoint_is_refused_unopened(tmp_path, command):
    marker = tmp_path / "pwned"
    evil = _write(tmp_path / "model.pt", evil_pickle(marker))
    out = tmp_path / ("o" if command == "paint" else "o.zip")
    assert_one_line_error(monetgan(command, "--checkpoint", evil, "--out", out), str(evil), "pickle")
    assert not marker.exists()
    assert not out.exists()


def copy_checkpoint(tiny_run, tmp_path):
    run, _ = tiny_run
    ckpt = tmp_path / "step-000003"
    shutil.copytree(latest_checkpoint(run), ckpt)
    return ckpt


def test_pickles_planted_in_a_checkpoint_folder_are_never_unpickled(tiny_run, tmp_path):
    marker = tmp_path / "pwned"
    ckpt = copy_checkpoint(tiny_run, tmp_path)
    for name in ("generator.pt", "generator_ema.pth", "model.pkl", "critic.ckpt"):
        _write(ckpt / name, evil_pickle(marker))
    painted = monetgan("paint", "--checkpoint", ckpt, "--num", 1, "--out", tmp_path / "o")
    assert painted.returncode == 0, painted.stderr  # the safetensors are used; the pickles are ignored
    assert not marker.exists()
    _write(ckpt / "generator_ema.safetensors", evil_pickle(marker))  # a pickle under a safetensors name
    assert_one_line_error(monetgan("paint", "--checkpoint", ckpt, "--out", tmp_path / "o2"),
                          "generator_ema.safetensors", "damaged")
    assert not marker.exists()


# ----------------------------------------------------------------------------------------------
# Weights that do not fit their config
# ----------------------------------------------------------------------------------------------

def reshape_first(path):
    """Rewrite a safetensors file with its first tensor one row longer (same name, wrong shape)."""
    tensors = load_file(str(path))
    name = min(tensors)
    tensors[name] = torch.cat([tensors[name], tensors[name][:1]])
    save_file(tensors, str(path))


def test_generator_with_wrong_shapes_is_refused_by_paint(tiny_run, tmp_path):
    ckpt = copy_checkpoint(tiny_run, tmp_path)
    for stem in ("generator", "generator_ema"):
        reshape_first(ckpt / f"{stem}.safetensors")
    assert_one_line_error(monetgan("paint", "--checkpoint", ckpt, "--out", tmp_path / "o"),
                          str(ckpt), "do not match its config")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_critic_with_wrong_shapes_is_refused_on_resume(tiny_run, tmp_path):
    run, _ = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    latest = latest_checkpoint(copy)
    reshape_first(latest / "critic.safetensors")
    before = digests(latest)
    assert_one_line_error(monetgan("train", "--run", copy, "--steps", 5, "--quiet"),
                          str(latest), "does not fit this run's config")
    assert digests(latest) == before and latest_checkpoint(copy) == latest  # nothing written over it
