"""A training case: monetgan's train_step against the reference loop, in seconds per generator iteration."""

from __future__ import annotations

import statistics
from typing import Any

import torch

from monetgan.config import build_config
from monetgan.nets import count_parameters
from monetgan.training.step import build_state, critic_step, generator_step, train_step

from .cases import BASE_OVERRIDES, Case, describe, load_images, peak_figures, print_peak_figures
from .reference import Reference, check_same_networks
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


def iteration_flops(cfg, images: torch.Tensor, state, ref: Reference) -> tuple[int, int]:
    """FLOPs of one monetgan train_step and one reference iteration. Counted on the meta device
    (shapes only, seconds), else on the real objects at the cost of one more iteration each."""
    try:
        meta = torch.device("meta")
        meta_state = build_state(cfg, images, meta)
        return count_flops(lambda: train_step(meta_state)), count_flops(Reference(cfg, images, meta).train_step)
    except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:  # no meta kernel: count for real
        print(f"  (FLOPs counted on {state.device}: the meta device failed with {exc.__class__.__name__})")
        return count_flops(lambda: train_step(state)), count_flops(ref.train_step)


def run_training_case(name: str, case: Case, sets: dict[str, Any], args, device: torch.device, plain_flags,
                      peaks: Peaks) -> dict[str, Any]:
    cfg = build_config(case.preset, {**BASE_OVERRIDES, **case.overrides, **sets})
    images = load_images(case, cfg.resolution, args.data)
    state = build_state(cfg, images, device)
    monetgan_flags = current_backend_flags()
    with backend_flags(plain_flags):
        torch.manual_seed(0)
        ref = Reference(cfg, images, device)
        x = ref.data[:4]
        check_same_networks(ref.netD, state.critic, x, "critic")
        check_same_networks(ref.netG, state.generator, torch.randn(4, cfg.latent_dim, 1, 1, device=device),
                            "generator")
    split = not args.whole and device.type == "cpu" and cfg.resolution >= 256
    sync = synchronizer(device)
    n_critic = cfg.n_critic

    def ref_run() -> float:
        with backend_flags(plain_flags):
            if split:
                return (n_critic * seconds_per_call(ref.critic_step, args.iters, sync)
                        + seconds_per_call(ref.generator_step, args.iters, sync))
            return seconds_per_call(ref.train_step, args.iters, sync)

    def mine_run() -> float:
        with backend_flags(monetgan_flags):
            if split:
                return (n_critic * seconds_per_call(lambda: critic_step(state), args.iters, sync)
                        + seconds_per_call(lambda: generator_step(state), args.iters, sync))
            return seconds_per_call(lambda: train_step(state), args.iters, sync)

    mine_flops, ref_flops = iteration_flops(cfg, images, state, ref)
    warmup = 1 if device.type == "cpu" else 3  # cuDNN autotuning and allocator growth on GPUs
    with backend_flags(plain_flags):
        for _ in range(warmup):
            if split:
                ref.critic_step()
                ref.generator_step()
            else:
                ref.train_step()
        sync()
    with backend_flags(monetgan_flags):
        for _ in range(warmup):
            if split:
                critic_step(state)
                generator_step(state)
            else:
                train_step(state)
        sync()

    ref_s, mine_s = interleaved_reps(ref_run, mine_run, args.reps, peaks, name, ".3f", "s/it")
    ratios = [r / m for r, m in zip(ref_s, mine_s)]
    result = {
        "case": name, "preset": case.preset, "config": cfg.to_dict(), "device": str(device),
        "timing": ("critic and generator steps timed apart: n_critic x critic + generator" if split
                   else "whole train_step iterations"),
        "iters_per_rep": args.iters, "reps": args.reps,
        "parameters": {"generator": count_parameters(state.generator), "critic": count_parameters(state.critic)},
        "flops_per_iteration": {"monetgan": mine_flops, "reference": ref_flops},
        "seconds_per_iteration": {"reference": spread(ref_s), "monetgan": spread(mine_s)},
        "speedup": statistics.median(ref_s) / statistics.median(mine_s),
        "paired_speedup": spread(ratios),
    }
    result.update(peak_figures({k: result["flops_per_iteration"][k] / statistics.median(v) / 1e9
                                for k, v in (("reference", ref_s), ("monetgan", mine_s))}, peaks, args.reps))

    print(f"\n== {name}: preset {case.preset}, {describe(cfg)}; {device}, {args.reps} reps x {args.iters} "
          f"iterations, {result['timing']}")
    p = result["parameters"]
    print(f"parameters            G {p['generator']:,}  D {p['critic']:,} (reference: same, same outputs)")
    print(f"FLOPs per iteration   monetgan {mine_flops / 1e9:.1f} GFLOP, reference {ref_flops / 1e9:.1f} GFLOP")
    print(f"s / iteration         reference {fmt(result['seconds_per_iteration']['reference'])}")
    print(f"                      monetgan  {fmt(result['seconds_per_iteration']['monetgan'])}")
    print(f"speed-up ref/monetgan {result['speedup']:.2f}x   (per rep {fmt(result['paired_speedup'], 2)})")
    print_peak_figures(result, peaks)
    return result
