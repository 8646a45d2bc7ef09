import pytest
import torch
from torch import nn

from monetgan.training import losses
from monetgan.nets import Critic


class LinearCritic(nn.Module):
    """D(x) = <w, x> + b: its input gradient is w everywhere, so the penalty is known in closed form."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.b = nn.Parameter(torch.tensor(0.3))

    def forward(self, x):
        return (x.flatten(1) * self.w.flatten()).sum(1) + self.b


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_gradient_penalty_of_linear_critic_is_closed_form(scale):
    torch.manual_seed(0)
    w = torch.randn(3, 4, 4)
    w = w / w.norm() * scale  # ||grad D|| = scale for every x_hat
    critic = LinearCritic(w)
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    penalty, norm = losses.gradient_penalty(critic, real, fake, torch.rand(5), weight=10.0)
    assert penalty.item() == pytest.approx(10.0 * (scale - 1.0) ** 2, rel=1e-5, abs=1e-6)
    assert norm.item() == pytest.approx(scale, rel=1e-5)


def test_gradient_penalty_trains_critic_towards_unit_norm():
    critic = LinearCritic(torch.full((3, 2, 2), 1.0))  # ||w|| = sqrt(12) > 1
    penalty, _ = losses.gradient_penalty(critic, torch.zeros(2, 3, 2, 2), torch.ones(2, 3, 2, 2), torch.rand(2))
    penalty.backward()
    # d/dw of lambda (||w|| - 1)^2 = 2 lambda (||w|| - 1) w / ||w||, positive along w
    expected = 2 * 10.0 * (12 ** 0.5 - 1) * critic.w.detach() / 12 ** 0.5
    torch.testing.assert_close(critic.w.grad, expected)


def test_interpolate_endpoints():
    real, fake = torch.ones(2, 3, 2, 2), torch.zeros(2, 3, 2, 2)
    x = losses.interpolate(real, fake, torch.tensor([1.0, 0.0]))
    assert torch.equal(x[0], real[0]) and torch.equal(x[1], fake[1])


def test_wgan_losses_are_kantorovich_rubinstein_terms():
    real, fake = torch.tensor([2.0, 4.0]), torch.tensor([1.0, -1.0])
    assert losses.critic_loss("wgan", real, fake).item() == pytest.approx(0.0 - 3.0)
    assert losses.generator_loss("wgan", fake).item() == pytest.approx(0.0)
    assert losses.wasserstein_estimate(real, fake).item() == pytest.approx(3.0)


def test_gan_losses_match_binary_cross_entropy():
    real, fake = torch.randn(7), torch.randn(7)
    bce = nn.functional.binary_cross_entropy_with_logits
    expected = bce(real, torch.ones(7)) + bce(fake, torch.zeros(7))
    assert losses.critic_loss("gan", real, fake).item() == pytest.approx(expected.item(), rel=1e-6)
    # non-saturating generator loss: -log sigmoid(D(G(z)))
    assert losses.generator_loss("gan", fake).item() == pytest.approx(bce(fake, torch.ones(7)).item(), rel=1e-6)


def test_clip_weights_bounds_every_parameter():
    critic = Critic(32, base_channels=8, max_channels=32, norm="batchnorm")
    with torch.no_grad():
        for p in critic.parameters():
            p.mul_(100)
    losses.clip_weights(critic, 0.01)
    assert all(p.abs().max().item() <= 0.01 for p in critic.parameters())
    assert any(p.abs().max().item() == pytest.approx(0.01) for p in critic.parameters())


def test_hinge_loss_values():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    # relu(1 - real) = [0, 0.5] -> 0.25; relu(1 + fake) = [0, 1] -> 0.5
    assert losses.critic_loss("hinge", real, fake).item() == pytest.approx(0.75)
    assert losses.generator_loss("hinge", fake).item() == pytest.approx(1.5)
