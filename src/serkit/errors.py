"""One exception type per kind of user-facing failure.

The CLI turns every ``SerkitError`` into a one-line message and exit code 2;
the server turns them into 4xx responses.
"""

from __future__ import annotations

from pathlib import Path


class SerkitError(Exception):
    """Base class: something the user can fix (bad input, bad model path, limits)."""


class DataFormatError(SerkitError):
    """A malformed data file; the message is ``path:line: reason``."""

    def __init__(self, path: str | Path, line: int, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        super().__init__(f"{self.path}:{line}: {reason}")


class ModelLoadError(SerkitError):
    """A model directory that is missing, incomplete or of an unknown kind."""


class LimitExceeded(SerkitError):
    """An input beyond a documented limit (request size, batch size...)."""


class MismatchError(SerkitError):
    """Two files that should hold the same tokens (gold vs prediction) do not."""


class InvalidText(SerkitError, ValueError):
    """A text that is not valid Unicode (a lone surrogate, e.g. from undecodable bytes):
    it cannot be tokenised nor written out as UTF-8."""


class InvalidScheme(SerkitError, ValueError):
    """A label scheme the model cannot answer in (an unknown name, or not a name at all)."""
