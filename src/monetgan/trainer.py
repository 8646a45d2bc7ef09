"""`train()`: a run folder from start (or resume) to finish, with progress, logs, frames and checkpoints.

A run folder is the unit of work:

    RUN_DIR/config.json      resolved config          RUN_DIR/run.json       data path and fingerprint
    RUN_DIR/log.jsonl        one line per step         RUN_DIR/tensorboard/   the same, for TensorBoard
    RUN_DIR/frames/          fixed-latent grids        RUN_DIR/checkpoints/   step-NNNNNN/ folders
    RUN_DIR/reals.png        a grid of training images RUN_DIR/skipped.txt    files that could not be used
"""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from . import __version__
from .checkpoint import latest_checkpoint, load_checkpoint, remove_partial_checkpoints, save_checkpoint
from .config import TrainConfig, build_config, check_resume_overrides, load_config, save_config
from .data import load_dataset
from .devices import pick_device
from .errors import UserError
from .files import atomic_write_text
from .images import make_grid, save_png
from .logs import RunLog, truncate_log
from .models import count_parameters
from .sampling import generate, latents_for_seeds
from .training import TrainingState, build_state, checkpoint_payload, restore_state, train_step

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
    """First Ctrl-C / SIGTERM: finish the current step, checkpoint, stop. Second: stop at once."""

    def __init__(self) -> None:
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:
        if self.requested is not None:
            raise KeyboardInterrupt
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
    tensors, meta = checkpoint_payload(state)
    return save_checkpoint(run_dir, state.step, tensors, meta, cfg.to_dict(), keep=cfg.keep_checkpoints)


def _save_frame(state: TrainingState, run_dir: Path, latents: torch.Tensor, log: RunLog) -> None:
    painter = state.generator_ema if state.generator_ema is not None else state.generator
    grid = make_grid(generate(painter, latents))
    save_png(grid, run_dir / "frames" / f"step-{state.step:06d}.png")
    log.add_image("fixed_latents", grid, state.step)


def _write_new_run_files(run_dir: Path, cfg: TrainConfig, data: Path, fingerprint: str, images: torch.Tensor) -> None:
    save_config(cfg, run_dir / "config.json")
    info = {
        "data": str(data.resolve()),
        "data_fingerprint": fingerprint,
        "num_images": int(images.shape[0]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "monetgan_version": __version__,
        "torch_version": torch.__version__,
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
          dry_run: bool = False, show_progress: bool = True, tensorboard: bool = True,
          **overrides: Any) -> TrainResult | TrainConfig:
    """Train (or resume) a GAN on a folder or zip of paintings.

    Args:
        data: folder (searched recursively) or zip of JPEG/PNG/WebP images. May be None when
            resuming; the run remembers its data.
        run: the run folder. If it holds a config.json, the run is resumed from its latest
            checkpoint; an override that changes what the run computes is then an error.
        preset: a shipped preset name (see `monetgan.config.preset_names()`) or a .toml path.
        dry_run: resolve and return the config without training.
        show_progress: print a progress bar and messages.
        **overrides: any `TrainConfig` field, e.g. `steps=500, loss="wgan"`.

    Returns:
        A `TrainResult` (or the resolved `TrainConfig` when `dry_run`).

    Example:
        >>> import monetgan
        >>> monetgan.train("monet_jpg", "runs/quick", preset="quick")  # doctest: +SKIP
    """
    run_dir = Path(run)
    cfg, resuming = resolve_run_config(run_dir, preset, overrides)
    if dry_run:
        return cfg
    say = tqdm.write if show_progress else (lambda *_: None)
    data_path = _data_path(run_dir, data, resuming)
    device = pick_device(cfg.device)
    run_dir.mkdir(parents=True, exist_ok=True)
    with _RunLock(run_dir):
        dataset = load_dataset(data_path, cfg.resolution, show_progress=show_progress)
        if dataset.skipped:
            atomic_write_text(run_dir / "skipped.txt", "".join(
                f"{name.encode('utf-8', 'backslashreplace').decode()}\t{why}\n" for name, why in dataset.skipped))
            say(f"skipped {len(dataset.skipped)} of {len(dataset) + len(dataset.skipped)} files that could not be used; "
                f"list in {run_dir / 'skipped.txt'}")
        if len(dataset) < cfg.min_images:
            raise UserError(f"--data {data_path}: only {len(dataset)} usable images, fewer than min_images="
                            f"{cfg.min_images}; add images or lower it with --set min_images=N")
        fingerprint = dataset.fingerprint()
        state = build_state(cfg, dataset.images, device)
        state.extra["data_fingerprint"] = fingerprint
        remove_partial_checkpoints(run_dir)
        ckpt_path = latest_checkpoint(run_dir) if resuming else None
        if resuming and _saved_fingerprint(run_dir) not in (None, fingerprint):
            raise UserError(f"--data {data_path} differs from the images this run was trained on; "
                            "pass the original data to resume, or start a new --run")
        if ckpt_path is not None:
            restore_state(state, load_checkpoint(ckpt_path))
            say(f"resuming {run_dir} from {ckpt_path.name}")
        elif not resuming or not (run_dir / "run.json").exists():
            _write_new_run_files(run_dir, cfg, data_path, fingerprint, dataset.images)
        truncate_log(run_dir, state.step)
        say(f"{len(dataset)} images at {cfg.resolution}px on {device}; loss={cfg.loss}, n_critic={cfg.n_critic}, "
            f"batch={cfg.batch_size}; generator {count_parameters(state.generator):,} parameters, "
            f"critic {count_parameters(state.critic):,} parameters")
        return _loop(state, run_dir, cfg, show_progress, tensorboard, say)


def _loop(state: TrainingState, run_dir: Path, cfg: TrainConfig, show_progress: bool, tensorboard: bool,
          say) -> TrainResult:
    if state.step >= cfg.steps:
        say(f"{run_dir} is already at step {state.step} of {cfg.steps}; raise --steps to train further")
        return TrainResult(run_dir, state.step, latest_checkpoint(run_dir), False, {})
    if cfg.time_limit_minutes > 0 and state.wall_time >= 60 * cfg.time_limit_minutes:
        say(f"{run_dir} has used its time limit ({state.wall_time / 60:.1f} min); raise time_limit_minutes to go on")
        return TrainResult(run_dir, state.step, latest_checkpoint(run_dir), False, {})
    latents = latents_for_seeds(range(cfg.num_frame_samples), cfg.latent_dim)
    log = RunLog(run_dir, state.step, tensorboard=tensorboard)
    checkpoint = latest_checkpoint(run_dir)
    record: dict[str, float] = {}
    interrupted = False
    bar = tqdm(total=cfg.steps, initial=state.step, unit="step", disable=not show_progress, dynamic_ncols=True,
               desc=f"{cfg.loss} {cfg.resolution}px")
    try:
        with _GracefulStop() as stop:
            if state.step == 0:
                _save_frame(state, run_dir, latents, log)
            last = time.perf_counter()
            while state.step < cfg.steps:
                metrics = train_step(state)
                now = time.perf_counter()
                seconds, last = now - last, now
                state.wall_time += seconds
                step = state.step
                # A wall-clock budget ends the run like its last step: final frame, log line and checkpoint.
                last_step = step == cfg.steps or (
                    cfg.time_limit_minutes > 0 and state.wall_time >= 60 * cfg.time_limit_minutes)
                if step % cfg.log_every == 0 or last_step:
                    record = {k: v.item() for k, v in metrics.items()}
                    record.update(step=step, wall_time=round(state.wall_time, 3), seconds_per_step=seconds,
                                  images_per_second=cfg.batch_size * record["n_critic"] / seconds)
                    _check_finite(record, run_dir, checkpoint)
                    log.write(dict(sorted(record.items())))
                    bar.set_postfix(W=f"{record['wasserstein_estimate']:.4f}", G=f"{record['generator_loss']:.3f}",
                                    refresh=False)
                if step % cfg.sample_every == 0 or last_step:
                    _save_frame(state, run_dir, latents, log)
                if step % cfg.checkpoint_every == 0 or last_step or stop.requested:
                    checkpoint = _save(state, run_dir, cfg)
                bar.update(1)
                if last_step and step < cfg.steps:
                    say(f"time limit of {cfg.time_limit_minutes:g} min reached at step {step}; checkpoint {checkpoint}")
                    break
                if stop.requested:
                    interrupted = True
                    say(f"stopped at step {step}; checkpoint {checkpoint}; run the same command to resume")
                    break
    finally:
        bar.close()
        log.close()
    return TrainResult(run_dir, state.step, checkpoint, interrupted, record)


def _check_finite(record: dict[str, float], run_dir: Path, checkpoint: Path | None) -> None:
    """Stop before a NaN/Inf can reach a checkpoint."""
    bad = [k for k, v in record.items() if not math.isfinite(v)]
    if bad:
        where = f"the last good checkpoint is {checkpoint}" if checkpoint else "no checkpoint was written yet"
        raise UserError(f"training diverged at step {record['step']} ({bad[0]} = {record[bad[0]]}); {where}; "
                        f"lower the learning rates (--set lr_critic=... lr_generator=...) in a new --run")
