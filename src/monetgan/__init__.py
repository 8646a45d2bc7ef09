"""monetgan: learn to paint like Claude Monet with Wasserstein GANs.

The command line is a thin layer over these functions, which work the same from a notebook:

    >>> import monetgan
    >>> monetgan.train("monet_jpg", "runs/quick", preset="quick")          # doctest: +SKIP
    >>> monetgan.paint("runs/quick", num=16, out="paintings")              # doctest: +SKIP
    >>> monetgan.timelapse("runs/quick", "quick.gif")                      # doctest: +SKIP
    >>> monetgan.plot("runs/quick", "curves.png")                          # doctest: +SKIP
"""

__version__ = "0.1.0"

from .config import TrainConfig, preset_names  # noqa: E402
from .errors import UserError  # noqa: E402
from .painting import paint  # noqa: E402
from .plotting import plot  # noqa: E402
from .timelapse import timelapse  # noqa: E402
from .trainer import train  # noqa: E402

__all__ = ["TrainConfig", "UserError", "paint", "plot", "preset_names", "timelapse", "train", "__version__"]
