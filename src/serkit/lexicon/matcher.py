"""Leftmost-longest lexicon matching over token sequences (pyahocorasick automata).

One Aho-Corasick automaton per case policy (exact forms; lower-cased forms), keys
``SEP tok1 SEP tok2 ... SEP`` (``serkit.lexicon.core._key``) and the text the tokens
joined the same way, so every hit starts and ends on token boundaries; the number of
separators before a hit's end is its end token. ``spans`` (the CRF tagger's hot path)
joins a whole batch of sentences into one string and runs each automaton over it once,
in C; hits across a sentence end are dropped and the rest chosen with numpy. Of
overlapping hits the leftmost, then the longest wins; of an exact and a lower-cased hit
over the same tokens, the exact one. (pyahocorasick's ``iter_long`` is not used: it is
not leftmost-longest, WojciechMula/pyahocorasick#133, #185, #189.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, chain

import ahocorasick
import numpy as np

from serkit.errors import SerkitError
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
from serkit.scheme import IOB2


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
    ``min_ratio`` are left out (after merging). Of an exact and a lower-cased hit over
    the same tokens, the exact one wins.
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
        #: ``(n, type, ratio, labelled, position features)`` of every matchable entry;
        #: the automata store, and matches refer to, entries by their index here.
        self.values: list[tuple[int, str, float, int, list[list[str]]]] = []
        self._exact = self._automaton(exact.values(), lower=False)
        self._lower = self._automaton(lower.values(), lower=True)
        #: tokens per entry (by value index), as a list and as an array
        self._sizes = [v[0] for v in self.values]
        self._n = np.array(self._sizes, dtype=np.intp)
        #: tokens in the longest entry
        self.depth = max((v[0] for v in self.values), default=0)
        self.size = len(exact) + len(lower)

    def _automaton(self, entries: Iterable[Entry], lower: bool) -> ahocorasick.Automaton | None:
        """The automaton of one case policy's entries (``None``: no entries)."""
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for e in entries:
            if not e.counts or e.labelled < self.min_count or e.ratio < self.min_ratio:
                continue
            tokens = e.tokens
            typ, n = e.type, len(tokens)
            # a later duplicate key (tokens differing only in SEP/ALT) replaces the value
            automaton.add_word(
                _key([t.lower() for t in tokens] if lower else tokens), len(self.values)
            )
            self.values.append((n, typ, e.ratio, e.labelled, _position_features(typ, e.ratio, n)))
        if not len(automaton):
            return None
        automaton.make_automaton()
        return automaton

    def __len__(self) -> int:
        return self.size

    def spans(
        self, tokens: Sequence[str], ends: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Starts, ends and value indices (``self.values``) of the leftmost-longest
        non-overlapping hits, in order. ``tokens`` may be several sentences one after
        the other, sentence ``k`` ending before token ``ends[k]`` (the last at
        ``len(tokens)``): no hit crosses a sentence end (default: one sentence).

        All sentences are matched in one string, one automaton pass per case policy."""
        n = len(tokens)
        none = np.zeros(0, dtype=np.intp)
        if not n:
            return none, none, none
        text = _key(tokens)
        seps = _separators(text)
        starts, stops, values = [], [], []
        for policy, automaton in enumerate((self._exact, self._lower)):
            if automaton is None:
                continue
            if policy:
                # lower() makes and removes no SEP, and only ever lengthens a character
                low = text.lower()
                if len(low) != len(text):
                    seps = _separators(low)
                text = low
            hits = np.fromiter(chain.from_iterable(automaton.iter(text)), np.intp)
            stop = np.searchsorted(seps, hits[0::2])  # SEPs before the hit's last SEP
            value = hits[1::2]
            starts.append(stop - self._n[value])
            stops.append(stop)
            values.append(value)
        if not starts:
            return none, none, none
        start, stop, value = np.concatenate(starts), np.concatenate(stops), np.concatenate(values)
        if ends is not None and len(ends) > 1:  # drop hits across a sentence end
            bounds = np.asarray(ends, dtype=np.intp)
            inside = stop <= bounds[np.searchsorted(bounds, start, side="right")]
            start, stop, value = start[inside], stop[inside], value[inside]
        # The best hit per start: the longest; on a tie the exact one (exact hits come
        # first and lexsort is stable).
        order = np.lexsort((-stop, start))
        first = start[order]
        order = order[np.r_[True, first[1:] != first[:-1]]] if len(first) else order
        start, stop, value = start[order], stop[order], value[order]
        # Longer hits, leftmost first: a chosen one hides those starting inside it ...
        multi = np.flatnonzero(stop - start > 1)
        pos = 0
        chosen = []
        for i, a, b in zip(
            multi.tolist(), start[multi].tolist(), stop[multi].tolist(), strict=True
        ):
            if a >= pos:
                chosen.append(i)
                pos = b
        # ... and one-token hits inside the chosen ones.
        one = np.flatnonzero(stop - start == 1)
        if chosen:
            kept = np.array(chosen, dtype=np.intp)
            at = np.searchsorted(start[kept], start[one], side="right") - 1
            covered = (at >= 0) & (stop[kept][np.maximum(at, 0)] > start[one])
            keep = np.sort(np.concatenate([kept, one[~covered]]))
        else:
            keep = one
        return start[keep], stop[keep], value[keep]

    def _best(self, tokens: Sequence[str]) -> list[tuple[int, int, tuple]]:
        """(start, end, value) of the leftmost-longest non-overlapping hits in one
        sentence: ``spans`` without numpy, whose fixed costs dominate one short sentence
        (the weak labeller and training features call this per sentence)."""
        if not tokens:
            return []
        text = _key(tokens)
        where = _token_ends(text)
        best: dict[int, tuple[int, int]] = {}
        if self._exact is not None:
            self._collect(self._exact, text, where, best)
        if self._lower is not None:
            low = text.lower()  # no SEP made or removed
            if len(low) != len(text):
                where = _token_ends(low)
            self._collect(self._lower, low, where, best)
        out: list[tuple[int, int, tuple]] = []
        pos = 0
        for start in sorted(best):
            if start >= pos:
                stop, value = best[start]
                out.append((start, stop, self.values[value]))
                pos = stop
        return out

    def _collect(
        self, automaton: ahocorasick.Automaton, text: str, where: dict[int, int], best: dict
    ) -> None:
        """The longest hit per start token into ``best``; an earlier policy's hit over
        the same tokens stays (the exact automaton runs first)."""
        n = self._sizes
        for at, value in automaton.iter(text):
            stop = where[at]
            start = stop - n[value]
            old = best.get(start)
            if old is None or old[0] < stop:
                best[start] = (stop, value)

    def matches(self, tokens: Sequence[str]) -> list[Match]:
        """Leftmost-longest non-overlapping matches, in order."""
        return [Match(s, e, v[1], v[2], v[3]) for s, e, v in self._best(tokens)]

    def tags(self, tokens: Sequence[str]) -> list[str]:
        """IOB2 tags of the matches (the majority type of each entry)."""
        return IOB2.tags(len(tokens), ((s, e, v[1]) for s, e, v in self._best(tokens)))

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


LEX_O: list[str] = ["lex=O"]


def _separators(text: str) -> np.ndarray:
    """Character positions of the SEPs in ``text``, in order."""
    return np.flatnonzero(
        np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32) == ord(SEP)
    )


def _token_ends(text: str) -> dict[int, int]:
    """Character position of each SEP after a token -> tokens up to it (a hit's end)."""
    lengths = (len(t) + 1 for t in text[1:-1].split(SEP))
    return dict(zip(accumulate(lengths), range(1, text.count(SEP)), strict=True))


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
