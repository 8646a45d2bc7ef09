"""Data-parallel training over torchrun's processes: who this process is, and the few collectives
the loop needs.

`torchrun --nproc_per_node=N -m monetgan train ...` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR
and MASTER_PORT; `from_environment()` reads them and joins the process group (no address or port of
our own). Without them, or with WORLD_SIZE=1, `Distributed()` is a single process: no process group,
no collective, every helper the identity, and training the same bytes as before.

The recipe, after StyleGAN2-ADA (`training/training_loop.py`):

* `cfg.batch_size` is the global batch; a process takes its rows of each batch (`rows`). The data
  order and all randomness (latents, flips, penalty epsilons, DiffAugment) are drawn for the whole
  global batch from the CPU generator every process holds, then sliced: the processes' generators
  never drift apart, N processes follow one process's trajectory, and a checkpoint (global state)
  resumes under any number of processes.
* Gradients are averaged by all-reducing one flat tensor per network after backward
  (`average_gradients`). Not DistributedDataParallel: its reducer hooks fire once per backward, while
  a critic step here runs the critic three times (real, fake, and the penalty's double backward
  through `autograd.grad(create_graph=True)`), and the generator step backpropagates through a
  frozen critic; DDP documents neither as supported, StyleGAN2-ADA avoids it for this reason, and one
  all-reduce after backward is correct whatever backward did.
* BatchNorm normalises with the global batch's statistics (`SyncedBatchNorm2d`).
* Rank 0 alone reads and writes the run folder and the data; the others receive the config, the
  images and the checkpoint from it (`from_main`), so nodes need no shared file system.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.autograd.function import once_differentiable

from ..errors import ReportedByRankZero, UserError

T = TypeVar("T")
_CPU = torch.device("cpu")


@dataclass(frozen=True)
class Distributed:
    """This process's place among the training processes; the default is the only process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # we created the process group, so we destroy it

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that reads and writes files and prints."""
        return self.rank == 0

    # --- setup ---------------------------------------------------------------------------------

    def own_device(self, device: torch.device) -> torch.device:
        """The device `pick_device` chose, made this process's own: cuda:LOCAL_RANK (one GPU per process)."""
        if self.world_size == 1 or device.type != "cuda":
            return device
        if self.local_rank >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK={self.local_rank} but PyTorch sees {torch.cuda.device_count()} CUDA GPUs; "
                            "start at most one process per GPU (torchrun --nproc_per_node)")
        torch.cuda.set_device(self.local_rank)
        return torch.device("cuda", self.local_rank)

    def local_batch(self, batch_size: int) -> int:
        """Rows of each global batch this process computes; the batch must split evenly."""
        if batch_size % self.world_size:
            raise UserError(f"batch_size={batch_size} is the global batch and must split evenly over "
                            f"{self.world_size} processes; choose a multiple of {self.world_size} (--batch-size)")
        return batch_size // self.world_size

    def from_main(self, make: Callable[[], T]) -> T:
        """`make()` on rank 0 and its result on every rank; its error, raised on every rank.

        For everything that touches files: the run's config, data and checkpoint at the start, and
        each step's writes (so a full disk stops every process with rank 0's message). Sent as a
        pickle over the process group (torch's object broadcast), between processes of one job,
        never through a file.
        """
        if self.world_size == 1:
            return make()
        if self.is_main:
            try:
                result = make()
            except BaseException as exc:
                kind = "user" if isinstance(exc, UserError) else "bug"
                dist.broadcast_object_list([(kind, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)],
                                           src=0, device=_CPU)
                raise
            dist.broadcast_object_list([("ok", result)], src=0, device=_CPU)
            return result
        box: list[Any] = [None]
        dist.broadcast_object_list(box, src=0, device=_CPU)
        kind, value = box[0]
        if kind == "user":
            raise ReportedByRankZero(value)
        if kind == "bug":
            raise RuntimeError(f"rank 0 failed: {value}")
        return value

    # --- per step ------------------------------------------------------------------------------

    def rows(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's rows of a tensor drawn for the global batch (dim 0)."""
        if self.world_size == 1:
            return batch
        local = batch.shape[0] // self.world_size
        return batch[self.rank * local : (self.rank + 1) * local]

    def shard(self, local_rows: int) -> tuple[int, int] | None:
        """(offset, global batch) of this process's rows, for `diff_augment`; None in a single process."""
        if self.world_size == 1:
            return None
        return self.rank * local_rows, local_rows * self.world_size

    def average_gradients(self, module: nn.Module) -> None:
        """Replace each gradient by its mean over processes: one all-reduce of one flat tensor
        (StyleGAN2-ADA, training_loop.py). Each process's loss is the mean over its rows, so the mean
        of the gradients is the gradient of the global batch's mean loss."""
        if self.world_size == 1:
            return
        params = [p for p in module.parameters() if p.grad is not None]
        if not params:
            return
        flat = torch.cat([p.grad.flatten() for p in params])
        dist.all_reduce(flat)
        flat /= self.world_size
        for p, g in zip(params, flat.split([p.numel() for p in params])):
            p.grad.copy_(g.view(p.shape))

    def mean_metrics(self, metrics: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Floating-point metrics averaged over processes (equal shards: the global batch's means);
        one all-reduce, called on logged steps only."""
        if self.world_size == 1:
            return metrics
        names = sorted(k for k, v in metrics.items() if v.is_floating_point())
        flat = torch.stack([metrics[k].detach().float().cpu() for k in names])  # .item() follows anyway
        dist.all_reduce(flat)
        flat /= self.world_size
        return {**metrics, **dict(zip(names, flat.unbind()))}

    def agree(self, stop_requested: bool, over_time: bool) -> tuple[bool, bool]:
        """The same stop decisions on every rank: stop if any rank was signalled; the time limit by
        rank 0's clock. One all-reduce of two numbers on the CPU (gloo): it waits for the other
        processes' hosts, never for a GPU."""
        if self.world_size == 1:
            return stop_requested, over_time
        flags = torch.tensor([float(stop_requested), float(over_time and self.is_main)])
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return bool(flags[0]), bool(flags[1])

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def from_environment() -> Distributed:
    """Join torchrun's process group if RANK/WORLD_SIZE say there is one (WORLD_SIZE > 1).

    The backend pair serves both devices: gloo for CPU tensors (always: the control and object
    collectives, and CPU training), NCCL for CUDA tensors when PyTorch sees a GPU.
    """
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return Distributed()
        rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    except (KeyError, ValueError):
        raise UserError("WORLD_SIZE, RANK and LOCAL_RANK must be whole numbers, RANK set when WORLD_SIZE > 1; "
                        "start several processes with torchrun, which sets them") from None
    owns_group = not dist.is_initialized()
    if owns_group:
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        try:
            dist.init_process_group(backend=backend)  # env://: MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
        except ValueError as exc:  # a variable torchrun would have set is missing
            raise UserError(f"cannot join the other processes ({str(exc).splitlines()[0]}); "
                            "start several processes with torchrun") from None
    return Distributed(rank=rank, world_size=world_size, local_rank=local_rank, owns_group=owns_group)


# ----------------------------------------------------------------------------------------------
# BatchNorm over the global batch
# ----------------------------------------------------------------------------------------------

class _SumOverProcesses(torch.autograd.Function):
    """all_reduce(SUM) that autograd can go through: the gradient of a sum over processes is the
    sum over processes of the gradients (each process backpropagates its own loss)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    @once_differentiable  # BatchNorm never lies on the gradient penalty's double-backward path
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d normalising with the statistics of the global batch, over all processes.

    torch.nn.SyncBatchNorm would do, but it refuses CPU tensors (torch 2.13: "SyncBatchNorm expected
    input tensor to be on GPU"), so gloo runs cannot use it; this one is the same arithmetic on any
    device. Statistics are two-pass (mean, then the centred second moment), as BatchNorm's own, so
    they are as stable; both passes are autograd-aware all-reduces, so the gradient is the global
    batch's. Outside training, or in a single process, it is plain BatchNorm2d; its state dict is
    BatchNorm2d's, so checkpoints do not change.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        xf = x.float()  # statistics in fp32 under bf16 autocast, as BatchNorm keeps them
        count = xf.new_full((1,), float(x.numel() // x.shape[1]))  # this process's values per channel
        sums = _SumOverProcesses.apply(torch.cat([xf.sum(dim=(0, 2, 3)), count]))  # (C + 1,)
        n = sums[-1]
        mean = sums[:-1] / n
        centred = xf - mean.view(1, -1, 1, 1)
        var = _SumOverProcesses.apply(centred.square().sum(dim=(0, 2, 3))) / n  # biased: normalises
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean)
                self.running_var.mul_(1 - m).add_(m * var * n / (n - 1))  # unbiased, as BatchNorm
        y = centred * torch.rsqrt(var + self.eps).view(1, -1, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y.to(x.dtype)


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """Swap every BatchNorm2d in `module` for a SyncedBatchNorm2d with the same parameters and buffers."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            synced = SyncedBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                       child.track_running_stats)
            synced.load_state_dict(child.state_dict())
            synced.train(child.training)
            setattr(module, name, synced)
        else:
            sync_batchnorm(child)
    return module
