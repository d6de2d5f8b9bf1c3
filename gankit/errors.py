"""The one exception type for mistakes a user can fix.

The CLI turns a `GankitError` into one line on stderr and exit code 2; anything
else is a bug in gankit and exits 1 with a traceback.
"""


class GankitError(Exception):
    """A user error: the message names the problem and says how to fix it."""
