"""The lexicon jackknife: lexicon features for training sentences that never see their own
labels.

A lexicon built from the training labels and matched on the same sentences tells a model
each gold tag verbatim, so the model learns to copy the lexicon, which then misleads it on
unseen text. Jackknifing splits the training sentences into k folds and matches each fold
with the lexicon of the other folds: the feature is as (un)reliable in training as on new
text. One implementation for every architecture (transformer ``lexicon_folds``, CRF
``lexicon_folds``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from serkit.lexicon.core import Lexicon
from serkit.tokens import Sentence


def fold_of(n: int, k: int, seed: int) -> np.ndarray:
    """The fold (0..k-1) of each of ``n`` sentences, at random but fixed by ``seed``:
    neighbouring sentences of one document land in different folds as often as not."""
    return np.random.default_rng([seed, 7]).integers(0, k, size=n)


def jackknife(
    sentences: Sequence[Sentence], k: int, seed: int
) -> Iterator[tuple[Lexicon, np.ndarray]]:
    """For each of ``k`` folds: the lexicon built from the other folds, and the indices
    of the fold's own sentences (to be matched with it). ``k < 2``: nothing to yield; use
    one lexicon of every sentence."""
    if k < 2:
        return
    folds = fold_of(len(sentences), k, seed)
    for f in range(k):
        rest = [s for s, g in zip(sentences, folds, strict=True) if g != f]
        yield Lexicon.build(rest), np.flatnonzero(folds == f)
