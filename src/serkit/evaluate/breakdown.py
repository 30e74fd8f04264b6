"""Where the strict score is lost: an error breakdown and a type confusion table.

Every gold entity falls in exactly one of *correct*, *wrong type* (a prediction with
the same span and another type), *wrong boundary* (no same-span prediction, but an
overlapping one of any type) or *missed* (nothing overlaps). Every predicted entity
falls likewise in *correct*, *wrong type*, *wrong boundary* or *spurious*. So the gold
side sums to the support and the predicted side to the number of predictions, and
``gold - correct`` / ``pred - correct`` are exactly the strict false negatives /
false positives.

The confusion table pairs entities by exact span only, as strict scoring does: its
diagonal is the per-type true positives, row ``O`` holds predictions with no gold
entity of the same span (spurious or wrong boundary), column ``O`` gold entities
with no prediction of the same span (missed or wrong boundary). Row sums are the
gold support per type, column sums the predictions per type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from serkit.labels import OUTSIDE, spans

GOLD_CATEGORIES = ("correct", "wrong_type", "wrong_boundary", "missed")
PRED_CATEGORIES = ("correct", "wrong_type", "wrong_boundary", "spurious")


@dataclass(slots=True)
class Breakdown:
    gold: Counter = field(default_factory=Counter)
    pred: Counter = field(default_factory=Counter)
    #: (gold type or "O", predicted type or "O") -> count.
    confusion: Counter = field(default_factory=Counter)

    @property
    def types(self) -> list[str]:
        """Entity types on either axis, sorted, without ``O``."""
        seen = {t for pair in self.confusion for t in pair} - {OUTSIDE}
        return sorted(seen)

    def matrix(self) -> dict[str, dict[str, int]]:
        axis = [*self.types, OUTSIDE]
        return {g: {p: self.confusion.get((g, p), 0) for p in axis} for g in axis}

    def to_dict(self) -> dict:
        return {
            "errors": {
                "gold": {c: self.gold[c] for c in GOLD_CATEGORIES}
                | {"total": sum(self.gold.values())},
                "pred": {c: self.pred[c] for c in PRED_CATEGORIES}
                | {"total": sum(self.pred.values())},
            },
            "confusion": {"labels": [*self.types, OUTSIDE], "matrix": self.matrix()},
        }


def _overlaps(a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def breakdown(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> Breakdown:
    """Error categories and confusion counts over aligned, repaired IOB2 tag sequences."""
    out = Breakdown()
    for g_tags, p_tags in zip(gold, pred, strict=True):
        g_spans, p_spans = spans(g_tags), spans(p_tags)
        p_by_span = {(s, e): t for s, e, t in p_spans}
        g_by_span = {(s, e): t for s, e, t in g_spans}
        for s, e, t in g_spans:
            other = p_by_span.get((s, e))
            if other == t:
                out.gold["correct"] += 1
            elif other is not None:
                out.gold["wrong_type"] += 1
            elif any(_overlaps((s, e, t), p) for p in p_spans):
                out.gold["wrong_boundary"] += 1
            else:
                out.gold["missed"] += 1
            out.confusion[(t, other or OUTSIDE)] += 1
        for s, e, t in p_spans:
            other = g_by_span.get((s, e))
            if other == t:
                out.pred["correct"] += 1
            elif other is not None:
                out.pred["wrong_type"] += 1
            elif any(_overlaps((s, e, t), g) for g in g_spans):
                out.pred["wrong_boundary"] += 1
            else:
                out.pred["spurious"] += 1
            if other is None:
                out.confusion[(OUTSIDE, t)] += 1
    return out
