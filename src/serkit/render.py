"""Writers for tagged documents: JSONL records, CoNLL/WikiSER columns, a standalone HTML page,
and the notebook view (``displayed``).

The formats themselves are declared once in ``serkit.files.formats`` and the document shape
``serkit tag`` writes in ``serkit.tokens`` (``TaggedDoc``, re-exported here); this module holds
the one writer interface over the table. Each writer streams: it gets documents one at a time
and writes them at once, so ``serkit tag`` output appears while the input is still being read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO

from serkit.files.formats import document_formats, get_format
from serkit.files.html_page import HtmlWriter, chip, highlighted
from serkit.files.jsonl import jsonl_record
from serkit.palette import PALETTE
from serkit.palette import color as type_color
from serkit.tokens import Entity, TaggedDoc

__all__ = [
    "FORMATS",
    "PALETTE",
    "DocWriter",
    "Displayed",
    "HtmlWriter",
    "TaggedDoc",
    "displayed",
    "jsonl_record",
    "type_color",
]

#: What ``serkit tag`` can write (from the format table).
FORMATS = document_formats()


class DocWriter:
    """One writer interface over the document formats: ``write(doc)`` then ``close()``."""

    def __init__(self, f: IO[str], fmt: str, entity_types: Sequence[str] = ()) -> None:
        self.f, self.fmt = f, fmt
        self._writer = get_format(fmt, FORMATS).document_writer(f, entity_types)

    def write(self, doc: TaggedDoc) -> None:
        self._writer.write(doc)

    def close(self) -> None:
        self._writer.close()


@dataclass(frozen=True, slots=True)
class Displayed:
    """A text and its entities that Jupyter shows highlighted (``_repr_html_``), in the
    colours of the HTML export and the served page."""

    text: str
    entities: tuple[Entity, ...]

    def _repr_html_(self) -> str:
        legend = "".join(chip(t) for t in sorted({e.label for e in self.entities}))
        return (
            f'<div class="serkit-doc" style="line-height:2">{legend}'
            f'<div style="white-space:pre-wrap;overflow-wrap:anywhere">'
            f"{highlighted(self.text, self.entities)}</div></div>"
        )


def displayed(text: str, entities: Iterable[Entity]) -> Displayed:
    """``text`` with ``entities`` (``tagger(text)``), shown highlighted in a notebook:
    ``serkit.displayed(text, tagger(text))`` as a cell's last line."""
    return Displayed(text, tuple(entities))
