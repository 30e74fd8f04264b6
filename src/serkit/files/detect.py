"""Format sniffing and names: kept for importers; the table lives in ``serkit.files.formats``."""

from __future__ import annotations

from serkit.files.formats import (
    check_format,
    corpus_formats,
    detect_format,
    format_from_suffix,
)

FORMATS = corpus_formats()

__all__ = ["FORMATS", "check_format", "detect_format", "format_from_suffix"]
