"""Viterbi over per-word label scores: the CRF's decoder and the transformers' one.

The CRF decodes with its learned transition weights. A token classifier scores every word
on its own, so its arg max can emit ``O I-X`` or ``B-X I-Y``; repairing that afterwards
(a stray ``I-`` opens an entity) fixes the syntax but not the decision, as the label of
the whole span was never compared as a whole. So it is decoded with 0 /
:data:`FORBIDDEN` transitions: the best IOB2-valid path, at no training cost. On the W1
self-regularized MiniLM that raised W1 strict F1 from 0.596 to 0.610 and the
validation-slice F1 from 0.640 to 0.654 (``bench/RESULTS.md``, "Decoding").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from serkit.scheme import IOB2

#: Score of a forbidden transition: finite, so sums never turn into NaN.
FORBIDDEN = -1e9


def iob2_constraints(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(transitions[from, to], start[to])``: 0 where IOB2 allows it, :data:`FORBIDDEN` not
    (``IOB2.allowed``: ``I-X`` only after ``B-X`` or ``I-X``, never first)."""
    n = len(labels)
    trans = np.zeros((n, n))
    start = np.zeros(n)
    for j, to in enumerate(labels):
        if not IOB2.allowed(None, to):
            start[j] = FORBIDDEN
        for i, frm in enumerate(labels):
            if not IOB2.allowed(frm, to):
                trans[i, j] = FORBIDDEN
    return trans, start


def log_softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


@dataclass(frozen=True)
class Packing:
    """Sentences laid out position by position, longest first, with no padding.

    Step ``t`` holds the ``act[t]`` sentences still running, in columns
    ``off[t] .. off[t] + act[t]``; ``src[column]`` is that position's row in the
    sentences' concatenation. The Python loop of a decoder then runs once per position of
    the longest sentence, and does no work on padding.
    """

    act: list[int]
    off: list[int]
    src: np.ndarray

    @classmethod
    def of(cls, lengths: np.ndarray) -> Packing:
        """``lengths`` must be sorted longest first and all > 0."""
        steps = np.arange(int(lengths[0]))
        running = steps[:, None] < lengths[None, :]  # (steps, sentences)
        act = running.sum(1)
        off = np.cumsum(act) - act
        starts = np.cumsum(lengths) - lengths
        src = (starts[None, :] + steps[:, None])[running]
        return cls(act.tolist(), off.tolist(), src)

    def last_columns(self) -> np.ndarray:
        """Packed column of each sentence's last position (sentence ``b`` runs while
        ``act[t] > b``)."""
        b = np.arange(self.act[0])
        length = (np.asarray(self.act)[:, None] > b).sum(0)
        return np.asarray(self.off)[length - 1] + b


def viterbi_packed(
    P: np.ndarray, transitions: np.ndarray, pack: Packing, start: np.ndarray | None = None
) -> np.ndarray:
    """Best label id per packed column of ``P`` (labels, columns) under
    ``transitions[from, to]``; ties go to the lowest label id (as crfsuite's decoder)."""
    act, off = pack.act, pack.off
    n_labels = P.shape[0]
    T = transitions
    T3 = T[:, :, None]  # (from, to, 1)
    D = np.empty_like(P)
    D[:, : act[0]] = P[:, : act[0]]
    if start is not None:
        D[:, : act[0]] += start[:, None]
    buf = np.empty(n_labels * n_labels * act[0])  # reused: a fresh array per step costs more
    for t in range(1, len(act)):
        a, o, po = act[t], off[t], off[t - 1]
        scores = buf[: n_labels * n_labels * a].reshape(n_labels, n_labels, a)
        np.add(D[:, None, po : po + a], T3, out=scores)
        d = D[:, o : o + a]
        np.maximum.reduce(scores, axis=0, out=d)
        np.add(d, P[:, o : o + a], out=d)
    # backtrack: each sentence from its own best last label, then one step at a time
    y = np.empty(P.shape[1], dtype=np.intp)
    last = pack.last_columns()
    y[last] = D[:, last].argmax(0)
    for t in range(len(act) - 2, -1, -1):
        o, o1, a1 = off[t], off[t + 1], act[t + 1]
        y[o : o + a1] = (D[:, o : o + a1] + T[:, y[o1 : o1 + a1]]).argmax(0)
    return y


def best_paths(
    scores: Sequence[np.ndarray],
    transitions: np.ndarray,
    start: np.ndarray,
    group: int = 256,
) -> list[np.ndarray]:
    """Arg max label ids per sentence; ``scores[i]`` is ``(n_words, n_labels)``.

    Sentences are decoded ``group`` at a time, longest first, packed (:class:`Packing`).
    """
    out: list[np.ndarray] = [np.zeros(0, dtype=np.intp) for _ in scores]
    order = sorted((i for i, s in enumerate(scores) if len(s)), key=lambda i: -len(scores[i]))
    for lo in range(0, len(order), group):
        ids = order[lo : lo + group]
        lengths = np.fromiter((len(scores[i]) for i in ids), np.intp, len(ids))
        pack = Packing.of(lengths)
        E = np.concatenate([scores[i] for i in ids])
        best = viterbi_packed(np.ascontiguousarray(E[pack.src].T), transitions, pack, start)
        y = np.empty(len(E), dtype=np.intp)
        y[pack.src] = best
        starts = np.cumsum(lengths) - lengths
        for i, s0, n in zip(ids, starts.tolist(), lengths.tolist(), strict=True):
            out[i] = y[s0 : s0 + n]
    return out
