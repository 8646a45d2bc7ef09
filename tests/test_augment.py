import pytest
import torch

from monetgan.config import DIFFAUGMENT_POLICIES, parse_policy
from monetgan.training.augment import POLICIES, cutout, diff_augment, translation

POLICY = "color,translation,cutout"


def batch(seed=0, b=4, size=16):
    return torch.rand(b, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_gradients_flow_to_the_input():
    x = batch().requires_grad_(True)
    diff_augment(x, POLICY, torch.Generator().manual_seed(1)).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # cutout alone zeroes part of each image, so exactly that part of the gradient is zero
    y = batch().requires_grad_(True)
    out = diff_augment(y, "cutout", torch.Generator().manual_seed(1))
    out.sum().backward()
    assert torch.equal(y.grad == 0, out == 0) and 0 < (y.grad == 0).float().mean() < 1


def test_probability_zero_is_the_identity():
    x = batch()
    assert torch.equal(diff_augment(x, POLICY, torch.Generator().manual_seed(1), p=0.0), x)
    assert torch.equal(diff_augment(x, "", torch.Generator().manual_seed(1)), x)


def test_real_and_fake_batches_get_the_same_policy():
    """Same generator state -> the same random parameters, whichever batch goes through."""
    real, fake = batch(0), batch(1)
    out_real = diff_augment(real, POLICY, torch.Generator().manual_seed(7))
    out_fake = diff_augment(fake, POLICY, torch.Generator().manual_seed(7))
    # cutout: both batches zeroed in exactly the same places
    assert torch.equal(out_real == 0, out_fake == 0)
    assert not torch.equal(out_real, real) and not torch.equal(out_fake, fake)


def test_translation_moves_content_and_fills_zeros():
    x = torch.ones(64, 1, 8, 8)
    shifted = translation(x, torch.Generator().manual_seed(3))
    assert shifted.shape == x.shape
    zero_fraction = (shifted == 0).float().mean().item()
    assert 0 < zero_fraction < 0.5  # some shifted, by at most 1/8 of the side


def test_cutout_removes_a_quarter_of_the_area():
    x = torch.ones(256, 1, 16, 16)
    holes = (cutout(x, torch.Generator().manual_seed(0)) == 0).float().mean().item()
    assert 0.15 < holes <= 0.25  # an 8x8 square per image, clipped at the borders


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="colour"):
        parse_policy("colour,translation")


def test_every_policy_the_config_accepts_is_implemented():
    assert set(POLICIES) == set(DIFFAUGMENT_POLICIES)
