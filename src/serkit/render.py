"""Writers for tagged documents: JSONL records, CoNLL/WikiSER columns, a standalone HTML page.

The formats themselves are declared once in ``serkit.files.formats``; this module holds the
document shape ``serkit tag`` produces and the one writer interface over the table. Each
writer streams: it gets documents one at a time and writes them at once, so ``serkit tag``
output appears while the input is still being read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from serkit.files.formats import document_formats, get_format
from serkit.files.html_page import PALETTE, HtmlWriter, type_color
from serkit.files.jsonl import jsonl_record
from serkit.tagger import TaggedSentence
from serkit.tokens import Entity

__all__ = [
    "FORMATS",
    "PALETTE",
    "DocWriter",
    "HtmlWriter",
    "TaggedDoc",
    "jsonl_record",
    "type_color",
]

#: What ``serkit tag`` can write (from the format table).
FORMATS = document_formats()


@dataclass(slots=True)
class TaggedDoc:
    """One input document after tagging. ``path`` is set for files, else ``text`` is shown;
    ``record``: the input record it came from (JSONL/CSV inputs), kept in the output."""

    id: str
    text: str
    entities: list[Entity]
    sentences: list[TaggedSentence]
    path: str | None = None
    record: dict | None = None


class DocWriter:
    """One writer interface over the document formats: ``write(doc)`` then ``close()``."""

    def __init__(self, f: IO[str], fmt: str, entity_types: Sequence[str] = ()) -> None:
        self.f, self.fmt = f, fmt
        self._writer = get_format(fmt, FORMATS).document_writer(f, entity_types)

    def write(self, doc: TaggedDoc) -> None:
        self._writer.write(doc)

    def close(self) -> None:
        self._writer.close()
