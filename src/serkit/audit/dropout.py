"""Disagreement of a transformer with itself across k dropout passes.

Self-regularized training (``serkit.training.selfreg``) pushes the k dropout views of a
sentence to agree; where they still disagree on the given label the model is unsure of
it, which is where label noise sits. Each pass runs the torch model in training mode
(dropout on, no gradients) through the same windowing as inference
(``serkit.models.encoding.word_logits``). ONNX graphs have no dropout: torch only.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from serkit.audit.corpus import AuditCorpus
from serkit.audit.probs import TokenProbs, softmax, to_corpus_labels
from serkit.errors import SerkitError


def dropout_passes(
    tagger, sentences: Sequence[Sequence[str]], k: int, *, seed: int = 0, batch_size: int = 64,
    progress: bool = True,
) -> list[np.ndarray]:  # fmt: skip
    """``(k, tokens, labels)`` probabilities per sentence, one slice per dropout pass."""
    import torch

    from serkit.models.encoding import word_logits

    model = getattr(tagger, "model", None)
    if not isinstance(model, torch.nn.Module):
        raise SerkitError("dropout passes need a transformer on the torch runtime (not ONNX/CRF)")

    run = tagger.logits  # the tagger's own forward (its device); dropout is on below

    torch.manual_seed(seed)
    out: list[np.ndarray] = []
    was_training = model.training
    model.train()
    try:
        with tqdm(total=len(sentences), desc=f"{k} dropout passes", unit="sent",
                  file=sys.stderr, disable=not progress, dynamic_ncols=True) as bar:  # fmt: skip
            for lo in range(0, len(sentences), batch_size):
                batch = [list(s) for s in sentences[lo : lo + batch_size]]
                runs = [
                    word_logits(tagger.encoder, batch, run, len(tagger.labels), tagger.max_tokens)
                    for _ in range(k)
                ]
                for i in range(len(batch)):
                    out.append(np.stack([softmax(r[i].astype(np.float64)) for r in runs]))
                bar.update(len(batch))
    finally:
        model.train(was_training)
    return out


def dropout_view(
    tagger, corpus: AuditCorpus, k: int = 8, *, seed: int = 0, progress: bool = True
) -> tuple[TokenProbs, list[np.ndarray]]:
    """Mean probabilities over the passes (decoded as the tagger decodes) and, per sentence,
    each token's disagreement: the mean total-variation distance of a pass from the mean."""
    from serkit.models.encoding import decode

    passes = dropout_passes(tagger, [a.tokens for a in corpus.sentences], k, seed=seed,
                            progress=progress)  # fmt: skip
    probs, pred, disagreement = [], [], []
    for p in passes:
        mean = p.mean(0)
        disagreement.append(0.5 * np.abs(p - mean).sum(-1).mean(0))
        probs.append(to_corpus_labels(mean, tagger.labels, corpus.labels))
        pred.append(decode([np.log(mean + 1e-12)], tagger.labels, tagger.decoding)[0][0])
    return TokenProbs(f"dropout-{k}", corpus.labels, probs, pred), disagreement
