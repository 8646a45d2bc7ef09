"""The `monetgan` command: a thin argparse layer over `train`, `paint`, `timelapse` and `plot`.

Only this module parses arguments or exits. A `UserError` becomes one line on stderr and exit
status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .config import DEFAULT_PRESET, LOSSES, PRECISIONS, RESOLUTIONS, parse_set_items, preset_names
from .errors import ReportedByRankZero, UserError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (not usage + message) and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{self.prog}: {message} (see {self.prog} --help)")


def _train(args: argparse.Namespace) -> int:
    from .training.loop import train

    overrides: dict[str, Any] = {}
    for flag, key in (("loss", "loss"), ("resolution", "resolution"), ("steps", "steps"),
                      ("n_critic", "n_critic"), ("batch_size", "batch_size"), ("seed", "seed"),
                      ("init_from", "init_from")):
        if getattr(args, flag) is not None:
            overrides[key] = getattr(args, flag)
    overrides.update(parse_set_items([item for group in args.set or [] for item in group]))
    result = train(args.data, args.run, args.preset, photos=args.photos, dry_run=args.dry_run,
                   show_progress=not args.quiet, **overrides)
    if args.dry_run:
        if os.environ.get("RANK", "0") == "0":  # under torchrun, once
            print(json.dumps(result.to_dict(), indent=2))
        return 0
    if result.interrupted:
        return 130
    if result.rank == 0:  # under torchrun the other processes print nothing
        print(f"done: {result.run_dir} at step {result.step}; latest checkpoint {result.checkpoint}")
    return 0


def _paint(args: argparse.Namespace) -> int:
    from .painting.paint import paint

    paths = paint(args.run, checkpoint=args.checkpoint, weights=args.weights, num=args.num, out=args.out, seed=args.seed,
                  grid=args.grid, ema=args.ema, batch_size=args.batch_size, device=args.device, size=args.size,
                  show_progress=not args.quiet)
    grid = f" and grid {args.grid}" if args.grid else ""
    from PIL import Image

    with Image.open(paths[0]) as first:
        side = first.size[0]
    print(f"wrote {len(paths)} paintings of {side}x{side} px to {args.out}{grid}")
    return 0


def _timelapse(args: argparse.Namespace) -> int:
    from .painting.timelapse import timelapse

    print(f"wrote {timelapse(args.run_dir, args.out, fps=args.fps)}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    from .reports.plotting import plot

    print(f"wrote {plot(args.run_dir, args.out)}")
    return 0


def _interpolate(args: argparse.Namespace) -> int:
    from .painting.interpolate import interpolate, parse_seeds

    out = interpolate(parse_seeds(args.seeds), args.out, frames=args.frames, mode=args.mode, run=args.run,
                      checkpoint=args.checkpoint, weights=args.weights, ema=args.ema, device=args.device,
                      size=args.size, fps=args.fps)
    print(f"wrote {out} ({args.frames} frames, {args.mode})")
    return 0


def _studio(args: argparse.Namespace) -> int:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UserError("the studio needs its extra: pip install 'monetgan[studio]'") from None
    from .studio.server import serve

    serve(args.run_dirs, host=args.host, port=args.port, device=args.device, size=args.size)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from .reports.evaluate import evaluate, format_report

    report = evaluate(args.run, checkpoint=args.checkpoint, fake=args.fake, weights=args.weights, real=args.real,
                      holdout=args.holdout, num=args.num, json_out=args.json, ema=args.ema, device=args.device,
                      seed=args.seed, cache_dir=None if args.no_cache else "default", judge_at=args.judge_at,
                      photos=args.photos, strength=args.strength, chroma_blur=args.chroma_blur,
                      jpeg=args.jpeg, precision=args.precision, show_progress=not args.quiet)
    print(format_report(report))
    if args.json:
        print(f"wrote {args.json}")
    return 0


def _export_kaggle(args: argparse.Namespace) -> int:
    if args.photos is not None:
        from .painting.export_photos import export_kaggle_from_photos

        if args.seed != 0:
            raise UserError("--seed is for painting from noise; with --photos each photo is painted once")
        result = export_kaggle_from_photos(args.photos, run=args.run, checkpoint=args.checkpoint, weights=args.weights,
                                           num=args.num, out=args.out, ema=args.ema, data=args.data,
                                           device=args.device, strength=args.strength, chroma_blur=args.chroma_blur,
                                           precision=args.precision, show_progress=not args.quiet)
        print(f"wrote {result.num_images} JPEGs (stylized photos) to {result.zip_path} and {result.manifest_path}")
        return 0
    from .painting.export import export_kaggle
    from .painting.stylize import stylizer_flags_given

    if given := stylizer_flags_given(args.strength, args.chroma_blur, args.precision):
        raise UserError(f"{given[0]} is for stylizing photos; add --photos DIR, or leave it out to paint from noise")
    if args.num is None:
        args.num = 7000
    result = export_kaggle(args.run, checkpoint=args.checkpoint, weights=args.weights, num=args.num, out=args.out, seed=args.seed,
                           ema=args.ema, data=args.data, device=args.device, show_progress=not args.quiet)
    note = f"; upsampled from {result.upsampled_from} px with Lanczos" if result.upsampled_from else ""
    print(f"wrote {result.num_images} JPEGs to {result.zip_path} and {result.manifest_path}{note}; "
          f"replaced {len(result.replaced)} near-copies of training images")
    return 0


def _stylize(args: argparse.Namespace) -> int:
    from .painting.stylize import stylize

    result = stylize(args.photos, args.out, run=args.run, checkpoint=args.checkpoint, weights=args.weights,
                     size=args.size, overwrite=args.overwrite, ema=args.ema, device=args.device,
                     strength=args.strength, chroma_blur=args.chroma_blur, precision=args.precision,
                     show_progress=not args.quiet)
    print(f"wrote {len(result.written)} paintings to {args.out}")
    if result.skipped:
        print(f"skipped {len(result.skipped)} photos that could not be used:")
        for name, why in result.skipped:
            print(f"  {name}: {why}")
    return 0


def _presets(args: argparse.Namespace) -> int:
    from .config import preset_description

    for name in preset_names():
        print(f"{name:12s} {preset_description(name)}")
    return 0


def _average(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .painting.averaging import average_snapshots
    from .training.checkpoint import checkpoints_named

    checkpoints = checkpoints_named(Path(args.run), args.steps, "--steps")
    out = average_snapshots(checkpoints, args.out)
    print(f"wrote {out}: the mean of the raw generators of {', '.join(c.name for c in checkpoints)}, painted as "
          "its EMA generator (paint, evaluate --checkpoint and bundling take it)")
    return 0


def _add_checkpoint_source_args(p: argparse.ArgumentParser) -> None:
    """--run or --checkpoint: which generator a painting command uses."""
    p.add_argument("--run", help="run folder: use its latest checkpoint")
    p.add_argument("--checkpoint", help="a checkpoint folder (RUN_DIR/checkpoints/step-NNNNNN)")


def _add_stylizer_settings_args(p: argparse.ArgumentParser) -> None:
    """A stylizer's untrained painting settings (nets/translator.py); default: its card's or run's."""
    p.add_argument("--strength", type=float,
                   help="a stylizer's strength, 0..2: 0 paints the photo itself, 1 the change as trained "
                        "(default: the one its card gives, else 1)")
    p.add_argument("--chroma-blur", type=float, metavar="PX",
                   help="a stylizer's colour blur, 0..8 px: a Gaussian on the painting's colour, brightness "
                        "kept; 0 = off (default: its card's, else its run's translator_chroma_blur; "
                        "export-kaggle: 0, as its 4:2:0 JPEGs hold colour at half resolution already)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="how a stylizer computes: auto (default) = bf16 on CUDA and on CPUs with native bf16 "
                        "(AVX-512 BF16 or AMX), where it paints in 1.4-1.8x less CPU time with FID unchanged, else fp32")


def _add_generator_args(p: argparse.ArgumentParser) -> None:
    """--ema/--no-ema and --device: how a command that paints loads and runs the generator."""
    p.add_argument("--ema", action=argparse.BooleanOptionalAction, default=None,
                   help="use the EMA generator (default: when the checkpoint has one)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="monetgan", description="Learn to paint like Claude Monet with Wasserstein GANs.")
    from .version import __version__

    parser.add_argument("--version", action="version", version=f"monetgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("train", help="train a GAN, or resume a run", description=(
        "Train a GAN on a folder or zip of paintings. Running it again on an existing --run resumes that run."))
    p.add_argument("--data", help="folder (searched recursively) or zip of JPEG/PNG/WebP images; "
                                  "optional when resuming")
    p.add_argument("--run", required=True, help="run folder: config, logs, frames and checkpoints go here")
    p.add_argument("--photos", help="photo -> painting (with --preset cut-128): a folder or zip of photographs "
                                    "to learn to paint as the --data paintings; optional when resuming")
    p.add_argument("--preset", help=f"one of {', '.join(preset_names())}, or a .toml file (default {DEFAULT_PRESET})")
    p.add_argument("--loss", choices=LOSSES, help="wgan (weight clipping), wgan-gp (gradient penalty), gan")
    p.add_argument("--resolution", type=int, choices=RESOLUTIONS, help="training resolution in pixels")
    p.add_argument("--steps", type=int, help="generator iterations to train for (may be raised on resume)")
    p.add_argument("--n-critic", type=int, help="critic steps per generator step (default 5; 1 for gan)")
    p.add_argument("--batch-size", type=int, help="images per batch")
    p.add_argument("--seed", type=int, help="seed for initialisation, data order and noise")
    p.add_argument("--init-from", metavar="SOURCE",
                   help="start the generator from a painter instead of random weights: 'bundled' (the Monet "
                        "painter shipped with monetgan), a .safetensors with its .json card, or a checkpoint "
                        "folder; the critic starts fresh (fine-tuning on your own paintings)")
    p.add_argument("--set", action="append", nargs="+", metavar="KEY=VALUE",
                   help="override any config key, e.g. --set checkpoint_every=100 sample_every=50")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    p.set_defaults(func=_train)

    p = sub.add_parser("paint", help="paint new images (with the bundled Monet generator, or a run's)",
                       description="Paint new images. With no --run or --checkpoint, the generator bundled with "
                                   "monetgan paints them, offline.")
    _add_checkpoint_source_args(p)
    p.add_argument("--weights", help="a generator .safetensors with its .json card beside it "
                                     "(as written by python -m monetgan.painting.bundled)")
    p.add_argument("--num", type=int, default=16, help="number of paintings (default 16)")
    p.add_argument("--size", type=int, help="side of the PNGs in pixels, upsampled with Lanczos when larger than the "
                                             "painter's (default: a run's own resolution; the bundled painter's card: 256)")
    p.add_argument("--out", default="paintings", help="output folder for the PNGs (default ./paintings)")
    p.add_argument("--seed", type=int, default=0, help="first latent seed; painting i uses seed+i (default 0)")
    p.add_argument("--grid", help="also write all paintings as one grid PNG here")
    _add_generator_args(p)
    p.add_argument("--batch-size", type=int, default=64, help="images per forward pass (default 64)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_paint)

    p = sub.add_parser("timelapse", help="render a run's fixed-latent frames as a GIF or MP4")
    p.add_argument("run_dir", help="run folder")
    p.add_argument("--out", required=True, help="output .gif or .mp4")
    p.add_argument("--fps", type=float, default=8.0, help="frames per second (default 8)")
    p.set_defaults(func=_timelapse)

    p = sub.add_parser("plot", help="plot a run's training curves")
    p.add_argument("run_dir", help="run folder")
    p.add_argument("--out", required=True, help="output .png")
    p.set_defaults(func=_plot)

    p = sub.add_parser("evaluate", help="FID, KID, MiFID, SWD, memorisation and diversity against real paintings")
    p.add_argument("--run", help="run folder (default: the bundled painter)")
    p.add_argument("--checkpoint", help="step-N (or N) of the run, or all for every checkpoint (default: latest); "
                                        "without --run, a checkpoint folder")
    p.add_argument("--weights", help="a generator .safetensors file with its .json card beside it")
    p.add_argument("--fake", help="instead of a generator: a folder or zip of generated images")
    p.add_argument("--judge-at", choices=("256", "native"), default="256",
                   help="judge at 256 px, smaller paintings upsampled as export does (default), "
                        "or at the generator's own resolution")
    p.add_argument("--real", required=True, help="the real paintings (the training set)")
    p.add_argument("--holdout", help="a second real set that was not trained on")
    p.add_argument("--photos", help="judging a stylizer: the photos to paint (default for a run: the photos it held "
                                    "out of training; with no --run, --checkpoint or --weights: the bundled stylizer)")
    p.add_argument("--num", type=int, default=1000, help="generated images per checkpoint (default 1000)")
    p.add_argument("--json", help="also write the full report as JSON here")
    p.add_argument("--seed", type=int, default=0, help="seed for latents and metric subsets (default 0)")
    p.add_argument("--jpeg", type=int, metavar="QUALITY",
                   help="judge each painting after a JPEG round trip at this quality (4:2:0 colour), as Kaggle "
                        "scores a submission; export-kaggle writes 95 (default: as painted). At 256 px only")
    _add_stylizer_settings_args(p)
    _add_generator_args(p)
    p.add_argument("--no-cache", action="store_true", help="do not read or write cached real-image features")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("export-kaggle", help="write the Kaggle submission zip (7,000-10,000 256x256 JPEGs)")
    _add_checkpoint_source_args(p)
    p.add_argument("--weights", help="a generator .safetensors file with its .json card beside it "
                                     "(default with no --run/--checkpoint: the bundled painter)")
    p.add_argument("--photos", help="stylize these photos (a folder, or Kaggle's zip: its photo_jpg/) with a "
                                    "stylizer (--run/--checkpoint/--weights of a cut-128 run) instead of painting "
                                    "from noise")
    p.add_argument("--num", type=int, help="number of images, 7000 to 10000 (default 7000; with --photos, all of them)")
    p.add_argument("--out", default="images.zip", help="output zip (default images.zip); manifest.json goes beside it")
    p.add_argument("--seed", type=int, default=0, help="first latent seed (default 0)")
    p.add_argument("--data", help="training images to check for near-copies (default: the run's own data)")
    _add_stylizer_settings_args(p)
    _add_generator_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_export_kaggle)

    p = sub.add_parser("interpolate", help="a walk between paintings' latents (slerp), as a GIF or MP4",
                       description="Paint a smooth walk through the latents of --seeds, in order, and write it "
                                   "as .gif or .mp4 (by --out's suffix; an existing file is replaced).")
    _add_checkpoint_source_args(p)
    p.add_argument("--weights", help="a generator .safetensors with its .json card beside it")
    p.add_argument("--seeds", required=True, help="two or more seeds, e.g. 3,17,42 (the walk passes through each)")
    p.add_argument("--frames", type=int, default=60, help="frames in the whole walk (default 60)")
    p.add_argument("--mode", choices=("slerp", "lerp"), default="slerp",
                   help="spherical (default, right for Gaussian latents) or linear interpolation")
    p.add_argument("--fps", type=float, default=24.0, help="frames per second (default 24)")
    p.add_argument("--size", type=int, help="side of the frames in pixels (default: as monetgan paint)")
    p.add_argument("--out", required=True, help="output .gif or .mp4")
    _add_generator_args(p)
    p.set_defaults(func=_interpolate)

    p = sub.add_parser("studio", help="a local web page: gallery, walks between paintings, live run dashboards",
                       description="Serve the studio on 127.0.0.1: the bundled painter's gallery, walks, and a live "
                                   "dashboard for each RUN_DIR (a run's latest checkpoint, or a checkpoint folder, "
                                   "also paints; a photo -> painting run's paints photos in the Photo to Monet "
                                   "tab). Needs: pip install 'monetgan[studio]'.")
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="run folders or checkpoint folders")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else is reachable by others)")
    p.add_argument("--size", type=int, help="side of the paintings in pixels (default: as monetgan paint)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.set_defaults(func=_studio)

    p = sub.add_parser("stylize", help="turn photographs into Monet paintings with a photo -> painting translator",
                       description="Paint each photo of a file, folder or zip (Kaggle's zip: its photo_jpg/) as Monet "
                                   "would, as PNGs named after the photos. With no --run, --checkpoint or --weights, "
                                   "the stylizer bundled with monetgan paints them.")
    p.add_argument("photos", help="a photo (JPEG, PNG or WebP), or a folder or zip of them")
    _add_checkpoint_source_args(p)
    p.add_argument("--weights", help="a translator .safetensors file with its .json card beside it")
    p.add_argument("--out", required=True, help="output folder for the PNGs")
    p.add_argument("--size", type=int, default=256,
                   help="the longer side of each painting in pixels; the photo's aspect ratio is kept (default 256)")
    p.add_argument("--overwrite", action="store_true", help="replace paintings that already exist in --out")
    _add_stylizer_settings_args(p)
    _add_generator_args(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_stylize)

    p = sub.add_parser("average", help="a painter chosen after training: the mean of a run's raw generators "
                                       "over some of its checkpoints")
    p.add_argument("--run", required=True, help="the run folder")
    p.add_argument("--steps", required=True, help="comma-separated checkpoint steps, e.g. 2500,2750,3000")
    p.add_argument("--out", required=True, help="the paint-only checkpoint folder to write")
    p.set_defaults(func=_average)

    p = sub.add_parser("presets", help="list the shipped presets")
    p.set_defaults(func=_presets)
    return parser


def main(argv: list[str] | None = None) -> None:
    try:
        args = build_parser().parse_args(argv)
        code = args.func(args)
    except UserError as exc:
        if not isinstance(exc, ReportedByRankZero):  # under torchrun, rank 0 alone prints it
            print(f"monetgan: error: {exc}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("monetgan: interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
