"""`serkit export` (being written)."""

from serkit.cli._app import app  # noqa: F401
