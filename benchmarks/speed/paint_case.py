"""The paint case: images/s from a saved checkpoint through `monetgan paint`'s path against a plain netG loop."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch

from monetgan.config import build_config
from monetgan.nets.sampling import generate, latents_for_seeds
from monetgan.painting.paint import load_generator
from monetgan.training.checkpoint import save_checkpoint
from monetgan.training.step import build_state, checkpoint_payload

from .cases import BASE_OVERRIDES, Case, load_images, peak_figures, print_peak_figures
from .reference import RefGenerator, check_same_networks
from .timing import (
    Peaks,
    backend_flags,
    count_flops,
    current_backend_flags,
    fmt,
    interleaved_reps,
    seconds_per_call,
    spread,
    synchronizer,
)


def run_paint_case(case: Case, sets: dict[str, Any], args, device: torch.device, plain_flags,
                   peaks: Peaks) -> dict[str, Any]:
    cfg = build_config(case.preset, {**BASE_OVERRIDES, **case.overrides, **sets})
    count = args.iters * args.paint_batch
    with tempfile.TemporaryDirectory() as run_dir:
        # The real `paint` path: a checkpoint on disk, loaded as `monetgan paint` loads it.
        state = build_state(cfg, load_images(case, cfg.resolution, "random"), device)
        tensors, meta = checkpoint_payload(state)
        ckpt = save_checkpoint(Path(run_dir), 0, tensors, meta, cfg.to_dict())
        generator = load_generator(ckpt, device=str(device))
        del state
    monetgan_flags = current_backend_flags()
    with backend_flags(plain_flags):
        netG = RefGenerator(cfg.resolution, cfg.latent_dim, cfg.generator_channels, cfg.max_channels).to(device)
        check_same_networks(netG, generator, torch.randn(2, cfg.latent_dim, 1, 1, device=device), "generator")
    netG.eval()
    z = latents_for_seeds(range(count), cfg.latent_dim)
    sync = synchronizer(device)

    def ref_paint() -> list:
        out = []
        with torch.no_grad():
            for i in range(0, count, args.paint_batch):
                x = netG(z[i:i + args.paint_batch].to(device).view(-1, cfg.latent_dim, 1, 1))
                out.append(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
        return out

    def ref_run() -> float:
        with backend_flags(plain_flags):
            return count / seconds_per_call(ref_paint, 1, sync)

    def mine_run() -> float:
        with backend_flags(monetgan_flags):
            return count / seconds_per_call(lambda: generate(generator, z, batch_size=args.paint_batch), 1, sync)

    with backend_flags(plain_flags), torch.no_grad():
        netG(z[: args.paint_batch].to(device).view(-1, cfg.latent_dim, 1, 1))
        flops = count_flops(lambda: netG(z[:1].to(device).view(-1, cfg.latent_dim, 1, 1)))
    with backend_flags(monetgan_flags):
        generate(generator, z[: args.paint_batch], batch_size=args.paint_batch)
    ref_ips, mine_ips = interleaved_reps(ref_run, mine_run, args.reps, peaks, "paint", ".2f", "img/s")
    ratios = [m / r for r, m in zip(ref_ips, mine_ips)]
    gf = {"reference": statistics.median(ref_ips) * flops / 1e9, "monetgan": statistics.median(mine_ips) * flops / 1e9}
    result = {
        "case": "paint", "preset": case.preset, "config": cfg.to_dict(), "device": str(device),
        "images_per_rep": count, "batch": args.paint_batch, "reps": args.reps, "flops_per_image": flops,
        "images_per_second": {"reference": spread(ref_ips), "monetgan": spread(mine_ips)},
        "speedup": statistics.median(mine_ips) / statistics.median(ref_ips),
        "paired_speedup": spread(ratios),
        **peak_figures(gf, peaks, args.reps),
    }
    print(f"\n== paint: {cfg.resolution} px generator of preset {case.preset} (width {cfg.generator_channels}), "
          f"{count} images in batches of {args.paint_batch}; {device}, {args.reps} reps")
    print(f"FLOPs per image       {flops / 1e9:.2f} GFLOP")
    print(f"images / s            reference {fmt(result['images_per_second']['reference'], 2)}")
    print(f"                      monetgan  {fmt(result['images_per_second']['monetgan'], 2)}")
    print(f"speed-up monetgan/ref {result['speedup']:.2f}x   (per rep {fmt(result['paired_speedup'], 2)})")
    print_peak_figures(result, peaks)
    return result
