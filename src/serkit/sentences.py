"""Sentence boundaries over tokens, in one linear pass.

Splitting after tokens rather than over raw characters gets the software cases right
for free: ``e.g.``, ``i.e.``, ``vs.``, ``U.S.``, ``Node.js``, ``v2.0.1`` and ``802.11``
are single tokens, so their periods never look like sentence ends. What is left is
the ordinary rule: a terminal mark (``.`` ``!`` ``?`` ``...``, optionally followed by
closing quotes/brackets), then whitespace, then something that does not start in
lower case. CJK full stops end a sentence without whitespace; a blank line always
ends one; a bullet at the start of a line starts one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from serkit.tokens import Token

__all__ = ["split_sentences", "sentence_bounds", "NO_BREAK_BEFORE_PERIOD"]

#: Words that the corpora write as ``Inc .`` (period split off) but that rarely end a
#: sentence: a period after them is not a boundary.
NO_BREAK_BEFORE_PERIOD = frozenset(
    """Inc Ltd Co Corp Bros No Nos Fig Figs Vol Eq approx ca cf al Jan Feb Mar Apr Jun Jul
    Aug Sep Sept Oct Nov Dec Mt Ft Gen Gov Rev Hon Dept Univ Ave Blvd""".split()  # noqa: SIM905
)
_TERMINAL = re.compile(r"[.!?\u2026]+|[\u3002\uff01\uff1f\uff61\u061f\u06d4\u0964\u0965]+")
_END_CHARS = frozenset(".!?\u2026\u3002\uff01\uff1f\uff61\u061f\u06d4\u0964\u0965")
_CJK_TERMINAL = frozenset("\u3002\uff01\uff1f\uff61")
# A word that kept its period because a closing quote follows (``proxy."``, the WikiSER
# convention); abbreviations (``e.g.``, ``Dr.``) are excluded by the caller.
_WORD_PERIOD = re.compile(r"\w[\w\-]*\.")
_ABBREV_TOKEN = re.compile(r"(?:[A-Za-z]\.){2,}|(?:Dr|Mr|Mrs|Ms|Prof|Jr|Sr|St|vs|Vs)\.")
_CLOSERS = frozenset(['"', "'", "\u201d", "\u2019", ")", "]", "}", "\u00bb", "\u300d", "\u300f"])
_NOT_A_START = frozenset(",;:)]}.!?%\u3001\uff0c")
_BULLETS = frozenset("-*\u2022+\u2013\u2014\u25aa\u25cf")
_ENUM = re.compile(r"\d{1,3}|[A-Za-z]")


def split_sentences(text: str, tokens: Sequence[Token]) -> list[list[Token]]:
    """Group ``tokens`` (in text order, offsets into ``text``) into sentences."""
    words = [t.text for t in tokens]
    gaps = [text[a.end : b.start] for a, b in zip(tokens, tokens[1:], strict=False)]
    bounds = sentence_bounds(words, [text[: tokens[0].start] if tokens else "", *gaps])
    return [list(tokens[lo:hi]) for lo, hi in bounds]


def sentence_bounds(words: Sequence[str], gaps: Sequence[str]) -> list[tuple[int, int]]:
    """``(first, end)`` token indices of each sentence, for tokens ``words`` with the
    separators ``gaps[i]`` before each of them (``serkit.tokenize.TokenArrays``): the
    text is needed only between tokens, so no ``Token`` objects are needed."""
    n = len(words)
    starts = [0]  # index of the first token of each sentence
    settled = 0  # tokens before this index already belong to a decided sentence end
    for i in range(n - 1):
        word = words[i]
        between = gaps[i + 1]
        # A blank line, a paragraph separator or a bullet on a new line (the bulk, one
        # plain space, is checked first).
        if between != " " and (
            between.count("\n") >= 2
            or "\u2029" in between
            or ("\n" in between and words[i + 1] in _BULLETS)
        ):
            if i + 1 > starts[-1]:
                starts.append(i + 1)
            continue
        if i < settled or word[-1] not in _END_CHARS:
            continue
        if _ends_sentence(words, gaps, i, starts[-1]):
            # Closing quotes/brackets glued to the terminal belong to this sentence.
            j = i + 1
            while j < n and words[j] in _CLOSERS and not gaps[j]:
                j += 1
            settled = j
            cjk = word[-1] in _CJK_TERMINAL
            if j < n and j > starts[-1] and _starts_sentence(words, gaps, j, cjk=cjk):
                starts.append(j)
    starts.append(n)
    return [(a, b) for a, b in zip(starts, starts[1:], strict=False) if b > a]


def _ends_sentence(words: Sequence[str], gaps: Sequence[str], i: int, start: int) -> bool:
    t = words[i]
    if _TERMINAL.fullmatch(t):
        if t == "." and i > 0 and not gaps[i]:
            prev = words[i - 1]
            if prev in NO_BREAK_BEFORE_PERIOD:
                return False
            # "J. Smith": an initial.
            if len(prev) == 1 and prev.isupper():
                return False
            # "1. Install ...": an enumeration marker opening a sentence or a line.
            if _ENUM.fullmatch(prev) and (
                i - 1 == start or "\n" in gaps[i - 1] or words[i - 2] in (":", ";")
            ):
                return False
        return True
    # "... the proxy." In: a word that kept its period before a closing quote.
    return (
        t[-1:] == "."
        and words[i + 1] in _CLOSERS
        and not gaps[i + 1]
        and _WORD_PERIOD.fullmatch(t) is not None
        and _ABBREV_TOKEN.fullmatch(t) is None
    )


def _starts_sentence(words: Sequence[str], gaps: Sequence[str], j: int, *, cjk: bool) -> bool:
    first = words[j][0]
    if first in _NOT_A_START:
        return False
    if cjk:
        return True
    if not gaps[j]:  # no whitespace: "Node.js" style, "end.Next"
        return False
    return not first.islower()
