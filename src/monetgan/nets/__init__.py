"""The networks: generators, pixel critics, and the projected critic with its frozen feature network.

Every critic has the same two-part interface, so that losses can work in the critic's input space:
`critic.embed(image)` (what the gradient penalty interpolates; the image itself for a pixel critic,
frozen projected features for the projected one) and `critic.score(embedded)` (the trained part).
"""

from __future__ import annotations

import torch
from torch import nn

from .dcgan import Critic, Generator
from .layers import count_parameters
from .resnet import ResNetCritic, ResNetGenerator
from .upsample import UpsampleGenerator

__all__ = ["build_critic", "build_generator", "count_parameters", "critic_embed", "critic_score",
           "trainable_parameters"]


def build_generator(cfg) -> nn.Module:
    """The generator a (resolved) `TrainConfig` describes."""
    if cfg.generator == "upsample":
        return UpsampleGenerator(cfg.resolution, cfg.latent_dim, cfg.generator_channels, cfg.max_channels,
                                 cfg.skip_excitation)
    if cfg.generator == "translator":
        from .translator import Translator

        return Translator(cfg.generator_channels, cfg.translator_blocks, cfg.max_channels, cfg.translator_residual,
                          cfg.translator_chroma_blur)
    if cfg.generator == "resnet":
        return ResNetGenerator(cfg.resolution, cfg.latent_dim, cfg.generator_channels, cfg.max_channels)
    return Generator(cfg.resolution, cfg.latent_dim, cfg.generator_channels, cfg.max_channels)


def build_critic(cfg) -> nn.Module:
    """The critic a (resolved) `TrainConfig` describes."""
    if cfg.critic == "projected":
        from .projected import ProjectedCritic  # loads the pinned feature network: only when asked for

        # The projection's seed differs from the weights' so the two draws are independent.
        return ProjectedCritic(cfg.resolution, cfg.critic_norm, seed=cfg.seed + 2, max_channels=cfg.max_channels,
                               blur_sigma=cfg.critic_blur)
    if cfg.architecture == "resnet":
        return ResNetCritic(cfg.resolution, cfg.critic_channels, cfg.max_channels, cfg.critic_norm)
    return Critic(cfg.resolution, cfg.critic_channels, cfg.max_channels, cfg.critic_norm)


def critic_embed(critic: nn.Module, image: torch.Tensor) -> list[torch.Tensor]:
    """What the critic's trained part sees: frozen features for a projected critic, else [image]."""
    embed = getattr(critic, "embed", None)
    return embed(image) if embed is not None else [image]


def critic_score(critic: nn.Module, embedded: list[torch.Tensor]) -> torch.Tensor:
    score = getattr(critic, "score", None)
    return score(embedded) if score is not None else critic(embedded[0])


def trainable_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The parameters an optimizer (and weight clipping) may touch; never a frozen feature network's."""
    return [p for p in module.parameters() if p.requires_grad]
