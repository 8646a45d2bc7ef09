"""The Monet generator shipped inside the package, so `monetgan paint` works on a fresh install.

It is stored as two files in `monetgan/weights/`:
- `<name>.safetensors`: the EMA generator's weights (fp16 if that is what keeps it small);
- `<name>.json`: its card: format version, the weights file's SHA-256, the training config that builds the network, parameter
  count, dtype, recipe, steps, wall time, hardware, metrics and data provenance.
Loading validates the card, every tensor's name and shape (strict `load_state_dict`) and the
parameter count before any weight is used; nothing is unpickled.

`python -m monetgan.painting.bundled --checkpoint RUN/checkpoints/step-N --card-extra extra.json` writes a
new pair from a checkpoint: a later, better model replaces the old one the same way.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ..training.checkpoint import load_checkpoint
from ..config import config_from_dict
from ..files import atomic_output, atomic_write_text, sha256_of_file
from ..nets import build_generator, count_parameters
# The file format lives with the networks, so training can start from a painter too (--init-from).
from ..nets.generator_file import BUNDLED_NAME, CARD_FORMAT, load_bundled, read_card, weights_dir  # noqa: F401

MAX_BYTES = 20 * 2**20


def bundle(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, name: str = BUNDLED_NAME,
           extra: dict[str, Any] | None = None, ema: bool | None = None, half: bool | None = None) -> Path:
    """Write a checkpoint's generator (EMA when it has one, unless `ema=False`) and card into `out_dir`.

    `half=None` stores fp16 only when fp32 would exceed MAX_BYTES. fp16 weights paint the same
    picture as fp32 to within about one grey level (run in fp32 after loading).
    """
    ckpt = load_checkpoint(Path(checkpoint), require_training_state=False)
    which = ckpt.painter(ema)
    weights = {k: v.contiguous() for k, v in ckpt.tensors[which].items()}
    fp32_bytes = sum(v.numel() * 4 for v in weights.values())
    if half is None:
        half = fp32_bytes > MAX_BYTES
    dtype = torch.float16 if half else torch.float32
    weights = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in weights.items()}
    cfg = config_from_dict(ckpt.config, str(ckpt.path / "config.json"))
    card = {
        "format_version": CARD_FORMAT,
        "name": name,
        "weights": which,
        "dtype": str(dtype).removeprefix("torch."),
        "parameters": count_parameters(build_generator(cfg)),
        "step": ckpt.step,
        "wall_time_seconds": ckpt.state.get("wall_time"),
        "config": ckpt.config,
        **(extra or {}),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_output(out / f"{name}.safetensors") as tmp:
        save_file(weights, str(tmp))
    card["weights_sha256"] = sha256_of_file(out / f"{name}.safetensors")  # the card names its own weights
    atomic_write_text(out / f"{name}.json", json.dumps(card, indent=2) + "\n")
    return out / f"{name}.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a checkpoint's generator as monetgan's bundled weights.")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder to bundle")
    parser.add_argument("--out", default=str(weights_dir()), help="output folder (default: the package's weights/)")
    parser.add_argument("--name", default=BUNDLED_NAME)
    parser.add_argument("--card-extra", help="JSON file whose keys are added to the card (recipe, metrics, ...)")
    parser.add_argument("--ema", action=argparse.BooleanOptionalAction, default=None,
                        help="bundle the EMA generator (default: when the checkpoint has one)")
    parser.add_argument("--half", action=argparse.BooleanOptionalAction, default=None,
                        help="store fp16 weights (default: only if fp32 would exceed 20 MB)")
    args = parser.parse_args()
    extra = json.loads(Path(args.card_extra).read_text()) if args.card_extra else None
    print(bundle(args.checkpoint, args.out, args.name, extra, ema=args.ema, half=args.half))


if __name__ == "__main__":
    main()
