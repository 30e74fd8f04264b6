"""The HTML page of ``serkit tag -f html``: one self-contained page (no scripts, no
external assets), entities highlighted in their type's colour."""

from __future__ import annotations

import colorsys
import hashlib
import html
from collections.abc import Sequence
from typing import IO, Any

#: ColorBrewer Set3: 12 light colours that stay distinct from each other (one per WikiSER type).
PALETTE = (
    "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
    "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f",
)  # fmt: skip


def type_color(label: str, index: int | None = None) -> str:
    """The ``index``-th palette colour, or (beyond it / unknown types) a stable light colour
    derived from the label, so the same type always gets the same colour."""
    if index is not None and index < len(PALETTE):
        return PALETTE[index]
    h = int(hashlib.sha256(label.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    r, g, b = colorsys.hls_to_rgb(h, 0.82, 0.75)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _css_class(label: str) -> str:
    return "t-" + "".join(c if c.isalnum() else "_" for c in label)


_STYLE = """
body{font:16px/1.6 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}h2{font-size:1rem;color:#555;border-top:1px solid #ddd;padding-top:1rem}
.legend span,mark{border-radius:.3em;padding:.05em .3em}
.legend span{display:inline-block;margin:.2em .4em .2em 0;font-size:.9rem}
.doc{white-space:pre-wrap;overflow-wrap:anywhere}
mark{color:inherit}mark sub{font-size:.65em;font-weight:600;opacity:.7;margin-left:.25em}
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
        css = [_STYLE]
        for i, t in enumerate(self.types):
            css.append(f".{_css_class(t)}{{background:{type_color(t, i)}}}")
        legend = "".join(f'<span class="{_css_class(t)}">{esc(t)}</span>' for t in self.types)
        self.f.write(
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(self.title)}</title><style>{''.join(css)}</style></head><body>\n"
            f'<h1>{esc(self.title)}</h1>\n<div class="legend">{legend}</div>\n'
        )
        self.started = True

    def write(self, doc: Any) -> None:
        if not self.started:
            self._start()
        esc = html.escape
        parts: list[str] = []
        pos = 0
        for e in sorted(doc.entities, key=lambda e: (e.start, -e.end)):
            if e.start < pos:  # overlapping spans cannot happen in IOB2; be safe anyway
                continue
            parts.append(esc(doc.text[pos : e.start]))
            cls = _css_class(e.label) if e.label in self.types else ""
            style = "" if cls else f' style="background:{type_color(e.label)}"'
            parts.append(
                f'<mark class="{cls}"{style} title="{esc(e.label)} {e.score:.2f}">'
                f"{esc(doc.text[e.start : e.end])}<sub>{esc(e.label)}</sub></mark>"
            )
            pos = e.end
        parts.append(esc(doc.text[pos:]))
        n = len(doc.entities)
        self.f.write(
            f"<section><h2>{esc(doc.id)} <small>({n} entit{'y' if n == 1 else 'ies'})</small></h2>"
            f'<div class="doc">{"".join(parts)}</div></section>\n'
        )

    def close(self) -> None:
        if not self.started:
            self._start()
        self.f.write("</body></html>\n")
