"""Confident-learning scores from cleanlab (``cleanlab.token_classification``).

cleanlab judges *tokens*: the label quality of each token (self-confidence: the
probability the model gives its given label) and the tokens confident learning flags
as issues. As cleanlab's own token-classification tutorial does, B- and I- of a type
are merged into one class first, so a quality is about the type (or O) of a word.
:func:`cleanlab_regions` turns its flagged tokens into spans (runs of flagged tokens,
widened to the given spans they touch): the span-level "cleanlab alone" baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from serkit.audit.corpus import AuditCorpus
from serkit.audit.probs import TokenProbs
from serkit.labels import OUTSIDE, spans


@dataclass(slots=True)
class CleanlabScores:
    """Per sentence: each token's label quality in [0, 1] and whether cleanlab flags it."""

    quality: list[np.ndarray]
    issues: list[np.ndarray]
    classes: list[str]


def merged(
    view: TokenProbs, corpus: AuditCorpus
) -> tuple[list[list[int]], list[np.ndarray], list[str]]:
    """Given class ids and probabilities over ``O`` + types (B-/I- summed)."""
    classes = [OUTSIDE, *corpus.types]
    col = {c: i for i, c in enumerate(classes)}
    index = np.array([col[lab if lab == OUTSIDE else lab[2:]] for lab in view.labels])
    onehot = np.zeros((len(view.labels), len(classes)))
    onehot[np.arange(len(view.labels)), index] = 1.0
    given = [[col[t if t == OUTSIDE else t[2:]] for t in a.tags] for a in corpus.sentences]
    probs = [p @ onehot for p in view.probs]
    return given, probs, classes


def cleanlab_scores(view: TokenProbs, corpus: AuditCorpus) -> CleanlabScores:
    """cleanlab's token quality scores and label issues from one model view."""
    from cleanlab.token_classification.filter import find_label_issues
    from cleanlab.token_classification.rank import get_label_quality_scores

    given, probs, classes = merged(view, corpus)
    # cleanlab needs rows that sum to 1 and at least one example of every class.
    probs = [np.clip(p, 1e-9, None) / np.clip(p, 1e-9, None).sum(1, keepdims=True) for p in probs]
    _, token_scores = get_label_quality_scores(given, probs)
    quality = [np.asarray(ts, dtype=float) for ts in token_scores]
    issues = [np.zeros(len(g), dtype=bool) for g in given]
    present = {c for g in given for c in g}
    if len(present) == len(classes) and len(classes) > 1:
        for i, j in find_label_issues(given, probs, n_jobs=1):  # no worker processes
            issues[i][j] = True
    else:  # a class never given: confident learning cannot estimate its threshold
        for i, q in enumerate(quality):
            issues[i] = q < 0.5
    return CleanlabScores(quality, issues, classes)


def region_score(scores: CleanlabScores, index: int, start: int, end: int) -> float:
    """1 - the lowest token quality in the region (cleanlab's sentence rule, on a span)."""
    return float(1.0 - scores.quality[index][start:end].min())


def cleanlab_regions(scores: CleanlabScores, corpus: AuditCorpus) -> list[tuple[int, int, int]]:
    """``(sentence, start, end)`` of each run of flagged tokens, widened to whole given spans."""
    out = []
    for i, flags in enumerate(scores.issues):
        if not flags.any():
            continue
        given = spans(corpus.sentences[i].tags)
        t = 0
        while t < len(flags):
            if not flags[t]:
                t += 1
                continue
            s = t
            while t < len(flags) and flags[t]:
                t += 1
            e = t
            for gs, ge, _ in given:
                if gs < e and s < ge:
                    s, e = min(s, gs), max(e, ge)
            out.append((i, s, e))
            t = max(t, e)
    return out
