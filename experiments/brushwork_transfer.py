"""Monet's own brushwork, transplanted into the stylizer's paintings by patch matching: does FID follow?

    pip install faiss-cpu   # this experiment's nearest-neighbour search; not a dependency of monetgan
    python experiments/brushwork_transfer.py --val VAL --paintings PAINTINGS

VAL: photos the stylizer neither trained on nor is judged on (experiments/never_seen_photos.py).
Image analogies and quilting (Hertzmann et al. 2001, Efros & Freeman 2001) in their simplest form:
the bundled stylizer paints each photo (with the card's colour blur); every 16x16 patch of its
painting, at a stride of 8, finds the patch of the paintings (and their mirror images, stride 8) that
is nearest in a coarse description (brightness pooled to 8x8, colour to 4x4); the fine brightness
detail of the matched patches (Y minus a Gaussian of sigma px) is overlap-added with a Hann window and
takes the place of a fraction beta of the painting's own:

    Y = G_sigma(Y) + beta * detail(matched) + (1 - beta) * (Y - G_sigma(Y)),   Cb, Cr kept.

The overlap-add divides by the square root of the summed squared window ("var": keeps the detail's
power, as if the patches were independent) or by the summed window ("mean"). Each row prints FID (with
its mean term), KID and SWD against the paintings (experiments/post_hoc_fixes.row_scorer).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from monetgan.nets.layers import gaussian_kernel, separable_blur
from monetgan.painting.stylize import load_stylizer, stylize_batch
from post_hoc_fixes import from_ycbcr, images, row_scorer, to_ycbcr

PATCH, STRIDE = 16, 8  # stride half the patch: the Hann windows overlap-add to one
ROWS = {0.7: [(1.0, "var")],  # sigma px: the (beta, overlap-add normalisation) rows painted with it
        1.0: [(0.25, "var"), (0.5, "var"), (0.5, "mean"), (1.0, "var"), (1.0, "mean")],
        2.0: [(0.5, "var"), (1.0, "var")]}


def descriptors(ycc: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) YCbCr -> (N * L, 96): each patch's brightness pooled to 8x8 and colour to 4x4,
    patches in unfold's order (image-major)."""
    y = F.unfold(F.avg_pool2d(ycc[:, :1], 2), PATCH // 2, stride=STRIDE // 2)
    c = F.unfold(F.avg_pool2d(ycc[:, 1:], 4), PATCH // 4, stride=STRIDE // 4)
    d = torch.cat([y, 0.7 * c], 1)  # 0.7: colour weighs about half as much per value as brightness
    return d.transpose(1, 2).reshape(-1, d.shape[1])


def nearest_index(database: torch.Tensor):
    """A search for each query's nearest database row: faiss's inverted file (1,024 cells, 8 probed),
    60 CPU-s for half a million queries where the exact search takes most of an hour on two cores.
    Its cells depend on the thread count (OMP_NUM_THREADS; the docs' rows used 2); at equal threads two
    runs printed the same rows."""
    try:
        import faiss
    except ImportError:
        sys.exit("brushwork_transfer: this experiment needs faiss-cpu; run: pip install faiss-cpu")
    x = database.numpy().astype(np.float32)
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(x.shape[1]), x.shape[1], 1024)
    index.train(x[np.random.default_rng(0).choice(len(x), 100_000, replace=False)])
    index.add(x)
    index.nprobe = 8
    return lambda queries: torch.from_numpy(index.search(queries.numpy().astype(np.float32), 1)[1][:, 0]).long()


def detail(y: torch.Tensor, sigma: float) -> torch.Tensor:
    return y - separable_blur(y, gaussian_kernel(sigma))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--val", required=True)
    parser.add_argument("--paintings", required=True)
    args = parser.parse_args()
    score, real = row_scorer(args.paintings)
    painted = stylize_batch(load_stylizer(), images(args.val))  # the card's colour blur (1 px)
    score("as the card paints", painted)

    to_planes = lambda imgs: torch.from_numpy(to_ycbcr(imgs)).float().permute(0, 3, 1, 2)  # noqa: E731
    monet = to_planes(np.concatenate([real.images, real.images[:, :, ::-1]]))
    ycc = to_planes(painted)
    pad = PATCH // 2  # reflected, so that every pixel is covered by whole windows
    padded = F.pad(ycc, (pad,) * 4, mode="reflect")
    side = padded.shape[-1]
    per_painting = ((monet.shape[-1] - PATCH) // STRIDE + 1) ** 2
    per_query = ((side - PATCH) // STRIDE + 1) ** 2

    started = time.process_time()
    search = nearest_index(descriptors(monet))
    match = torch.cat([search(descriptors(padded[i : i + 32])) for i in range(0, len(padded), 32)])
    print(f"{len(match)} patches matched in {time.process_time() - started:.0f} CPU-s", flush=True)
    source, where = match // per_painting, match % per_painting

    hann = torch.sin((torch.arange(PATCH) + 0.5) * np.pi / PATCH) ** 2
    window = (hann[:, None] * hann[None]).flatten()[None, :, None]
    cover = F.unfold(torch.ones(1, 1, side, side), PATCH, stride=STRIDE)
    norms = {"var": F.fold(cover * window**2, side, PATCH, stride=STRIDE).sqrt(),
             "mean": F.fold(cover * window, side, PATCH, stride=STRIDE)}
    y = ycc[:, :1]
    for sigma, rows in ROWS.items():
        # The matched detail and the painting's own, once per sigma: the rows below only mix them.
        patches = F.unfold(detail(monet[:, :1], sigma), PATCH, stride=STRIDE)[source, :, where]
        overlapped = F.fold(patches.reshape(len(ycc), per_query, PATCH * PATCH).transpose(1, 2) * window,
                            side, PATCH, stride=STRIDE)
        own = detail(y, sigma)
        for beta, norm in rows:
            added = (overlapped / norms[norm])[..., pad:-pad, pad:-pad]
            new_y = y - own + beta * added + (1 - beta) * own
            out = torch.cat([new_y, ycc[:, 1:]], 1).permute(0, 2, 3, 1).double().numpy()
            score(f"sigma {sigma:g} beta {beta:g} {norm}", from_ycbcr(out))


if __name__ == "__main__":
    main()
