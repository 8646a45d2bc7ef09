"""Fine-tune a stylizer toward the *spread* of Monet's style statistics, not their average.

The bundled stylizer's remaining FID gap is the covariance term (docs/photo-to-monet.md): its paintings
have Monet's average look but not the variety of it. Matching averages (palette, Gram matrices toward
the paintings' mean) did not help. This matches a distribution instead:

- each image is described by its style statistics, the channel means and standard deviations of
  EfficientNet-Lite0's four tapped layers (AdaIN's statistics, Huang & Belongie 2017; the projected
  critic's network, never FID's Inception), 992 numbers standardised by the paintings' own spread;
- a sliced Wasserstein distance (Deshpande et al. 2018) pulls the set of the stylizer's descriptors
  onto the set of the 300 paintings' (and their mirror images): each step projects onto fresh random
  directions and matches sorted values to the paintings' quantiles. The batch's 8 descriptors are
  ranked among a queue of recent ones (detached), so that each is pulled to its own quantile;
- an L1 anchor to the starting stylizer's painting keeps the scene and what it learnt on a GPU.

No critic: the distance is fixed, so it needs no warm-up (a fresh critic was what held the CPU
fine-tunes back). Writes `<out>/step-N.safetensors` + card every `--save-every` steps, judged with
`monetgan evaluate --weights <out>/step-N.safetensors --photos VAL ...`.

    OMP_NUM_THREADS=2 python experiments/style_distribution_finetune.py --photos TRAIN \
        --paintings ../shared/data/monet_jpg --out runs/sdist --minutes 60
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from monetgan.data.dataset import load_dataset
from monetgan.data.images import from_uint8
from monetgan.files import sha256_of_file
from monetgan.nets.feature_network import load_feature_network
from monetgan.nets.generator_file import load_bundled, read_card, weights_dir
from monetgan.painting.stylize import STYLIZER_NAME


def style_descriptor(features: torch.nn.Module, image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, 992): channel means and stds of the four taps, in fp32."""
    parts = []
    for tap in features(image):
        tap = tap.float().flatten(2)
        parts += [tap.mean(2), (tap.var(2, unbiased=False) + 1e-5).sqrt()]
    return torch.cat(parts, 1)


def sliced_wasserstein(fake: torch.Tensor, queue: torch.Tensor, real: torch.Tensor, directions: int,
                       rng: torch.Generator) -> torch.Tensor:
    """Squared 1-D Wasserstein distance along random unit directions, averaged; the gradient reaches
    only `fake`, ranked among `fake` + `queue` and matched to `real`'s quantiles at those ranks."""
    proj = torch.randn(real.shape[1], directions, generator=rng)
    proj /= proj.norm(dim=0, keepdim=True)
    pooled = torch.cat([fake, queue]) @ proj  # (n, K)
    n = pooled.shape[0]
    targets = torch.quantile(real @ proj, (torch.arange(n) + 0.5) / n, dim=0)  # (n, K)
    ranks = pooled.detach().argsort(0).argsort(0)  # each value's rank in its direction
    matched = torch.gather(targets, 0, ranks[: fake.shape[0]])
    return ((pooled[: fake.shape[0]] - matched) ** 2).mean()


def save(student: torch.nn.Module, card: dict, out: Path, step: int, note: str) -> Path:
    path = out / f"step-{step:06d}.safetensors"
    save_file({k: v.detach().float().contiguous() for k, v in student.state_dict().items()}, str(path))
    card = dict(card, weights_sha256=sha256_of_file(path), steps_trained=card.get("steps_trained", 0),
                fine_tune=f"{note}; {step} steps of experiments/style_distribution_finetune.py")
    path.with_suffix(".json").write_text(json.dumps(card, indent=2))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", required=True)
    ap.add_argument("--paintings", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=60.0, help="process CPU minutes")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--queue", type=int, default=56)
    ap.add_argument("--directions", type=int, default=256)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--anchor", type=float, default=1.0, help="weight of the L1 anchor to the starting painting")
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", help="start the student from this step-N.safetensors (the anchor stays the bundled one)")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    teacher = load_bundled(STYLIZER_NAME, device="cpu", folder=weights_dir()).requires_grad_(False)
    student = load_bundled(STYLIZER_NAME, device="cpu", folder=weights_dir()).train()
    card = read_card(STYLIZER_NAME, weights_dir())
    if args.init:
        student.load_state_dict(load_file(args.init))
    for net in (teacher, student):  # match what `monetgan stylize` paints: the card's colour low-pass
        net.chroma_blur = float(card.get("chroma_blur", 0.0))
    features = load_feature_network()
    photos = load_dataset(args.photos, 256, show_progress=False).pixels()
    paintings = load_dataset(args.paintings, 256, show_progress=False).pixels()
    print(f"{len(photos)} photos, {len(paintings)} paintings", flush=True)

    with torch.no_grad():  # the paintings and their mirror images, as training flips the photos
        batches = [from_uint8(paintings[i:i + 50]) for i in range(0, len(paintings), 50)]
        real = torch.cat([style_descriptor(features, b) for b in batches + [b.flip(-1) for b in batches]])
    mean, std = real.mean(0), real.std(0) + 1e-6
    real = (real - mean) / std

    opt = torch.optim.Adam(student.parameters(), lr=args.lr, betas=(0.9, 0.99))
    rng = torch.Generator().manual_seed(args.seed)
    np_rng = np.random.default_rng(args.seed)
    queue = torch.empty(0, real.shape[1])
    settings = f"anchor {args.anchor}, lr {args.lr}, batch {args.batch}"
    cpu0, step = time.process_time(), 0
    log = open(out / "log.txt", "a")
    while time.process_time() - cpu0 < args.minutes * 60:
        idx = np_rng.choice(len(photos), args.batch, replace=False)
        photo = from_uint8(photos[idx])
        if np_rng.random() < 0.5:
            photo = photo.flip(-1)
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            target = teacher(photo).float()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            painting = student(photo).float()
            desc = (style_descriptor(features, painting) - mean) / std
        sw = sliced_wasserstein(desc, queue, real, args.directions, rng)
        anchor = (painting - target).abs().mean()
        loss = sw + args.anchor * anchor
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        queue = torch.cat([desc.detach(), queue])[: args.queue]
        step += 1
        line = f"step {step} sw {sw.item():.4f} anchor {anchor.item():.4f} cpu {time.process_time() - cpu0:.0f}"
        log.write(line + "\n")
        if step % 10 == 0:
            log.flush()
            print(line, flush=True)
        if step % args.save_every == 0:
            save(student, card, out, step, settings)
    save(student, card, out, step, settings)


if __name__ == "__main__":
    main()
