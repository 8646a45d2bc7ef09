"""Training: the losses, DiffAugment, one generator iteration (`step`), the run loop (`loop`),
checkpoints, torchrun data parallelism and the run log. Uses `nets/`, `data/` and `config`;
nothing here imports `painting/` or `reports/`."""
