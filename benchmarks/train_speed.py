"""How fast monetgan trains and paints, against a plain PyTorch reference and this machine's FLOP limit.

    python -m benchmarks.train_speed [--device cpu|cuda] [--iters 2] [--reps 3]
                                     [--only wgan,wgan-gp,256,paint] [--set key=value ...] [--json out.json]

Each case runs two implementations of the same work in one process, interleaved rep by rep so that
both see the same machine load:
  reference  the straightforward fp32 code written below, in the style of the papers' own code
             (Arjovsky's WGAN `main.py`, Gulrajani's `gan_64x64.py` and its PyTorch port): separate
             netG / netD modules, real batches indexed from a float tensor, one backward per term,
             the penalty through autograd.grad(create_graph=True), default torch settings.
  monetgan   `monetgan.training.train_step` on a state from `build_state(build_config(preset, ...))`,
             so whatever the config does (precision, memory format, fused optimizers) is measured.
The reference copies its sizes, optimizer and norm from the resolved monetgan config and starts from
monetgan's initial weights; the script checks that both have the same parameter count and compute
the same outputs before it times anything.

Cases: wgan (wgan-64: RMSprop 5e-5, clipping, batch-norm critic; the 100-step warm-up is switched off
so every iteration has n_critic 5), wgan-gp (wgan-gp-64: Adam 1e-4 (0, 0.9), layer-norm critic),
256 (wgan-gp-256: batch 16, base width 32) and paint (256 px images/s: `painting.load_generator` on a
saved checkpoint + `sampling.generate`, against a plain no-grad netG loop). `--set` overrides apply to
the monetgan side of every case (and through the config to the reference's sizes); EMA is off
(ema_decay 0) unless set, since the reference has none.

Printed per case: seconds per generator iteration (median and min..max over reps of --iters
iterations, after one warm-up iteration), the speed-up reference / monetgan, FLOPs of one iteration
(torch.utils.flop_counter, multiply-add = 2), achieved GFLOP/s and its fraction of the fp32 and bf16
matmul peaks measured in the same run. On a CPU the 256 px case times critic steps and generator
steps separately (`--iters` of each) and reports n_critic x critic + generator, because one of its
iterations takes about a minute; `--whole` times whole iterations there too.
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import json
import math
import os
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import autograd, nn
from torch.utils.flop_counter import FlopCounterMode

from monetgan.checkpoint import save_checkpoint
from monetgan.config import build_config, parse_set_items
from monetgan.errors import UserError
from monetgan.models import count_parameters
from monetgan.painting import load_generator
from monetgan.sampling import generate, latents_for_seeds
from monetgan.training import (
    build_state,
    checkpoint_payload,
    critic_step,
    generator_step,
    train_step,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "monet_jpg"


@dataclass(frozen=True)
class Case:
    preset: str
    overrides: dict[str, Any]
    random_images: int  # how many random uint8 images to train on (speed does not depend on content)


CASES = {
    "wgan": Case("wgan-64", {"wgan_warmup": False}, 128),
    "wgan-gp": Case("wgan-gp-64", {}, 128),
    "256": Case("wgan-gp-256", {}, 64),
    "paint": Case("wgan-gp-256", {}, 16),
}
BASE_OVERRIDES = {"ema_decay": 0.0}  # the reference keeps no EMA generator


# ----------------------------------------------------------------------------------------------
# The plain reference: DCGAN networks and the WGAN / WGAN-GP loop as the papers' code writes them
# ----------------------------------------------------------------------------------------------

def ladder(resolution: int, base: int, cap: int) -> list[int]:
    """Widths at 4x4, 8x8, ..., resolution/2: base at resolution/2, doubling towards 4x4, capped."""
    levels = int(math.log2(resolution)) - 2
    return [min(cap, base * 2 ** (levels - 1 - i)) for i in range(levels)]


class RefGenerator(nn.Module):
    """DCGAN_G (Arjovsky's models/dcgan.py): z (B, nz, 1, 1) -> (B, 3, isize, isize) in [-1, 1]."""

    def __init__(self, isize: int, nz: int, ngf: int, cap: int):
        super().__init__()
        widths = ladder(isize, ngf, cap)
        main = nn.Sequential()
        main.add_module("initial:convt", nn.ConvTranspose2d(nz, widths[0], 4, 1, 0, bias=False))
        main.add_module("initial:batchnorm", nn.BatchNorm2d(widths[0]))
        main.add_module("initial:relu", nn.ReLU(True))
        for i, (cin, cout) in enumerate(itertools.pairwise(widths)):
            main.add_module(f"pyramid:{i}:convt", nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False))
            main.add_module(f"pyramid:{i}:batchnorm", nn.BatchNorm2d(cout))
            main.add_module(f"pyramid:{i}:relu", nn.ReLU(True))
        main.add_module("final:convt", nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1, bias=False))
        main.add_module("final:tanh", nn.Tanh())
        self.main = main

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class RefCritic(nn.Module):
    """DCGAN_D without the sigmoid: (B, 3, isize, isize) -> (B,) scores. norm as WGAN-GP's critic uses it."""

    def __init__(self, isize: int, ndf: int, cap: int, norm: str):
        super().__init__()
        widths = ladder(isize, ndf, cap)[::-1]
        main = nn.Sequential()
        main.add_module("initial:conv", nn.Conv2d(3, widths[0], 4, 2, 1, bias=False))
        main.add_module("initial:relu", nn.LeakyReLU(0.2, inplace=True))
        for i, (cin, cout) in enumerate(itertools.pairwise(widths)):
            main.add_module(f"pyramid:{i}:conv", nn.Conv2d(cin, cout, 4, 2, 1, bias=False))
            if norm == "batchnorm":
                main.add_module(f"pyramid:{i}:batchnorm", nn.BatchNorm2d(cout))
            elif norm == "layernorm":  # normalise over (C, H, W) per sample
                main.add_module(f"pyramid:{i}:layernorm", nn.GroupNorm(1, cout))
            main.add_module(f"pyramid:{i}:relu", nn.LeakyReLU(0.2, inplace=True))
        main.add_module("final:conv", nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False))
        self.main = main

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


class Reference:
    """WGAN (Arjovsky et al. 2017) / WGAN-GP (Gulrajani et al. 2017) Algorithm 1, written plainly."""

    def __init__(self, cfg, images: torch.Tensor, device: torch.device):
        if cfg.loss not in ("wgan", "wgan-gp") or getattr(cfg, "architecture", "dcgan") != "dcgan":
            raise UserError(f"the reference loop is DCGAN WGAN / WGAN-GP only; got loss={cfg.loss}, "
                            f"architecture={getattr(cfg, 'architecture', 'dcgan')}")
        self.cfg, self.device = cfg, device
        self.netG = RefGenerator(cfg.resolution, cfg.latent_dim, cfg.generator_channels, cfg.max_channels).to(device)
        self.netD = RefCritic(cfg.resolution, cfg.critic_channels, cfg.max_channels, cfg.critic_norm).to(device)
        self.data = images.to(device).float().div(127.5).sub(1)  # (N, 3, R, R) in [-1, 1]
        if cfg.optimizer == "rmsprop":
            self.optimizerD = torch.optim.RMSprop(self.netD.parameters(), lr=cfg.lr_critic)
            self.optimizerG = torch.optim.RMSprop(self.netG.parameters(), lr=cfg.lr_generator)
        else:
            betas = (cfg.adam_beta1, cfg.adam_beta2)
            self.optimizerD = torch.optim.Adam(self.netD.parameters(), lr=cfg.lr_critic, betas=betas)
            self.optimizerG = torch.optim.Adam(self.netG.parameters(), lr=cfg.lr_generator, betas=betas)

    def noise(self) -> torch.Tensor:
        return torch.randn(self.cfg.batch_size, self.cfg.latent_dim, 1, 1, device=self.device)

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        alpha = torch.rand(real.shape[0], 1, 1, 1, device=self.device)
        interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        disc_interpolates = self.netD(interpolates)
        gradients = autograd.grad(outputs=disc_interpolates, inputs=interpolates,
                                  grad_outputs=torch.ones_like(disc_interpolates),
                                  create_graph=True, retain_graph=True)[0]
        return ((gradients.view(gradients.shape[0], -1).norm(2, dim=1) - 1) ** 2).mean() * self.cfg.gp_weight

    def critic_step(self) -> None:
        cfg, netD = self.cfg, self.netD
        real = self.data[torch.randint(len(self.data), (cfg.batch_size,), device=self.device)]
        netD.zero_grad()
        errD_real = netD(real).mean()
        (-errD_real).backward()
        with torch.no_grad():  # totally freeze netG
            fake = self.netG(self.noise())
        errD_fake = netD(fake).mean()
        errD_fake.backward()
        if cfg.loss == "wgan-gp":
            self.gradient_penalty(real, fake).backward()
        self.optimizerD.step()
        if cfg.loss == "wgan":
            for p in netD.parameters():
                p.data.clamp_(-cfg.clip_value, cfg.clip_value)

    def generator_step(self) -> None:
        for p in self.netD.parameters():
            p.requires_grad = False  # to avoid computation
        self.netG.zero_grad()
        errG = -self.netD(self.netG(self.noise())).mean()
        errG.backward()
        self.optimizerG.step()
        for p in self.netD.parameters():
            p.requires_grad = True

    def train_step(self) -> None:
        for _ in range(self.cfg.n_critic):
            self.critic_step()
        self.generator_step()


def copy_weights(dst: nn.Module, src: nn.Module) -> None:
    """Copy parameters and buffers position by position (the two nets name their layers differently)."""
    with torch.no_grad():
        for a, b in zip(list(dst.parameters()) + list(dst.buffers()), list(src.parameters()) + list(src.buffers())):
            a.copy_(b)


def check_same_networks(ref: nn.Module, mine: nn.Module, x: torch.Tensor, what: str) -> None:
    """Same parameter count, and the same outputs from the same weights (in eval mode, on a copy of x)."""
    n_ref, n_mine = count_parameters(ref), count_parameters(mine)
    if n_ref != n_mine:
        raise SystemExit(f"reference {what} has {n_ref:,} parameters, monetgan's {n_mine:,}: the benchmark "
                         "no longer mirrors models.py (or --set changed the architecture)")
    copy_weights(ref, mine)
    ref_mode, mine_mode = ref.training, mine.training
    ref.eval(), mine.eval()
    with torch.no_grad():
        a, b = ref(x).float().flatten(), mine(x).float().flatten()
    ref.train(ref_mode), mine.train(mine_mode)
    err = (a - b).abs().max().item() / max(a.abs().max().item(), 1e-12)
    if err > 5e-2:  # loose enough for a bf16 monetgan path
        raise SystemExit(f"reference {what} and monetgan's disagree (max relative difference {err:.2e})")


# ----------------------------------------------------------------------------------------------
# Timing, FLOPs and peaks
# ----------------------------------------------------------------------------------------------

def interleaved_reps(ref_run, mine_run, reps: int, peaks, label: str, fmt: str, unit: str) -> tuple[list, list]:
    """`reps` measurements of each path, alternating which goes first so that a load change
    mid-rep does not always favour one side; the matmul peak is sampled after each rep."""
    ref, mine = [], []
    for r in range(reps):
        if r % 2 == 0:
            ref.append(ref_run())
            mine.append(mine_run())
        else:
            mine.append(mine_run())
            ref.append(ref_run())
        peaks.sample()
        print(f"  [{label}] rep {r + 1}/{reps}: reference {ref[-1]:{fmt}} {unit}, monetgan {mine[-1]:{fmt}} {unit}, "
              f"fp32 matmul {peaks.fp32[-1]:.1f} GFLOP/s", flush=True)
    return ref, mine


def synchronizer(device: torch.device):
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)


def seconds_per_call(fn, n: int, sync) -> float:
    sync()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return (time.perf_counter() - start) / n


def _backend_flags() -> tuple[bool, bool, bool]:
    return (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)


@contextmanager
def backend_flags(flags: tuple[bool, bool, bool]):
    """Run under the given (matmul TF32, cuDNN TF32, cuDNN benchmark) flags: build_state may set them
    globally on CUDA, and the reference must keep torch's defaults."""
    saved = _backend_flags()
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = flags
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


class _NoModuleTracker:
    """FlopCounterMode's per-module tracker breaks autograd.grad on a leaf input (the penalty's x_hat:
    "A leaf node was passed to _will_engine_execute_node"); only the global total is needed here."""

    parents: ClassVar[set[str]] = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return None


def count_flops(fn) -> int:
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _NoModuleTracker()
    with counter:
        fn()
    return counter.get_total_flops()


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


def matmul_gflops(n: int, dtype: torch.dtype, device: torch.device, reps: int = 3) -> float:
    """2 n^3 / median seconds of an n x n @ n x n matmul."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    sync = synchronizer(device)
    a @ b
    return 2 * n**3 / statistics.median(seconds_per_call(lambda: a @ b, 1, sync) for _ in range(reps)) / 1e9


def bf16_peak(device: torch.device, cap_s: float) -> tuple[float, int]:
    """bf16 matmul GFLOP/s and the size used: 8192 on CUDA; on a CPU the largest of 64..512 whose
    single matmul is predicted under cap_s (CPUs without AVX-512-BF16/AMX take minutes for 2048)."""
    if device.type == "cuda":
        return matmul_gflops(8192, torch.bfloat16, device), 8192
    n, gflops = 64, matmul_gflops(64, torch.bfloat16, device)
    while n < 512 and 2 * (2 * n) ** 3 / (gflops * 1e9) < cap_s / 3:  # three timed reps + warm-up
        n *= 2
        gflops = matmul_gflops(n, torch.bfloat16, device)
    return gflops, n


@dataclass
class Peaks:
    fp32: list[float]  # GFLOP/s, measured once per rep of every case
    bf16: float
    bf16_size: int
    fp32_size: int
    device: torch.device

    def sample(self) -> None:
        with backend_flags((False, False, False)):  # true fp32, not TF32
            self.fp32.append(matmul_gflops(self.fp32_size, torch.float32, self.device))


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(s: dict[str, float], digits: int = 3) -> str:
    return f"{s['median']:9.{digits}f}  ({s['min']:.{digits}f}..{s['max']:.{digits}f})"


# ----------------------------------------------------------------------------------------------
# Cases
# ----------------------------------------------------------------------------------------------

def load_images(case: Case, resolution: int, data: str) -> torch.Tensor:
    """(N, 3, R, R) uint8: random, or decoded from a folder / zip of paintings."""
    if data == "random":
        return torch.randint(0, 256, (case.random_images, 3, resolution, resolution), dtype=torch.uint8,
                             generator=torch.Generator().manual_seed(0))
    from monetgan.data import load_dataset

    path = os.environ.get("MONETGAN_DATA", str(DEFAULT_DATA)) if data == "real" else data
    return load_dataset(path, resolution, show_progress=False).images


def describe(cfg) -> str:
    return (f"loss {cfg.loss}, {cfg.resolution} px, batch {cfg.batch_size}, n_critic {cfg.n_critic}, "
            f"critic {cfg.critic_norm}, {cfg.optimizer}, widths G {cfg.generator_channels} D {cfg.critic_channels}, "
            f"precision {cfg.precision}")


def peak_figures(gflops: dict[str, float], peaks: Peaks, reps: int) -> dict[str, Any]:
    """Achieved GFLOP/s per path, and as fractions of the matmul peaks sampled during the last `reps` reps."""
    fp32_peak = statistics.median(peaks.fp32[-reps:])
    return {
        "fp32_matmul_gflops": spread(peaks.fp32[-reps:]),
        "achieved_gflops": gflops,
        "fraction_of_fp32_peak": {k: v / fp32_peak for k, v in gflops.items()},
        "fraction_of_bf16_peak": {k: v / peaks.bf16 for k, v in gflops.items()},
    }


def print_peak_figures(result: dict[str, Any], peaks: Peaks) -> None:
    gf, fp32, bf16 = result["achieved_gflops"], result["fraction_of_fp32_peak"], result["fraction_of_bf16_peak"]
    print(f"achieved GFLOP/s      reference {gf['reference']:.1f}, monetgan {gf['monetgan']:.1f}   "
          f"(fp32 matmul {fmt(result['fp32_matmul_gflops'], 1)})")
    print(f"fraction of peak      fp32: reference {fp32['reference']:.2f}, monetgan {fp32['monetgan']:.2f};  "
          f"bf16 ({peaks.bf16:.1f} GFLOP/s): reference {bf16['reference']:.2f}, monetgan {bf16['monetgan']:.2f}\n",
          flush=True)


def run_training_case(name: str, case: Case, sets: dict[str, Any], args, device: torch.device, plain_flags,
                      peaks: Peaks) -> dict[str, Any]:
    cfg = build_config(case.preset, {**BASE_OVERRIDES, **case.overrides, **sets})
    images = load_images(case, cfg.resolution, args.data)
    state = build_state(cfg, images, device)
    monetgan_flags = _backend_flags()
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
    monetgan_flags = _backend_flags()
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


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameter numbers (malloc.h)


def keep_freed_memory() -> bool:
    """--malloc keep: on Linux with glibc, make `malloc` keep freed memory instead of unmapping it
    (the MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_ experiment in benchmarks/README.md, in-process).
    Process-wide, so the reference gets it too. Returns whether it was applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # only glibc has it; musl's mallopt is a no-op
        return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    except (OSError, AttributeError):
        return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--iters", type=int, default=2, help="generator iterations per rep (paint: batches per rep)")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions per path (median and spread)")
    parser.add_argument("--only", default=",".join(CASES), help=f"comma list of cases: {', '.join(CASES)}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="monetgan config override for every case, e.g. --set precision=bf16 (repeatable)")
    parser.add_argument("--data", default="random",
                        help="random (default), real ($MONETGAN_DATA or ../shared/data/monet_jpg), or a folder/zip")
    parser.add_argument("--paint-batch", type=int, default=64, help="images per generator call in the paint case")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--whole", action="store_true", help="time whole iterations at 256 px on a CPU too")
    parser.add_argument("--bf16-cap", type=float, default=20.0,
                        help="seconds one CPU bf16 matmul may take when probing its peak")
    parser.add_argument("--malloc", choices=("glibc", "keep"), default="glibc",
                        help="CPU allocator: glibc's defaults, or keep freed memory (mallopt; process-wide, "
                             "so the reference gets it too)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown or not names:
        parser.error(f"--only {args.only!r}: choose from {', '.join(CASES)}")
    if args.iters < 1 or args.reps < 1 or args.paint_batch < 1:
        parser.error("--iters, --reps and --paint-batch must be at least 1")
    try:
        sets = parse_set_items(args.set)
        device = torch.device(args.device)
    except (UserError, RuntimeError) as exc:
        parser.error(str(exc))
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: PyTorch sees no CUDA GPU")
    if args.threads:
        torch.set_num_threads(args.threads)

    plain_flags = _backend_flags()  # torch's defaults, before build_state may change them
    header = (f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
              f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    if device.type == "cuda":
        header += f", GPU {torch.cuda.get_device_name(device)}"
    print(header)
    malloc_env = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES"}
    if malloc_env:  # glibc allocator settings change CPU timings by up to 20% (benchmarks/README.md)
        print(f"allocator environment: {malloc_env}")
    if device.type == "cpu" and args.malloc == "keep":
        print("allocator: " + ("freed memory kept (mallopt M_MMAP_MAX=0, M_TRIM_THRESHOLD=2^31-1)"
                               if keep_freed_memory() else "glibc defaults (mallopt is not available here)"))
    if sets:
        print(f"--set overrides for monetgan: {sets}")
    fp32_size = 8192 if device.type == "cuda" else 2048
    start = time.perf_counter()
    bf16, bf16_size = bf16_peak(device, args.bf16_cap)
    peaks = Peaks(fp32=[], bf16=bf16, bf16_size=bf16_size, fp32_size=fp32_size, device=device)
    peaks.sample()
    print(f"matmul peaks: fp32 {peaks.fp32[0]:.1f} GFLOP/s ({fp32_size}^2), bf16 {bf16:.1f} GFLOP/s ({bf16_size}^2)"
          f" [{time.perf_counter() - start:.1f} s]")
    if device.type == "cuda":
        with backend_flags((True, True, False)):
            print(f"              tf32 {matmul_gflops(fp32_size, torch.float32, device):.1f} GFLOP/s "
                  "(cuDNN convolutions use TF32 by default even in 'fp32')")
    print(flush=True)

    results = []
    try:
        for name in names:
            if name == "paint":
                results.append(run_paint_case(CASES[name], sets, args, device, plain_flags, peaks))
            else:
                results.append(run_training_case(name, CASES[name], sets, args, device, plain_flags, peaks))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

    print("summary (speed-up > 1: monetgan faster)")
    for r in results:
        if r["case"] == "paint":
            s = r["images_per_second"]
            print(f"  paint    {s['reference']['median']:8.2f} -> {s['monetgan']['median']:8.2f} img/s   "
                  f"{r['speedup']:.2f}x  monetgan at {r['fraction_of_fp32_peak']['monetgan']:.2f} of fp32 peak")
        else:
            s = r["seconds_per_iteration"]
            print(f"  {r['case']:8s} {s['reference']['median']:8.3f} -> {s['monetgan']['median']:8.3f} s/it     "
                  f"{r['speedup']:.2f}x  monetgan at {r['fraction_of_fp32_peak']['monetgan']:.2f} of fp32 peak")
    if args.json is not None:
        payload = {"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads(),
                   "overrides": sets, "peaks": {"fp32_gflops": spread(peaks.fp32), "fp32_size": fp32_size,
                                                "bf16_gflops": bf16, "bf16_size": bf16_size},
                   "results": results}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
