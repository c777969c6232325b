"""The one exception type shown to the user."""

from __future__ import annotations


class EnvsyncError(Exception):
    """A refusal or an I/O failure, reported as one line and exit code 2.

    ``str(error)`` is a single user-facing line that names the file concerned. It never
    contains file contents (which may hold secrets): only paths, byte offsets, line numbers
    and the operating system's reason.
    """

    exit_code = 2
