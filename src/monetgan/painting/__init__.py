"""Painting with a trained generator: new paintings (`paint`), the bundled painter (`bundled`), the
Kaggle submission (`export`) and a run's time-lapse (`timelapse`). Reads what `training/` wrote."""
