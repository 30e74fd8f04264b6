"""``EvalReport``: the scores plus the ways to show them (dict/JSON, Markdown, rich tables).

Like seqeval's reporters, presentation is kept apart from the arithmetic: the report
holds finished numbers and only formats them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from serkit.evaluate.breakdown import GOLD_CATEGORIES, PRED_CATEGORIES, Breakdown
from serkit.evaluate.metrics import MODES, PRF, ModeScores

if TYPE_CHECKING:
    from rich.console import RenderableType

_CATEGORY_NAMES = {
    "correct": "correct",
    "wrong_type": "wrong type (same span)",
    "wrong_boundary": "wrong boundary (overlap)",
    "missed": "missed",
    "spurious": "spurious",
}


@dataclass(slots=True)
class EvalReport:
    mode: str
    scores: dict[str, ModeScores]
    breakdown: Breakdown
    sentences: int
    tokens: int
    #: Stray ``I-`` repaired to ``B-`` before strict scoring, per side.
    repaired: dict[str, int] = field(default_factory=dict)
    mapping: dict[str, str | None] | None = None
    gold_mapping: dict[str, str | None] | None = None
    #: What the caller should hear about the input (``labels.mapping_notes``) and the
    #: scores (a precision or recall that is 0/0).
    notes: list[str] = field(default_factory=list)

    # -- the numbers of the leading mode -------------------------------------------
    @property
    def micro(self) -> PRF:
        return self.scores[self.mode].micro

    @property
    def macro(self) -> PRF:
        return self.scores[self.mode].macro

    @property
    def per_type(self) -> dict[str, PRF]:
        return self.scores[self.mode].per_type

    @property
    def f1(self) -> float:
        """Micro F1 of the leading mode: the one number to quote."""
        return self.micro.f1

    def to_dict(self) -> dict:
        lead = self.scores[self.mode].to_dict()
        return {
            "mode": self.mode,
            "sentences": self.sentences,
            "tokens": self.tokens,
            "repaired_stray_i": dict(self.repaired),
            **lead,
            "modes": {m: self.scores[m].to_dict() for m in MODES if m in self.scores},
            **self.breakdown.to_dict(),
            "mapping": self.mapping,
            "gold_mapping": self.gold_mapping,
            "notes": list(self.notes),
        }

    # -- tables as rows, shared by Markdown and rich -------------------------------
    def _summary_rows(self) -> tuple[list[str], list[list[str]]]:
        head = ["mode", "micro P", "micro R", "micro F1", "macro P", "macro R", "macro F1"]
        rows = []
        for m in MODES:
            s = self.scores.get(m)
            if s is None:
                continue
            name = f"{m} (IOB2, repaired)" if m == "strict" else f"{m} (conlleval)"
            rows.append([name, *_prf(s.micro), *_prf(s.macro)])
        return head, rows

    def _type_rows(self) -> tuple[list[str], list[list[str]]]:
        head = ["type", "precision", "recall", "F1", "support", "predicted"]
        rows = [[t, *_prf(s), str(s.gold), str(s.pred)] for t, s in self.per_type.items()]
        mi, ma = self.micro, self.macro
        rows.append(["micro avg", *_prf(mi), str(mi.gold), str(mi.pred)])
        rows.append(["macro avg", *_prf(ma), str(mi.gold), str(mi.pred)])
        return head, rows

    def _error_rows(self) -> tuple[list[str], list[list[str]]]:
        g, p = self.breakdown.gold, self.breakdown.pred
        rows = []
        for c in ("correct", "wrong_type", "wrong_boundary", "missed", "spurious"):
            rows.append([
                _CATEGORY_NAMES[c],
                str(g[c]) if c in GOLD_CATEGORIES else "-",
                str(p[c]) if c in PRED_CATEGORIES else "-",
            ])  # fmt: skip
        rows.append(["total", str(sum(g.values())), str(sum(p.values()))])
        return ["category", "gold entities", "predicted entities"], rows

    def _confusion_rows(self) -> tuple[list[str], list[list[str]]]:
        matrix = self.breakdown.matrix()
        axis = list(matrix)
        head = ["gold \\ predicted", *axis]
        cell = {(g, p): str(n) for g, row in matrix.items() for p, n in row.items()}
        cell[("O", "O")] = "-"  # no entity on either side: not counted
        return head, [[g, *(cell[(g, p)] for p in axis)] for g in axis]

    def _notes(self) -> list[str]:
        notes = [
            f"{self.sentences} sentences, {self.tokens} tokens; "
            f"stray I- repaired to B-: gold {self.repaired.get('gold', 0)}, "
            f"prediction {self.repaired.get('pred', 0)}.",
        ]
        if self.mapping is not None:
            notes.append("Predicted types mapped into the gold label set.")
        if self.gold_mapping is not None:
            notes.append("Gold types mapped before scoring.")
        return notes

    def _sections(self) -> list[tuple[str, tuple[list[str], list[list[str]]]]]:
        return [
            ("Entity-level scores", self._summary_rows()),
            (f"Per type ({self.mode})", self._type_rows()),
            ("Errors (strict)", self._error_rows()),
            ("Confusion (exact spans; O = no entity with that span)", self._confusion_rows()),
        ]

    def to_markdown(self) -> str:
        parts: list[str] = []
        for title, (head, rows) in self._sections():
            parts.append(f"### {title}\n")
            parts.append("| " + " | ".join(_md(h) for h in head) + " |")
            parts.append(
                "|" + "|".join("---" if i == 0 else "---:" for i in range(len(head))) + "|"
            )
            parts += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
            parts.append("")
        parts += [" ".join(self._notes()), ""]
        return "\n".join(parts)

    def rich_tables(self) -> list[RenderableType]:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        out: list[RenderableType] = []
        for title, (head, rows) in self._sections():
            legend = None
            if head[0].startswith("gold"):  # confusion: short type names fit a terminal
                short = _abbreviations(head[1:])
                head = ["gold \\ pred", *(short[h] for h in head[1:])]
                rows = [[short[r[0]], *r[1:]] for r in rows]
                legend = ", ".join(f"{v}={k}" for k, v in short.items() if k != v)
            table = Table(
                title=title, title_justify="left", caption=legend, caption_justify="left",
                box=box.SIMPLE_HEAD, pad_edge=False,
            )  # fmt: skip
            for i, h in enumerate(head):
                # Numbers and headers are never cut: a column is as wide as its widest cell.
                width = max([len(h), *(len(r[i]) for r in rows)])
                table.add_column(
                    h, justify="left" if i == 0 else "right", no_wrap=True, min_width=width
                )
            for row in rows:
                avg = row[0] in ("micro avg", "macro avg", "total")
                table.add_row(*row, style="bold" if avg else None)
            out.append(table)
        out.append(Text(" ".join(self._notes()), style="dim"))
        return out

    def __rich__(self) -> RenderableType:
        from rich.console import Group

        return Group(*self.rich_tables())


def _prf(s: PRF) -> list[str]:
    return [f"{s.precision:.4f}", f"{s.recall:.4f}", f"{s.f1:.4f}"]


def _md(cell: str) -> str:
    return cell.replace("|", "\\|")


def _abbreviations(names: list[str]) -> dict[str, str]:
    """Short unique column names: initials of multi-word types (``OS``), else 3 letters."""
    out: dict[str, str] = {}
    for name in names:
        parts = [p for p in name.split("_") if p]
        short = "".join(p[0] for p in parts) if len(parts) > 1 else name[:3]
        n = len(short)
        while short in out.values() and n < len(name):
            n += 1
            short = name[:n]
        out[name] = short if short not in out.values() else name
    return out
