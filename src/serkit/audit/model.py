"""Probabilities from a given model (``--model``): any saved serkit CRF or transformer.

A model trained on the audited corpus has already fitted its labels, errors included,
so its probabilities understate them. We cannot know every model's history, but the
card records the training files and their sha256: when either matches an audited input,
the view is marked ``in_sample`` and the report says so.
"""

from __future__ import annotations

from pathlib import Path

from serkit.audit.corpus import AuditCorpus
from serkit.audit.probs import TokenProbs, crf_probs, windowed_probs


def model_types(tagger) -> list[str]:
    return sorted({t[2:] for t in tagger.labels if t != "O"})


def in_sample(card: dict, corpus: AuditCorpus) -> bool:
    """Whether the card says the model was trained on (one of) the audited files."""
    from serkit.card import sha256_files

    data = card.get("train_data") or {}
    trained = {Path(f).resolve() for f in data.get("files") or [] if isinstance(f, str)}
    audited = {s.path.resolve() for s in corpus.files}
    if trained & audited or any(a.is_relative_to(t) for a in audited for t in trained):
        return True
    sha = data.get("sha256")
    return bool(sha) and sha == sha256_files(s.path for s in corpus.files)


def model_probs(model_dir: str | Path | None, corpus: AuditCorpus, tagger=None) -> TokenProbs:
    """Probabilities and decoded tags of a saved model (``tagger``: already loaded)."""
    from serkit.models.crf import CrfTagger
    from serkit.models.registry import load_tagger

    tagger = tagger if tagger is not None else load_tagger(model_dir)
    sentences = [a.tokens for a in corpus.sentences]
    if isinstance(tagger, CrfTagger):
        # the decoder of the tagger's current scheme (styles folded in); CrfTagger has no
        # public call for full marginals, so its private fast decoder is read here
        probs, pred = crf_probs(tagger._fast, sentences, corpus.labels)
    else:
        probs, pred = windowed_probs(tagger, sentences, corpus.labels)
    card = getattr(tagger, "card", {}) or {}
    view = TokenProbs(f"model:{Path(model_dir).name if model_dir else 'default'}",
                      corpus.labels, probs, pred, in_sample(card, corpus))  # fmt: skip
    if view.in_sample:
        view.notes.append(
            "the model was trained on this corpus: its probabilities are in-sample and "
            "understate errors (cross-fitting does not)"
        )
    return view
