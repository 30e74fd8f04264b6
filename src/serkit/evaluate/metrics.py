"""Entity-level precision, recall and F1 computed with seqeval, in its two modes.

``strict`` is seqeval's ``mode="strict"`` with the IOB2 scheme: an entity counts only
when both its boundaries and its type match. It is run on tags whose stray ``I-``
were repaired to ``B-`` first, because strict IOB2 silently drops such entities.
``default`` is seqeval's conlleval-compatible chunking, run on the tags as given
(conlleval opens a chunk at a stray ``I-`` itself). On O/B-/I- tags, the only ones
``evaluate`` accepts, the two agree, and a test checks that. It is reported as the
number papers using conlleval quote, and as a check on the repair.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, Entities

MODES = ("strict", "default")


@dataclass(frozen=True, slots=True)
class PRF:
    """Precision, recall and F1 with the counts they come from (``tp``/``pred``/``gold``)."""

    precision: float
    recall: float
    f1: float
    tp: int = 0
    pred: int = 0
    gold: int = 0

    @classmethod
    def from_counts(cls, tp: int, pred: int, gold: int) -> PRF:
        p = tp / pred if pred else 0.0
        r = tp / gold if gold else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return cls(p, r, f, tp, pred, gold)

    def to_dict(self, counts: bool = True) -> dict:
        d = {"precision": round(self.precision, 6), "recall": round(self.recall, 6),
             "f1": round(self.f1, 6)}  # fmt: skip
        if counts:
            d |= {"tp": self.tp, "pred": self.pred, "support": self.gold}
        return d


@dataclass(frozen=True, slots=True)
class ModeScores:
    """Micro and macro averages and the per-type scores of one seqeval mode."""

    mode: str
    micro: PRF
    macro: PRF
    per_type: dict[str, PRF] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "micro": self.micro.to_dict(),
            "macro": self.macro.to_dict(counts=False),
            "per_type": {t: s.to_dict() for t, s in self.per_type.items()},
        }


def _score(mode: str, gold_ents: Iterable[Hashable], pred_ents: Iterable[Hashable]) -> ModeScores:
    """Scores from entity tuples whose second item is the type (hashable, position-unique).

    The arithmetic is seqeval's (``precision_recall_fscore_support`` with
    ``zero_division=0``; macro = unweighted mean over every type seen in gold or
    predictions, 0 when there is none where seqeval gives nan); a test checks both
    modes against seqeval's own functions. Computing it from one entity extraction per
    side keeps a 300k-token file at a few seconds instead of extracting the entities
    again for every average.
    """
    gold_set, pred_set = set(gold_ents), set(pred_ents)
    gold = Counter(e[1] for e in gold_set)
    pred = Counter(e[1] for e in pred_set)
    tp = Counter(e[1] for e in gold_set & pred_set)
    types = sorted(set(gold) | set(pred))
    per_type = {t: PRF.from_counts(tp[t], pred[t], gold[t]) for t in types}
    micro = PRF.from_counts(sum(tp.values()), sum(pred.values()), sum(gold.values()))
    n = len(types) or 1
    macro = PRF(
        sum(s.precision for s in per_type.values()) / n,
        sum(s.recall for s in per_type.values()) / n,
        sum(s.f1 for s in per_type.values()) / n,
    )
    return ModeScores(mode, micro, macro, per_type)


def strict_scores(gold: list[list[str]], pred: list[list[str]]) -> ModeScores:
    """seqeval ``mode="strict", scheme=IOB2`` on (already repaired) IOB2 tags."""

    def entities(seqs: list[list[str]]) -> Iterable[tuple[int, str, int, int]]:
        # seqeval's strict Token strips '-' around a type ('B--X' -> 'X') where its default
        # mode and conlleval do not: take the type as written, so both modes and the
        # breakdown name the same types.
        for sent in Entities(seqs, IOB2).entities:
            for e in sent:
                yield e.sent_id, seqs[e.sent_id][e.start][2:], e.start, e.end

    return _score("strict", entities(gold), entities(pred))


def default_scores(gold: list[list[str]], pred: list[list[str]]) -> ModeScores:
    """seqeval's default (conlleval-style) chunking on the tags as given."""
    # get_entities flattens the sentences (joined by O) and yields (type, start, end);
    # prefix a dummy so the type sits second, as in strict tuples.
    ents = [((0, *e) for e in get_entities(tags)) if tags else () for tags in (gold, pred)]
    return _score("default", *ents)


def mode_scores(mode: str, gold: list[list[str]], pred: list[list[str]]) -> ModeScores:
    if mode == "strict":
        return strict_scores(gold, pred)
    if mode == "default":
        return default_scores(gold, pred)
    raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
