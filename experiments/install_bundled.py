"""Install a packed generator (from experiments/gpu_session.sh) as monetgan's bundled one.

    python experiments/install_bundled.py PACKED_DIR/NAME --eval PACKED_DIR/NAME/eval.json \
        --command "the exact monetgan train command" --hardware "..."

Copies NAME.safetensors to src/monetgan/weights/monet.safetensors and writes monet.json: the packed
card (config, parameter count, dtype, step, wall time) plus recipe, command, hardware, metrics from
`monetgan evaluate`, and the data's provenance. (From a full checkpoint, `python -m monetgan.painting.bundled`
does the same in one step.)
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parent.parent / "src" / "monetgan" / "weights"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("packed", type=Path)
    parser.add_argument("--eval", type=Path, required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--hardware", required=True)
    parser.add_argument("--recipe", required=True)
    args = parser.parse_args()
    name = args.packed.name
    card = json.loads((args.packed / f"{name}.json").read_text())
    report = json.loads(args.eval.read_text())
    result = report["results"][0]
    card.update({
        "name": "monet",
        "trained_as": name,
        "recipe": args.recipe,
        "steps_trained": card["step"],
        "command": args.command,
        "hardware": args.hardware,
        "data": "Kaggle 'I'm Something of a Painter Myself': the 300 Monet paintings of monet_jpg/ (256x256 JPEG), "
                "trained on at the config's resolution; the paintings themselves are not shipped.",
        "metrics": {
            "evaluated_with": f"monetgan evaluate --fake <{result['num_fake']} paintings from these weights> "
                              f"--real monet_jpg --num {result['num_fake']}",
            "resolution": result["resolution"],
            **{k: result[k] for k in ("fid", "kid", "kid_std", "mifid", "swd", "memorization_distance")},
            "memorization": {k: v for k, v in result["memorization"].items() if k != "grid"},
            "diversity": result["diversity"],
            "real_vs_real_floor": report["real_floor"],
        },
    })
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.packed / f"{name}.safetensors", WEIGHTS / "monet.safetensors")
    (WEIGHTS / "monet.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"installed {name} -> {WEIGHTS}")


if __name__ == "__main__":
    main()
