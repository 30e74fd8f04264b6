"""Corpus statistics: sentences, tokens, entities per type and stray ``I-`` tags.

Entities are counted with ``labels.spans``: a stray ``I-X`` opens an entity, which is the
same count as after ``repair_iob`` and as seqeval's default (conlleval) mode. Strict IOB2
would drop those entities; ``stray_i`` says how many there are so the two can be told apart
(wikiser-small/test.txt has none, so every convention gives 25,546 entities).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from serkit.labels import repair_iob, spans
from serkit.tokens import Sentence


def corpus_stats(sentences: Iterable[Sentence]) -> dict[str, Any]:
    """Count one stream of sentences; streaming, so it works on a whole corpus folder."""
    n_sent = n_tok = stray = unlabelled = 0
    per_type: Counter[str] = Counter()
    docs: set[str] = set()
    for s in sentences:
        n_sent += 1
        n_tok += len(s.tokens)
        if s.doc_id is not None:
            docs.add(s.doc_id)
        if s.tags is None:
            unlabelled += 1
            continue
        stray += repair_iob(s.tags)[1]
        per_type.update(t for _, _, t in spans(s.tags))
    return {
        "sentences": n_sent,
        "tokens": n_tok,
        "entities": sum(per_type.values()),
        "entities_per_type": dict(sorted(per_type.items())),
        "stray_i": stray,
        "unlabelled_sentences": unlabelled,
        "documents": len(docs),
    }


def merge_stats(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Totals over several files' ``corpus_stats``."""
    total: dict[str, Any] = {
        "sentences": 0, "tokens": 0, "entities": 0, "entities_per_type": Counter(),
        "stray_i": 0, "unlabelled_sentences": 0, "documents": 0,
    }  # fmt: skip
    for p in parts:
        for k, v in p.items():
            if k == "entities_per_type":
                total[k].update(v)
            elif k in total:
                total[k] += v
    total["entities_per_type"] = dict(sorted(total["entities_per_type"].items()))
    return total
