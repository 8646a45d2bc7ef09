"""One generator iteration of GAN training, and the state it advances.

The loop knows phases only: n_critic critic steps, then one generator step, then the EMA update.
Formulas live in `losses.py`. All randomness (latents, flips, penalty interpolation, data order)
comes from generators held in `TrainingState`, so a checkpoint can restore it exactly.

Under torchrun each process computes its rows of every batch: randomness is drawn for the global
batch and sliced (`Distributed.rows`), and gradients are averaged after each backward, so the
processes hold identical weights and follow the trajectory of one process (see `distributed.py`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

from . import losses
from .augment import diff_augment
from .patch_nce import PatchProjector, patch_nce_loss
from .checkpoint import Checkpoint, flatten_optimizer_state, unflatten_optimizer_state
from ..config import TrainConfig
from ..data.dataset import BatchOrder, real_batch
from ..devices import autocast_for, computes_in_bf16, enable_fast_gpu_math, host_to_device, memory_format
from .distributed import Distributed, sync_batchnorm
from ..errors import UserError
from ..nets import build_critic, build_generator, critic_embed, critic_score, trainable_parameters


@dataclass
class TrainingState:
    """Everything that changes during training; a checkpoint is exactly this."""

    cfg: TrainConfig
    device: torch.device
    images: torch.Tensor  # (N, 3, R, R) uint8 on `device`
    generator: nn.Module
    critic: nn.Module
    generator_ema: nn.Module | None
    generator_optimizer: torch.optim.Optimizer
    critic_optimizer: torch.optim.Optimizer
    rng: torch.Generator  # latents, flips, penalty epsilons (on the CPU, so it is device-independent)
    order: BatchOrder
    step: int = 0
    critic_steps: int = 0  # critic updates so far, over all generator steps (schedules the lazy penalty)
    wall_time: float = 0.0  # seconds of training, summed over resumes
    cpu_time: float = 0.0  # process CPU seconds of training (all threads), summed over resumes
    extra: dict[str, Any] = field(default_factory=dict)
    dist: Distributed = field(default_factory=Distributed)  # this process among torchrun's; default: the only one
    # Photo -> painting (a translator generator): the training photos, their order, PatchNCE's MLPs.
    photos: torch.Tensor | None = None  # (M, 3, S, S) uint8 on `device`
    photo_order: BatchOrder | None = None
    projector: nn.Module | None = None

    @property
    def translates(self) -> bool:
        return self.photos is not None


def make_optimizer(cfg: TrainConfig, params, lr: float, device: torch.device) -> torch.optim.Optimizer:
    fused = {"fused": True} if device.type == "cuda" else {}  # one kernel for all parameters
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)  # WGAN section 3: momentum-free, as the paper advises
    return torch.optim.Adam(params, lr=lr, betas=(cfg.adam_beta1, cfg.adam_beta2), **fused)


def build_state(cfg: TrainConfig, images: torch.Tensor, device: torch.device,
                dist: Distributed | None = None, photos: torch.Tensor | None = None) -> TrainingState:
    """Fresh networks and optimizers, initialised from `cfg.seed` (identically in every process).

    A translator generator needs `photos` (the training photos, uint8) and gets PatchNCE's MLPs,
    trained by the generator's optimizer, as CUT's netF.
    """
    dist = dist or Distributed()
    if (cfg.generator == "translator") != (photos is not None):
        raise UserError("a translator generator trains on photos and only it does: pass --photos with "
                        "--preset cut-128, or leave both out")
    dist.local_batch(cfg.batch_size)  # refuse a global batch that does not split over the processes
    torch.manual_seed(cfg.seed)
    enable_fast_gpu_math(device)
    generator, critic = build_generator(cfg), build_critic(cfg)
    # The EMA never trains, so it keeps plain BatchNorm: its statistics are re-estimated locally.
    ema = copy.deepcopy(generator).eval().requires_grad_(False) if cfg.ema_decay > 0 else None
    if dist.world_size > 1:
        # Shard statistics are not the global batch's: normalise with the global batch's instead.
        generator, critic = sync_batchnorm(generator), sync_batchnorm(critic)
    generator = generator.to(device, memory_format=memory_format(device))
    critic = critic.to(device, memory_format=memory_format(device))
    if ema is not None:
        ema = ema.to(device, memory_format=memory_format(device))
    projector = None
    generator_params = list(generator.parameters())
    if photos is not None:
        projector = PatchProjector(generator.feature_channels).to(device)
        generator_params += list(projector.parameters())
    return TrainingState(
        cfg=cfg,
        device=device,
        images=images.to(device),
        generator=generator,
        critic=critic,
        generator_ema=ema,
        generator_optimizer=make_optimizer(cfg, generator_params, cfg.lr_generator, device),
        critic_optimizer=make_optimizer(cfg, trainable_parameters(critic), cfg.lr_critic, device),
        rng=torch.Generator().manual_seed(cfg.seed + 1),
        order=BatchOrder(images.shape[0], cfg.seed),
        dist=dist,
        photos=photos.to(device) if photos is not None else None,
        photo_order=BatchOrder(photos.shape[0], cfg.seed + 3) if photos is not None else None,
        projector=projector,
    )


def uses_bf16(cfg: TrainConfig, device: torch.device) -> bool:
    """bf16 autocast: when asked for, or by default (precision=auto) on CUDA and on CPUs with native
    bf16 (AVX-512 BF16 or AMX); on this project's AVX2 machines bf16 convolutions ran slower than fp32."""
    return computes_in_bf16(device, cfg.precision)


def precision_context(state: TrainingState):
    """bf16 autocast where the run computes in bf16 (uses_bf16), else nothing."""
    return autocast_for(state.device, state.cfg.precision)


def augmented(state: TrainingState, images: torch.Tensor) -> torch.Tensor:
    """DiffAugment with the run's policy; the identity when the policy is empty."""
    if not state.cfg.diffaugment:
        return images
    shard = state.dist.shard(images.shape[0])  # None in a single process
    return diff_augment(images, state.cfg.diffaugment, state.rng, shard=shard)


# Every draw below is made on the CPU generator for the global batch (cfg.batch_size), then cut to
# this process's rows and moved to the device by `_local`.

def _local(state: TrainingState, drawn: torch.Tensor) -> torch.Tensor:
    """This process's rows of a tensor drawn for the global batch, on the training device."""
    return host_to_device(state.dist.rows(drawn), state.device)


def _latents(state: TrainingState, count: int) -> torch.Tensor:
    """(rows, latent_dim) latents: this process's rows of `count` global ones."""
    return _local(state, torch.randn(count, state.cfg.latent_dim, generator=state.rng))


def _next_batch(state: TrainingState, images: torch.Tensor, order: BatchOrder) -> torch.Tensor:
    batch_size = state.cfg.batch_size
    indices = _local(state, order.next_indices(batch_size))
    flips = _local(state, torch.rand(batch_size, generator=state.rng) < 0.5) if state.cfg.hflip else None
    batch = _random_crops(state, real_batch(images, indices, flips))
    return batch.contiguous(memory_format=memory_format(state.device))


def _next_real(state: TrainingState) -> torch.Tensor:
    return _next_batch(state, state.images, state.order)


def _random_crops(state: TrainingState, batch: torch.Tensor) -> torch.Tensor:
    """`resolution`-px crops at random places when images are stored larger (crop_from), else the batch."""
    size = state.cfg.resolution
    if batch.shape[-1] == size:
        return batch
    room = batch.shape[-1] - size + 1
    corners = state.dist.rows(torch.randint(room, (state.cfg.batch_size, 2), generator=state.rng)).tolist()
    return torch.stack([image[:, y : y + size, x : x + size] for image, (y, x) in zip(batch, corners)])


def generator_input(state: TrainingState) -> torch.Tensor:
    """What the generator maps: latents, or for a translator a batch of photos."""
    if state.translates:
        return _next_batch(state, state.photos, state.photo_order)
    return _latents(state, state.cfg.batch_size)


def _grad_norm(module: nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) if grads else torch.zeros(())


def critic_step(state: TrainingState) -> dict[str, torch.Tensor]:
    """One critic update on a fresh real batch and fresh fakes (WGAN / WGAN-GP Algorithm 1, lines 2-8)."""
    cfg = state.cfg
    real = _next_real(state)
    z = generator_input(state)
    with precision_context(state):
        with torch.no_grad():
            fake = state.generator(z)
            # DiffAugment: the critic only ever sees augmented images, real and fake alike.
            real, fake = augmented(state, real), augmented(state, fake.float())
            # What the trained part of the critic sees: the images, or a projected critic's frozen
            # features (no gradient needed through the feature network in a critic step).
            real, fake = critic_embed(state.critic, real), critic_embed(state.critic, fake)
        real_scores = critic_score(state.critic, real).float()
        fake_scores = critic_score(state.critic, fake).float()
        loss = losses.critic_loss(cfg.loss, real_scores, fake_scores)
        stats = {}
        gp_weight = losses.lazy_penalty_weight(state.critic_steps, cfg.gp_every, cfg.gp_weight)
        if cfg.loss == "wgan-gp" and gp_weight > 0:
            epsilon = _local(state, torch.rand(cfg.batch_size, generator=state.rng))
            # In the critic's input space: pixels, or every projected feature scale together.
            penalty, penalty_grad_norm = losses.gradient_penalty(partial(critic_score, state.critic), real, fake,
                                                                 epsilon, gp_weight)
            loss = loss + penalty
            # Logged per unit weight, so lazy and dense runs plot on one scale.
            stats = {"gradient_penalty": penalty.detach() * (cfg.gp_weight / gp_weight),
                     "penalty_grad_norm": penalty_grad_norm}
    state.critic_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    state.dist.average_gradients(state.critic)  # each process: its rows' mean loss; the mean: the global batch's
    grad_norm = _grad_norm(state.critic)
    state.critic_optimizer.step()
    if cfg.loss == "wgan":
        losses.clip_weights(state.critic, cfg.clip_value)  # WGAN Algorithm 1, line 7
    state.critic_steps += 1
    return {
        "critic_loss": loss.detach(),
        "wasserstein_estimate": losses.wasserstein_estimate(real_scores, fake_scores).detach(),
        "critic_real": real_scores.detach().mean(),
        "critic_fake": fake_scores.detach().mean(),
        "critic_grad_norm": grad_norm,
        **stats,
    }


@contextmanager
def critics_frozen(*critics: nn.Module) -> Iterator[None]:
    """The critics' trained weights need no gradients during a generator's backward (it saves a third
    of the backward); they get them back afterwards, whatever happens inside."""
    trained = [p for critic in critics for p in trainable_parameters(critic)]
    for p in trained:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trained:
            p.requires_grad_(True)


def generator_step(state: TrainingState, update: bool = True) -> dict[str, torch.Tensor]:
    """One generator update against the current critic (WGAN Algorithm 1, lines 9-11); with
    `update=False` only its loss, forward only, for the log (`critic_warmup`)."""
    if not update:
        with torch.no_grad():
            stats = _generator_loss(state, generator_input(state))
        return {**stats, "generator_grad_norm": torch.zeros((), device=state.device)}
    z = generator_input(state)
    with critics_frozen(state.critic):
        stats = _generator_loss(state, z)
        state.generator_optimizer.zero_grad(set_to_none=True)
        stats["generator_loss"].backward()
    state.dist.average_gradients(state.generator)
    if state.projector is not None:
        state.dist.average_gradients(state.projector)
    grad_norm = _grad_norm(state.generator)
    state.generator_optimizer.step()
    return {**stats, "generator_loss": stats["generator_loss"].detach(), "generator_grad_norm": grad_norm}


def _generator_loss(state: TrainingState, z: torch.Tensor) -> dict[str, torch.Tensor]:
    """The generator's loss on input z (with the content term when translating), and its parts."""
    cfg = state.cfg
    stats = {}
    with precision_context(state):
        fake = state.generator(z)
        fake_scores = state.critic(augmented(state, fake.float())).float()
        loss = losses.generator_loss(cfg.loss, fake_scores)
        if state.translates:
            content = _content_loss(state, z, fake)
            stats["content_loss"] = content.detach()
            loss = loss + cfg.nce_weight * content
    return {"generator_loss": loss, **stats}


def _content_loss(state: TrainingState, photos: torch.Tensor, paintings: torch.Tensor) -> torch.Tensor:
    """CUT's PatchNCE between photos and their paintings; with nce_identity, averaged with the same
    term for real paintings passed through the translator (which should leave them as they are)."""
    cfg = state.cfg
    content = patch_nce_loss(state.generator, state.projector, photos, paintings, cfg.nce_patches, state.rng)
    if cfg.nce_identity:
        real = _next_real(state)
        identity = patch_nce_loss(state.generator, state.projector, real, state.generator(real),
                                  cfg.nce_patches, state.rng)
        content = 0.5 * (content + identity)
    return content


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float, step: int, warm: bool = False,
               rampup: float = 0.0) -> None:
    """ema <- d * ema + (1 - d) * model, with d from `ema_decay_at`. Buffers (BatchNorm running
    statistics) are copied, not averaged."""
    d = ema_decay_at(step, decay, warm, rampup)
    ema_params, params = list(ema.parameters()), list(model.parameters())
    torch._foreach_lerp_(ema_params, params, 1.0 - d)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def ema_decay_at(step: int, decay: float, warm: bool = False, rampup: float = 0.0) -> float:
    """The EMA's decay at generator step `step` (0-based).

    - rampup = 0: d = min(decay, (1 + step) / (10 + step)); the warm-up keeps the first steps from
      being dominated by the random initialisation, then the half-life is fixed (693 steps at 0.999).
    - rampup > 0 (StyleGAN2-ADA's ema_rampup): the half-life is at most `rampup` times the steps so
      far, capped by `decay`'s. A fixed long half-life averages over a quarter of a short CPU run and
      paints what the generator was, not what it is: measured, the raw generator beat its 0.999 EMA
      at step 3,909 (FID 131.9 against 140.5).
    - A warm-started run (`warm`, see training/warm_start.py) has nothing random to forget: its EMA
      starts from a trained painter and keeps the full decay from step 0, so the painter is not
      dragged along while the fresh critic learns.
    """
    if warm:
        return decay
    if rampup > 0:
        half_life = min(math.log(0.5) / math.log(decay), rampup * (step + 1))
        return 0.5 ** (1.0 / half_life)
    return min(decay, (1 + step) / (10 + step))


EMA_STATISTICS_SEED = 2**31 - 1  # latents for the EMA's BatchNorm statistics: the same at every call
EMA_STATISTICS_IMAGES = 256


@torch.no_grad()
def standing_statistics(generator: nn.Module, device: torch.device, images: int = EMA_STATISTICS_IMAGES,
                        batch_size: int = 32) -> None:
    """Re-estimate a generator's BatchNorm running statistics from its own activations.

    The EMA generator's weights are an average, so the raw generator's BatchNorm statistics (what
    `update_ema` copies) do not describe its activations: painted in eval mode it can give washed-out
    or blank images. BigGAN's "standing statistics" (Brock et al. 2019, appendix C.2) fix that: run
    the EMA generator in training mode on fixed latents and keep the plain average of the batch
    statistics. The latents come from their own seed, so the training RNG is untouched and a resumed
    run computes the same numbers.
    """
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    was_training = generator.training
    generator.train()
    g = torch.Generator().manual_seed(EMA_STATISTICS_SEED)
    try:
        for start in range(0, images, batch_size):
            generator(torch.randn(min(batch_size, images - start), generator.latent_dim, generator=g).to(device))
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        generator.train(was_training)


def painter(state: TrainingState) -> nn.Module:
    """The generator that paints frames and is bundled: the EMA (with its own BatchNorm statistics)
    when the run keeps one, else the raw generator."""
    if state.generator_ema is None:
        return state.generator
    standing_statistics(state.generator_ema, state.device)
    return state.generator_ema


def train_step(state: TrainingState) -> dict[str, torch.Tensor]:
    """One generator iteration: n_critic critic steps, a generator step, the EMA update.

    Returns the last critic step's statistics and the generator's, as 0-d tensors (no host sync);
    under torchrun they are this process's (`Distributed.mean_metrics` makes them global).
    """
    n_critic = state.cfg.n_critic_at(state.step)
    for _ in range(n_critic):
        metrics = critic_step(state)
    # A warm-started generator waits while a fresh critic learns the paintings (`critic_warmup`):
    # the gradients of an untrained critic would only push it away from what it already paints.
    waiting = state.step < state.cfg.critic_warmup
    metrics.update(generator_step(state, update=not waiting))
    if state.generator_ema is not None and not waiting:
        update_ema(state.generator_ema, state.generator, state.cfg.ema_decay, state.step, warm=bool(state.cfg.init_from),
                   rampup=state.cfg.ema_rampup)
    state.step += 1
    metrics["n_critic"] = torch.tensor(n_critic)
    return metrics


# ----------------------------------------------------------------------------------------------
# State <-> checkpoint
# ----------------------------------------------------------------------------------------------

def checkpoint_payload(state: TrainingState) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """The tensors (by file) and JSON state that together restore `state` exactly."""
    g_tensors, g_meta = flatten_optimizer_state("generator", state.generator_optimizer.state_dict())
    c_tensors, c_meta = flatten_optimizer_state("critic", state.critic_optimizer.state_dict())
    rng = {"torch_cpu": torch.get_rng_state(), "train": state.rng.get_state()}
    if torch.cuda.is_available() and state.device.type == "cuda":
        rng.update({f"cuda_{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    tensors = {
        "generator": state.generator.state_dict(),
        "critic": state.critic.state_dict(),
        "optimizers": {**g_tensors, **c_tensors},
        "rng": rng,
    }
    if state.generator_ema is not None:
        tensors["generator_ema"] = state.generator_ema.state_dict()
    if state.projector is not None:
        tensors["projector"] = state.projector.state_dict()
    meta = {
        "data_order": state.order.state(),
        "optimizers": {"generator": g_meta, "critic": c_meta},
        "wall_time": state.wall_time,
        "cpu_time": state.cpu_time,
        "critic_steps": state.critic_steps,
        **({"photo_order": state.photo_order.state()} if state.photo_order is not None else {}),
        **state.extra,
    }
    return tensors, meta


def _match_param_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give loaded optimizer moments their parameter's memory layout (checkpoints store them
    contiguous; channels_last parameters need channels_last moments for the fused CUDA Adam)."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    optimizer.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def restore_state(state: TrainingState, ckpt: Checkpoint) -> None:
    """Load a checkpoint into a freshly built state; raises UserError if it does not fit."""
    t = ckpt.tensors
    try:
        state.generator.load_state_dict(t["generator"])
        state.critic.load_state_dict(t["critic"])
        if state.generator_ema is not None:
            state.generator_ema.load_state_dict(t["generator_ema"])
        if state.projector is not None:
            state.projector.load_state_dict(t["projector"])
        optim_meta = ckpt.state["optimizers"]
        state.generator_optimizer.load_state_dict(
            unflatten_optimizer_state("generator", t["optimizers"], optim_meta["generator"]))
        state.critic_optimizer.load_state_dict(
            unflatten_optimizer_state("critic", t["optimizers"], optim_meta["critic"]))
        _match_param_layouts(state.generator_optimizer)
        _match_param_layouts(state.critic_optimizer)
        torch.set_rng_state(t["rng"]["torch_cpu"])
        state.rng.set_state(t["rng"]["train"])
        cuda_states = [t["rng"][k] for k in sorted(t["rng"]) if k.startswith("cuda_")]
        if cuda_states and state.device.type == "cuda":
            torch.cuda.set_rng_state_all(cuda_states)
        order = ckpt.state["data_order"]
    except (KeyError, RuntimeError, ValueError) as exc:
        raise UserError(f"checkpoint {ckpt.path} does not fit this run's config ({str(exc).splitlines()[0]})") from None
    state.order = BatchOrder(state.order.size, state.cfg.seed, order["epoch"], order["position"])
    if state.photo_order is not None:
        photo_order = ckpt.state.get("photo_order")
        if photo_order is None:
            raise UserError(f"checkpoint {ckpt.path} has no photo order; it was not written by a photo -> painting run")
        state.photo_order = BatchOrder(state.photo_order.size, state.photo_order.seed, photo_order["epoch"],
                                       photo_order["position"])
    state.step = ckpt.step
    state.critic_steps = int(ckpt.state.get("critic_steps", 0))
    if "rollbacks" in ckpt.state:  # divergences this run recovered from (trainer._roll_back)
        state.extra["rollbacks"] = int(ckpt.state["rollbacks"])
    state.wall_time = float(ckpt.state.get("wall_time", 0.0))
    state.cpu_time = float(ckpt.state.get("cpu_time", 0.0))
