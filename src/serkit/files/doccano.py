"""doccano's sequence-labelling JSONL: ``{"text": "...", "label": [[start, end, "Type"]]}``.

Reading needs nothing of its own: the JSONL reader (:mod:`serkit.files.jsonl`) already takes
doccano's ``"label"`` lists and its older ``start_offset``/``end_offset`` entities. This
module writes it: corpus sentences, and ``serkit tag -f doccano`` predictions to correct in
doccano (it has no place for scores, so they are left out). A sentence without tags gets no
``"label"`` key, so it reads back unlabelled rather than as "no entities".

doccano's offsets are JavaScript string indices, UTF-16 code units: a character beyond U+FFFF
(most emoji) counts 2 there and 1 in Python. :func:`doccano_label` converts on the way out,
the reader on the way in, so spans after an emoji land on the same words in doccano.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

from serkit.files._common import utf16_offsets
from serkit.files.jsonl import checked_layout
from serkit.tokens import Sentence


def doccano_label(text: str, ents: Iterable[tuple[int, int, str]]) -> list[list]:
    """``[[start, end, type]]`` in doccano's UTF-16 offsets, from code-point spans."""
    ents = list(ents)
    units = utf16_offsets(text, [x for s, e, _ in ents for x in (s, e)])
    return [[units[2 * i], units[2 * i + 1], typ] for i, (_, _, typ) in enumerate(ents)]


def write_doccano(f: IO[str], sentences: Iterable[Sentence]) -> int:
    n = 0
    ok: set[str] = set()
    for s in sentences:
        text, _, ents = checked_layout(s, "doccano", ok)
        doc: dict[str, Any] = {"text": text}
        if ents is not None:
            doc["label"] = doccano_label(text, ents)
        f.write(json.dumps(doc, ensure_ascii=False) + "\n")
        n += 1
    return n


class DoccanoWriter:
    """Tagged documents as doccano lines, one a document, written as they come."""

    def __init__(self, f: IO[str], entity_types: object = ()) -> None:
        self.f = f

    def write(self, doc: Any) -> None:
        label = doccano_label(doc.text, ((e.start, e.end, e.label) for e in doc.entities))
        self.f.write(json.dumps({"text": doc.text, "label": label}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        pass
