"""`train()`: a run folder from start (or resume) to finish, with progress, logs, frames and checkpoints.

A run folder is the unit of work:

    RUN_DIR/config.json      resolved config          RUN_DIR/run.json       data path and fingerprint
    RUN_DIR/log.jsonl        one line per step         RUN_DIR/tensorboard/   the same, for TensorBoard
    RUN_DIR/frames/          fixed-latent grids        RUN_DIR/checkpoints/   step-NNNNNN/ folders
    RUN_DIR/reals.png        a grid of training images RUN_DIR/skipped.txt    files that could not be used

Under torchrun, rank 0 alone reads the data and the run folder (and holds its lock), sends the
other processes what they need, and alone writes, logs and prints; every decision that ends a step
differently (time limit, Ctrl-C/SIGTERM) is agreed on by all processes first.
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..version import __version__
from .checkpoint import Checkpoint, latest_checkpoint, load_checkpoint, remove_partial_checkpoints, save_checkpoint
from ..config import TrainConfig, build_config, check_resume_overrides, load_config, save_config
from ..data.dataset import KAGGLE_PHOTO_FOLDER, load_dataset
from ..data.photos import PhotoSplit, split_photos
from ..devices import pick_device
from .distributed import Distributed, from_environment
from ..errors import UserError
from ..files import atomic_write_text
from ..data.images import make_grid, save_png
from .logs import RunLog, truncate_log
from ..nets import count_parameters
from ..nets.translator import translation_gflops
from ..nets.sampling import generate, latents_for_seeds
from .step import TrainingState, build_state, checkpoint_payload, painter, restore_state, train_step
from .warm_start import WarmStart, load_warm_start, start_from

try:  # advisory file locks; not available on Windows, where the lock is skipped
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


@dataclass
class TrainResult:
    """What a `train()` call leaves behind."""

    run_dir: Path
    step: int
    checkpoint: Path | None
    interrupted: bool
    last_metrics: dict[str, float]
    rank: int = 0  # this process's torchrun rank; only rank 0 wrote files (`checkpoint` is the one it wrote)


def resolve_run_config(run_dir: Path, preset: str | None, overrides: dict[str, Any]) -> tuple[TrainConfig, bool]:
    """(config, resuming): a new run's config from preset + overrides, or the saved one checked against them."""
    saved = run_dir / "config.json"
    if saved.exists():
        return check_resume_overrides(load_config(saved), overrides, preset), True
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--run {run_dir} is a file; give a folder for the run")
    return build_config(preset, overrides), False


class _RunLock:
    """Holds RUN_DIR/.lock so a second `train` on the same run refuses instead of corrupting it."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        self._file = None

    def __enter__(self) -> _RunLock:
        self._file = open(self.path, "a+")
        if fcntl is not None:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._file.close()
                raise UserError(f"--run {self.path.parent} is in use by another monetgan train "
                                f"(lock {self.path}); wait for it to finish or choose another --run") from None
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()  # closing releases the flock


class _GracefulStop:
    """First Ctrl-C / SIGTERM: finish the current step, checkpoint, stop. Second: stop at once.

    With `escalate=False` (under torchrun) later signals are ignored: a process leaving mid-step
    would strand the others in a collective, and torchrun escalates itself (SIGKILL after 30 s).
    """

    def __init__(self, escalate: bool = True) -> None:
        self.requested: int | None = None
        self.escalate = escalate
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:
        if self.requested is not None:
            if self.escalate:
                raise KeyboardInterrupt
            return
        self.requested = signum

    def __enter__(self) -> _GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _save(state: TrainingState, run_dir: Path, cfg: TrainConfig) -> Path:
    """A checkpoint of `state`; call `painter(state)` first, so the EMA's BatchNorm statistics are its own."""
    tensors, meta = checkpoint_payload(state)
    return save_checkpoint(run_dir, state.step, tensors, meta, cfg.to_dict(), keep=cfg.keep_checkpoints)


def _save_frame(state: TrainingState, run_dir: Path, latents: torch.Tensor, log: RunLog,
                painting: torch.nn.Module) -> None:
    grid = make_grid(generate(painting, latents))
    save_png(grid, run_dir / "frames" / f"step-{state.step:06d}.png")
    log.add_image("fixed_latents", grid, state.step)


def _write_new_run_files(run_dir: Path, cfg: TrainConfig, data: Path, fingerprint: str, images: torch.Tensor,
                         provenance: dict[str, Any]) -> None:
    """config.json, run.json (data, its fingerprint, and `provenance`: init_from, photos) and reals.png."""
    save_config(cfg, run_dir / "config.json")
    info = {
        "data": str(data.resolve()),
        "data_fingerprint": fingerprint,
        "num_images": int(images.shape[0]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "monetgan_version": __version__,
        "torch_version": torch.__version__,
        **provenance,
    }
    atomic_write_text(run_dir / "run.json", json.dumps(info, indent=2) + "\n")
    save_png(make_grid(images[:64].permute(0, 2, 3, 1).numpy()), run_dir / "reals.png")


def _saved_fingerprint(run_dir: Path) -> str | None:
    path = run_dir / "run.json"
    return json.loads(path.read_text()).get("data_fingerprint") if path.exists() else None


def _data_path(run_dir: Path, data: str | os.PathLike | None, resuming: bool) -> Path:
    if data is not None:
        return Path(data)
    if resuming and (run_dir / "run.json").exists():
        return Path(json.loads((run_dir / "run.json").read_text())["data"])
    raise UserError("--data is required for a new run: point it at a folder or zip of paintings")


def train(data: str | os.PathLike | None, run: str | os.PathLike, preset: str | None = None, *,
          photos: str | os.PathLike | None = None, dry_run: bool = False, show_progress: bool = True,
          tensorboard: bool = True, **overrides: Any) -> TrainResult | TrainConfig:
    """Train (or resume) a GAN on a folder or zip of paintings.

    Args:
        data: folder (searched recursively) or zip of JPEG/PNG/WebP images. May be None when
            resuming; the run remembers its data.
        run: the run folder. If it holds a config.json, the run is resumed from its latest
            checkpoint; an override that changes what the run computes is then an error.
        preset: a shipped preset name (see `monetgan.config.preset_names()`) or a .toml path.
        photos: for a photo -> painting preset (`cut-128`): a folder or zip of photographs (in
            Kaggle's zip, its photo_jpg/). May be None when resuming.
        dry_run: resolve and return the config without training.
        show_progress: print a progress bar and messages.
        **overrides: any `TrainConfig` field, e.g. `steps=500, loss="wgan"`.

    Returns:
        A `TrainResult` (or the resolved `TrainConfig` when `dry_run`).

    Under torchrun (RANK, WORLD_SIZE set) every process calls this with the same arguments; they
    train data-parallel, `batch_size` being the global batch, and only rank 0 reads or writes files.

    Example:
        >>> import monetgan
        >>> monetgan.train("monet_jpg", "runs/quick", preset="quick")  # doctest: +SKIP
    """
    run_dir = Path(run)
    if dry_run:
        return resolve_run_config(run_dir, preset, overrides)[0]
    dist = from_environment()  # a single process unless torchrun started several
    try:
        say = tqdm.write if show_progress and dist.is_main else (lambda *_: None)
        with ExitStack() as held:  # rank 0's lock on the run folder, until training ends
            prep = dist.from_main(lambda: _prepare(run_dir, data, photos, preset, overrides, dist, held,
                                                   show_progress, say))
            cfg = prep.cfg
            device = dist.own_device(pick_device(cfg.device))
            state = build_state(cfg, prep.images, device, dist, photos=prep.photos)
            state.extra["data_fingerprint"] = prep.fingerprint
            if prep.checkpoint is not None:
                restore_state(state, prep.checkpoint)
                say(f"resuming {run_dir} from {prep.checkpoint.path.name}")
            elif prep.initial is not None:
                start_from(state, prep.initial)
                critic = prep.initial.provenance.get("init_critic", "fresh")
                say(f"generator starts from {cfg.init_from} ({prep.initial.provenance['init_file']}); the critic "
                    + ("starts from the checkpoint's" if prep.initial.critic is not None else f"starts {critic}"))
            latest = latest_checkpoint(run_dir) if dist.is_main else prep.checkpoint and prep.checkpoint.path
            frame_inputs = (prep.frame_photos.float().div(127.5).sub(1.0) if prep.frame_photos is not None
                            else latents_for_seeds(range(cfg.num_frame_samples), cfg.latent_dim))
            del prep  # the loaded checkpoint's tensors are in the state now
            if dist.is_main:
                truncate_log(run_dir, state.step)
            where = device if dist.world_size == 1 else (
                f"{dist.world_size} processes ({device.type}, {cfg.batch_size // dist.world_size} images each)")
            say(f"{state.images.shape[0]} images at {cfg.resolution}px on {where}; loss={cfg.loss}, "
                f"n_critic={cfg.n_critic}, batch={cfg.batch_size}; {cfg.generator} generator "
                f"{count_parameters(state.generator):,} parameters, {cfg.critic} critic "
                f"{count_parameters(state.critic, trainable_only=True):,} trained parameters")
            if state.translates and show_progress and dist.is_main:
                say(f"{state.photos.shape[0]} training photos; the translator costs "
                    f"{translation_gflops(state.generator, 256):.1f} GFLOP per 256-px photo")
            return _loop(state, run_dir, cfg, show_progress, tensorboard, say, latest, frame_inputs)
    finally:
        dist.close()


@dataclass
class _Prepared:
    """What rank 0 finds in the run folder and the data; the other processes receive it."""

    cfg: TrainConfig
    images: torch.Tensor  # (N, 3, R, R) uint8
    fingerprint: str
    checkpoint: Checkpoint | None  # to resume from
    initial: WarmStart | None  # weights a new run starts from (init_from)
    photos: torch.Tensor | None = None  # a translator's training photos (M, 3, S, S) uint8
    frame_photos: torch.Tensor | None = None  # the held-out photos its time-lapse frames restyle


def _prepare(run_dir: Path, data: str | os.PathLike | None, photos: str | os.PathLike | None, preset: str | None,
             overrides: dict[str, Any], dist: Distributed, held: ExitStack, show_progress: bool, say) -> _Prepared:
    """Config, lock, data and checkpoint of a run: all the reading (and the new run's files)."""
    cfg, resuming = resolve_run_config(run_dir, preset, overrides)
    dist.local_batch(cfg.batch_size)  # refused before any file is written
    data_path = _data_path(run_dir, data, resuming)
    pick_device(cfg.device)
    run_dir.mkdir(parents=True, exist_ok=True)
    held.enter_context(_RunLock(run_dir))
    # A run with no checkpoint yet starts from its init_from painter: checked before the data is
    # decoded and before any file is written.
    starting = not resuming or latest_checkpoint(run_dir) is None
    initial = load_warm_start(cfg.init_from, cfg) if starting and cfg.init_from else None
    stored = cfg.crop_from or cfg.resolution  # decoded at this size; crop_from: random crops are trained on
    photo_path = _photos_path(run_dir, photos, resuming, cfg)
    dataset = load_dataset(data_path, stored, show_progress=show_progress)
    if dataset.skipped:
        _write_skipped(run_dir / "skipped.txt", dataset.skipped)
        say(f"skipped {len(dataset.skipped)} of {len(dataset) + len(dataset.skipped)} files that could not be used; "
            f"list in {run_dir / 'skipped.txt'}")
    if len(dataset) < cfg.min_images:
        raise UserError(f"--data {data_path}: only {len(dataset)} usable images, fewer than min_images="
                        f"{cfg.min_images}; add images or lower it with --set min_images=N")
    fingerprint = dataset.fingerprint()
    remove_partial_checkpoints(run_dir)
    ckpt_path = latest_checkpoint(run_dir) if resuming else None
    if resuming and _saved_fingerprint(run_dir) not in (None, fingerprint):
        raise UserError(f"--data {data_path} differs from the images this run was trained on; "
                        "pass the original data to resume, or start a new --run")
    split, photos_fingerprint = (_load_photos(run_dir, photo_path, cfg, stored, resuming, show_progress, say)
                                 if photo_path else (None, None))
    if ckpt_path is None and (not resuming or not (run_dir / "run.json").exists()):
        provenance = dict(initial.provenance) if initial is not None else {}
        if split is not None:
            provenance.update(photos=str(photo_path.resolve()), photos_fingerprint=photos_fingerprint,
                              num_photos=len(split.train), num_photos_held_out=len(split.holdout))
            atomic_write_text(run_dir / "holdout.txt", "".join(f"{name}\n" for name in split.holdout_names))
        _write_new_run_files(run_dir, cfg, data_path, fingerprint, dataset.images, provenance)
    checkpoint = load_checkpoint(ckpt_path) if ckpt_path is not None else None
    frames = None
    if split is not None:  # the photos every time-lapse frame restyles: held-out ones when there are any
        frames = (split.holdout if len(split.holdout) else split.train)[: cfg.num_frame_samples].clone()
    return _Prepared(cfg, dataset.images, fingerprint, checkpoint, initial,
                     split.train if split is not None else None, frames)


def _write_skipped(path: Path, skipped: list[tuple[str, str]]) -> None:
    """One `name<TAB>reason` line per file that could not be used."""
    atomic_write_text(path, "".join(f"{name.encode('utf-8', 'backslashreplace').decode()}\t{why}\n"
                                    for name, why in skipped))


def _photos_path(run_dir: Path, photos: str | os.PathLike | None, resuming: bool, cfg: TrainConfig) -> Path | None:
    """The photos a translator run learns from (remembered on resume); refused for other generators."""
    if cfg.generator != "translator":
        if photos is not None:
            raise UserError(f"--photos {photos}: only a photo -> painting preset trains on photos; "
                            "add --preset cut-128")
        return None
    if photos is not None:
        return Path(photos)
    if resuming and (run_dir / "run.json").exists():
        saved = json.loads((run_dir / "run.json").read_text()).get("photos")
        if saved:
            return Path(saved)
    raise UserError("--photos is required for a photo -> painting run: point it at a folder or zip of photographs "
                    "(Kaggle's gan-getting-started.zip works: its photo_jpg/ is taken)")


def _load_photos(run_dir: Path, path: Path, cfg: TrainConfig, size: int, resuming: bool, show_progress: bool,
                 say) -> tuple[PhotoSplit, str]:
    """Decoded, split photos and the training photos' fingerprint; on resume they must be the ones the
    run started with."""
    dataset = load_dataset(path, size, show_progress=show_progress, prefer=KAGGLE_PHOTO_FOLDER, flag="--photos",
                           what="photos")
    if dataset.skipped:
        _write_skipped(run_dir / "skipped-photos.txt", dataset.skipped)
        say(f"skipped {len(dataset.skipped)} photos that could not be used; list in {run_dir / 'skipped-photos.txt'}")
    split = split_photos(dataset, cfg.photo_holdout_percent)
    if len(split.train) < cfg.min_images:
        raise UserError(f"--photos {path}: only {len(split.train)} usable training photos after holding out "
                        f"{len(split.holdout)}, fewer than min_images={cfg.min_images}; add photos")
    fingerprint = split.fingerprint()
    saved = json.loads((run_dir / "run.json").read_text()).get("photos_fingerprint") if (
        resuming and (run_dir / "run.json").exists()) else None
    if saved not in (None, fingerprint):
        raise UserError(f"--photos {path} differs from the photos this run was trained on; "
                        "pass the original photos to resume, or start a new --run")
    return split, fingerprint


def _loop(state: TrainingState, run_dir: Path, cfg: TrainConfig, show_progress: bool, tensorboard: bool,
          say, checkpoint: Path | None, latents: torch.Tensor) -> TrainResult:
    """Train to the end; `latents` are what every time-lapse frame paints (fixed photos for a translator)."""
    dist = state.dist
    main = dist.is_main  # rank 0 alone writes files
    if state.step >= cfg.steps:
        say(f"{run_dir} is already at step {state.step} of {cfg.steps}; raise --steps to train further")
        return TrainResult(run_dir, state.step, checkpoint, False, {}, dist.rank)
    if _over_budget(state, cfg):
        say(f"{run_dir} has used its time limit ({state.wall_time / 60:.1f} min, {state.cpu_time / 60:.1f} CPU-min); "
            "raise time_limit_minutes or cpu_limit_minutes to go on")
        return TrainResult(run_dir, state.step, checkpoint, False, {}, dist.rank)
    log = RunLog(run_dir, state.step, tensorboard=tensorboard) if main else None
    record: dict[str, float] = {}
    interrupted = False
    bar = tqdm(total=cfg.steps, initial=state.step, unit="step", disable=not (show_progress and main),
               dynamic_ncols=True, desc=f"{cfg.loss} {cfg.resolution}px")
    try:
        with _GracefulStop(escalate=dist.world_size == 1) as stop:
            if state.step == 0:
                dist.from_main(lambda: _save_frame(state, run_dir, latents, log, painter(state)))
            last, last_cpu = time.perf_counter(), time.process_time()
            pace = _Pace()
            while state.step < cfg.steps:
                metrics = train_step(state)
                now, now_cpu = time.perf_counter(), time.process_time()
                seconds, last = now - last, now
                state.wall_time += seconds
                cpu_seconds, last_cpu = now_cpu - last_cpu, now_cpu
                state.cpu_time += cpu_seconds
                step = state.step
                # NaN/Inf is caught in the step it appears (one host sync per step), before any write.
                nonfinite = _first_nonfinite(state, metrics)
                if dist.agree(nonfinite is not None, False)[0]:
                    log = _roll_back(state, run_dir, cfg, checkpoint, log, tensorboard, say,
                                     nonfinite or "a value on another process")
                    bar.reset(total=cfg.steps)
                    bar.update(state.step)
                    last, last_cpu = time.perf_counter(), time.process_time()
                    continue
                over_time = _over_budget(state, cfg)
                # Every process decides alike: stop if any was signalled, the time limit by rank 0's clock.
                stopping, over_time = dist.agree(stop.requested is not None, over_time)
                # A wall-clock budget ends the run like its last step: final frame, log line and checkpoint.
                last_step = step == cfg.steps or over_time
                logged = step % cfg.log_every == 0 or last_step or stopping  # the step a resume starts after
                if logged:
                    record = {k: v.item() for k, v in dist.mean_metrics(metrics).items()}
                    record.update(step=step, wall_time=round(state.wall_time, 3), cpu_time=round(state.cpu_time, 3),
                                  seconds_per_step=seconds,
                                  images_per_second=cfg.batch_size * record["n_critic"] / seconds)
                    bar.set_postfix(W=f"{record['wasserstein_estimate']:.4f}", G=f"{record['generator_loss']:.3f}",
                                    refresh=False)
                framed = step % cfg.sample_every == 0 or last_step
                saved = step % cfg.checkpoint_every == 0 or last_step or stopping
                if logged or framed or saved:
                    # Rank 0 writes; every process gets the checkpoint it wrote, or its error (a full disk).
                    checkpoint = dist.from_main(partial(_write_step, state, run_dir, cfg, log, latents,
                                                        record if logged else None, framed, saved, checkpoint))
                pace.add(seconds, cpu_seconds)
                bar.total = pace.last_step(state, cfg)  # a time or CPU budget ends the run sooner: ETA to that
                bar.update(1)
                if last_step and step < cfg.steps:
                    say(f"time limit reached at step {step} ({state.wall_time / 60:.1f} min, {state.cpu_time / 60:.1f} CPU-min); "
                        f"checkpoint {checkpoint}")
                    break
                if stopping:
                    interrupted = True
                    say(f"stopped at step {step}; checkpoint {checkpoint}; run the same command to resume")
                    break
    finally:
        bar.close()
        if log is not None:
            log.close()
    return TrainResult(run_dir, state.step, checkpoint, interrupted, record, dist.rank)


class _Pace:
    """Wall and CPU seconds per step, averaged over the last ~20 steps, to say where a budget ends the run."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0
        self.steps = 0

    def add(self, wall: float, cpu: float) -> None:
        weight = max(0.05, 1.0 / (self.steps + 1))  # a plain mean at first, then an exponential average
        self.wall += weight * (wall - self.wall)
        self.cpu += weight * (cpu - self.cpu)
        self.steps += 1

    def last_step(self, state: TrainingState, cfg: TrainConfig) -> int:
        """The step the run will end at: cfg.steps, or sooner where its time or CPU budget runs out at this pace."""
        left = float(cfg.steps - state.step)
        for budget, pace in zip(_budget_left(state, cfg), (self.wall, self.cpu)):
            if budget is not None and pace > 0:
                left = min(left, budget / pace)
        return state.step + max(0, math.ceil(left))


def _budget_left(state: TrainingState, cfg: TrainConfig) -> tuple[float | None, float | None]:
    """Seconds left of the wall-clock and of the CPU-time budget (None where that budget is off;
    CPU time: this process, all its threads)."""
    wall = 60 * cfg.time_limit_minutes - state.wall_time if cfg.time_limit_minutes > 0 else None
    cpu = 60 * cfg.cpu_limit_minutes - state.cpu_time if cfg.cpu_limit_minutes > 0 else None
    return wall, cpu


def _over_budget(state: TrainingState, cfg: TrainConfig) -> bool:
    """Past the wall-clock or the CPU-time budget."""
    return any(left is not None and left <= 0 for left in _budget_left(state, cfg))


def _write_step(state: TrainingState, run_dir: Path, cfg: TrainConfig, log: RunLog, latents: torch.Tensor,
                record: dict[str, float] | None, framed: bool, saved: bool, checkpoint: Path | None) -> Path | None:
    """A step's files (rank 0): its log line, frame and checkpoint, as asked; returns the latest checkpoint."""
    if record is not None:
        log.write(dict(sorted(record.items())))
    # The EMA's standing statistics, computed once whether the step frames, saves or both.
    painting = painter(state) if framed or saved else None
    if framed:
        _save_frame(state, run_dir, latents, log, painting)
    if saved:
        checkpoint = _save(state, run_dir, cfg)
    return checkpoint


MAX_ROLLBACKS = 3  # divergences a run may recover from by rolling back before it stops


def _first_nonfinite(state: TrainingState, metrics: dict[str, torch.Tensor]) -> str | None:
    """The name of a NaN/Inf loss or statistic of this step, or of a network holding one; else None."""
    names = sorted(k for k, v in metrics.items() if v.is_floating_point())
    values = [metrics[k].detach().float().reshape(()) for k in names]
    nets = {"generator": state.generator, "critic": state.critic, "generator_ema": state.generator_ema}
    for name, net in nets.items():
        if net is not None:  # a tensor's norm is NaN/Inf exactly when it holds one: one value per network
            tensors = [t for t in net.state_dict().values() if t.is_floating_point()]
            values.append(torch.stack(torch._foreach_norm(tensors)).float().sum())
            names.append(f"{name} weights")
    finite = torch.isfinite(torch.stack(values))
    if bool(finite.all()):  # the one host sync
        return None
    return names[int((~finite).nonzero()[0])]


def _roll_back(state: TrainingState, run_dir: Path, cfg: TrainConfig, checkpoint: Path | None,
               log: RunLog | None, tensorboard: bool, say, bad: str) -> RunLog | None:
    """Diverged: restore the last good checkpoint and go on at half the learning rates (a logged,
    deliberate change), at most MAX_ROLLBACKS times; otherwise stop with one clear line."""
    step, rollbacks = state.step, int(state.extra.get("rollbacks", 0))
    advice = "lower the learning rates (--set lr_critic=... lr_generator=...) in a new --run"
    if checkpoint is None:
        raise UserError(f"training diverged at step {step} ({bad} is NaN or infinite) before any checkpoint; {advice}")
    if rollbacks >= MAX_ROLLBACKS or state.dist.world_size > 1:
        why = f"after {rollbacks} rollbacks" if rollbacks else "with several processes, which do not roll back"
        raise UserError(f"training diverged at step {step} ({bad} is NaN or infinite) {why}; the last good checkpoint "
                        f"is {checkpoint}; {advice}")
    restore_state(state, load_checkpoint(checkpoint))
    for optimizer in (state.generator_optimizer, state.critic_optimizer):
        for group in optimizer.param_groups:
            group["lr"] *= 0.5
    state.extra["rollbacks"] = rollbacks + 1
    # The log must read as if the diverged steps never ran: reopen it truncated at the checkpoint.
    if log is not None:
        log.close()
        truncate_log(run_dir, state.step)
        log = RunLog(run_dir, state.step, tensorboard=tensorboard)
        log.write({"step": state.step, "event": "rollback", "diverged_at": step, "bad": bad,
                   "lr_generator": state.generator_optimizer.param_groups[0]["lr"],
                   "lr_critic": state.critic_optimizer.param_groups[0]["lr"]})
    say(f"step {step}: {bad} is NaN or infinite; rolled back to {checkpoint.name} and halved the learning rates "
        f"(rollback {rollbacks + 1} of at most {MAX_ROLLBACKS})")
    return log
