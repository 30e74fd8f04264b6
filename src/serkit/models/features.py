"""CRF token features: word identity, shape, affixes, a +-2 context window and lexicon hits.

Features are binary strings (what crfsuite handles fastest). Everything that depends on
the word alone is computed once per distinct word and cached, with the context-window
variants already prefixed, so a sentence costs little more than list concatenation;
that is what makes >= 100k words/s possible in pure Python.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from serkit.lexicon import Matcher

#: Widest context window (words each side): wider ones add no signal to a linear CRF, and its
#: decoder's tables grow with the window (a window of a million words asks for 150 GiB).
MAX_CRF_WINDOW = 10

_PUNCT = frozenset(string.punctuation)
_SHAPE_RUNS = re.compile(r"(.)\1{3,}")
_SHORT_RUNS = re.compile(r"(.)\1+")


def shape(word: str) -> str:
    """``Visual`` -> ``Xxxxx``, ``C++11`` -> ``X++dd``: classes with runs cut at 4."""
    chars = [
        "X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit() else c for c in word
    ]
    return _SHAPE_RUNS.sub(_four, "".join(chars))


def short_shape(word: str) -> str:
    """``Visual`` -> ``Xx``, ``C++11`` -> ``X+d``: runs collapsed to one."""
    return _collapse(shape(word))


# Callables, not ``\1`` templates: Python 3.11 re-parses a template on every call.
def _four(m: re.Match[str]) -> str:
    return m.group(1) * 4


def _one(m: re.Match[str]) -> str:
    return m.group(1)


def _collapse(shape: str) -> str:
    return _SHORT_RUNS.sub(_one, shape)


def word_features(word: str) -> list[str]:
    """Features of the word itself (position 0)."""
    sh = shape(word)
    return _own(word, word.lower(), sh, _collapse(sh))


def context_features(word: str, offset: int) -> list[str]:
    """What a neighbour at ``offset`` contributes: lower form, short shape, case flags."""
    return _context(word, word.lower(), short_shape(word), offset)


def feature_groups(word: str, offsets: Sequence[int]) -> tuple[list[str], ...]:
    """``word_features(word)`` then ``context_features(word, o)`` for each offset, with
    the lower form and shapes computed once (a cold cache computes this per new word)."""
    lower, sh = word.lower(), shape(word)
    ss = _collapse(sh)
    return (_own(word, lower, sh, ss), *(_context(word, lower, ss, o) for o in offsets))


def _own(word: str, lower: str, sh: str, ss: str) -> list[str]:
    feats = [
        "b",  # bias
        "w=" + word,
        "l=" + lower,
        "sh=" + sh,
        "ss=" + ss,
    ]
    n = len(word)
    for k in (2, 3, 4):
        if n > k:
            feats.append(f"p{k}={lower[:k]}")
            feats.append(f"s{k}={lower[-k:]}")
    if word.istitle():
        feats.append("title")
    if word.isupper():
        feats.append("upper")
    if word.isdigit():
        feats.append("digit")
    elif "d" in sh:  # the shape writes digits, and only digits, as "d"
        feats.append("hasdigit")
    if not _PUNCT.isdisjoint(word):
        feats.append("punct")
    if n == 1:
        feats.append("len1")
    elif n > 12:
        feats.append("long")
    return feats


def _context(word: str, lower: str, ss: str, offset: int) -> list[str]:
    o = f"{offset:+d}:"
    feats = [o + "l=" + lower, o + "ss=" + ss]
    if abs(offset) == 1:
        feats.append(o + "s3=" + lower[-3:])
        if word.istitle():
            feats.append(o + "title")
        if word.isupper():
            feats.append(o + "upper")
    return feats


#: A feature-augmented model (Daume 2007, "Frustratingly easy domain adaptation") sees each
#: feature ``f`` of a word of corpus ``c`` twice: ``f`` (shared by every corpus) and
#: ``@c|f`` (that corpus's *style*). No plain feature starts with ``@``.
STYLE_MARK = "@"
STYLE_SEP = "|"


def style_prefix(corpus: str) -> str:
    """The prefix of corpus ``corpus``'s copies of the features (``@c|``)."""
    return f"{STYLE_MARK}{corpus}{STYLE_SEP}"


def split_style(attr: str) -> tuple[str, str] | None:
    """``@c|f`` -> ``(c, f)``; a plain feature -> None."""
    if not attr.startswith(STYLE_MARK):
        return None
    corpus, sep, base = attr[1:].partition(STYLE_SEP)
    return (corpus, base) if sep else None


def with_style(feats: list[list[str]], prefix: str) -> list[list[str]]:
    """Each token's features followed by their copies under ``prefix``."""
    return [f + [prefix + x for x in f] for f in feats]


class FeatureExtractor:
    """Token lists -> per-token feature lists, optionally with lexicon-match features."""

    def __init__(
        self, matcher: Matcher | None = None, window: int = 2, cache_size: int = 300_000
    ) -> None:
        self.matcher = matcher
        self.window = window
        self.cache_size = cache_size
        #: offsets -w..-1, +1..+w; a cached word is a tuple (own, f[-w], ..., f[+w]).
        self.offsets = [o for o in range(-window, window + 1) if o]
        self._cache: dict[str, tuple[list[str], ...]] = {}
        w = window
        self._bos = [tuple([[]] + [["BOS"] if o == -1 else [] for o in self.offsets])] * w
        self._eos = [tuple([[]] + [["EOS"] if o == 1 else [] for o in self.offsets])] * w
        # slot of offset o in a cached tuple
        self._slot = {o: 1 + k for k, o in enumerate(self.offsets)}

    def _word(self, word: str) -> tuple[list[str], ...]:
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        got = self._cache[word] = feature_groups(word, self.offsets)
        return got

    def __call__(self, tokens: Sequence[str]) -> list[list[str]]:
        n = len(tokens)
        if not n:
            return []
        cache, word = self._cache, self._word
        words = [cache.get(t) or word(t) for t in tokens]
        padded = self._bos + words + self._eos
        if self.window == 2:  # the default, unrolled: one list built per token
            p = padded
            out = [
                [*c[0], *a[1], *b[2], *d[3], *e[4]]
                for a, b, c, d, e in zip(p, p[1:], p[2:], p[3:], p[4:], strict=False)
            ]
        else:
            w = self.window
            out = [list(x[0]) for x in words]
            for o in self.offsets:
                slot = self._slot[o]
                for feats, nb in zip(out, padded[w + o : w + o + n], strict=True):
                    feats += nb[slot]
        if self.matcher is not None:
            self._add_lexicon(tokens, out)
        return out

    def _add_lexicon(self, tokens: Sequence[str], out: list[list[str]]) -> None:
        """Own match features for every token (``lex=O`` outside), and the lexicon tag of
        the neighbour across a match boundary (``+1:lex=B-T`` before a match, ``-1:lex=I-T``
        after it); inside a match the own features say it all."""
        n = len(out)
        hits = self.matcher._best(tokens)  # type: ignore[union-attr]
        if not hits:
            for feats in out:
                feats.append("lex=O")
            return
        inside = [False] * n
        for start, end, value in hits:
            pos_feats = value[4]
            for k in range(start, end):
                out[k] += pos_feats[k - start]
                inside[k] = True
            if start > 0:
                out[start - 1].append("+1:" + pos_feats[0][0])
            if end < n:
                out[end].append("-1:" + pos_feats[-1][0])
        for feats, hit in zip(out, inside, strict=True):
            if not hit:
                feats.append("lex=O")
