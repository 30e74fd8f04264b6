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


def _categorise(
    own: list[tuple[int, int, str]], other: list[tuple[int, int, str]], unmatched: str
) -> list[tuple[str, str | None]]:
    """For each span of one side: its category against the other side, and the other's type."""
    by_span = {(s, e): t for s, e, t in other}
    result: list[tuple[str, str | None]] = []
    for s, e, t in own:
        match = by_span.get((s, e))
        if match == t:
            category = "correct"
        elif match is not None:
            category = "wrong_type"
        elif any(_overlaps((s, e, t), o) for o in other):
            category = "wrong_boundary"
        else:
            category = unmatched
        result.append((category, match))
    return result


def breakdown(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> Breakdown:
    """Error categories and confusion counts over aligned, repaired IOB2 tag sequences."""
    out = Breakdown()
    for g_tags, p_tags in zip(gold, pred, strict=True):
        g_spans, p_spans = spans(g_tags), spans(p_tags)
        for (_, _, t), (category, match) in zip(
            g_spans, _categorise(g_spans, p_spans, "missed"), strict=True
        ):
            out.gold[category] += 1
            out.confusion[(t, match or OUTSIDE)] += 1
        for (_, _, t), (category, match) in zip(
            p_spans, _categorise(p_spans, g_spans, "spurious"), strict=True
        ):
            out.pred[category] += 1
            if match is None:
                out.confusion[(OUTSIDE, t)] += 1
    return out
