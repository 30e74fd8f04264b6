"""The HTML page of ``serkit tag -f html``: one self-contained page (no scripts, no
external assets), entities highlighted in their type's colour (``serkit.palette``).

``highlighted`` (a text with its entities marked, every style inline) is shared with the
notebook view (``serkit.displayed``), so both look alike wherever they are shown."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import IO, Any

from serkit.palette import TEXT_COLOR, color
from serkit.tokens import Entity

_MARK = "border-radius:.3em;padding:.05em .3em"
_SUB = "font-size:.65em;font-weight:600;margin-left:.25em"


def chip(label: str) -> str:
    """A legend entry: the type's name on its colour."""
    return (
        f'<span style="background:{color(label)};color:{TEXT_COLOR};{_MARK};'
        f'display:inline-block;margin:.2em .4em .2em 0">{html.escape(label)}</span>'
    )


def highlighted(text: str, entities: Iterable[Entity]) -> str:
    """``text``, escaped, with each entity in a ``<mark>`` of its type's colour, its type
    after it; every style is inline, so the fragment looks the same in any page."""
    esc = html.escape
    parts: list[str] = []
    pos = 0
    for e in sorted(entities, key=lambda e: (e.start, -e.end)):
        if e.start < pos:  # overlapping spans cannot happen in IOB2; be safe anyway
            continue
        parts.append(esc(text[pos : e.start]))
        parts.append(
            f'<mark style="background:{color(e.label)};color:{TEXT_COLOR};{_MARK}" '
            f'title="{esc(e.label)} {e.score:.2f}">{esc(text[e.start : e.end])}'
            f'<sub style="{_SUB}">{esc(e.label)}</sub></mark>'
        )
        pos = e.end
    parts.append(esc(text[pos:]))
    return "".join(parts)


_STYLE = """
body{font:16px/1.6 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}h2{font-size:1rem;color:#555;border-top:1px solid #ddd;padding-top:1rem}
.legend span{font-size:.9rem}.doc{white-space:pre-wrap;overflow-wrap:anywhere}
"""


class HtmlWriter:
    """A self-contained page (no scripts, no external assets): one section per document,
    entities highlighted in their type's colour, a legend of the model's types on top."""

    def __init__(self, f: IO[str], entity_types: Sequence[str], title: str = "serkit entities"):
        self.f = f
        self.types = list(entity_types)
        self.title = title
        self.started = False

    def _start(self) -> None:
        esc = html.escape
        legend = "".join(chip(t) for t in self.types)
        self.f.write(
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(self.title)}</title><style>{_STYLE}</style></head><body>\n"
            f'<h1>{esc(self.title)}</h1>\n<div class="legend">{legend}</div>\n'
        )
        self.started = True

    def write(self, doc: Any) -> None:
        if not self.started:
            self._start()
        n = len(doc.entities)
        self.f.write(
            f"<section><h2>{html.escape(doc.id)} <small>({n} entit{'y' if n == 1 else 'ies'})"
            f'</small></h2><div class="doc">{highlighted(doc.text, doc.entities)}</div></section>\n'
        )

    def close(self) -> None:
        if not self.started:
            self._start()
        self.f.write("</body></html>\n")
