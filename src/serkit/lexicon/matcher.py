"""Leftmost-longest lexicon matching over token sequences (a trie of whole tokens).

Matching is vectorised over a whole batch of sentences (``spans``, what the CRF
tagger's hot path calls). What a word contributes depends on the word alone (its
one-token entry, if any, exact and lower-cased, and its id among the tokens that begin
longer entries: ``word_keys``), so a caller that sees the same words again can cache
it; the tries are then walked only where a token and the next one begin a longer
entry. Of overlapping hits the leftmost, then the longest wins; of an exact and a
lower-cased hit over the same tokens, the exact one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import or_

import numpy as np

from serkit.errors import SerkitError
from serkit.labels import OUTSIDE
from serkit.lexicon.core import (
    ALT,
    CASE_POLICIES,
    SEP,
    CasePolicy,
    Entry,
    Lexicon,
    _merge,
    ratio_bucket,
)

#: A trie node: the value index of the entry that ends here (-1: none) and the nodes
#: one token further. A trie is the dict of first tokens.
_Node = list  # [int, dict[str, _Node]]


class _Table:
    """The entries of one case policy (exact or lower-cased forms)."""

    def __init__(self, trie: dict[str, _Node]) -> None:
        self.trie = trie
        #: first token -> value index of the one-token entry
        self.single = {tok: node[0] for tok, node in trie.items() if node[0] >= 0}
        #: ids of the first two tokens of longer entries, and their pair codes (sorted)
        self.vocab: dict[str, int] = {}
        pairs = [(self._id(a), self._id(b)) for a, node in trie.items() for b in node[1]]
        self.pairs = np.unique([a * len(self.vocab) + b for a, b in pairs]).astype(np.int64)

    def _id(self, tok: str) -> int:
        return self.vocab.setdefault(tok, len(self.vocab))

    def may_continue(self, ids: np.ndarray) -> np.ndarray:
        """For each token but the last (given by ``vocab`` ids, -1 for none): do it and
        the next one begin a longer entry?"""
        if not len(self.pairs):
            return np.zeros(max(len(ids) - 1, 0), dtype=bool)
        codes = ids[:-1] * len(self.vocab) + ids[1:]
        at = np.minimum(np.searchsorted(self.pairs, codes), len(self.pairs) - 1)
        return (ids[:-1] >= 0) & (ids[1:] >= 0) & (self.pairs[at] == codes)


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
        #: matches refer to entries by their index here.
        self.values: list[tuple[int, str, float, int, list[list[str]]]] = []
        self._exact = self._table(exact.values(), lower=False)
        self._lower = self._table(lower.values(), lower=True)
        #: tokens in the longest entry
        self.depth = max((v[0] for v in self.values), default=0)
        self.size = len(exact) + len(lower)

    def _table(self, entries: Iterable[Entry], lower: bool) -> _Table:
        trie: dict[str, _Node] = {}
        for e in entries:
            if not e.counts or e.labelled < self.min_count or e.ratio < self.min_ratio:
                continue
            tokens = _clean([t.lower() for t in e.tokens] if lower else e.tokens)
            typ, n = e.type, len(tokens)
            node = trie.setdefault(tokens[0], [-1, {}])
            for tok in tokens[1:]:
                node = node[1].setdefault(tok, [-1, {}])
            node[0] = len(self.values)  # a later duplicate wins
            self.values.append((n, typ, e.ratio, e.labelled, _position_features(typ, e.ratio, n)))
        return _Table(trie)

    def __len__(self) -> int:
        return self.size

    def word_keys(self, words: Sequence[str]) -> np.ndarray:
        """(words, 4) ids, -1 for none: the value index of the word's one-token entry,
        of its lower-cased form's, and the ids of both among the first two tokens of
        longer entries. They depend on the word alone (cache them per word)."""
        toks = _clean(words)
        low = SEP.join(toks).lower().split(SEP) if toks else []  # no SEP made or removed
        exact, lower = self._exact, self._lower
        cols = (
            map(exact.single.get, toks, repeat(-1)),
            map(lower.single.get, low, repeat(-1)),
            map(exact.vocab.get, toks, repeat(-1)),
            map(lower.vocab.get, low, repeat(-1)),
        )
        return np.array([list(c) for c in cols], dtype=np.intp).reshape(4, len(toks)).T

    def spans(
        self,
        tokens: Sequence[str],
        ends: Sequence[int] | None = None,
        keys: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Starts, ends and value indices (``self.values``) of the leftmost-longest
        non-overlapping hits, in order. ``tokens`` may be several sentences one after
        the other, sentence ``k`` ending before token ``ends[k]`` (the last at
        ``len(tokens)``): no hit crosses a sentence end (default: one sentence).
        ``keys``: ``word_keys(tokens)``, when the caller has them."""
        n = len(tokens)
        if keys is None:
            keys = self.word_keys(tokens)
        exact, lower = self._exact, self._lower
        single = np.where(keys[:, 0] >= 0, keys[:, 0], keys[:, 1])
        bounds = np.asarray(ends if ends is not None else [n], dtype=np.intp)
        longer = exact.may_continue(keys[:, 2]) | lower.may_continue(keys[:, 3])
        cut = bounds[:-1]
        longer[cut[(cut > 0) & (cut < n)] - 1] = False  # not across a sentence end
        # Walk the tries from those starts only, leftmost first (a hit hides later ones).
        firsts: list[int] = []
        stops: list[int] = []
        ids: list[int] = []
        pos = 0
        cand = np.flatnonzero(longer)
        limits = bounds[np.searchsorted(bounds, cand, side="right")]
        for i, limit in zip(cand.tolist(), limits.tolist(), strict=True):
            if i < pos:
                continue
            window = tokens[i : min(limit, i + self.depth)]
            n_exact, value = _walk(exact.trie, list(map(_exact_form, window)), 0, len(window))
            n_lower, low_value = _walk(lower.trie, list(map(_lower_form, window)), 0, len(window))
            if n_lower > n_exact:  # on a tie the exact hit wins
                n_exact, value = n_lower, low_value
            if n_exact > 1:
                firsts.append(i)
                stops.append(i + n_exact)
                ids.append(value)
                pos = i + n_exact
        if firsts:  # one-token hits inside longer ones do not count
            inside = np.bincount(firsts, minlength=n + 1) - np.bincount(stops, minlength=n + 1)
            single[np.cumsum(inside)[:n] > 0] = -1
        one = np.flatnonzero(single >= 0)
        first = np.concatenate([np.array(firsts, dtype=np.intp), one])
        order = np.argsort(first, kind="stable")
        stop = np.concatenate([np.array(stops, dtype=np.intp), one + 1])
        value = np.concatenate([np.array(ids, dtype=np.intp), single[one]])
        return first[order], stop[order], value[order]

    def _best(self, tokens: Sequence[str]) -> list[tuple[int, int, tuple]]:
        """(start, end, value) of the leftmost-longest non-overlapping hits in one
        sentence: ``spans`` without numpy, whose fixed costs dominate one short sentence
        (the weak labeller and training features call this per sentence)."""
        toks = _clean(tokens)
        n = len(toks)
        low = SEP.join(toks).lower().split(SEP) if n else []  # no SEP made or removed
        exact, lower = self._exact.trie, self._lower.trie
        out: list[tuple[int, int, tuple]] = []
        pos = 0
        may_start = map(or_, map(exact.__contains__, toks), map(lower.__contains__, low))
        for i in compress(range(n), may_start):
            if i < pos:
                continue
            stop, value = _walk(exact, toks, i, n)
            low_stop, low_value = _walk(lower, low, i, n)
            if low_stop > stop:  # on a tie the exact hit wins
                stop, value = low_stop, low_value
            if value >= 0:
                out.append((i, stop, self.values[value]))
                pos = stop
        return out

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


def _walk(trie: dict[str, _Node], toks: list[str], i: int, limit: int) -> tuple[int, int]:
    """End and value index of the longest entry at ``toks[i:limit]`` (``(i, -1)``: none)."""
    stop, value = i, -1
    node = trie.get(toks[i])
    j = i + 1
    while node is not None:
        if node[0] >= 0:
            stop, value = j, node[0]
        if j >= limit:
            break
        node = node[1].get(toks[j])
        j += 1
    return stop, value


def _exact_form(tok: str) -> str:
    return tok.replace(SEP, ALT)


def _lower_form(tok: str) -> str:
    """Lower-cased one token at a time, as ``SEP.join(...).lower()`` would: ``SEP`` is
    neither cased nor case-ignorable, so no case mapping looks across it."""
    return tok.lower().replace(SEP, ALT)


def _clean(tokens: Sequence[str]) -> list[str]:
    """The tokens with ``SEP`` replaced inside them (it joins tokens for lower-casing)."""
    toks = tokens if isinstance(tokens, list) else list(tokens)
    if SEP in "".join(toks):
        return [t.replace(SEP, ALT) for t in toks]
    return toks


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
