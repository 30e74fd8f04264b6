"""From word-level IOB2 tags back to character-offset ``Entity`` spans.

Span ends: a model trained on WikiSER emits ``I-`` on a sentence's period after a name
(WikiSER's lexicon labels wrote ``HTTP .``) and on a possessive (``Python 's``), so
``HTTP.`` and ``Python's`` would come out whole. With ``TRIM_PUNCT`` an entity does not
end on closing punctuation, a closing bracket or quote it did not open, or a possessive
``'s``: those tokens are trimmed off its end (an entity of such tokens only is kept as
it is). ``bench/punct.py`` measures what this does to F1; README "Limits" says the default.
"""

from __future__ import annotations

from collections.abc import Sequence

from serkit.labels import spans
from serkit.scheme import OUTSIDE
from serkit.tokens import Entity, Token

#: Trim closing punctuation and possessives off entity ends by default (``trim=`` below
#: overrides it per call). Off until ``bench/punct.py`` shows it costs no F1 on any of
#: W1, X1, S1 and M1: WikiSER's own test labels end 34 entities on ``.`` (``HTTP .``) and
#: 10 on ``'s``, so trimming may cost W1 what it gains elsewhere.
TRIM_PUNCT = False

#: Tokens an entity never ends on: sentence and clause punctuation, and possessives.
_CLOSING = frozenset(
    [".", ",", ";", ":", "?", "..", "...", "\u2026", "'s", "\u2019s", "'S", "\u2019S"]
)
#: Closers trimmed only when their opener is not inside the entity (``Foo (Bar)`` stays).
_PAIRS = {")": "(", "]": "[", "}": "{", "\u201d": "\u201c", "\u2019": "\u2018", "\u00bb": "\u00ab"}
#: Quotes that open and close alike: trimmed when the entity holds an odd number of them.
_QUOTES = frozenset(['"', "'", "''"])


def trimmed_end(words: Sequence[str], start: int, end: int) -> int:
    """The end of the span ``words[start:end]`` without closing punctuation, unmatched
    closers and possessives at its end; ``end`` itself if nothing else would be left."""
    new = end
    while new - start > 1:
        w = words[new - 1]
        if w in _CLOSING:
            pass
        elif w in _PAIRS:
            if _PAIRS[w] in words[start : new - 1]:
                break
        elif w in _QUOTES:
            if sum(x == w for x in words[start:new]) % 2 == 0:
                break
        else:
            break
        new -= 1
    return new if any(_keeps(w) for w in words[start:new]) else end


def _keeps(word: str) -> bool:
    """A token that can carry an entity by itself (not only punctuation)."""
    return word not in _CLOSING and word not in _PAIRS and word not in _QUOTES


def trim_tags(words: Sequence[str], tags: Sequence[str]) -> list[str]:
    """``tags`` with each entity's trimmed end tokens set to ``O``: what ``TRIM_PUNCT``
    does to entities, as tags (for scoring with ``serkit.evaluate``)."""
    out = list(tags)
    for s, e, _ in spans(tags):
        for i in range(trimmed_end(words, s, e), e):
            out[i] = OUTSIDE
    return out


def entities_from_tags(
    text: str,
    tokens: Sequence[Token],
    tags: Sequence[str],
    scores: Sequence[float] | None = None,
    *,
    trim: bool | None = None,
) -> list[Entity]:
    """Entities over ``text`` for tagged ``tokens``; the entity score is the mean word score.

    Stray ``I-`` tags open a new entity (``spans`` does what ``repair_iob`` does before
    evaluation), so what the user sees is what strict scoring counts. ``trim``: see the
    module docstring (None: ``TRIM_PUNCT``).
    """
    starts = [t.start for t in tokens]
    ends = [t.end for t in tokens]
    return entities_from_offsets(text, starts, ends, tags, scores, trim=trim)


def entities_from_offsets(
    text: str,
    starts: Sequence[int],
    ends: Sequence[int],
    tags: Sequence[str],
    scores: Sequence[float] | None = None,
    first: int = 0,
    *,
    trim: bool | None = None,
) -> list[Entity]:
    """``entities_from_tags`` for tokens given as offset arrays (``TokenArrays``), the
    sentence's word ``i`` being token ``first + i``: no ``Token`` objects needed."""
    if trim is None:
        trim = TRIM_PUNCT
    out: list[Entity] = []
    for s, e, label in spans(tags):
        if trim and e - s > 1:
            words = [text[starts[first + i] : ends[first + i]] for i in range(s, e)]
            e = s + trimmed_end(words, 0, e - s)
        start, end = starts[first + s], ends[first + e - 1]
        score = 1.0 if scores is None else sum(scores[s:e]) / (e - s)
        out.append(Entity(start, end, label, text[start:end], min(1.0, max(0.0, float(score)))))
    return out
