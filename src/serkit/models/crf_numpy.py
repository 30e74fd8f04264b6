"""Batched CRF inference in numpy from a crfsuite model file: the fast path of ``CrfTagger``.

Tagging through pycrfsuite costs a string conversion and a dictionary lookup for every
feature of every token (~30 per token). But each of our features depends on one word
(or one lexicon hit) only, so the score a word adds to its own position and to each of
its neighbours is a fixed vector per label, computed once per distinct word and cached.
A sentence's emission scores are then a few array additions (what the lexicon matcher
needs of a word is cached with it too), and Viterbi and the forward-backward marginals
run over whole batches of sentences at once, packed longest first with no padding.

The weights come straight from crfsuite's binary model (``crf1dm``: a 48-byte header,
two CQDB string tables for labels and attributes, and a ``FEAT`` chunk of
(type, source, destination, weight) records). Decoding matches crfsuite's own Viterbi,
ties included (first maximum wins); a test checks it tag for tag.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from itertools import chain, repeat

import numpy as np

from serkit.errors import ModelLoadError
from serkit.lexicon import Matcher
from serkit.models.features import STYLE_MARK, FeatureExtractor, feature_groups, split_style
from serkit.models.viterbi import Packing, viterbi_packed

_FEATURE = np.dtype([("type", "<u4"), ("src", "<u4"), ("dst", "<u4"), ("w", "<f8")])


def _cqdb_strings(data: bytes, off: int) -> list[str]:
    """All keys of a CQDB chunk, by id (through its backward array)."""
    chunk, _size, _flag, _order, n, bwd = struct.unpack_from("<4sIIIII", data, off)
    if chunk != b"CQDB":
        raise ModelLoadError("corrupt crfsuite model: bad string table")
    out = []
    for i, rec in enumerate(np.frombuffer(data, "<u4", n, off + bwd)):
        rid, ksize = struct.unpack_from("<II", data, off + int(rec))
        if rid != i or ksize < 1:
            raise ModelLoadError("corrupt crfsuite model: bad string record")
        start = off + int(rec) + 8
        out.append(data[start : start + ksize - 1].decode("utf-8"))
    return out


class CrfWeights:
    """Labels, attribute ids, state weights ``W[attr, label]`` and transitions ``T[i, j]``."""

    def __init__(self, data: bytes) -> None:
        try:
            head = struct.unpack_from("<4sI4sIIIIIIIII", data, 0)
            magic, _, mtype, _, _, n_labels, n_attrs, off_f, off_l, off_a = head[:10]
            if magic != b"lCRF" or mtype != b"FOMC":
                raise ModelLoadError("not a crfsuite CRF1d model")
            self.labels = _cqdb_strings(data, off_l)
            attrs = _cqdb_strings(data, off_a)
            chunk, _, num = struct.unpack_from("<4sII", data, off_f)
            if chunk != b"FEAT" or len(self.labels) != n_labels or len(attrs) != n_attrs:
                raise ModelLoadError("corrupt crfsuite model: bad feature chunk")
            feats = np.frombuffer(data, _FEATURE, num, off_f + 12)
        except (struct.error, ValueError, UnicodeDecodeError) as e:
            raise ModelLoadError(f"corrupt crfsuite model: {e}") from e
        n_lab = len(self.labels)
        self.attr_index = {a: i for i, a in enumerate(attrs)}
        self.W = np.zeros((len(attrs) + 1, n_lab))  # last row: unknown attributes (zeros)
        self.T = np.zeros((n_lab, n_lab))
        state, trans = feats[feats["type"] == 0], feats[feats["type"] == 1]
        if (state["src"] >= len(attrs)).any() or (feats["dst"] >= n_lab).any():
            raise ModelLoadError("corrupt crfsuite model: feature ids out of range")
        np.add.at(self.W, (state["src"], state["dst"]), state["w"])
        np.add.at(self.T, (trans["src"], trans["dst"]), trans["w"])

    @classmethod
    def from_arrays(
        cls, labels: list[str], attr_index: dict[str, int], W: np.ndarray, T: np.ndarray
    ) -> CrfWeights:
        """Weights from arrays (``W`` with its last row zero: unknown attributes)."""
        self = cls.__new__(cls)
        self.labels, self.attr_index, self.W, self.T = labels, attr_index, W, T
        return self

    def styles(self) -> dict[str, tuple[np.ndarray, list[str]]]:
        """A feature-augmented model's styles: corpus -> (ids of its ``@c|f`` attributes,
        their base features ``f``), read once from the attribute names."""
        got = getattr(self, "_styles", None)
        if got is None:
            ids: dict[str, list[int]] = {}
            bases: dict[str, list[str]] = {}
            for attr, i in self.attr_index.items():
                if (cb := split_style(attr)) is not None:
                    ids.setdefault(cb[0], []).append(i)
                    bases.setdefault(cb[0], []).append(cb[1])
            got = self._styles = {c: (np.array(ids[c], dtype=np.intp), bases[c]) for c in ids}
        return got

    def folded(self, parts: Sequence[tuple[str, np.ndarray]]) -> CrfWeights:
        """Plain-feature weights answering in a mix of styles: ``W'[f] = W[f] +
        sum_c W[@c|f] @ M_c`` for each ``(c, M_c)`` of ``parts`` (``M_c`` an ``(L, L)``
        label matrix; the identity for one corpus's style). A word's plain features then
        score as its augmented ones did, so the fast path tags a style at the plain
        model's cost. Bases seen only in a style get a row; style rows are dropped."""
        styles = self.styles()
        index: dict[str, int] = {}
        plain: list[int] = []
        for attr, i in self.attr_index.items():
            if not attr.startswith(STYLE_MARK):
                index[attr] = len(index)
                plain.append(i)
        moves = []
        for corpus, M in parts:
            ids, bases = styles.get(corpus, (np.zeros(0, dtype=np.intp), []))
            dst = np.array([index.setdefault(b, len(index)) for b in bases], dtype=np.intp)
            moves.append((ids, dst, M))
        W = np.zeros((len(index) + 1, len(self.labels)))
        W[: len(plain)] = self.W[plain]
        for ids, dst, M in moves:
            W[dst] += self.W[ids] @ M  # a base appears once per style: no repeated rows
        return CrfWeights.from_arrays(self.labels, index, W, self.T)

    def vector(self, feats: Sequence[str]) -> np.ndarray:
        """Summed weights of a feature list (unknown features weigh nothing)."""
        get, unknown = self.attr_index.get, len(self.attr_index)
        return self.W[[get(f, unknown) for f in feats]].sum(0)


class FastCrf:
    """Emission scores from cached per-word vectors, batched Viterbi and marginals."""

    def __init__(self, weights: CrfWeights, extractor: FeatureExtractor, cache_size: int = 50_000):
        self.w = weights
        self.fx = extractor
        self.L = len(weights.labels)
        self.labels = weights.labels
        self.offsets = extractor.offsets
        self.cache_size = cache_size
        self._rows: dict[str, int] = {}
        self._table = np.zeros((1024, 1 + len(self.offsets), self.L))
        self.bos = weights.vector(["BOS"])
        self.eos = weights.vector(["EOS"])
        self._lex = None if extractor.matcher is None else _LexiconRows(extractor.matcher, weights)
        self.expT = np.exp(weights.T)
        self._label_array = np.array(self.labels, dtype=object)
        #: sentences decoded together (longest first): bounds the arrays of one run
        self.run_size = 256

    # -- emissions ----------------------------------------------------------------------
    def _add_words(self, words: list[str]) -> None:
        """Cache the vectors of new words: one gather and one segment sum for all of them.
        Row 0 stays zero: the neighbour of a sentence's first and last words."""
        start = len(self._rows) + 1
        if start + len(words) > len(self._table):
            size = max(start + len(words), 2 * len(self._table))
            self._table = _grown(self._table, size, start)
        get, unknown = self.w.attr_index.get, repeat(len(self.w.attr_index))
        ids: list[int] = []
        bounds: list[int] = []
        for word in words:
            for feats in feature_groups(word, self.offsets):
                bounds.append(len(ids))
                ids.extend(map(get, feats, unknown))
        sums = np.add.reduceat(self.w.W[ids], bounds, axis=0)  # every group is non-empty
        k = 1 + len(self.offsets)
        self._table[start : start + len(words)] = sums.reshape(len(words), k, self.L)
        for i, word in enumerate(words):
            self._rows[word] = start + i

    def emissions(self, batch: Sequence[Sequence[str]]) -> np.ndarray:
        """(N, L) state scores of all words of the batch, sentence after sentence, as
        crfsuite computes them (the same additions in the same order)."""
        lengths = np.fromiter(map(len, batch), np.intp, len(batch))
        flat = list(chain.from_iterable(batch))
        rows = self._rows
        idx = list(map(rows.get, flat))
        if None in idx:
            new = {tok for tok, i in zip(flat, idx, strict=True) if i is None}
            if len(rows) + len(new) > self.cache_size:  # start afresh, keep the memory
                rows.clear()
                new = set(flat)
            self._add_words(sorted(new))
            idx = list(map(rows.__getitem__, flat))
        ix = np.array(idx, dtype=np.intp)
        table = self._table
        E = table[ix, 0]
        # Rows with ``window`` zero rows between sentences: a neighbour outside the
        # sentence adds row 0 (nothing; x + 0.0 == x), so no masks are needed.
        w = self.fx.window
        at = np.arange(len(ix)) + w * np.repeat(np.arange(1, len(batch) + 1), lengths)
        padded = np.zeros(len(ix) + w * (len(batch) + 1), dtype=np.intp)
        padded[at] = ix
        for k, o in enumerate(self.offsets, 1):
            E += table[padded[at + o], k]
        ends = np.cumsum(lengths)
        starts = ends - lengths
        used = lengths > 0
        E[starts[used]] += self.bos
        E[ends[used] - 1] += self.eos
        if self._lex is not None:
            self._add_lexicon(flat, lengths, E)
        return E

    def _add_lexicon(self, flat: list[str], lengths: np.ndarray, E: np.ndarray) -> None:
        """Lexicon-match scores, the whole batch matched in one pass and added at once,
        in crfsuite's order: each token's own match rows (``lex=O`` outside matches),
        and for the tokens just outside a match the row of the match before them, then
        of the match after them."""
        lex = self._lex
        assert lex is not None
        ends = np.cumsum(lengths)
        first, stop, entry = lex.matcher.spans(flat, ends.tolist())
        outside = np.ones(len(E), dtype=bool)
        if len(first):
            n = stop - first
            k = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)  # token within match
            own = np.repeat(first, n) + k
            E[own] += lex.table[lex.own[np.repeat(lex.first[entry], n) + k]]  # no overlaps
            outside[own] = False
            sent = np.searchsorted(ends, first, side="right")
            after = stop < ends[sent]
            E[stop[after]] += lex.table[lex.after[entry[after]]]
            before = first > ends[sent] - lengths[sent]
            E[first[before] - 1] += lex.table[lex.before[entry[before]]]
        E[outside] += lex.outside

    # -- decoding. Sentences run longest first, and the arrays are (labels, positions)
    # packed step by step: step t holds position t of the ``act[t]`` sentences that long,
    # at columns ``off[t]:off[t] + act[t]``. Each step is then a few vectorised operations
    # over the sentences still running, with no padding at all: a batch of very
    # different lengths costs its longest sentence in steps, not in padded work. ----------
    def confidences(self, P: np.ndarray, y: np.ndarray, pack: Packing) -> np.ndarray:
        """P(label y | sentence) per packed position."""
        return self.marginals(P, pack)[y, np.arange(len(y))]

    def marginals(self, P: np.ndarray, pack: Packing) -> np.ndarray:
        """P(label | sentence), (labels, packed positions): scaled forward-backward in
        probability space (a matrix product per step, no log-sum-exp)."""
        act, off = pack.act, pack.off
        ex = np.exp(P - P.max(0))
        expT = self.expT
        total = np.add.reduce
        alpha = np.empty_like(ex)
        a = alpha[:, : act[0]]
        np.divide(ex[:, : act[0]], total(ex[:, : act[0]], 0), out=a)
        for t in range(1, len(act)):
            na, o, po = act[t], off[t], off[t - 1]
            a = alpha[:, o : o + na]
            np.matmul(expT.T, alpha[:, po : po + na], out=a)
            a *= ex[:, o : o + na]
            a /= total(a, 0)
        beta = np.ones_like(ex)  # 1 at each sentence's last position
        for t in range(len(act) - 2, -1, -1):
            o, o1, a1 = off[t], off[t + 1], act[t + 1]
            b = beta[:, o : o + a1]
            np.matmul(expT, ex[:, o1 : o1 + a1] * beta[:, o1 : o1 + a1], out=b)
            b /= total(b, 0)
        m = alpha * beta
        return m / total(m, 0)

    def predict(
        self, batch: Sequence[Sequence[str]], confidences: bool = True
    ) -> list[tuple[list[str], list[float]]]:
        """Tags and marginal confidences, in runs of ``run_size`` sentences (longest first)."""
        out: list[tuple[list[str], list[float]]] = [([], []) for _ in batch]
        order = sorted((i for i, s in enumerate(batch) if len(s)), key=lambda i: -len(batch[i]))
        for lo in range(0, len(order), self.run_size):
            ids = order[lo : lo + self.run_size]
            self._run([batch[i] for i in ids], ids, out, confidences)
        return out

    def _run(self, sents, ids, out, confidences: bool) -> None:
        E = self.emissions(sents)
        lens = np.fromiter(map(len, sents), np.intp, len(sents))  # descending
        pack = Packing.of(lens)
        src = pack.src  # packed column -> row of E
        P = np.ascontiguousarray(E[src].T)
        best = viterbi_packed(P, self.w.T, pack)
        y = np.empty_like(src)
        y[src] = best
        tags = self._label_array[y].tolist()
        scores = [1.0] * len(src)
        if confidences:
            conf = np.empty(len(src))
            conf[src] = self.confidences(P, best, pack)
            scores = conf.tolist()
        starts = np.cumsum(lens) - lens
        for i, s, n in zip(ids, starts.tolist(), lens.tolist(), strict=True):
            out[i] = (tags[s : s + n], scores[s : s + n])


def _grown(a: np.ndarray, size: int, keep: int) -> np.ndarray:
    """``a`` with room for ``size`` rows, its first ``keep`` rows kept."""
    out = np.zeros((size, *a.shape[1:]), dtype=a.dtype)
    out[:keep] = a[:keep]
    return out


class _LexiconRows:
    """Score rows of every matcher entry, built once: a match of entry ``v`` adds row
    ``own[first[v] + k]`` of ``table`` at its ``k``-th token, and ``before[v]`` /
    ``after[v]`` at the tokens just outside it (``+1:lex=B-T`` / ``-1:lex=I-T``)."""

    def __init__(self, matcher: Matcher, weights: CrfWeights) -> None:
        self.matcher = matcher
        rows: dict[tuple[str, ...], int] = {}

        def row(feats: tuple[str, ...]) -> int:
            return rows.setdefault(feats, len(rows))

        first: list[int] = []
        own: list[int] = []
        before: list[int] = []
        after: list[int] = []
        for *_, pos_feats in matcher.values:
            first.append(len(own))
            own.extend(row(tuple(f)) for f in pos_feats)
            before.append(row(("+1:" + pos_feats[0][0],)))
            after.append(row(("-1:" + pos_feats[-1][0],)))
        self.table = np.array([weights.vector(f) for f in rows]).reshape(-1, len(weights.labels))
        self.first, self.own = np.array(first, dtype=np.intp), np.array(own, dtype=np.intp)
        self.before, self.after = np.array(before, dtype=np.intp), np.array(after, dtype=np.intp)
        self.outside = weights.vector(["lex=O"])
