"""The colour of each entity type, defined once.

The HTML export (``serkit tag -o page.html``), the served page (``GET /v1/palette``),
notebooks (``serkit.displayed``) and the audit report all colour types from here, so a type
looks the same everywhere. The twelve WikiSER colours come from colour-blind-safe qualitative
schemes (Paul Tol's light and pale, Okabe & Ito, two light Tableau 20 colours), chosen
so that no two are alike for normal vision nor under simulated deuteranopia or protanopia,
and black text on each has a WCAG contrast of at least 4.5 (``tests/test_palette.py``
measures both). Types of the other built-in label sets take the colour of the WikiSER type
they mean (S-NER's ``PL`` is a ``Language``); the rest get the least used colours of their
label set; any other type a stable light colour derived from its name.
"""

from __future__ import annotations

import colorsys
import hashlib
from collections import Counter
from collections.abc import Iterable

from serkit.labels import SCHEMES, WIKISER_TYPES

__all__ = ["COLORS", "MIN_CONTRAST", "PALETTE", "TEXT_COLOR", "color", "colors", "contrast"]

#: Text on an entity's background.
TEXT_COLOR = "#000000"
#: WCAG AA for normal text: what every background here gives ``TEXT_COLOR``.
MIN_CONTRAST = 4.5

#: One colour per WikiSER type, in ``WIKISER_TYPES`` order.
PALETTE: tuple[str, ...] = (
    "#ffaabb",  # Algorithm: Tol light pink
    "#77aadd",  # Application: Tol light blue
    "#cc79a7",  # Architecture: Okabe-Ito reddish purple
    "#98df8a",  # Data_Structure: Tableau 20 light green
    "#aaaa00",  # Device: Tol light olive
    "#d55e00",  # Error_Name: Okabe-Ito vermillion
    "#eeeebb",  # General_Concept: Tol pale yellow
    "#ee8866",  # Language: Tol light orange
    "#f0e442",  # Library: Okabe-Ito yellow
    "#dddddd",  # License: Tol light grey
    "#44bb99",  # Operating_System: Tol light mint
    "#9edae5",  # Protocol: Tableau 20 light cyan
)

#: Types of other label sets that mean a WikiSER type (and so share its colour).
_MEANS: dict[str, str] = {
    "PL": "Language",
    "Fram": "Library",
    "Plat": "Operating_System",
    "Stan": "Protocol",
    "API": "Data_Structure",
    "Licence": "License",
}


def _fixed() -> dict[str, str]:
    """WikiSER's colours, the meaning-alike types', then each built-in label set's other
    types in order, each on the colour least used in its set so far (ties: palette order)."""
    out = dict(zip(WIKISER_TYPES, PALETTE, strict=True))
    out |= {t: out[w] for t, w in _MEANS.items()}
    for types in SCHEMES.values():
        used = Counter(out[t] for t in types if t in out)
        for t in types:
            if t not in out:
                out[t] = min(PALETTE, key=lambda c: (used[c], PALETTE.index(c)))
                used[out[t]] += 1
    return out


#: Type -> colour for every type of serkit's built-in label sets (``serkit.labels.SCHEMES``).
COLORS: dict[str, str] = _fixed()


def color(label: str) -> str:
    """The colour of ``label``: its fixed one, else a light colour derived from its name (the
    same in every run and every output) on which black text keeps ``MIN_CONTRAST``."""
    if label in COLORS:
        return COLORS[label]
    h = int(hashlib.sha256(label.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    r, g, b = colorsys.hls_to_rgb(h, 0.8, 0.7)  # light: contrast with black >= 10
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def colors(types: Iterable[str]) -> dict[str, str]:
    """``{type: colour}`` for ``types`` (what the served page gets for its model's types)."""
    return {t: color(t) for t in types}


def _luminance(hex_color: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    rgb = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: str, bg: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)
