"""The one exception type that means "the user can fix this".

The command line prints a `UserError` as a single line and exits non-zero; every other
exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in the user's input (a flag, a file, a folder) with a message saying what to do."""


class ReportedByRankZero(UserError):
    """Rank 0's UserError, raised again on the other torchrun processes so that they stop too.
    Rank 0 prints it; the others exit with the same status without printing it again."""
