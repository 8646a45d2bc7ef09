"""The data-efficient recipe as wired into training: DiffAugment in both steps, the lazy penalty,
the ResNet nets, the time limit, and each piece recorded in the run's config."""

import json

import pytest
import torch

import monetgan
from monetgan.training import losses
from monetgan.training import step as training
from monetgan.config import build_config
from monetgan.nets import build_critic, build_generator, count_parameters
from monetgan.training.step import critic_step, generator_step, train_step

from conftest import TINY, tiny_state


def record_augment_calls(monkeypatch):
    """Wrap training's diff_augment so each call's (batch id, policy) is recorded."""
    calls = []
    real_fn = training.diff_augment

    def spy(x, policy, generator, p=1.0, shard=None):
        calls.append((x.shape, policy))
        return real_fn(x, policy, generator, p, shard)

    monkeypatch.setattr(training, "diff_augment", spy)
    return calls


def test_diffaugment_hits_real_and_fake_in_critic_and_generator_steps(paintings, monkeypatch):
    state = tiny_state(paintings, diffaugment="color,translation,cutout")
    calls = record_augment_calls(monkeypatch)
    critic_step(state)
    # the critic step augments the real batch and the fake batch, with the same policy
    assert [policy for _, policy in calls] == ["color,translation,cutout"] * 2
    generator_step(state)
    assert len(calls) == 3 and calls[2][1] == "color,translation,cutout"


def test_diffaugment_off_means_no_augmentation_call(paintings, monkeypatch):
    state = tiny_state(paintings)
    calls = record_augment_calls(monkeypatch)
    train_step(state)
    assert calls == []


def test_diffaugment_changes_what_the_critic_sees(paintings):
    """Same seed, same everything: augmenting must change the critic's scores (it is wired in)."""
    plain, augmented = tiny_state(paintings), tiny_state(paintings, diffaugment="translation,cutout")
    a, b = critic_step(plain), critic_step(augmented)
    assert a["critic_real"] != b["critic_real"]


def test_lazy_penalty_weight_schedule():
    assert [losses.lazy_penalty_weight(i, 4, 10.0) for i in range(8)] == [40.0, 0, 0, 0, 40.0, 0, 0, 0]
    assert [losses.lazy_penalty_weight(i, 1, 10.0) for i in range(3)] == [10.0, 10.0, 10.0]


def test_lazy_penalty_has_the_dense_expectation_on_a_fixed_critic():
    """Over many critic steps on a fixed critic, the k-scaled penalty every k steps averages to the
    dense penalty, within Monte-Carlo error; a wrong scale (e.g. forgetting the factor k) fails."""
    torch.manual_seed(0)
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 16), torch.nn.Tanh(),
                                 torch.nn.Linear(16, 1))
    g = torch.Generator().manual_seed(1)
    every, steps = 4, 4000
    dense, lazy = [], []
    for i in range(steps):
        real, fake = torch.randn(8, 3, 4, 4, generator=g), torch.randn(8, 3, 4, 4, generator=g) * 0.5
        eps = torch.rand(8, generator=g)
        penalty = losses.gradient_penalty(critic, real, fake, eps, 1.0)[0].item()
        dense.append(penalty)
        lazy.append(penalty * losses.lazy_penalty_weight(i, every, 1.0))
    dense_t, lazy_t = torch.tensor(dense), torch.tensor(lazy)
    stderr = (lazy_t.std() / steps**0.5).item()
    assert abs(lazy_t.mean().item() - dense_t.mean().item()) < 4 * stderr
    assert abs(lazy_t.mean().item() / every - dense_t.mean().item()) > 4 * stderr  # unscaled would be wrong


def test_lazy_penalty_runs_the_double_backward_only_every_k_steps(paintings, monkeypatch):
    state = tiny_state(paintings, gp_every=3, n_critic=6)
    weights = []
    real_gp = losses.gradient_penalty
    monkeypatch.setattr(losses, "gradient_penalty", lambda c, r, f, e, w: weights.append(w) or real_gp(c, r, f, e, w))
    train_step(state)
    assert weights == [30.0, 30.0]  # critic steps 0 and 3 of 6
    assert state.critic_steps == 6


def test_lazy_penalty_schedule_survives_resume(paintings, tmp_path):
    run = tmp_path / "run"
    args = dict(gp_every=3, n_critic=2, checkpoint_every=1, sample_every=100, **TINY)
    monetgan.train(paintings, run, steps=2, show_progress=False, tensorboard=False, **args)
    monetgan.train(paintings, run, steps=3, show_progress=False, tensorboard=False, **args)
    state = json.loads((run / "checkpoints" / "step-000003" / "state.json").read_text())
    assert state["critic_steps"] == 6


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_resnet_nets_have_the_right_shapes(resolution):
    cfg = build_config("wgan-gp-64", {**TINY, "architecture": "resnet", "resolution": resolution})
    generator, critic = build_generator(cfg), build_critic(cfg)
    images = generator(torch.randn(2, cfg.latent_dim))
    assert images.shape == (2, 3, resolution, resolution)
    assert images.min() >= -1 and images.max() <= 1
    assert critic(images).shape == (2,)
    dcgan = build_generator(build_config("wgan-gp-64", {**TINY, "resolution": resolution}))
    assert count_parameters(generator) != count_parameters(dcgan)


def test_resnet_run_trains_and_paints(paintings, tmp_path):
    run = tmp_path / "run"
    monetgan.train(paintings, run, steps=2, architecture="resnet", show_progress=False, tensorboard=False, **TINY)
    paths = monetgan.paint(run, num=2, out=tmp_path / "out")
    assert len(paths) == 2


def test_recipe_pieces_are_recorded_in_the_run_config(paintings, tmp_path):
    run = tmp_path / "run"
    monetgan.train(paintings, run, steps=1, diffaugment="color,cutout", gp_every=4, architecture="resnet",
                   ema_decay=0.99, show_progress=False, tensorboard=False, **TINY)
    saved = json.loads((run / "config.json").read_text())
    assert (saved["diffaugment"], saved["gp_every"], saved["architecture"], saved["ema_decay"]) == \
        ("color,cutout", 4, "resnet", 0.99)
    off = tmp_path / "off"  # a pixel preset leaves them off unless asked
    monetgan.train(paintings, off, preset="wgan-gp-64", steps=1, show_progress=False, tensorboard=False, **TINY)
    saved = json.loads((off / "config.json").read_text())
    assert (saved["diffaugment"], saved["gp_every"], saved["architecture"]) == ("", 1, "dcgan")
    default = monetgan.train(paintings, tmp_path / "d", dry_run=True, **TINY)  # the default preset has them on
    assert (default.critic, default.generator, default.diffaugment, default.gp_every) == \
        ("projected", "upsample", "color,translation,cutout", 4)


def test_a_recipe_piece_cannot_change_on_resume(paintings, tmp_path):
    run = tmp_path / "run"
    monetgan.train(paintings, run, steps=1, show_progress=False, tensorboard=False, **TINY)
    with pytest.raises(monetgan.UserError, match="diffaugment"):
        monetgan.train(paintings, run, steps=2, diffaugment="color", show_progress=False, tensorboard=False, **TINY)


def test_bad_policy_names_the_key():
    with pytest.raises(monetgan.UserError, match="diffaugment"):
        build_config("wgan-gp-64", {"diffaugment": "colour"})


def test_time_limit_stops_with_a_checkpoint(paintings, tmp_path):
    run = tmp_path / "run"
    # a limit of ~0 stops after the first step, which still gets its frame, log line and checkpoint
    result = monetgan.train(paintings, run, steps=50, time_limit_minutes=1e-9, checkpoint_every=100,
                            show_progress=False, tensorboard=False, **TINY)
    assert result.step == 1 and not result.interrupted
    assert (run / "checkpoints" / "step-000001").is_dir() and (run / "frames" / "step-000001.png").exists()
    again = monetgan.train(paintings, run, steps=50, time_limit_minutes=1e-9, show_progress=False,
                           tensorboard=False, **TINY)
    assert again.step == 1  # the budget is spent; resuming does not train past it


def test_critics_frozen_gives_no_critic_gradients_and_restores_them_even_on_error():
    from monetgan.training.step import critics_frozen

    a, b = torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)
    x = torch.randn(4, 3, requires_grad=True)
    with critics_frozen(a, b):
        assert not any(p.requires_grad for p in [*a.parameters(), *b.parameters()])
        (a(x) + b(x)).sum().backward()
    assert x.grad is not None and all(p.grad is None for p in [*a.parameters(), *b.parameters()])
    assert all(p.requires_grad for p in [*a.parameters(), *b.parameters()])
    with pytest.raises(RuntimeError), critics_frozen(a):
        raise RuntimeError("a failing generator step")
    assert all(p.requires_grad for p in a.parameters())


def test_the_progress_bar_ends_where_a_budget_ends_the_run():
    """With a time or CPU budget the bar's total is the step the budget will stop at, so its ETA is
    the budget's end, not that of steps=1,000,000."""
    from types import SimpleNamespace

    from monetgan.training.loop import _Pace

    pace = _Pace()
    for wall, cpu in [(4.0, 8.0), (6.0, 12.0)]:  # a plain mean at first: 5 s and 10 CPU-s a step
        pace.add(wall, cpu)
    state = SimpleNamespace(step=10, wall_time=50.0, cpu_time=100.0)
    cfg = SimpleNamespace(steps=1_000_000, time_limit_minutes=0.0, cpu_limit_minutes=5.0)
    assert pace.last_step(state, cfg) == 30  # 200 CPU-s left at 10 a step
    assert pace.last_step(state, SimpleNamespace(**{**vars(cfg), "time_limit_minutes": 2.0})) == 24  # 70 s at 5
    assert pace.last_step(state, SimpleNamespace(**{**vars(cfg), "steps": 25})) == 25  # steps come first
    assert pace.last_step(state, SimpleNamespace(**{**vars(cfg), "cpu_limit_minutes": 0.0})) == 1_000_000
    spent = SimpleNamespace(step=10, wall_time=50.0, cpu_time=400.0)
    assert pace.last_step(spent, cfg) == 10  # over budget: it ends here, never before the current step


def test_restored_optimizer_moments_take_their_parameters_layout(paintings, tmp_path, monkeypatch):
    """Checkpoints store moments contiguous; with channels_last parameters (the CUDA default) the
    fused Adam needs them back in the parameter's layout, or a resumed run fails at its first step."""
    from monetgan.training.checkpoint import load_checkpoint, save_checkpoint
    from monetgan.training.step import checkpoint_payload, restore_state

    monkeypatch.setattr(training, "memory_format", lambda device: torch.channels_last)
    state = tiny_state(paintings)
    train_step(state)
    tensors, meta = checkpoint_payload(state)
    path = save_checkpoint(tmp_path, state.step, tensors, meta, state.cfg.to_dict())
    fresh = tiny_state(paintings)
    restore_state(fresh, load_checkpoint(path))
    checked = 0
    for optimizer in (fresh.generator_optimizer, fresh.critic_optimizer):
        for p in optimizer.param_groups[0]["params"]:
            for value in optimizer.state[p].values():
                if value.shape == p.shape:
                    assert value.stride() == p.stride()
                    checked += 1
    assert checked > 0 and any(p.dim() == 4 and not p.is_contiguous() for p in fresh.critic.parameters())
    train_step(fresh)
