"""``serkit tag -f hf``: what transformers' token-classification pipeline returns.

One line per document holding the list ``pipeline("token-classification",
aggregation_strategy="simple")(text)`` would give: ``[{"entity_group", "score", "word",
"start", "end"}, ...]`` (:meth:`serkit.tokens.Entity.to_hf`), in input order.
"""

from __future__ import annotations

import json
from typing import IO, Any


class HfWriter:
    """Tagged documents as JSON lists of pipeline dicts, one line each, as they come."""

    def __init__(self, f: IO[str], entity_types: object = ()) -> None:
        self.f = f

    def write(self, doc: Any) -> None:
        self.f.write(json.dumps([e.to_hf() for e in doc.entities], ensure_ascii=False) + "\n")

    def close(self) -> None:
        pass
