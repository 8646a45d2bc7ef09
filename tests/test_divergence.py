"""NaN/Inf during training: caught in the step it appears, rolled back to the last good checkpoint
with halved learning rates, never written into a checkpoint, and a clear stop when it keeps happening."""

import json

import pytest
import torch
from safetensors.torch import load_file

import monetgan
from monetgan.nets import trainable_parameters
from monetgan.training import loop as trainer

from conftest import TINY

ARGS = dict(checkpoint_every=2, sample_every=100, show_progress=False, tensorboard=False, lr_generator=1e-4, lr_critic=1e-4,
            **TINY)


def poison_at(monkeypatch, steps):
    """Make the generator step that produces step s (for s in `steps`, once each) leave NaN in the critic."""
    real_step, left = trainer.train_step, set(steps)

    def step(state):
        metrics = real_step(state)
        if state.step in left:
            left.discard(state.step)
            with torch.no_grad():
                trainable_parameters(state.critic)[0].fill_(float("nan"))  # as a bad update would
        return metrics

    monkeypatch.setattr(trainer, "train_step", step)


def all_checkpoint_tensors_finite(run):
    for ckpt in (run / "checkpoints").iterdir():
        for f in ckpt.glob("*.safetensors"):
            for name, t in load_file(str(f)).items():
                if t.is_floating_point() and not torch.isfinite(t).all():
                    return f"{f}:{name}"
    return None


def test_divergence_rolls_back_halves_the_learning_rates_and_finishes(paintings, tmp_path, monkeypatch):
    run = tmp_path / "run"
    poison_at(monkeypatch, {5})
    result = monetgan.train(paintings, run, steps=8, **ARGS)
    assert result.step == 8
    assert all_checkpoint_tensors_finite(run) is None
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    events = [line for line in lines if line.get("event") == "rollback"]
    assert len(events) == 1 and events[0]["step"] == 4 and events[0]["diverged_at"] == 5
    assert "critic weights" in events[0]["bad"]
    # the log reads as if the diverged step never ran: one training line per step, 1..8
    assert [line["step"] for line in lines if "event" not in line] == list(range(1, 9))
    state = json.loads((run / "checkpoints" / "step-000008" / "state.json").read_text())
    assert state["rollbacks"] == 1
    lrs = json.dumps(state["optimizers"])
    assert "5e-05" in lrs  # wgan-gp's 1e-4, halved once


def test_divergence_is_caught_in_its_own_step_before_a_checkpoint(paintings, tmp_path, monkeypatch):
    run = tmp_path / "run"
    poison_at(monkeypatch, {4})  # step 4 is a checkpoint step: it must not be written with NaN
    monetgan.train(paintings, run, steps=4, **ARGS)
    assert all_checkpoint_tensors_finite(run) is None
    events = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if '"rollback"' in x]
    assert events[0]["step"] == 2 and events[0]["diverged_at"] == 4


def test_repeated_divergence_stops_with_one_clear_line(paintings, tmp_path, monkeypatch):
    run = tmp_path / "run"
    poison_at(monkeypatch, {3})
    monkeypatch.setattr(trainer, "MAX_ROLLBACKS", 0)
    with pytest.raises(monetgan.UserError, match=r"diverged at step 3 .*last good checkpoint .*step-000002"):
        monetgan.train(paintings, run, steps=8, **ARGS)
    assert all_checkpoint_tensors_finite(run) is None


def test_divergence_before_any_checkpoint_says_so(paintings, tmp_path, monkeypatch):
    poison_at(monkeypatch, {1})
    with pytest.raises(monetgan.UserError, match="before any checkpoint"):
        monetgan.train(paintings, tmp_path / "run", steps=3, **ARGS)
