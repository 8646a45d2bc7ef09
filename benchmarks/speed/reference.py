"""The plain reference: DCGAN networks and the WGAN / WGAN-GP loop as the papers' code writes them."""

from __future__ import annotations

import itertools
import math

import torch
from torch import autograd, nn

from monetgan.errors import UserError
from monetgan.nets import count_parameters


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
                         "no longer mirrors nets/dcgan.py (or --set changed the architecture)")
    copy_weights(ref, mine)
    ref_mode, mine_mode = ref.training, mine.training
    ref.eval(), mine.eval()
    with torch.no_grad():
        a, b = ref(x).float().flatten(), mine(x).float().flatten()
    ref.train(ref_mode), mine.train(mine_mode)
    err = (a - b).abs().max().item() / max(a.abs().max().item(), 1e-12)
    if err > 5e-2:  # loose enough for a bf16 monetgan path
        raise SystemExit(f"reference {what} and monetgan's disagree (max relative difference {err:.2e})")
