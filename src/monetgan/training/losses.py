"""The objectives, as pure functions of tensors and networks. The training loop never spells a formula.

Sign convention: every function returns a quantity to *minimise*.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def critic_loss(kind: str, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic objective without any regulariser.

    wgan / wgan-gp: E[D(fake)] - E[D(real)], the negated Kantorovich-Rubinstein estimate (WGAN eq. 3).
    gan: the cross-entropy -log sigmoid(D(real)) - log(1 - sigmoid(D(fake))) (Goodfellow et al. 2014).
    hinge: E[max(0, 1 - D(real))] + E[max(0, 1 + D(fake))] (Lim & Ye 2017; the loss of Projected GANs).
    """
    if kind in ("wgan", "wgan-gp"):
        return fake_scores.mean() - real_scores.mean()
    if kind == "gan":
        return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()
    if kind == "hinge":
        return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()
    raise ValueError(f"unknown loss {kind!r}")


def generator_loss(kind: str, fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator objective: -E[D(G(z))] for WGANs and hinge; the non-saturating -log sigmoid(D(G(z))) for gan."""
    if kind in ("wgan", "wgan-gp", "hinge"):
        return -fake_scores.mean()
    if kind == "gan":
        return F.softplus(-fake_scores).mean()
    raise ValueError(f"unknown loss {kind!r}")


def wasserstein_estimate(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[D(real)] - E[D(fake)]: the critic's estimate of W(P_r, P_g) up to the Lipschitz constant.

    For the cross-entropy GAN it is only the logit gap, logged so curves can be compared.
    """
    return real_scores.mean() - fake_scores.mean()


def interpolate(real: torch.Tensor, fake: torch.Tensor, epsilon: torch.Tensor) -> torch.Tensor:
    """x_hat = eps * x + (1 - eps) * x_tilde, one eps ~ U[0, 1] per sample (WGAN-GP Algorithm 1, line 6)."""
    eps = epsilon.view(-1, 1, 1, 1).to(real.dtype)
    return eps * real + (1 - eps) * fake


def gradient_penalty(critic: Callable, real: torch.Tensor | Sequence[torch.Tensor],
                     fake: torch.Tensor | Sequence[torch.Tensor], epsilon: torch.Tensor,
                     weight: float = 10.0) -> tuple[torch.Tensor, torch.Tensor]:
    """lambda * E[(||grad_x_hat D(x_hat)||_2 - 1)^2] (WGAN-GP Algorithm 1, line 7).

    `real` and `fake` are images and `critic` maps images to scores; or they are lists of tensors
    (a projected critic's feature maps, one per scale) and `critic` maps such a list to scores. Then
    every tensor is interpolated with the same epsilon per sample, and the norm is the one of the
    gradient with respect to all of them together: the critic is pushed to be 1-Lipschitz on that
    joint space.

    Returns (penalty, mean gradient norm). The penalty keeps its graph (create_graph=True) so that
    backpropagating it trains the critic towards unit gradient norm.
    """
    if isinstance(real, torch.Tensor):
        return gradient_penalty(lambda xs: critic(xs[0]), [real], [fake], epsilon, weight)
    x_hat = [interpolate(r.detach(), f.detach(), epsilon).requires_grad_(True) for r, f in zip(real, fake)]
    scores = critic(x_hat)
    grads = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = torch.cat([g.float().flatten(1) for g in grads], dim=1).norm(2, dim=1)  # (B,)
    return weight * ((norms - 1) ** 2).mean(), norms.detach().mean()


def lazy_penalty_weight(critic_step: int, every: int, weight: float) -> float:
    """The penalty weight on critic step `critic_step` when the penalty is applied lazily.

    StyleGAN2 (Karras et al. 2020, section 3.1) computes R1 only every k minibatches and multiplies
    it by k; we do the same for the WGAN-GP penalty. Its expectation over k consecutive steps equals
    the dense penalty's, and k-1 of every k critic steps skip the double backward. every=1 is dense.
    """
    return weight * every if critic_step % every == 0 else 0.0


@torch.no_grad()
def clip_weights(critic: nn.Module, clip_value: float) -> None:
    """Clamp every trained critic parameter to [-c, c] (WGAN Algorithm 1, line 7).

    A projected critic's frozen feature network and projection are not clipped: only its heads train.
    """
    for p in critic.parameters():
        if p.requires_grad:
            p.clamp_(-clip_value, clip_value)
