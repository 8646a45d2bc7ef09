"""`init_from`: start a new run's generator from a painter instead of random weights.

An artist with a folder of 40 paintings gets further by fine-tuning the bundled Monet painter than
by starting from noise, and a long run can go on in a new run folder from another run's painter.
Only the generator (and its EMA copy) is taken; the critic, the optimizers and the data order start
fresh from the run's seed, so a warm-started run is still exactly reproducible from its config.

A source is one of:
- `bundled`: the Monet painter shipped inside the package;
- `FILE.safetensors` with its `.json` card beside it (as `--weights` takes);
- a checkpoint folder `RUN/checkpoints/step-NNNNNN` (its EMA generator when it has one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import TrainConfig
from ..errors import UserError
from ..files import sha256_of_file
from ..nets import build_generator
from ..nets.generator_file import BUNDLED_NAME, load_bundled, weights_dir
from .checkpoint import load_checkpoint


@dataclass
class InitialGenerator:
    """Generator weights to start from, and where they came from (written to run.json)."""

    weights: dict[str, torch.Tensor]
    provenance: dict[str, Any]


def load_initial_generator(source: str, cfg: TrainConfig) -> InitialGenerator:
    """The weights `source` names, checked to fit the generator `cfg` builds (one line if not)."""
    path = Path(source)
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
    return InitialGenerator(weights, {"init_from": source, "init_file": str(file.resolve()),
                                      "init_sha256": sha256_of_file(file)})


@torch.no_grad()
def start_from(generator: torch.nn.Module, ema: torch.nn.Module | None, initial: InitialGenerator) -> None:
    """Copy the initial weights into a fresh run's generator and its EMA (in place, layouts kept)."""
    generator.load_state_dict(initial.weights)
    if ema is not None:
        ema.load_state_dict(initial.weights)
