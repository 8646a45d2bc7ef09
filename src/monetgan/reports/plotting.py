"""Plot a run's training curves (RUN_DIR/log.jsonl, plus metrics.jsonl if present) to one PNG.

Uses matplotlib's object API (`Figure` + Agg canvas) rather than pyplot, so plotting changes no
global backend or state and works on machines without a display.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from monetgan.errors import UserError
from monetgan.files import atomic_output

_DPI = 110
_FIGSIZE = (15.0, 8.5)  # inches: 1650x935 px at _DPI, six panels still readable

# One colour per series role, so "critic" means the same colour on every panel.
_COLOURS = {"main": "tab:blue", "critic": "tab:red", "generator": "tab:green", "penalty": "tab:purple"}


def _is_number(value: Any) -> bool:
    """True for finite int/float values (bools are ints in Python but are not measurements)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records with an integer `step`, sorted by step; unparsable lines are skipped silently.

    A killed trainer can leave a truncated last line, so bad lines are expected, not errors. If a
    resumed run logged a step twice, the later line wins (it describes the run that continued).
    """
    by_step: dict[int, dict[str, Any]] = {}
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict) or "event" in record:
                continue  # "event": a rollback marker (trainer._roll_back), not a step's values
            if isinstance(record.get("step"), int) and not isinstance(record["step"], bool):
                by_step[record["step"]] = record
    return [by_step[step] for step in sorted(by_step)]


def read_log(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Return `run_dir/log.jsonl` as a list of dicts sorted by step, skipping unparsable lines.

    Raises `UserError` if the run folder or its log file is missing.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(f"{run}: run folder not found; pass the folder that `monetgan train` wrote")
    path = run / "log.jsonl"
    if not path.is_file():
        raise UserError(f"{path}: training log not found; train this run for at least one step first")
    return _read_jsonl(path)


# metrics.jsonl keys that are not quality metrics (or that duplicate one) are left off the overlay.
_NOT_OVERLAID = frozenset({"step", "wasserstein_estimate", "kid_std", "mifid"})


def _read_metrics(run: Path) -> dict[str, tuple[list[int], list[float]]]:
    """Optional `metrics.jsonl` -> {metric name: (steps, values)}; empty when the file is absent."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        return {}
    series: dict[str, tuple[list[int], list[float]]] = {}
    for record in _read_jsonl(path):
        for key, value in record.items():
            if key not in _NOT_OVERLAID and _is_number(value):
                steps, values = series.setdefault(key, ([], []))
                steps.append(record["step"])
                values.append(float(value))
    return series


def _read_config(run: Path) -> dict[str, Any]:
    """The run's config.json as a dict, or {} if absent or unreadable (it only feeds the title)."""
    try:
        config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def _series(records: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """Steps and values of `key`, leaving out records without it or with NaN/inf (they break the EMA)."""
    steps, values = [], []
    for record in records:
        value = record.get(key)
        if _is_number(value):
            steps.append(record["step"])
            values.append(float(value))
    return steps, values


def ema(values: Iterable[float], smoothing: float) -> list[float]:
    """Bias-corrected exponential moving average, as TensorBoard's smoothing slider.

    Without the correction the curve would start near zero; dividing by 1 - w^n removes that.
    """
    smoothed, accumulator, count = [], 0.0, 0
    for value in values:
        count += 1
        accumulator = accumulator * smoothing + (1.0 - smoothing) * value
        smoothed.append(accumulator / (1.0 - smoothing**count))
    return smoothed


def _draw(ax: Axes, steps: list[int], values: list[float], smoothing: float, colour: str, label: str) -> bool:
    """Draw one series raw (thin, faint) and smoothed (solid, labelled); False if it has no points."""
    if not steps:
        return False
    ax.plot(steps, values, color=colour, linewidth=0.8, alpha=0.3)
    ax.plot(steps, ema(values, smoothing), color=colour, linewidth=1.6, label=label)
    return True


def _panel(
    ax: Axes,
    records: list[dict[str, Any]],
    title: str,
    lines: list[tuple[str, str, str]],
    smoothing: float,
    log_if_positive: bool = False,
) -> None:
    """Fill one panel with `(key, colour, label)` series; a note replaces it when none were logged."""
    ax.set_title(title)
    ax.set_xlabel("generator step")
    ax.grid(True, alpha=0.3)
    drawn = []
    for key, colour, label in lines:
        steps, values = _series(records, key)
        if _draw(ax, steps, values, smoothing, colour, label):
            drawn.append(values)
    if not drawn:
        _note(ax, f"no {', '.join(key for key, _, _ in lines)} in log")
        return
    # Gradient norms span orders of magnitude; a log axis shows both explosion and vanishing.
    if log_if_positive and all(v > 0 for values in drawn for v in values):
        ax.set_yscale("log")
    if len(lines) > 1:
        ax.legend(loc="best", fontsize="small")


def _note(ax: Axes, text: str) -> None:
    """Blank a panel and write `text` in its centre (for data this run does not have)."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _penalty_panel(ax: Axes, records: list[dict[str, Any]], smoothing: float, loss: str) -> None:
    """Gradient penalty, or a note saying why there is none (weight clipping / plain GAN)."""
    steps, values = _series(records, "gradient_penalty")
    if not steps:
        ax.set_title("gradient penalty")
        _note(ax, f"no gradient penalty (loss={loss})")
        return
    _panel(ax, records, "gradient penalty", [("gradient_penalty", _COLOURS["penalty"], "penalty")], smoothing)


def _overlay_metrics(ax: Axes, metrics: dict[str, tuple[list[int], list[float]]]) -> None:
    """Put evaluation metrics (fid, kid, ...) on a twin y-axis of `ax`, with one merged legend."""
    if not metrics:
        return
    twin = ax.twinx()
    colours = ["tab:orange", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]
    markers = ["o", "s", "^", "D", "v", "P"]
    for index, (name, (steps, values)) in enumerate(sorted(metrics.items())):
        twin.plot(steps, values, color=colours[index % len(colours)], marker=markers[index % len(markers)],
                  markersize=4, linewidth=1.0, label=name)
    # FID (~100) and KID (~0.05) share this axis; a log scale keeps both visible.
    if all(v > 0 for _, values in metrics.values() for v in values):
        twin.set_yscale("log")
    twin.set_ylabel("evaluation metrics")
    handles, labels = ax.get_legend_handles_labels()
    twin_handles, twin_labels = twin.get_legend_handles_labels()
    twin.legend(handles + twin_handles, labels + twin_labels, loc="best", fontsize="small")


def _title(run: Path, config: dict[str, Any]) -> str:
    """Figure title: the run folder's name plus loss and resolution when config.json has them."""
    parts = [f"{key}={config[key]}" for key in ("loss", "resolution") if key in config]
    return f"{run.resolve().name}" + (f"  ({', '.join(parts)})" if parts else "")


def _build_figure(run: Path, records: list[dict[str, Any]], smoothing: float) -> Figure:
    """Lay out the six panels for `records` (and metrics.jsonl, if any) on a new Figure."""
    config = _read_config(run)
    fig = Figure(figsize=_FIGSIZE, dpi=_DPI)
    FigureCanvasAgg(fig)  # attaches itself to fig; Agg renders PNGs with no display
    # Fixed margins, not constrained layout: that measures every label twice and triples the time.
    fig.subplots_adjust(left=0.05, right=0.96, bottom=0.07, top=0.91, wspace=0.33, hspace=0.32)
    axes = fig.subplots(2, 3).ravel()
    critic, generator = _COLOURS["critic"], _COLOURS["generator"]
    _panel(axes[0], records, "Wasserstein estimate", [("wasserstein_estimate", _COLOURS["main"], "W estimate")],
           smoothing)
    _overlay_metrics(axes[0], _read_metrics(run))
    _panel(axes[1], records, "losses", [("critic_loss", critic, "critic"), ("generator_loss", generator, "generator")],
           smoothing)
    _penalty_panel(axes[2], records, smoothing, str(config.get("loss", "unknown")))
    norms = [("critic_grad_norm", critic, "critic"), ("generator_grad_norm", generator, "generator")]
    if _series(records, "penalty_grad_norm")[0]:
        norms.append(("penalty_grad_norm", _COLOURS["penalty"], "critic at interpolates (target 1)"))
    _panel(axes[3], records, "gradient norms", norms, smoothing, log_if_positive=True)
    _panel(axes[4], records, "critic scores", [("critic_real", critic, "real"), ("critic_fake", generator, "fake")],
           smoothing)
    _panel(axes[5], records, "throughput (images/s)", [("images_per_second", _COLOURS["main"], "images/s")],
           smoothing)
    fig.suptitle(_title(run, config))
    return fig


def plot(run_dir: str | os.PathLike[str], out: str | os.PathLike[str], smoothing: float = 0.9) -> Path:
    """Plot `run_dir`'s training curves to the PNG `out` and return its path.

    Each series is drawn raw (faint) and smoothed with a bias-corrected EMA of weight `smoothing`
    (0 = no smoothing, must be below 1). The PNG is written to a temporary name beside `out` and
    renamed into place, so an interrupted run never leaves half a file.
    """
    out_path = Path(out)
    if out_path.suffix.lower() != ".png":
        raise UserError(f"--out {out_path}: unsupported suffix {out_path.suffix or '(none)'!r}; use .png")
    if not (_is_number(smoothing) and 0.0 <= smoothing < 1.0):
        raise UserError(f"--smoothing {smoothing}: must be at least 0 and below 1 (e.g. 0.9)")
    records = read_log(run_dir)
    if not records:
        raise UserError(f"{Path(run_dir) / 'log.jsonl'}: no readable log lines; train this run for at least one step first")
    fig = _build_figure(Path(run_dir), records, smoothing)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out_path) as tmp:
        fig.savefig(tmp, format="png", dpi=_DPI)
    return out_path
