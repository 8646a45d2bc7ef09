"""How much fine detail a stylizer paints, band by band, in brightness and in colour, against the paintings.

    python experiments/colour_spectra.py --val VAL --paintings PAINTINGS [--num 300] [--chroma-blur 0 0.5 0.75 1 1.5]

VAL: photos the stylizer neither trained on nor is judged on (experiments/never_seen_photos.py).
Each image is taken to JPEG's YCbCr (Y: brightness; Cb, Cr: colour), windowed (Hann) and
Fourier-transformed; the power is averaged over the images and over rings of spatial frequency
(in cycles per 256 px), and printed as a ratio to the paintings' power in the same ring: 1 means
as much detail as the paintings have at that scale. Rows: the photos, then the bundled stylizer's
paintings of them with each colour blur of --chroma-blur (nets/translator.py; 0: as trained).

This is what showed the stylizer's colour noise: 10 to 17 times the paintings' colour power above
64 cycles, where Kaggle's paintings (JPEGs with 4:2:0 colour, i.e. colour at half resolution)
have almost none (docs/photo-to-monet.md).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image

from monetgan.data.dataset import load_dataset
from monetgan.nets.translator import set_chroma_blur
from monetgan.painting.stylize import load_stylizer, stylize_batch

BANDS = ((1, 8), (8, 16), (16, 32), (32, 64), (64, 96), (96, 128))  # cycles per 256 px


def images(folder: str, num: int | None = None) -> np.ndarray:
    found = load_dataset(folder, 256, show_progress=False).images[:num]
    return found.permute(0, 2, 3, 1).contiguous().numpy()


def ring_power(imgs: np.ndarray) -> dict[str, np.ndarray]:
    """Mean power of Y, Cb and Cr in each ring of BANDS, over (N, 256, 256, 3) uint8 images."""
    ycc = np.stack([np.asarray(Image.fromarray(v).convert("YCbCr"), dtype=np.float64) for v in imgs])
    ycc -= ycc.mean(axis=(1, 2), keepdims=True)
    window = np.outer(np.hanning(256), np.hanning(256))[None, :, :, None]
    power = (np.abs(np.fft.fftshift(np.fft.fft2(ycc * window, axes=(1, 2)), axes=(1, 2))) ** 2).mean(0)
    yy, xx = np.indices((256, 256))
    radius = np.hypot(yy - 128, xx - 128)
    return {channel: np.array([power[..., c][(radius >= lo) & (radius < hi)].mean() for lo, hi in BANDS])
            for c, channel in enumerate(("Y", "Cb", "Cr"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val", required=True)
    parser.add_argument("--paintings", required=True)
    parser.add_argument("--num", type=int, default=300, help="validation photos to use (default 300)")
    parser.add_argument("--chroma-blur", type=float, nargs="*", default=[0, 0.5, 0.75, 1, 1.5])
    args = parser.parse_args()
    torch.manual_seed(0)
    reference = ring_power(images(args.paintings))
    photos = images(args.val, args.num)
    stylizer = load_stylizer(device="cpu")
    rows = [("photos", photos)]
    for sigma in args.chroma_blur:
        set_chroma_blur(stylizer, sigma)
        rows.append((f"stylized, colour blur {sigma:g}", stylize_batch(stylizer, photos)))
    print("power / the paintings' power, per ring of", ", ".join(f"{lo}-{hi}" for lo, hi in BANDS),
          "cycles per 256 px")
    for name, imgs in rows:
        power = ring_power(imgs)
        print(f"{name:28s}" + "  ".join(f"{c} " + " ".join(f"{v:5.2f}" for v in power[c] / reference[c])
                                        for c in ("Y", "Cb", "Cr")), flush=True)


if __name__ == "__main__":
    main()
