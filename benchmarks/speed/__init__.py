"""The pieces of `python -m benchmarks.train_speed`: `reference` holds the plain fp32 DCGAN networks and
WGAN / WGAN-GP loop that monetgan is timed against; `timing` the clock, FLOP counting, matmul peaks
and the spread / fmt helpers; `cases` the case table, their data and the figures both kinds print;
`training_case` and `paint_case` run one case each way. `benchmarks/train_speed.py` parses the flags
and runs the cases."""
