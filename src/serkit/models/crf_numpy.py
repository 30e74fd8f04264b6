"""Batched CRF inference in numpy from a crfsuite model file: the fast path of ``CrfTagger``.

Tagging through pycrfsuite costs a string conversion and a dictionary lookup for every
feature of every token (~30 per token). But each of our features depends on one word
(or one lexicon hit) only, so the score a word adds to its own position and to each of
its neighbours is a fixed vector per label, computed once per distinct word and cached.
A sentence's emission scores are then a few array additions, and Viterbi and the
forward-backward marginals run over whole batches of sentences at once.

The weights come straight from crfsuite's binary model (``crf1dm``: a 48-byte header,
two CQDB string tables for labels and attributes, and a ``FEAT`` chunk of
(type, source, destination, weight) records). Decoding matches crfsuite's own Viterbi,
ties included (first maximum wins); a test checks it tag for tag.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from serkit.errors import ModelLoadError
from serkit.models.features import FeatureExtractor, context_features, word_features

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
        self._entry_cache: dict[int, tuple[tuple, tuple[list[int], int, int]]] = {}
        self._lex_ids: dict[tuple[str, ...], int] = {}
        self._lex_vecs: list[np.ndarray] = []
        self._lex_table: np.ndarray | None = None
        self._lex_o = weights.vector(["lex=O"])
        self.expT = np.exp(weights.T)

    # -- emissions ----------------------------------------------------------------------
    def _add_words(self, words: list[str]) -> None:
        """Cache the vectors of new words: one gather and one segment sum for all of them."""
        need = len(self._rows) + len(words)
        if need > len(self._table):
            grown = np.zeros((max(need, 2 * len(self._table)), *self._table.shape[1:]))
            grown[: len(self._rows)] = self._table[: len(self._rows)]
            self._table = grown
        get, unknown = self.w.attr_index.get, len(self.w.attr_index)
        ids: list[int] = []
        bounds: list[int] = []
        for word in words:
            for feats in (word_features(word), *(context_features(word, o) for o in self.offsets)):
                bounds.append(len(ids))
                ids.extend(get(f, unknown) for f in feats)
        sums = np.add.reduceat(self.w.W[ids], bounds, axis=0)  # every group is non-empty
        k = 1 + len(self.offsets)
        start = len(self._rows)
        self._table[start : start + len(words)] = sums.reshape(len(words), k, self.L)
        for i, word in enumerate(words):
            self._rows[word] = start + i

    def _entry_rows(self, value: tuple) -> tuple[list[int], int, int]:
        """Lexicon-table rows of a matcher entry: one per token of the match, plus the
        rows of the features its neighbours get (``+1:lex=B-T`` before, ``-1:...`` after).
        Cached by the identity of the matcher's value (built once per entry and kept)."""
        got = self._entry_cache.get(id(value))
        if got is None:
            pos_feats = value[4]
            rows = [self._add_lex_vec(tuple(f)) for f in pos_feats]
            before = self._add_lex_vec(("+1:" + pos_feats[0][0],))
            after = self._add_lex_vec(("-1:" + pos_feats[-1][0],))
            got = self._entry_cache[id(value)] = (value, (rows, before, after))
        return got[1]

    def _add_lex_vec(self, feats: tuple[str, ...]) -> int:
        row = self._lex_ids.get(feats)
        if row is None:
            row = self._lex_ids[feats] = len(self._lex_vecs)
            self._lex_vecs.append(self.w.vector(feats))
            self._lex_table = None
        return row

    def emissions(self, batch: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per sentence an (n, L) array of state scores, as crfsuite would compute them."""
        lengths = [len(s) for s in batch]
        rows = self._rows
        new = {tok for sent in batch for tok in sent if tok not in rows}
        if new and len(rows) + len(new) > self.cache_size:  # start afresh, keep the memory
            rows.clear()
            new = {tok for sent in batch for tok in sent}
        if new:
            self._add_words(sorted(new))
        idx = [rows[tok] for sent in batch for tok in sent]
        V = self._table[idx]  # (N, 1 + 2w, L); copy, so a cache reset cannot hurt it
        n_all = len(idx)
        E = V[:, 0].copy()
        starts = np.cumsum([0, *lengths[:-1]])
        sent_len = np.repeat(lengths, lengths)
        pos = np.arange(n_all) - np.repeat(starts, lengths)
        for k, o in enumerate(self.offsets, 1):
            ok = np.nonzero((pos + o >= 0) & (pos + o < sent_len))[0]
            E[ok] += V[ok + o, k]
        firsts = starts[np.asarray(lengths) > 0]
        E[firsts] += self.bos
        E[firsts + np.asarray(lengths)[np.asarray(lengths) > 0] - 1] += self.eos
        if self.fx.matcher is not None:
            self._add_lexicon(batch, starts, E)
        return [E[s : s + n] for s, n in zip(starts, lengths, strict=True)]

    def _add_lexicon(self, batch: Sequence[Sequence[str]], starts, E: np.ndarray) -> None:
        best = self.fx.matcher._best  # type: ignore[union-attr]
        own_idx: list[int] = []
        own_row: list[int] = []
        nb_idx: list[int] = []
        nb_row: list[int] = []
        entry_rows = self._entry_rows
        for sent, s0 in zip(batch, starts.tolist(), strict=True):
            n = len(sent)
            for start, end, value in best(sent):
                rows, before, after = entry_rows(value)
                own_idx.extend(range(s0 + start, s0 + end))
                own_row.extend(rows)
                if start > 0:
                    nb_idx.append(s0 + start - 1)
                    nb_row.append(before)
                if end < n:
                    nb_idx.append(s0 + end)
                    nb_row.append(after)
        if self._lex_table is None:
            self._lex_table = np.array(self._lex_vecs).reshape(-1, self.L)
        outside = np.ones(len(E), dtype=bool)
        if own_idx:
            E[own_idx] += self._lex_table[own_row]  # matches never overlap: unique indices
            outside[own_idx] = False
        if nb_idx:
            np.add.at(E, nb_idx, self._lex_table[nb_row])
        E[outside] += self._lex_o

    # -- decoding: arrays are (positions, labels, sentences), the batch innermost, so each
    # step is a few vectorised operations over all sentences at once ---------------------
    def _pad(self, ems: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        lens = np.array([len(e) for e in ems])
        P = np.zeros((int(lens.max()), self.L, len(ems)))
        pos = np.concatenate([np.arange(n) for n in lens])
        col = np.repeat(np.arange(len(ems)), lens)
        P[pos, :, col] = np.concatenate(ems)
        return P, lens

    def viterbi(self, P: np.ndarray, lens: np.ndarray) -> np.ndarray:
        """Best label ids (n, B); ties go to the lowest label id, as in crfsuite."""
        n = P.shape[0]
        T = self.w.T
        T3 = T[:, :, None]
        D = np.empty_like(P)
        D[0] = P[0]
        for t in range(1, n):
            np.add((D[t - 1][:, None, :] + T3).max(0), P[t], out=D[t])
        # backtrack from each sentence's own last position, re-deriving the arg max
        last = lens - 1
        y = np.zeros((n, P.shape[2]), dtype=np.intp)
        y[n - 1] = D[n - 1].argmax(0)
        for t in range(n - 2, -1, -1):
            back = (D[t] + T[:, y[t + 1]]).argmax(0)
            y[t] = np.where(last == t, D[t].argmax(0), back)
        return y

    def marginals(self, P: np.ndarray, lens: np.ndarray) -> np.ndarray:
        """P(label | sentence) per position (n, L, B), scaled forward-backward."""
        n = P.shape[0]
        ex = np.exp(P - P.max(1, keepdims=True))
        expT = self.expT
        alpha = np.empty_like(ex)
        a = ex[0]
        alpha[0] = a / a.sum(0)
        for t in range(1, n):
            a = (expT.T @ alpha[t - 1]) * ex[t]
            alpha[t] = a / a.sum(0)
        beta = np.ones_like(ex)
        for t in range(n - 2, -1, -1):
            b = expT @ (ex[t + 1] * beta[t + 1])
            b /= b.sum(0)
            beta[t] = np.where(t + 1 < lens, b, 1.0)
        m = alpha * beta
        m /= m.sum(1, keepdims=True)
        return m

    def predict(
        self, batch: Sequence[Sequence[str]], confidences: bool = True
    ) -> list[tuple[list[str], list[float]]]:
        """Tags and marginal confidences; sentences of very different lengths are split
        into separate runs so padding stays small."""
        out: list[tuple[list[str], list[float]]] = [([], []) for _ in batch]
        order = sorted((i for i, s in enumerate(batch) if len(s)), key=lambda i: len(batch[i]))
        lo = 0
        while lo < len(order):
            hi = lo + 1
            first = len(batch[order[lo]])
            while hi < len(order) and hi - lo < 256 and len(batch[order[hi]]) <= 2 * first + 8:
                hi += 1
            self._run([batch[i] for i in order[lo:hi]], order[lo:hi], out, confidences)
            lo = hi
        return out

    def _run(self, sents, ids, out, confidences: bool) -> None:
        P, lens = self._pad(self.emissions(sents))
        y = self.viterbi(P, lens)
        conf = None
        if confidences:
            m = self.marginals(P, lens)
            conf = np.take_along_axis(m, y[:, None, :], 1)[:, 0]
        labels = self.labels
        yT = y.T.tolist()
        cT = conf.T.tolist() if conf is not None else None
        for b, i in enumerate(ids):
            n = int(lens[b])
            out[i] = ([labels[j] for j in yT[b][:n]], cT[b][:n] if cT is not None else [1.0] * n)
