"""Constrained Viterbi decoding of per-word scores (serkit.models.viterbi)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serkit.errors import SerkitError
from serkit.labels import bio_labels, repair_iob
from serkit.models.encoding import decode
from serkit.models.viterbi import FORBIDDEN, best_paths, iob2_constraints

LABELS = bio_labels(["Library", "Language"])  # O, B-/I- of two types: 5 labels


def valid(tags: list[str]) -> bool:
    return repair_iob(tags)[1] == 0


def brute_force(scores: np.ndarray, labels: list[str]) -> float:
    """Best total score over every IOB2-valid path (exhaustive)."""
    best = -np.inf
    for path in itertools.product(range(len(labels)), repeat=len(scores)):
        if valid([labels[i] for i in path]):
            best = max(best, float(scores[np.arange(len(path)), path].sum()))
    return best


def test_constraints_forbid_exactly_the_invalid_transitions():
    trans, start = iob2_constraints(LABELS)
    for (i, a), (j, b) in itertools.product(enumerate(LABELS), repeat=2):
        # b after a is invalid iff appending b adds a repair
        added = repair_iob([a, b])[1] - repair_iob([a])[1]
        assert (trans[i, j] == FORBIDDEN) == (added > 0)
    for j, b in enumerate(LABELS):
        assert (start[j] == FORBIDDEN) == b.startswith("I-")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=5),
        min_size=1,
        max_size=6,
    ),
    st.randoms(use_true_random=False),
)
def test_best_paths_are_valid_and_optimal(lengths_seed, rnd):
    """Batched decoding of sentences of mixed lengths finds the exhaustive optimum."""
    rng = np.random.default_rng(rnd.randint(0, 2**31))
    scores = [rng.normal(size=(len(x), len(LABELS))) * 3 for x in lengths_seed]
    trans, start = iob2_constraints(LABELS)
    paths = best_paths(scores, trans, start, group=3)
    for s, path in zip(scores, paths, strict=True):
        assert len(path) == len(s)
        tags = [LABELS[i] for i in path]
        assert valid(tags)
        assert float(s[np.arange(len(path)), path].sum()) == pytest.approx(brute_force(s, LABELS))


def test_viterbi_prefers_a_consistent_span_over_a_repaired_argmax():
    """Word 2's arg max is I-Language after B-Library: argmax + repair splits the span,
    Viterbi keeps one Library entity because the pair scores higher as a whole."""
    lp = np.log(
        np.array(
            [
                # O    B-Lib  I-Lib  B-Lan  I-Lan
                [0.10, 0.75, 0.05, 0.05, 0.05],
                [0.10, 0.05, 0.38, 0.05, 0.42],
            ]
        )
    )
    labels = LABELS
    assert labels == ["O", "B-Library", "I-Library", "B-Language", "I-Language"]
    ((argmax_tags, _),) = decode([lp], labels, "argmax")
    ((vit_tags, vit_conf),) = decode([lp], labels, "viterbi")
    assert argmax_tags == ["B-Library", "B-Language"]
    assert vit_tags == ["B-Library", "I-Library"]
    assert vit_conf == pytest.approx([0.75, 0.38])


def test_decode_handles_empty_sentences_and_rejects_unknown_modes():
    out = decode([np.zeros((0, 5)), np.zeros((2, 5))], LABELS)
    assert out[0] == ([], [])
    assert len(out[1][0]) == 2
    with pytest.raises(SerkitError, match="unknown decoding"):
        decode([np.zeros((1, 5))], LABELS, "beam")
