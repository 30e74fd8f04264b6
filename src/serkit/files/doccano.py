"""doccano's sequence-labelling JSONL: ``{"text": "...", "label": [[start, end, "Type"]]}``.

Reading needs nothing of its own: the JSONL reader (:mod:`serkit.files.jsonl`) already takes
doccano's ``"label"`` lists and its older ``start_offset``/``end_offset`` entities. This
module writes it: corpus sentences, and ``serkit tag -f doccano`` predictions to correct in
doccano (it has no place for scores, so they are left out). A sentence without tags gets no
``"label"`` key, so it reads back unlabelled rather than as "no entities".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

from serkit.files.jsonl import checked_layout
from serkit.tokens import Sentence


def write_doccano(f: IO[str], sentences: Iterable[Sentence]) -> int:
    n = 0
    ok: set[str] = set()
    for s in sentences:
        text, _, ents = checked_layout(s, "doccano", ok)
        doc: dict[str, Any] = {"text": text}
        if ents is not None:
            doc["label"] = [[a, b, typ] for a, b, typ in ents]
        f.write(json.dumps(doc, ensure_ascii=False) + "\n")
        n += 1
    return n


class DoccanoWriter:
    """Tagged documents as doccano lines, one a document, written as they come."""

    def __init__(self, f: IO[str], entity_types: object = ()) -> None:
        self.f = f

    def write(self, doc: Any) -> None:
        label = [[e.start, e.end, e.label] for e in doc.entities]
        self.f.write(json.dumps({"text": doc.text, "label": label}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        pass
