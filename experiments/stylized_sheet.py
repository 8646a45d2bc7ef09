"""A sheet of held-out photos painted by a stylizer, for the docs (the paintings only: the photos are
Kaggle's and are never copied into the repository).

    python experiments/stylized_sheet.py --run RUN [--checkpoint step-N | --weights FILE] --photos PHOTOS \
        --out docs/images/sheet.jpg [--count 16] [--columns 4]

It paints the first COUNT names of RUN/holdout.txt (photos the run never trained on) with
`monetgan.stylize`, exactly as a user would, and lays them out in name order.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import monetgan
from monetgan.data.images import make_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="the run whose holdout.txt names the photos")
    parser.add_argument("--checkpoint", help="paint with this checkpoint of the run (default: its latest)")
    parser.add_argument("--weights", help="paint with this stylizer file instead of the run's checkpoint")
    parser.add_argument("--photos", required=True, help="the photo folder the run trained from")
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument("--columns", type=int, default=4)
    parser.add_argument("--tile", type=int, default=256)
    args = parser.parse_args()
    names = sorted((Path(args.run) / "holdout.txt").read_text().split())[: args.count]
    with tempfile.TemporaryDirectory() as tmp:
        chosen = Path(tmp) / "photos"
        chosen.mkdir()
        for name in names:
            (chosen / Path(name).name).symlink_to(Path(args.photos).resolve() / name)
        source = ({"weights": args.weights} if args.weights else
                  {"checkpoint": Path(args.run) / "checkpoints" / args.checkpoint} if args.checkpoint else {"run": args.run})
        written = sorted(monetgan.stylize(chosen, Path(tmp) / "out", size=args.tile, show_progress=False, **source).written)
        paintings = np.stack([np.asarray(Image.open(path).convert("RGB")) for path in written])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_grid(paintings, args.columns, padding=0)).save(args.out, quality=90)
    print(f"{args.out}: {len(written)} paintings of {', '.join(Path(n).stem for n in names[:3])}, ...")


if __name__ == "__main__":
    main()
