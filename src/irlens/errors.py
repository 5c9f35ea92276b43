"""One exception type for every user-facing failure.

The CLI turns an :class:`IrlensError` into a single line on stderr (``irlens <command>: error: ...``) and exit
status 2, so a bad input never surfaces as a traceback from deep inside torch or pandas. Messages name
the file or config key at fault and say what to do.
"""


class IrlensError(Exception):
    """A problem with the user's input, data, models or environment (not a bug in irlens)."""
