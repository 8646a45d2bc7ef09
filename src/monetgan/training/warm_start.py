"""`init_from`: start a new run's networks from a painter or a checkpoint instead of random weights.

An artist with a folder of 40 paintings gets further by fine-tuning the bundled Monet painter than
by starting from noise, and a long run can go on in a new run folder, with new settings (a lower
learning rate, say), from another run's checkpoint.

A source is one of:
- `bundled`: the Monet painter shipped inside the package;
- `FILE.safetensors` with its `.json` card beside it (as `--weights` takes);
- a checkpoint folder `RUN/checkpoints/step-NNNNNN`.

A painter file holds a generator only: the generator and its EMA copy both start from it, and the
critic starts fresh. A checkpoint folder that also holds its critic hands that on too, as
StyleGAN2-ADA's `--resume` does (generator, EMA and critic each from its own copy, the PatchNCE
projector of a photo -> painting run as well): a trained generator facing a fresh critic is pushed
around by gradients that mean nothing yet, and goes backwards (docs/experiments.md). A critic that
does not fit this run's (another critic kind, resolution or width) is left out and the run says so.
Optimizers and data order always start fresh from the run's seed, so a warm-started run is still
exactly reproducible from its config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import TrainConfig
from ..errors import UserError
from ..files import sha256_of_file
from ..nets import build_critic, build_generator
from ..nets.generator_file import BUNDLED_NAME, load_bundled, weights_dir
from .checkpoint import load_checkpoint


@dataclass
class WarmStart:
    """Weights a new run starts from, and where they came from (written to run.json)."""

    generator: dict[str, torch.Tensor]
    generator_ema: dict[str, torch.Tensor]
    provenance: dict[str, Any]
    critic: dict[str, torch.Tensor] | None = None  # a checkpoint's trained critic, when it fits
    projector: dict[str, torch.Tensor] | None = None  # its PatchNCE projector, likewise


def load_warm_start(source: str, cfg: TrainConfig) -> WarmStart:
    """The weights `source` names, checked to fit the generator `cfg` builds (one line if not)."""
    path = Path(source)
    ckpt = None
    if source == "bundled":
        file = weights_dir() / f"{BUNDLED_NAME}.safetensors"
        weights = load_bundled(device="cpu").state_dict()
    elif path.suffix == ".safetensors":
        if not path.is_file():
            raise UserError(f"--init-from {path}: no such file; give 'bundled', a .safetensors with its "
                            ".json card, or a checkpoint folder")
        file = path
        weights = load_bundled(path.stem, device="cpu", folder=path.parent).state_dict()
    elif path.is_dir():
        ckpt = load_checkpoint(path, require_training_state=False)
        which = "generator_ema" if "generator_ema" in ckpt.tensors else "generator"
        file = path / f"{which}.safetensors"
        weights = ckpt.tensors[which]
    else:
        raise UserError(f"--init-from {source}: give 'bundled', a .safetensors with its .json card, "
                        "or a checkpoint folder (RUN/checkpoints/step-NNNNNN)")
    weights = {k: v.detach().clone() for k, v in weights.items()}
    try:
        build_generator(cfg).load_state_dict(weights)  # names and shapes, before the run folder is written
    except RuntimeError as exc:
        raise UserError(f"--init-from {source}: its generator does not fit this run's ({str(exc).splitlines()[0]}); "
                        "use the preset and generator keys it was trained with") from None
    start = WarmStart(weights, weights, {"init_from": source, "init_file": str(file.resolve()),
                                         "init_sha256": sha256_of_file(file)})
    if ckpt is not None and "critic" in ckpt.tensors:
        _take_critic(start, ckpt, cfg)
    return start


def _take_critic(start: WarmStart, ckpt, cfg: TrainConfig) -> None:
    """Hand a checkpoint's critic (and projector) on to `start` when they fit this run's; the generator
    then starts from the checkpoint's raw weights, the EMA from its EMA, as the critic last saw them."""
    critic = {k: v.detach().clone() for k, v in ckpt.tensors["critic"].items()}
    try:
        build_critic(cfg).load_state_dict(critic)
    except RuntimeError as exc:
        start.provenance["init_critic"] = f"fresh: the checkpoint's critic does not fit ({str(exc).splitlines()[0]})"
        return
    projector = ckpt.tensors.get("projector")
    if cfg.generator == "translator" and projector is None:
        start.provenance["init_critic"] = "fresh: the checkpoint has no PatchNCE projector to go with its critic"
        return
    start.critic = critic
    start.projector = {k: v.detach().clone() for k, v in projector.items()} if projector is not None else None
    if "generator" in ckpt.tensors:
        start.generator = {k: v.detach().clone() for k, v in ckpt.tensors["generator"].items()}
    start.provenance["init_critic"] = str((ckpt.path / "critic.safetensors").resolve())
    start.provenance["init_critic_sha256"] = sha256_of_file(ckpt.path / "critic.safetensors")


@torch.no_grad()
def start_from(state, start: WarmStart) -> None:
    """Copy the warm start into a fresh run's networks (in place, layouts kept)."""
    state.generator.load_state_dict(start.generator)
    if state.generator_ema is not None:
        state.generator_ema.load_state_dict(start.generator_ema)
    if start.critic is not None:
        state.critic.load_state_dict(start.critic)
        if state.projector is not None and start.projector is not None:
            state.projector.load_state_dict(start.projector)
