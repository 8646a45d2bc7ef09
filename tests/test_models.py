import pytest
import torch

from monetgan.models import Critic, Generator, count_parameters, level_widths


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
def test_shapes_follow_resolution(resolution):
    g = Generator(resolution, latent_dim=16, base_channels=4, max_channels=32)
    d = Critic(resolution, base_channels=4, max_channels=32, norm="layernorm")
    image = g(torch.randn(2, 16))
    assert image.shape == (2, 3, resolution, resolution)
    assert image.abs().max() <= 1.0
    assert d(image).shape == (2,)


def test_dcgan64_matches_reference_widths():
    # The WGAN / WGAN-GP reference DCGAN at 64 px: 512-256-128-64 in both nets.
    assert level_widths(64, 64, 512) == [512, 256, 128, 64]
    assert level_widths(256, 64, 512) == [512, 512, 512, 256, 128, 64]  # 4x4 ... 128x128
    g, d = Generator(64), Critic(64, norm="batchnorm")
    assert count_parameters(g) == 3_576_704  # the DCGAN generator's well-known size
    assert count_parameters(d) == 2_765_568


def test_critic_has_no_sigmoid():
    d = Critic(32, base_channels=8, max_channels=32, norm="none")
    with torch.no_grad():
        for p in d.parameters():
            p.mul_(50)
    scores = d(torch.randn(8, 3, 32, 32))
    assert (scores.abs() > 1).any()  # unbounded real numbers, not probabilities


def test_layernorm_critic_has_no_batch_coupling():
    d = Critic(32, base_channels=8, max_channels=32, norm="layernorm")
    x = torch.randn(6, 3, 32, 32)
    torch.testing.assert_close(d(x)[:2], d(x[:2]))
