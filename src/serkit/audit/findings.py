"""Span-level findings: candidate regions, per-signal scores, one combined ranking.

A *candidate* is a region of a sentence where some labelling proposed by a signal (a
model's decoded tags, the lexicon's majority labelling) differs from the given one:
the overlapping given and proposed spans joined together. Its kind follows from the
spans on each side: none given = missed entity, none proposed = spurious entity, same
boundaries = wrong type, else wrong boundary. Every signal then scores every candidate
in [0, 1]; the combination ranks, and overlapping candidates keep only the best.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from serkit.audit.corpus import AuditCorpus
from serkit.labels import OUTSIDE, spans

KINDS = ("missed", "wrong_type", "wrong_boundary", "spurious")


#: Decimals of a finding's score wherever it is shown or compared with ``--min-score``:
#: a finding listed as 0.9 is fixed at ``--min-score 0.9``.
SCORE_DIGITS = 4


@dataclass(slots=True)
class Finding:
    """A suspected label error: tokens ``[start, end)`` of sentence ``sentence``."""

    sentence: int
    start: int
    end: int
    given: list[str]
    suggested: list[str]
    kind: str = ""
    score: float = 0.0
    signals: dict[str, float] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if not self.kind:
            self.kind = kind_of(self.given, self.suggested)

    @property
    def key(self) -> tuple:
        return (self.sentence, self.start, self.end, tuple(self.suggested))

    def overlaps(self, other: Finding) -> bool:
        return self.sentence == other.sentence and self.start < other.end and other.start < self.end


def kind_of(given: Sequence[str], suggested: Sequence[str]) -> str:
    g, p = spans(given), spans(suggested)
    if not g:
        return "missed"
    if not p:
        return "spurious"
    if [(s, e) for s, e, _ in g] == [(s, e) for s, e, _ in p]:
        return "wrong_type"
    return "wrong_boundary"


def diff_regions(given: Sequence[str], proposed: Sequence[str]) -> list[tuple[int, int]]:
    """``[start, end)`` of each group of overlapping given/proposed spans that differ."""
    items = [(s, e, t, 0) for s, e, t in spans(given)] + [
        (s, e, t, 1) for s, e, t in spans(proposed)
    ]
    items.sort()
    out: list[tuple[int, int]] = []
    group: list[tuple[int, int, str, int]] = []
    end = -1

    def flush() -> None:
        if group:
            sides = [sorted((s, e, t) for s, e, t, side in group if side == k) for k in (0, 1)]
            if sides[0] != sides[1]:
                out.append((min(g[0] for g in group), max(g[1] for g in group)))

    for it in items:
        if it[0] >= end:
            flush()
            group, end = [], -1
        group.append(it)
        end = max(end, it[1])
    flush()
    return out


def candidates(
    corpus: AuditCorpus, proposals: dict[str, Callable[[int], Sequence[str]]]
) -> list[Finding]:
    """Every region where a proposal differs from the given tags, one per suggestion."""
    found: dict[tuple, Finding] = {}
    for i, a in enumerate(corpus.sentences):
        for name, propose in proposals.items():
            tags = list(propose(i))
            for s, e in diff_regions(a.tags, tags):
                f = Finding(i, s, e, a.tags[s:e], tags[s:e])
                found.setdefault(f.key, f).sources.add(name)
    return list(found.values())


def prob_score(probs: np.ndarray, labels: Sequence[str], f: Finding) -> float:
    """How much the model prefers the suggestion over the given label, on the tokens where
    they differ: mean of ``p(suggested) - p(given)``, clipped to [0, 1]."""
    col = {lab: i for i, lab in enumerate(labels)}
    diffs = []
    for k, (g, s) in enumerate(zip(f.given, f.suggested, strict=True)):
        if g != s:
            row = probs[f.start + k]
            diffs.append(row[col[s]] - row[col[g]] if s in col and g in col else 0.0)
    return min(max(float(np.mean(diffs)) if diffs else 0.0, 0.0), 1.0)


def rank(findings: Iterable[Finding], key: Callable[[Finding], float]) -> list[Finding]:
    """Best first; a finding overlapping a better one in the same sentence is dropped;
    findings scoring 0 are not findings."""
    scored = sorted(
        ((key(f), f) for f in findings), key=lambda sf: (-sf[0], sf[1].sentence, sf[1].start)
    )
    kept: list[Finding] = []
    taken: dict[int, list[Finding]] = {}
    for score, f in scored:
        if score <= 0:
            break
        if any(f.overlaps(o) for o in taken.get(f.sentence, ())):
            continue
        taken.setdefault(f.sentence, []).append(f)
        kept.append(f)
    return kept


def given_outside(tags: Sequence[str]) -> bool:
    return all(t == OUTSIDE for t in tags)
