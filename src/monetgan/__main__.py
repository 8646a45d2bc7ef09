"""`python -m monetgan` (and `torchrun -m monetgan`) run the command line."""

from .cli import main

if __name__ == "__main__":
    main()
