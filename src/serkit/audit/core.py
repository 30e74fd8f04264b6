"""Run the signals over a corpus and rank their findings: what ``serkit audit`` computes.

Signals (each in its own module, each scoring every candidate in [0, 1]):

- ``crf-kfold``: out-of-sample CRF probabilities by cross-fitting (``crossfit``);
- ``model:NAME``: probabilities of a given model (``model``; flagged when in-sample);
- ``dropout``: disagreement of a transformer across dropout passes (``dropout``);
- ``consistency``: leave-one-out label support of the surface in the corpus (``consistency``);
- ``cleanlab``: confident-learning token quality of the given labels (``cleanlab_scores``),
  from the cross-fitted view when there is one (out of sample), else the model's.

The combined score is the mean of the signals present, consistency taken with its sign
(negative when the rest of the corpus labels the surface as given, so it pulls down).
``bench/audit.py`` compares it with the rule fixed before the benchmark first ran (model
evidence moved toward 1 or 0 by consistency: :func:`combine_moved`), which ranked worse;
both numbers are in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serkit.audit.cleanlab_scores import CleanlabScores, cleanlab_scores, region_score
from serkit.audit.consistency import Consistency
from serkit.audit.corpus import AuditCorpus
from serkit.audit.findings import Finding, candidates, prob_score, rank
from serkit.audit.probs import TokenProbs, load_probs, save_probs

#: Findings scoring below this are not reported (the ranking itself keeps every candidate).
THRESHOLD = 0.5


def family(signal: str) -> str:
    """``crf-5fold`` -> ``crf``, ``model:w1`` -> ``model``, ``dropout-8`` -> ``dropout``."""
    return signal.split(":")[0].split("-")[0]


def combine(signals: dict[str, float]) -> float:
    """Mean of the signals (consistency signed), clipped to [0, 1]."""
    if not signals:
        return 0.0
    return min(max(sum(signals.values()) / len(signals), 0.0), 1.0)


def combine_moved(signals: dict[str, float]) -> float:
    """The alternative: mean model evidence ``M`` moved by consistency ``d``, a share ``d``
    of the way to 1 (``d`` > 0) or ``-d`` of the way to 0."""
    model = [v for k, v in signals.items() if family(k) != "consistency"]
    d = signals.get("consistency", 0.0)
    if not model:
        return max(d, 0.0)
    m = sum(model) / len(model)
    return m + d * (1.0 - m) if d >= 0 else m * (1.0 + d)


@dataclass(slots=True)
class AuditResult:
    corpus: AuditCorpus
    findings: list[Finding]
    candidates: list[Finding]
    views: list[TokenProbs] = field(default_factory=list)
    cleanlab: CleanlabScores | None = None
    consistency: Consistency | None = None
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def signals(self) -> list[str]:
        names = [v.name for v in self.views]
        if self.options.get("dropout_view"):
            names.append(self.options["dropout_view"])
        if self.consistency is not None:
            names.append("consistency")
        if self.cleanlab is not None:
            names.append("cleanlab")
        return names


def score_candidates(
    cands: Sequence[Finding],
    views: Sequence[TokenProbs],
    consistency: Consistency | None,
    cleanlab: CleanlabScores | None,
    disagreement: tuple[str, list[np.ndarray]] | None = None,
) -> None:
    """Fill ``finding.signals`` with every signal's score of every candidate."""
    for f in cands:
        for v in views:
            f.signals[v.name] = prob_score(v.probs[f.sentence], v.labels, f)
        if disagreement is not None:
            name, dis = disagreement
            f.signals[name] = float(dis[f.sentence][f.start : f.end].mean())
        if consistency is not None:
            f.signals["consistency"] = consistency.score(f.sentence, f.start, f.given, f.suggested)
        if cleanlab is not None:
            f.signals["cleanlab"] = region_score(cleanlab, f.sentence, f.start, f.end)


def audit(
    corpus: AuditCorpus,
    *,
    folds: int = 5,
    model: str | Path | None = None,
    use_model: bool = False,
    dropout: int = 0,
    crf_config: dict[str, Any] | None = None,
    threshold: float = THRESHOLD,
    progress: bool = True,
    seed: int = 0,
    views: Sequence[TokenProbs] = (),
    cache: str | Path | None = None,
) -> AuditResult:
    """Every signal asked for, candidates from every proposal, one ranked list of findings.

    ``folds`` < 2 turns cross-fitting off; ``use_model`` adds the given ``model`` (None:
    the shipped default); ``dropout`` > 0 runs that many dropout passes of it (torch);
    findings are the ranked candidates scoring at least ``threshold``;
    ``views`` are probabilities computed elsewhere, used first; ``cache`` is an ``.npz``
    of the cross-fitted folds: reused when it was made from this corpus with these
    options (a fix at another ``--min-score`` then costs seconds), else written.
    """
    from serkit.audit.crossfit import crossfit_crf

    timings: dict[str, float] = {}
    notes: list[str] = list(corpus.notes)
    views = list(views)
    disagreement = None
    tagger = None
    if corpus.sentences and (use_model or dropout):
        from serkit.labels import bio_labels
        from serkit.models.registry import load_tagger

        tagger = load_tagger(model, prefer="torch" if dropout else "auto")
        # the model may know types the corpus never uses: keep them expressible
        extra = {t[2:] for t in tagger.labels if t != "O"} - set(corpus.types)
        if extra:
            corpus.labels = bio_labels(sorted({*corpus.types, *extra}))
    t = time.perf_counter()
    if corpus.sentences and folds >= 2:
        key = f"{corpus.fingerprint()} folds={folds} crf={sorted((crf_config or {}).items())}"
        if cache is not None and Path(cache).exists():
            cf = load_probs(cache, key)
            notes.append(f"cross-fitted folds read from {cache} ({cf.notes[0]})")
        else:
            c0 = time.process_time()
            cf = crossfit_crf(corpus, folds, config=crf_config, progress=progress)
            if cf is not None and cache is not None:
                made = (f"made {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
                        f"wall {time.perf_counter() - t:.0f} s, "
                        f"CPU {time.process_time() - c0:.0f} s")  # fmt: skip
                save_probs(cache, cf, key, made)
        if cf is not None:
            views.append(cf)
        timings["crossfit_s"] = time.perf_counter() - t
    if tagger is not None:
        from serkit.audit.model import model_probs

        t = time.perf_counter()
        mv = model_probs(model, corpus, tagger)
        notes += mv.notes
        if use_model:
            views.append(mv)
        if dropout:
            from serkit.audit.dropout import dropout_view

            dv, dis = dropout_view(tagger, corpus, dropout, seed=seed, progress=progress)
            views.append(dv)
            disagreement = (f"dropout-{dropout}-disagreement", dis)
            if mv.in_sample:
                notes.append("dropout passes of an in-sample model understate errors too")
        timings["model_s"] = time.perf_counter() - t
    t = time.perf_counter()
    consistency = Consistency(corpus) if corpus.sentences else None
    cl = None
    if views:
        cl = cleanlab_scores(views[0], corpus)
    timings["scores_s"] = time.perf_counter() - t
    proposals: dict[str, Callable[[int], Sequence[str]]] = {
        v.name: (lambda i, v=v: v.pred[i]) for v in views
    }
    if consistency is not None:
        proposals["consistency"] = consistency.proposal
    cands = candidates(corpus, proposals)
    score_candidates(cands, views, consistency, cl, disagreement)
    for f in cands:
        f.score = combine(f.signals)
    findings = [f for f in rank(cands, key=lambda f: f.score) if f.score >= threshold]
    if not views:
        notes.append("no model signal (--folds 0 or too few sentences, and no --model)")
    return AuditResult(
        corpus, findings, cands, views, cl, consistency, notes, timings,
        {"folds": folds, "threshold": threshold,
         "model": str(model) if use_model or dropout else None,
         "dropout": dropout, "dropout_view": disagreement[0] if disagreement else None},
    )  # fmt: skip
