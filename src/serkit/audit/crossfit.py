"""Out-of-sample CRF probabilities by k-fold cross-fitting.

Each sentence is scored by a CRF (``serkit.training.crf.train_crf``, project defaults)
trained on the other folds, lexicon included, so no probability comes from a model
that saw the label it judges. Folds are the sentence index modulo k, as the CRF's own
jackknife does, so neighbouring sentences of one document fall in different folds.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from serkit.audit.corpus import AuditCorpus
from serkit.audit.probs import TokenProbs, crf_probs
from serkit.tokens import Sentence


def crossfit_crf(
    corpus: AuditCorpus,
    k: int = 5,
    *,
    config: dict[str, Any] | None = None,
    progress: bool = True,
) -> TokenProbs | None:
    """Probabilities and Viterbi tags of every sentence from the CRF of the other folds.

    None when the corpus is too small to cross-fit (fewer than two sentences).
    """
    from serkit.models.crf import MODEL_FILE
    from serkit.models.crf_numpy import CrfWeights, FastCrf
    from serkit.training.crf import train_crf

    sents = corpus.sentences
    k = min(k, len(sents))
    if k < 2:
        return None
    labels = corpus.labels
    probs: list[np.ndarray] = [np.zeros((0, len(labels)))] * len(sents)
    pred: list[list[str]] = [[] for _ in sents]
    with (
        tqdm(
            total=2 * k, desc=f"{k}-fold CRF", unit="step", file=sys.stderr,
            disable=not progress, dynamic_ncols=True,
        ) as bar,
        tempfile.TemporaryDirectory(prefix="serkit-audit-") as tmp,
    ):  # fmt: skip
        for fold in range(k):
            train = [
                Sentence(a.tokens, a.tags, a.sentence.doc_id, i, a.sentence.line)
                for i, a in enumerate(sents)
                if i % k != fold
            ]
            held = list(range(fold, len(sents), k))
            bar.set_postfix_str(f"fold {fold + 1}: train")
            out = Path(tmp) / f"fold{fold}"
            tagger = train_crf(train, None, out, config)
            bar.update(1)
            bar.set_postfix_str(f"fold {fold + 1}: predict")
            fast = FastCrf(CrfWeights((out / MODEL_FILE).read_bytes()), tagger.features)
            fp, ft = crf_probs(fast, [sents[i].tokens for i in held], labels)
            for i, p, t in zip(held, fp, ft, strict=True):
                probs[i], pred[i] = p, t
            bar.update(1)
    return TokenProbs(f"crf-{k}fold", labels, probs, pred)
