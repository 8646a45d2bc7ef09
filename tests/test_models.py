import pytest
import torch

from monetgan.nets import Critic, Generator, count_parameters
from monetgan.nets.layers import level_widths


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


@pytest.mark.parametrize("resolution", [128, 256])
def test_upsample_generator_has_no_transposed_convolution(resolution):
    from monetgan.nets.upsample import UpsampleGenerator

    g = UpsampleGenerator(resolution, latent_dim=16, base_channels=4, max_channels=16)
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in g.modules())
    image = g(torch.randn(2, 16))
    assert image.shape == (2, 3, resolution, resolution) and image.abs().max() <= 1.0
    # Skip-layer excitation is wired where FastGAN puts it.
    assert set(g.excitations) == ({"4to64", "8to128"} if resolution == 128 else {"4to64", "8to128", "16to256"})


def test_upsample_generator_paints_no_checkerboard_from_a_flat_input():
    """A nearest-upsampling generator whose convolutions see a constant map paints a constant
    interior; a stride-2 transposed convolution paints a period-2 pattern from the same input."""
    from monetgan.nets.upsample import UpBlock

    block = UpBlock(4, 4, convs=1).eval()
    flat = torch.ones(1, 4, 8, 8)
    with torch.no_grad():
        out = block(flat)[..., 2:-2, 2:-2]  # away from the zero-padded border
    assert torch.allclose(out, out[..., :1, :1].expand_as(out), atol=1e-6)
    deconv = torch.nn.ConvTranspose2d(4, 4, 4, 2, 1, bias=False)
    with torch.no_grad():
        checker = deconv(flat)[..., 2:-2, 2:-2]
    assert not torch.allclose(checker[..., 0::2, :], checker[..., 1::2, :], atol=1e-4)


def test_generator_choice_and_the_old_architecture_key():
    from monetgan.config import build_config, config_from_dict
    from monetgan.nets import build_generator
    from monetgan.nets.resnet import ResNetGenerator
    from monetgan.nets.upsample import UpsampleGenerator

    assert build_config("wgan-gp-64", {"architecture": "resnet"}).generator == "resnet"
    assert isinstance(build_generator(build_config("wgan-gp-64", {"architecture": "resnet"})), ResNetGenerator)
    assert isinstance(build_generator(build_config("wgan-gp-64", {"generator": "upsample"})), UpsampleGenerator)
    # A config.json written before the critic and generator keys existed still loads, as it was.
    old = build_config("wgan-gp-64").to_dict()
    del old["critic"], old["generator"], old["skip_excitation"], old["cpu_limit_minutes"]
    cfg = config_from_dict(old, "old config.json")
    assert (cfg.critic, cfg.generator) == ("pixel", "dcgan")
