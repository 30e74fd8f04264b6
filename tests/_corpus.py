"""Tiny tagged corpora written as WikiSER files through serkit.io (the real writer)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from serkit.io import write
from serkit.types import Sentence


def write_tagged(path: Path, pairs: Iterable[tuple[str, str]]) -> Path:
    """``(space-separated words, space-separated tags)`` pairs -> a WikiSER file at ``path``."""
    sentences = [Sentence(text.split(), tags.split()) for text, tags in pairs]
    write(path, sentences, "wikiser")
    return path
