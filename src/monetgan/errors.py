"""The one exception type that means "the user can fix this".

The command line prints a `UserError` as a single line and exits non-zero; every other
exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A mistake in the user's input (a flag, a file, a folder) with a message saying what to do."""
