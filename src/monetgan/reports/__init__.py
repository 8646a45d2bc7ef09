"""Judging runs: `evaluate` (FID, KID, MiFID, SWD, memorisation and diversity of any painter) and
`plotting` (a run's curves). The metric arithmetic itself lives in `metrics/`, which imports none
of the painting code, so that `painting/export` can use it too."""
