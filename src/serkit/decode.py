"""From word-level IOB2 tags back to character-offset ``Entity`` spans."""

from __future__ import annotations

from collections.abc import Sequence

from serkit.labels import spans
from serkit.tokens import Entity, Token


def entities_from_tags(
    text: str, tokens: Sequence[Token], tags: Sequence[str], scores: Sequence[float] | None = None
) -> list[Entity]:
    """Entities over ``text`` for tagged ``tokens``; the entity score is the mean word score.

    Stray ``I-`` tags open a new entity (``spans`` does what ``repair_iob`` does before
    evaluation), so what the user sees is what strict scoring counts.
    """
    starts = [t.start for t in tokens]
    ends = [t.end for t in tokens]
    return entities_from_offsets(text, starts, ends, tags, scores)


def entities_from_offsets(
    text: str,
    starts: Sequence[int],
    ends: Sequence[int],
    tags: Sequence[str],
    scores: Sequence[float] | None = None,
    first: int = 0,
) -> list[Entity]:
    """``entities_from_tags`` for tokens given as offset arrays (``TokenArrays``), the
    sentence's word ``i`` being token ``first + i``: no ``Token`` objects needed."""
    out: list[Entity] = []
    for s, e, label in spans(tags):
        start, end = starts[first + s], ends[first + e - 1]
        score = 1.0 if scores is None else sum(scores[s:e]) / (e - s)
        out.append(Entity(start, end, label, text[start:end], min(1.0, max(0.0, float(score)))))
    return out
