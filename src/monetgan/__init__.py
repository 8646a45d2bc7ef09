"""monetgan: learn to paint like Claude Monet with Wasserstein GANs.

The command line is a thin layer over these functions, which work the same from a notebook:

    >>> import monetgan
    >>> monetgan.train("monet_jpg", "runs/quick", preset="quick")          # doctest: +SKIP
    >>> monetgan.paint("runs/quick", num=16, out="paintings")              # doctest: +SKIP
    >>> monetgan.timelapse("runs/quick", "quick.gif")             # doctest: +SKIP
    >>> monetgan.plot("runs/quick", "curves.png")                          # doctest: +SKIP
    >>> print(monetgan.format_report(monetgan.evaluate(real="monet_jpg")))  # doctest: +SKIP

The package is layered, and imports point down only:

    cli  studio/             the command line; the local web page
    reports/                 evaluate, plotting
    painting/                paint, stylize, bundled painter, Kaggle export, time-lapse, walks
    training/                losses, DiffAugment, PatchNCE, the step, the loop, checkpoints, torchrun
    nets/                    generators and the translator, pixel critics, the projected critic and its features
    data/  metrics/  config  decoding images; metric arithmetic; the typed configuration
    devices  files  errors   the ground floor
"""

import os

# Bit-exact resume needs MKL to compute a matrix product the same way in every process. Without
# conditional numerical reproducibility, a multi-threaded MKL sgemm on AVX-512/AMX CPUs rounded the
# first products of a fresh process differently from later ones, so a run resumed from a checkpoint
# drifted from an uninterrupted one by ~1e-6 at its first step. MKL reads this once, at its first
# call, so it is set before anything here imports torch; a value the user set is kept.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

from .version import __version__  # noqa: E402
from .config import TrainConfig, preset_names  # noqa: E402
from .errors import UserError  # noqa: E402
from .painting.export import export_kaggle  # noqa: E402
from .painting.paint import paint  # noqa: E402
from .reports.evaluate import evaluate, format_report  # noqa: E402
from .reports.plotting import plot  # noqa: E402
from .painting.stylize import stylize  # noqa: E402
from .painting.timelapse import timelapse  # noqa: E402
from .training.loop import train  # noqa: E402

__all__ = ["TrainConfig", "UserError", "evaluate", "export_kaggle", "format_report", "paint", "plot", "preset_names",
           "stylize", "timelapse", "train", "__version__"]
