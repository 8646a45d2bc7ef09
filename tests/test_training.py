
import pytest
import torch

from monetgan.config import TrainConfig
from monetgan.errors import UserError
from monetgan.training.step import critic_step, train_step, update_ema

from conftest import tiny_state


def count_steps(optimizer):
    calls = []
    optimizer.register_step_post_hook(lambda *_: calls.append(1))
    return calls


@pytest.mark.parametrize("loss,n_critic", [("wgan", 5), ("wgan-gp", 3), ("gan", 1)])
def test_critic_takes_n_critic_steps_per_generator_step(paintings, loss, n_critic):
    state = tiny_state(paintings, loss=loss, n_critic=n_critic)
    critic_calls, generator_calls = count_steps(state.critic_optimizer), count_steps(state.generator_optimizer)
    for _ in range(3):
        train_step(state)
    assert len(generator_calls) == 3
    assert len(critic_calls) == 3 * n_critic
    assert state.step == 3


def test_wgan_warmup_schedule_follows_reference_code():
    cfg = TrainConfig(loss="wgan", wgan_warmup=True).resolved()
    assert [cfg.n_critic_at(s) for s in (0, 24, 25, 26, 499, 500, 501, 1000)] == [100, 100, 5, 5, 5, 100, 5, 100]
    assert TrainConfig(loss="wgan").resolved().n_critic_at(0) == 5


def test_wgan_critic_step_keeps_weights_within_clip(paintings):
    state = tiny_state(paintings, loss="wgan", clip_value=0.01, lr_critic=0.5)  # a huge step that must be clipped
    critic_step(state)
    params = list(state.critic.parameters())
    assert all(p.abs().max().item() <= 0.01 for p in params)
    assert max(p.abs().max().item() for p in params) == pytest.approx(0.01)


def test_wgan_uses_rmsprop_and_gp_uses_adam_with_paper_settings(paintings):
    wgan = tiny_state(paintings, loss="wgan")
    assert isinstance(wgan.critic_optimizer, torch.optim.RMSprop)
    assert wgan.critic_optimizer.param_groups[0]["lr"] == 5e-5
    gp = tiny_state(paintings, loss="wgan-gp")
    assert isinstance(gp.critic_optimizer, torch.optim.Adam)
    assert gp.critic_optimizer.param_groups[0]["lr"] == 1e-4
    assert gp.critic_optimizer.param_groups[0]["betas"] == (0.0, 0.9)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in gp.critic.modules())


def test_generator_step_leaves_critic_untouched(paintings):
    state = tiny_state(paintings)
    before = [p.clone() for p in state.critic.parameters()]
    from monetgan.training.step import generator_step

    generator_step(state)
    assert all(torch.equal(a, b) for a, b in zip(before, state.critic.parameters()))
    assert all(p.requires_grad for p in state.critic.parameters())


def test_ema_update_equals_formula():
    model, ema = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    old = [p.detach().clone() for p in ema.parameters()]
    update_ema(ema, model, decay=0.999, step=5)
    d = min(0.999, 6 / 15)
    for e, o, m in zip(ema.parameters(), old, model.parameters()):
        torch.testing.assert_close(e, d * o + (1 - d) * m.detach())
    old = [p.detach().clone() for p in ema.parameters()]
    update_ema(ema, model, decay=0.9, step=10_000)  # past warm-up: plain decay
    for e, o, m in zip(ema.parameters(), old, model.parameters()):
        torch.testing.assert_close(e, 0.9 * o + 0.1 * m.detach())


def test_training_moves_the_generator(paintings):
    state = tiny_state(paintings)
    before = [p.clone() for p in state.generator.parameters()]
    metrics = train_step(state)
    assert any(not torch.equal(a, b) for a, b in zip(before, state.generator.parameters()))
    assert {"wasserstein_estimate", "critic_loss", "generator_loss", "gradient_penalty",
            "critic_grad_norm", "generator_grad_norm"} <= set(metrics)
    assert all(torch.isfinite(v).all() for v in metrics.values())


def test_ema_standing_statistics_describe_the_ema_generator(paintings):
    """After `painter()`, the EMA's BatchNorm means are the averages of its own activations over the
    fixed statistics latents, not the raw generator's; and the training RNG is untouched."""
    import copy

    from monetgan.training.step import EMA_STATISTICS_IMAGES, EMA_STATISTICS_SEED, painter, train_step

    state = tiny_state(paintings, ema_decay=0.9)
    for _ in range(3):
        train_step(state)
    with torch.no_grad():  # move the EMA away from the raw generator, as a long average does
        for p in state.generator_ema.parameters():
            p.mul_(1.5)
    rng_before = state.rng.get_state()
    ema = painter(state)
    assert torch.equal(state.rng.get_state(), rng_before)
    first_norm = next(m for m in ema.modules() if isinstance(m, torch.nn.BatchNorm2d))
    raw_norm = next(m for m in state.generator.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    probe = copy.deepcopy(ema).train()
    target = next(m for m in probe.modules() if isinstance(m, torch.nn.BatchNorm2d))
    target.register_forward_pre_hook(lambda mod, args: seen.append(args[0].mean(dim=(0, 2, 3))))
    g = torch.Generator().manual_seed(EMA_STATISTICS_SEED)
    with torch.no_grad():
        for start in range(0, EMA_STATISTICS_IMAGES, 32):
            probe(torch.randn(32, probe.latent_dim, generator=g))
    expected = torch.stack(seen).mean(0)
    torch.testing.assert_close(first_norm.running_mean, expected, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(first_norm.running_mean, raw_norm.running_mean, atol=1e-3)


def test_ema_half_life_ramps_with_training_up_to_the_decays():
    from monetgan.training.step import ema_decay_at

    decays = [ema_decay_at(t, 0.999, rampup=0.05) for t in range(0, 30_000, 50)]
    assert all(a <= b for a, b in zip(decays, decays[1:]))  # the half-life only grows
    for t in (0, 99, 1999, 9999):  # half-life = 5% of the steps so far: after it, half the weight is left
        assert ema_decay_at(t, 0.999, rampup=0.05) ** (0.05 * (t + 1)) == pytest.approx(0.5)
    assert ema_decay_at(20_000, 0.999, rampup=0.05) == pytest.approx(0.999)  # capped by ema_decay
    assert ema_decay_at(3909, 0.999, rampup=0.05) < ema_decay_at(3909, 0.999)  # shorter than the fixed one
    assert ema_decay_at(5, 0.999) == pytest.approx(6 / 15)  # rampup 0: the warm-up, as before
    assert ema_decay_at(5, 0.99, warm=True, rampup=0.05) == 0.99  # a warm start keeps its full decay
    with pytest.raises(UserError, match="ema_rampup"):
        TrainConfig(ema_rampup=2.0)
