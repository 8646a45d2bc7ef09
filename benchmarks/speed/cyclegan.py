"""A CycleGAN training iteration (Zhu et al. 2017, arXiv 1703.10593) built from monetgan's own parts.

monetgan ships CUT, not CycleGAN; this exists so that the choice can be argued with a measured cost
rather than a rule of thumb. Everything CycleGAN shares with CUT is monetgan's code: the translators
(`build_generator`), the critics (`build_critic`), the critic step (`training.step.critic_step`, run
once per direction on a state whose "paintings" are the photos), DiffAugment, autocast and the
optimizer. Only the generator step is CycleGAN's own: both translators, both adversarial terms, the
cycle term and the identity term, with the paper's weights (lambda 10, identity 0.5 lambda).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from monetgan.training import losses
from monetgan.training.step import (augmented, build_state, critic_step, critics_frozen, generator_input,
                                    make_optimizer, precision_context)

CYCLE_WEIGHT = 10.0  # the paper's lambda
IDENTITY_WEIGHT = 0.5 * CYCLE_WEIGHT  # the paper's identity term for photo <-> painting: 0.5 lambda


class CycleGAN:
    """Two translators and two critics; `train_step` is one iteration with n_critic critic steps per critic."""

    def __init__(self, cfg, paintings: torch.Tensor, photos: torch.Tensor, device: torch.device):
        # to_painting: photo -> painting, judged by to_painting_state.critic on the paintings;
        # to_photo: painting -> photo, judged by to_photo_state.critic on the photos.
        self.to_painting_state = build_state(cfg, paintings, device, photos=photos)
        self.to_photo_state = build_state(cfg, photos, device, photos=paintings)
        self.cfg = cfg
        params = (list(self.to_painting_state.generator.parameters())
                  + list(self.to_photo_state.generator.parameters()))
        self.optimizer = make_optimizer(cfg, params, cfg.lr_generator, device)

    def generator_step(self) -> torch.Tensor:
        a, b = self.to_painting_state, self.to_photo_state
        to_painting, to_photo = a.generator, b.generator
        photo, painting = generator_input(a), generator_input(b)
        with critics_frozen(a.critic, b.critic):
            with precision_context(a):
                fake_painting, fake_photo = to_painting(photo), to_photo(painting)
                adversarial = (losses.generator_loss(self.cfg.loss, a.critic(augmented(a, fake_painting.float())).float())
                               + losses.generator_loss(self.cfg.loss, b.critic(augmented(b, fake_photo.float())).float()))
                cycle = F.l1_loss(to_photo(fake_painting), photo) + F.l1_loss(to_painting(fake_photo), painting)
                identity = F.l1_loss(to_painting(painting), painting) + F.l1_loss(to_photo(photo), photo)
                loss = adversarial + CYCLE_WEIGHT * cycle + IDENTITY_WEIGHT * identity
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        self.optimizer.step()
        return loss.detach()

    def train_step(self) -> None:
        for _ in range(self.cfg.n_critic_at(self.to_painting_state.step)):
            critic_step(self.to_painting_state)
            critic_step(self.to_photo_state)
        self.generator_step()
        self.to_painting_state.step += 1
        self.to_photo_state.step += 1
