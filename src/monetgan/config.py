"""Training configuration: one frozen dataclass, TOML presets, and command-line overrides.

Precedence, lowest first: dataclass defaults < preset file < explicit flags < `--set key=value`.
Fields left as `None`/"auto" take the paper's value for the chosen loss in `TrainConfig.resolved()`,
so `--loss wgan` alone gives RMSprop 5e-5 and clipping, exactly as in Arjovsky et al. (2017).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import sys
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

from .errors import UserError
from .files import atomic_write_text

LOSSES = ("wgan", "wgan-gp", "gan", "hinge")
RESOLUTIONS = (32, 64, 128, 256)
OPTIMIZERS = ("auto", "rmsprop", "adam")
NORMS = ("auto", "batchnorm", "layernorm", "none")
ARCHITECTURES = ("dcgan", "resnet")
GENERATORS = ("auto", "dcgan", "resnet", "upsample", "translator")  # auto: `architecture`'s; translator: photo -> painting
CRITICS = ("pixel", "projected")
PRECISIONS = ("auto", "fp32", "bf16")
DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")  # implemented in training/augment.py
KEEP_BEST_METRICS = ("fid", "kid", "mifid", "swd")  # as `evaluate --checkpoint all` writes them; lower is better
DEFAULT_PRESET = "projected-128"  # what `monetgan train` uses without --preset: the best measured per CPU-minute

# Keys that may change when a run is resumed: they decide how long and how chattily it runs,
# never what it computes. Everything else must match the saved config exactly.
RESUMABLE_KEYS = frozenset(
    {"steps", "time_limit_minutes", "cpu_limit_minutes", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints", "keep_best",
     "device"}
)


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run. The field defaults are the `wgan-gp-64` preset's values (the
    pixel-critic baseline); `build_config()` starts from DEFAULT_PRESET's file instead."""

    preset: str = "wgan-gp-64"  # the preset these values started from (for the record)

    # --- objective -------------------------------------------------------------------------
    loss: str = "wgan-gp"  # wgan (weight clipping) | wgan-gp (gradient penalty) | gan (cross-entropy) | hinge
    n_critic: int | None = None  # critic steps per generator step; None: 5 for WGANs, 1 for gan and hinge
    wgan_warmup: bool = False  # WGAN reference code: 100 critic steps for the first 25 G steps and every 500th
    clip_value: float = 0.01  # WGAN: critic weights clipped to [-c, c]
    gp_weight: float = 10.0  # WGAN-GP: lambda
    gp_every: int = 1  # lazy penalty (StyleGAN2's lazy R1): on every k-th critic step only, scaled by k
    diffaugment: str = ""  # DiffAugment policy for real and fake alike, e.g. "color,translation,cutout"; "" = off

    # --- optimisation ----------------------------------------------------------------------
    optimizer: str = "auto"  # auto: rmsprop for wgan, adam otherwise
    lr_generator: float | None = None  # None: 5e-5 (wgan), 1e-4 (wgan-gp), 2e-4 (gan, hinge)
    lr_critic: float | None = None
    adam_beta1: float | None = None  # None: 0.0 (wgan-gp, hinge), 0.5 (gan)
    adam_beta2: float | None = None  # None: 0.9 (wgan-gp), 0.99 (hinge, as Projected GANs), 0.999 (gan)
    batch_size: int = 64
    steps: int = 10_000  # generator iterations
    time_limit_minutes: float = 0.0  # also stop (with a checkpoint) after this much training time; 0 = no limit
    cpu_limit_minutes: float = 0.0  # also stop after this much process CPU time (all threads); 0 = no limit
    seed: int = 0

    # --- networks --------------------------------------------------------------------------
    critic: str = "pixel"  # pixel (a critic on the image, built as `architecture` says) | projected (Sauer et al. 2021)
    generator: str = "auto"  # dcgan | resnet | upsample (nearest upsampling + 3x3 convs, FastGAN-style); auto: `architecture`
    architecture: str = "dcgan"  # the pixel critic's (and an auto generator's) nets: dcgan (Radford et al. 2016) | resnet
    skip_excitation: bool = True  # upsample generator: FastGAN's skip-layer excitation
    resolution: int = 64
    latent_dim: int = 100
    generator_channels: int = 64  # width at the output resolution; doubles each level down
    critic_channels: int = 64  # width at the input resolution; doubles each level down
    max_channels: int = 512  # cap, so 256 px nets stay a sensible size
    critic_blur: float = 0.0  # projected critic: Gaussian low-pass (sigma, px at `resolution`) before the feature network; 0 = off
    critic_norm: str = "auto"  # auto: layernorm for wgan-gp (per-sample penalty), batchnorm otherwise (as the papers)
    ema_decay: float = 0.999  # exponential moving average of the generator; 0 disables it
    ema_rampup: float = 0.0  # EMA half-life at most this fraction of the steps so far, up to ema_decay's (StyleGAN2-ADA); 0: fixed
    init_from: str = ""  # "" (random) | bundled | FILE.safetensors | checkpoint folder: the generator's start
    critic_warmup: int = 0  # the first this many iterations train only the critic; the generator waits (for init_from)

    # --- photo -> painting (generator = translator; train with --photos) -----------------------
    translator_blocks: int = 4  # residual blocks at a quarter of the resolution
    translator_residual: bool = False  # paint a change to the photo, starting as the identity (nets/translator.py)
    translator_chroma_blur: float = 0.0  # px: fixed low-pass on the painting's colour, brightness kept (0 = off)
    nce_weight: float = 1.0  # CUT's lambda_NCE: weight of the PatchNCE content term
    nce_identity: bool = True  # CUT (True) also asks paintings to stay themselves; FastCUT (False) skips it
    nce_patches: int = 256  # patches per layer and image in PatchNCE
    photo_holdout_percent: int = 10  # photos kept out of training for evaluation, chosen by a hash of their name

    # --- data ------------------------------------------------------------------------------
    hflip: bool = True
    crop_from: int = 0  # 0: images are decoded at `resolution`; N: decoded at N px, random `resolution` crops trained on
    min_images: int = 10  # refuse to train on fewer usable images than this

    # --- runtime ---------------------------------------------------------------------------
    precision: str = "auto"  # auto: bf16 autocast on CUDA and on CPUs with native bf16, else fp32 | fp32 | bf16
    device: str = "auto"  # auto | cpu | cuda | cuda:N

    # --- bookkeeping (all in generator steps) ----------------------------------------------
    log_every: int = 1
    sample_every: int = 200
    checkpoint_every: int = 500
    keep_checkpoints: int = 0  # keep the newest K checkpoints; 0 keeps all
    keep_best: str = ""  # with keep_checkpoints: also keep the best by this metric in metrics.jsonl (fid|kid|mifid|swd)
    num_frame_samples: int = 64  # fixed latents in each time-lapse frame

    def __post_init__(self) -> None:
        _check_types(self)
        _check_ranges(self)

    def resolved(self) -> TrainConfig:
        """Return a copy with every auto/None value replaced by the paper default for `loss`."""
        wgan, gp, hinge = self.loss == "wgan", self.loss == "wgan-gp", self.loss == "hinge"
        default_lr = 5e-5 if wgan else 1e-4 if gp else 2e-4
        fill = {
            "generator": self.generator if self.generator != "auto" else self.architecture,
            "n_critic": self.n_critic if self.n_critic is not None else (5 if wgan or gp else 1),
            "optimizer": self.optimizer if self.optimizer != "auto" else ("rmsprop" if wgan else "adam"),
            "lr_generator": self.lr_generator if self.lr_generator is not None else default_lr,
            "lr_critic": self.lr_critic if self.lr_critic is not None else default_lr,
            "adam_beta1": self.adam_beta1 if self.adam_beta1 is not None else (0.0 if gp or hinge else 0.5),
            "adam_beta2": self.adam_beta2 if self.adam_beta2 is not None else (0.9 if gp else 0.99 if hinge else 0.999),
            "critic_norm": self.critic_norm if self.critic_norm != "auto" else ("layernorm" if gp else "batchnorm"),
        }
        resolved = dataclasses.replace(self, **fill)
        if resolved.loss == "wgan-gp" and resolved.critic_norm == "batchnorm":
            # WGAN-GP section 4: the penalty is per-sample, which batch statistics break.
            raise UserError("critic_norm=batchnorm is invalid with loss=wgan-gp (the penalty is per sample); use layernorm or none")
        return resolved

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def n_critic_at(self, step: int) -> int:
        """Critic iterations before generator step `step` (0-based), per the WGAN reference code."""
        assert self.n_critic is not None, "call resolved() first"
        if self.wgan_warmup and (step < 25 or step % 500 == 0):
            return 100
        return self.n_critic


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def _check_types(cfg: TrainConfig) -> None:
    for name, hint in _field_types().items():
        value = getattr(cfg, name)
        allowed = typing.get_args(hint) or (hint,)
        ok = any(
            (value is None and t is type(None))
            or (t is float and isinstance(value, (int, float)) and not isinstance(value, bool))
            or (t is int and isinstance(value, int) and not isinstance(value, bool))
            or (t in (str, bool) and isinstance(value, t))
            for t in allowed
        )
        if not ok:
            names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise UserError(f"config key {name!r} must be {names}, got {value!r}")


def _check_ranges(cfg: TrainConfig) -> None:
    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            raise UserError(f"config key {key!r} {what}, got {getattr(cfg, key)!r}")

    need(cfg.loss in LOSSES, "loss", f"must be one of {', '.join(LOSSES)}")
    need(cfg.resolution in RESOLUTIONS, "resolution", f"must be one of {', '.join(map(str, RESOLUTIONS))}")
    need(cfg.optimizer in OPTIMIZERS, "optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
    need(cfg.critic_norm in NORMS, "critic_norm", f"must be one of {', '.join(NORMS)}")
    need(cfg.architecture in ARCHITECTURES, "architecture", f"must be one of {', '.join(ARCHITECTURES)}")
    need(cfg.generator in GENERATORS, "generator", f"must be one of {', '.join(GENERATORS)}")
    need(cfg.critic in CRITICS, "critic", f"must be one of {', '.join(CRITICS)}")
    need(cfg.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}")
    need(cfg.n_critic is None or cfg.n_critic >= 1, "n_critic", "must be at least 1")
    for key in ("batch_size", "steps", "latent_dim", "generator_channels", "critic_channels", "max_channels",
                "log_every", "sample_every", "checkpoint_every", "num_frame_samples", "min_images"):
        need(getattr(cfg, key) >= 1, key, "must be at least 1")
    need(0 <= cfg.seed < 2**63, "seed", "must lie in [0, 2**63)")
    need(cfg.keep_checkpoints >= 0, "keep_checkpoints", "must be 0 (keep all) or more")
    need(cfg.keep_best in ("", *KEEP_BEST_METRICS), "keep_best",
         f"must be empty (newest only) or one of {', '.join(KEEP_BEST_METRICS)}")
    for key in ("lr_generator", "lr_critic"):
        need(getattr(cfg, key) is None or 0 < getattr(cfg, key) < 1, key, "must lie in (0, 1)")
    for key in ("adam_beta1", "adam_beta2"):
        need(getattr(cfg, key) is None or 0 <= getattr(cfg, key) < 1, key, "must lie in [0, 1)")
    for key in ("clip_value", "gp_weight", "lr_generator", "lr_critic", "adam_beta1", "adam_beta2", "ema_decay"):
        value = getattr(cfg, key)
        need(value is None or math.isfinite(value), key, "must be a finite number")
    need(cfg.clip_value > 0, "clip_value", "must be positive")
    need(cfg.gp_weight >= 0, "gp_weight", "must be 0 or more")
    need(math.isfinite(cfg.ema_rampup) and 0 <= cfg.ema_rampup <= 1, "ema_rampup",
         "must lie in [0, 1] (0 = a fixed half-life; StyleGAN2-ADA uses 0.05)")
    need(math.isfinite(cfg.critic_blur) and 0 <= cfg.critic_blur <= 8, "critic_blur",
         "must be 0 (off) or a blur radius (Gaussian sigma) of up to 8 px")
    need(cfg.gp_every >= 1, "gp_every", "must be at least 1 (1 = penalty on every critic step)")
    need(cfg.critic_warmup >= 0, "critic_warmup", "must be 0 (off) or a number of iterations")
    for key in ("time_limit_minutes", "cpu_limit_minutes"):
        need(math.isfinite(getattr(cfg, key)) and getattr(cfg, key) >= 0, key,
             "must be 0 (no limit) or a positive number of minutes")
    try:
        parse_policy(cfg.diffaugment)
    except ValueError as exc:
        raise UserError(f"config key 'diffaugment' {exc}, got {cfg.diffaugment!r}") from None
    need(0 <= cfg.ema_decay < 1, "ema_decay", "must lie in [0, 1)")
    need(cfg.crop_from == 0 or cfg.crop_from >= cfg.resolution, "crop_from",
         "must be 0 (no cropping) or at least the resolution")
    need(cfg.crop_from <= 1024, "crop_from", "must be at most 1024 pixels")
    need(cfg.translator_blocks >= 0, "translator_blocks", "must be 0 or more")
    need(0 <= cfg.translator_chroma_blur <= 8, "translator_chroma_blur", "must lie in 0..8 px (0 = off)")
    need(math.isfinite(cfg.nce_weight) and cfg.nce_weight >= 0, "nce_weight", "must be 0 or more")
    need(cfg.nce_patches >= 1, "nce_patches", "must be at least 1")
    need(0 <= cfg.photo_holdout_percent < 100, "photo_holdout_percent", "must lie in [0, 100)")
    need(cfg.device == "auto" or cfg.device == "cpu" or cfg.device.startswith("cuda"), "device",
         "must be auto, cpu, cuda or cuda:N")


def parse_policy(policy: str) -> list[str]:
    """'color,translation,cutout' -> its parts, validated; '' is no augmentation."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    unknown = [n for n in names if n not in DIFFAUGMENT_POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown[0]!r}; use a comma list of {', '.join(DIFFAUGMENT_POLICIES)}")
    return names


# ----------------------------------------------------------------------------------------------
# Presets and overrides
# ----------------------------------------------------------------------------------------------

def preset_names() -> list[str]:
    """Names of the presets shipped with the package."""
    folder = resources.files("monetgan") / "presets"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_preset(name: str) -> dict[str, Any]:
    """Read a shipped preset by name, or a TOML file by path, into a dict of config values."""
    path = Path(name)
    if name.endswith(".toml") and path.is_file():
        try:
            text, where = path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"--preset {path}: cannot read it as UTF-8 text ({exc.__class__.__name__}: {exc})") from None
    else:
        names = preset_names()
        if name not in names:
            hint = difflib.get_close_matches(name, names, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise UserError(f"unknown preset {name!r} for --preset{suggestion}; choose one of: {', '.join(names)}")
        text = (resources.files("monetgan") / "presets" / f"{name}.toml").read_text()
        where = f"preset {name}"
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{where} is not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses into nested arrays and tables
        raise UserError(f"{where} is not valid TOML: values nested too deeply") from None
    _check_known_keys(values, where)
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):  # TOML allows nan and inf
            raise UserError(f"config key {key!r} in {where} must be a finite number, got {value}")
    values.pop("description", None)
    return values


def preset_description(name: str) -> str:
    """The `description` line of a shipped preset."""
    text = (resources.files("monetgan") / "presets" / f"{name}.toml").read_text()
    return str(tomllib.loads(text).get("description", ""))


def _check_known_keys(values: dict[str, Any], where: str) -> None:
    known = set(_field_types()) | {"description"}
    for key in values:
        if key not in known:
            hint = difflib.get_close_matches(key, sorted(known), n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise UserError(f"unknown config key {key!r} in {where}{suggestion}")


def parse_set_items(items: list[str]) -> dict[str, Any]:
    """Turn `["key=value", ...]` from `--set` into typed values, naming the offending item on error."""
    types = _field_types()
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise UserError(f"--set {item!r} must look like key=value")
        _check_known_keys({key: None}, "--set")
        if key not in types:  # "description" is known, but only as a preset file's note
            raise UserError(f"--set {key}: not a config key (only preset files have a description)")
        out[key] = _parse_value(key, raw.strip(), types[key])
    return out


def _parse_value(key: str, raw: str, hint: Any) -> Any:
    allowed = typing.get_args(hint) or (hint,)
    if type(None) in allowed and raw.lower() in ("none", "null", "auto", ""):
        return None
    for t in allowed:
        try:
            if t is bool:
                if raw.lower() in ("1", "true", "yes", "on"):
                    return True
                if raw.lower() in ("0", "false", "no", "off"):
                    return False
                continue
            if t is int:
                return int(raw.replace("_", ""))
            if t is float:
                value = float(raw)
                if not math.isfinite(value):
                    raise UserError(f"--set {key}={raw!r}: must be a finite number")
                return value
            if t is str:
                return raw
        except ValueError:
            continue
    names = " or ".join(t.__name__ for t in allowed if t is not type(None))
    raise UserError(f"--set {key}={raw!r}: expected {names}")


def build_config(preset: str | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then the preset, then the overrides; validated and resolved."""
    name = preset or DEFAULT_PRESET
    values = load_preset(name)
    values["preset"] = name
    for key, value in (overrides or {}).items():
        _check_known_keys({key: None}, "overrides")
        values[key] = value
    return TrainConfig(**values).resolved()


def config_from_dict(values: dict[str, Any], where: str) -> TrainConfig:
    """Rebuild a saved config (config.json), refusing unknown keys with the file named."""
    _check_known_keys(values, where)
    try:
        return TrainConfig(**values).resolved()
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


def save_config(cfg: TrainConfig, path: Path) -> None:
    atomic_write_text(path, json.dumps(cfg.to_dict(), indent=2) + "\n")


def load_config(path: Path) -> TrainConfig:
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read config {path}: {exc}") from None
    return config_from_dict(values, str(path))


def check_resume_overrides(saved: TrainConfig, overrides: dict[str, Any], preset: str | None) -> TrainConfig:
    """Apply overrides to a saved config on resume; any that changes what the run computes is an error."""
    if preset is not None and preset != saved.preset:
        raise UserError(
            f"--preset {preset} contradicts this run's saved preset {saved.preset!r}; drop --preset or start a new --run"
        )
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        _check_known_keys({key: None}, "overrides")
        if getattr(saved, key) == value:
            continue
        if key not in RESUMABLE_KEYS:
            raise UserError(
                f"{key}={value!r} contradicts this run's saved config ({key}={getattr(saved, key)!r}); "
                "drop the flag to resume, or start a new --run"
            )
        changes[key] = value
    return dataclasses.replace(saved, **changes)
