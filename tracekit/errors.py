"""The one exception type for mistakes a user can make; the CLI prints it as one line, exit 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input (file, flag, server, parameter), not a bug in tracekit.

    The message is a single line that says what is wrong and where, e.g.
    ``UserError("traces.json: malformed JSON at byte 1042: unexpected end of data")``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
