"""Guess a file's format from its first non-blank lines (the extension is only a fallback)."""

from __future__ import annotations

import json
from pathlib import Path

from serkit.errors import SerkitError

FORMATS = ("wikiser", "conll", "jsonl")
_SNIFF_LINES = 50


def detect_format(path: str | Path) -> str:
    """``wikiser`` for ``<s>``/``</s>`` lines, ``jsonl`` for a leading ``{``, else ``conll``.

    A folder is a WikiSER corpus (one ``Article_Name.txt`` per article).
    """
    path = Path(path)
    if path.is_dir():
        return "wikiser"
    seen = 0
    try:
        with path.open("rb") as f:
            for raw in f:
                line = raw.strip()
                if not line:
                    continue
                if seen == 0 and line.startswith(b"{") and _looks_like_json(line):
                    return "jsonl"
                if line in (b"<s>", b"</s>"):
                    return "wikiser"
                seen += 1
                if seen >= _SNIFF_LINES:
                    break
    except OSError as e:
        raise SerkitError(f"{path}: cannot open: {e.strerror or e}") from e
    if seen == 0 and path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    return "conll"


def _looks_like_json(line: bytes) -> bool:
    """A JSON object, or a ``{`` line without tabs (so the JSONL reader reports its error);
    a CoNLL token that merely starts with ``{`` has a tab before its tag."""
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return b"\t" not in line


def format_from_suffix(path: str | Path) -> str | None:
    """Output format implied by a file name, for ``write`` calls that do not name one."""
    suffix = Path(path).suffix.lower()
    return {".jsonl": "jsonl", ".ndjson": "jsonl", ".conll": "conll", ".tsv": "conll"}.get(suffix)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise SerkitError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    return fmt
