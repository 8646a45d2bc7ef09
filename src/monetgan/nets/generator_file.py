"""A generator stored as a file pair: `<name>.safetensors` (its weights) and `<name>.json` (its card).

The card holds the training config that builds the network, its parameter count, and where it came
from. This is how the bundled Monet painter ships (`monetgan/weights/monet.*`), how `--weights FILE`
paints, and how `train --init-from` starts a run from a painter. Loading validates the card, every
tensor's name and shape (strict `load_state_dict`) and the parameter count before any weight is
used; nothing is unpickled.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from safetensors.torch import load_file
from torch import nn

from ..config import config_from_dict
from ..devices import pick_device
from ..errors import UserError
from ..files import sha256_of_file
from . import build_generator, count_parameters
from .translator import PAINTING_SETTINGS, Translator, apply_painting_settings

CARD_FORMAT = 1
BUNDLED_NAME = "monet"


def weights_dir() -> Path:
    """The package folder that holds the bundled painter."""
    return Path(str(resources.files("monetgan") / "weights"))


def read_card(name: str = BUNDLED_NAME, folder: Path | None = None) -> dict[str, Any]:
    path = (folder or weights_dir()) / f"{name}.json"
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"no generator card at {path}; pass --run RUN_DIR or --checkpoint DIR") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"generator card {path} is unreadable ({exc}); reinstall monetgan or rewrite the card") from None
    if card.get("format_version") != CARD_FORMAT:
        raise UserError(f"{path}: card format {card.get('format_version')!r} is not {CARD_FORMAT}; upgrade monetgan")
    return card


def load_bundled(name: str = BUNDLED_NAME, device: str = "auto", folder: Path | None = None) -> nn.Module:
    """The generator of a file pair (by default the bundled painter), validated, in fp32 and eval mode."""
    folder = folder or weights_dir()
    card = read_card(name, folder)
    cfg = config_from_dict(card["config"], f"{folder / name}.json")
    generator = build_generator(cfg)
    path = folder / f"{name}.safetensors"
    expected = card.get("weights_sha256")  # cards written before it was recorded have none
    if expected is not None and path.is_file() and sha256_of_file(path) != expected:
        raise UserError(f"{path} is not the file its card {name}.json describes (SHA-256 differs); reinstall "
                        "monetgan or bundle the pair again")
    try:
        weights = load_file(str(path))
        generator.load_state_dict({k: v.float() for k, v in weights.items()})
    except (OSError, RuntimeError) as exc:  # missing file, bad header, or names/shapes that do not fit
        raise UserError(f"generator weights {path} do not load ({str(exc).splitlines()[0]}); reinstall monetgan "
                        "or rewrite the file") from None
    if count_parameters(generator) != card["parameters"]:
        raise UserError(f"{path}: {count_parameters(generator)} parameters, but its card says {card['parameters']}")
    # Its pictures are delivered at the card's output size (upsampled with Lanczos when larger).
    generator.output_size = int(card.get("output_size", cfg.resolution))
    # A stylizer's painting settings chosen after training, on validation photos (nets/translator.py).
    settings = {key: card[key] for key in PAINTING_SETTINGS if key in card}
    if settings and not isinstance(generator, Translator):
        raise UserError(f"{folder / name}.json gives {', '.join(settings)}, but its generator paints from noise")
    apply_painting_settings(generator, source=f"{folder / name}.json", **settings)
    return generator.to(pick_device(device)).eval()
