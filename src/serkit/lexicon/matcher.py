"""Leftmost-longest lexicon matching over token sequences (one Aho-Corasick automaton).

Keys are ``SEP tok1 SEP tok2 ... SEP`` and so is the text, so every hit starts and
ends on token boundaries; of overlapping hits the leftmost, then the longest wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ahocorasick

from serkit.errors import SerkitError
from serkit.labels import OUTSIDE
from serkit.lexicon.core import (
    CASE_POLICIES,
    SEP,
    CasePolicy,
    Entry,
    Lexicon,
    _key,
    _merge,
    ratio_bucket,
)


@dataclass(frozen=True, slots=True)
class Match:
    """A lexicon hit over tokens ``[start, end)``."""

    start: int
    end: int
    type: str
    ratio: float
    count: int


class Matcher:
    """Leftmost-longest, non-overlapping lexicon matches over a token list.

    Case policies: ``sensitive`` (exact), ``insensitive`` (everything lower-cased; forms
    differing only in case are merged), ``smart`` (a form holding an upper-case letter
    matches exactly; an all-lower-case form matches any casing, so ``python`` also finds
    ``Python`` at the start of a sentence but ``Go`` does not find ``go``).
    Entries with fewer than ``min_count`` labelled occurrences or a labelled ratio below
    ``min_ratio`` are left out (after merging).
    """

    def __init__(
        self,
        lexicon: Lexicon,
        case: CasePolicy = "smart",
        min_ratio: float = 0.0,
        min_count: int = 1,
    ) -> None:
        if case not in CASE_POLICIES:
            known = ", ".join(CASE_POLICIES)
            raise SerkitError(f"unknown case policy {case!r} (use one of {known})")
        self.case = case
        self.min_ratio = min_ratio
        self.min_count = min_count
        exact: dict[str, Entry] = {}
        lower: dict[str, Entry] = {}
        for entry in lexicon:
            if case == "sensitive" or (case == "smart" and entry.surface != entry.surface.lower()):
                exact[entry.surface] = entry
            else:
                key = entry.surface.lower()
                old = lower.get(key)
                if old is not None:
                    merged = Entry(key, dict(old.counts), old.untagged, old.docs)
                    _merge(merged, entry)
                    lower[key] = merged
                else:
                    lower[key] = entry
        self._exact = self._automaton(exact.values(), lower=False)
        self._lower = self._automaton(lower.values(), lower=True)
        self.size = len(exact) + len(lower)

    def _automaton(self, entries: Iterable[Entry], lower: bool) -> ahocorasick.Automaton | None:
        automaton = ahocorasick.Automaton()
        for e in entries:
            if not e.counts or e.labelled < self.min_count or e.ratio < self.min_ratio:
                continue
            tokens = e.tokens
            key = _key(t.lower() for t in tokens) if lower else _key(tokens)
            typ, n = e.type, len(tokens)
            automaton.add_word(
                key, (n, typ, e.ratio, e.labelled, _position_features(typ, e.ratio, n))
            )
        if not len(automaton):
            return None
        automaton.make_automaton()
        return automaton

    def __len__(self) -> int:
        return self.size

    def _best(self, tokens: Sequence[str]) -> list[tuple[int, int, tuple]]:
        """(start, end, automaton value) of the leftmost-longest non-overlapping hits."""
        if not tokens:
            return []
        best: dict[int, tuple[int, tuple]] = {}
        key = _key(tokens)
        if self._exact is not None:
            self._collect(self._exact, key, best)
        if self._lower is not None:
            # lower() never creates or removes a separator, so boundaries still count right
            self._collect(self._lower, key.lower(), best)
        if not best:
            return []
        out = []
        pos = 0
        for start in sorted(best):
            if start >= pos:
                end, value = best[start]
                out.append((start, end, value))
                pos = end
        return out

    @staticmethod
    def _collect(automaton, key: str, best: dict) -> None:
        """Every hit starts and ends on a separator (keys do, tokens hold none), and the
        token index of its end is the number of separators before it."""
        count = key.count
        for end_pos, value in automaton.iter(key):
            end = count(SEP, 0, end_pos)
            start = end - value[0]
            old = best.get(start)
            if old is None or old[0] < end:
                best[start] = (end, value)

    def matches(self, tokens: Sequence[str]) -> list[Match]:
        """Leftmost-longest non-overlapping matches, in order."""
        return [Match(s, e, v[1], v[2], v[3]) for s, e, v in self._best(tokens)]

    def tags(self, tokens: Sequence[str]) -> list[str]:
        """IOB2 tags of the matches (the majority type of each entry)."""
        tags = [OUTSIDE] * len(tokens)
        for start, end, value in self._best(tokens):
            typ = value[1]
            tags[start] = "B-" + typ
            for i in range(start + 1, end):
                tags[i] = "I-" + typ
        return tags

    def features(self, tokens: Sequence[str]) -> list[list[str]]:
        """Binary feature names per token; the first one is always the lexicon tag.

        ``lex=O`` outside matches; inside: ``lex=B-T``/``lex=I-T``, ``lex.bi=B|I``,
        ``lex.t=T``, ``lex.r=<ratio bucket>``, ``lex.rt=<bucket>-T`` and the position
        ``lex.single``/``lex.multi``/``lex.last``. The lists are shared: do not mutate them.
        """
        feats = [LEX_O] * len(tokens)
        for start, _end, value in self._best(tokens):
            feats[start : start + value[0]] = value[4]
        return feats

    match_features = features


LEX_O: list[str] = ["lex=O"]


def _position_features(typ: str, ratio: float, n: int) -> list[list[str]]:
    """The feature lists of the tokens of an ``n``-token match, built once per entry."""
    rb = ratio_bucket(ratio)
    out = []
    for i in range(n):
        bi = "B" if i == 0 else "I"
        pos = "lex.single" if n == 1 else ("lex.last" if i == n - 1 else "lex.multi")
        out.append(
            [
                f"lex={bi}-{typ}",
                f"lex.bi={bi}",
                f"lex.t={typ}",
                f"lex.r={rb}",
                f"lex.rt={rb}-{typ}",
                pos,
            ]
        )
    return out
