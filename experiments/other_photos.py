"""Photos from another source than Kaggle, to judge a stylizer on: landscape photographs that Debian
ships as desktop backgrounds (packages lomiri-wallpapers-16.04/20.04, ukui-wallpapers, mate-backgrounds).

    python experiments/other_photos.py OUT_DIR        # needs apt-get (run `apt-get update` once)

Only the landscapes are kept (the packages also hold abstract art, flowers and insects). Each
photograph gives one 256-px picture of its whole scene (short side to 256, centre crop) and four
256-px quarters of it at twice that scale (short side to 512, the 2x2 grid about the centre), so
8 photographs give 40 pictures. They are written as PNGs to OUT_DIR, which must lie outside the
repository: these photos are other people's work and are never committed.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

PACKAGES = ["lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "ukui-wallpapers", "mate-backgrounds"]
LANDSCAPES = [  # under usr/share/backgrounds/ of those packages
    "Bridge_by_Sander_Klootwijk.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg", "life_by_Aitzol_Berasategi.jpg",
    "mate/nature/Dune.jpg", "mate/nature/Storm.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg",
]


def square(image: Image.Image, short_side: int) -> Image.Image:
    scale = short_side / min(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)


def centre_crop(image: Image.Image, side: int, dx: int = 0, dy: int = 0) -> Image.Image:
    left, top = (image.width - side) // 2 + dx, (image.height - side) // 2 + dy
    return image.crop((left, top, left + side, top + side))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", *PACKAGES], cwd=tmp, check=True, capture_output=True)
        for deb in Path(tmp).glob("*.deb"):
            subprocess.run(["dpkg", "-x", str(deb), "x"], cwd=tmp, check=True)
        root = Path(tmp) / "x/usr/share/backgrounds"
        for name in LANDSCAPES:
            photo = Image.open(root / name).convert("RGB")
            stem = Path(name).stem
            centre_crop(square(photo, 256), 256).save(out / f"{stem}-whole.png")
            big = square(photo, 512)
            for i, (dx, dy) in enumerate([(-128, -128), (128, -128), (-128, 128), (128, 128)]):
                centre_crop(big, 256, dx, dy).save(out / f"{stem}-q{i}.png")
    print(f"{len(list(out.glob('*.png')))} pictures in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python experiments/other_photos.py OUT_DIR")
    main(Path(sys.argv[1]))
