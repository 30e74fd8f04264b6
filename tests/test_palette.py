"""The one palette (``serkit.palette``): readable, distinguishable for colour-blind readers,
and the same in the HTML export, the served page and the notebook view.

Distances are CIEDE2000 in CIELAB (D65), for normal vision and for deuteranopia and
protanopia simulated with Machado, Oliveira & Fernandes (2009)'s matrices at severity 1,
applied in linear RGB; both are written out here (small) and checked on published values.
"""

from __future__ import annotations

import html
import itertools
import math
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

import serkit
from _serve_helpers import TYPES, DictTagger
from serkit import palette
from serkit.labels import SCHEMES, SNER_TYPES, WIKISER_TYPES
from serkit.render import DocWriter, TaggedDoc
from serkit.serve.app import create_app
from serkit.tokens import Entity

#: Machado et al. 2009, severity 1.0 (linear RGB -> linear RGB).
CVD = {
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
         [-0.003882, -0.048116, 1.051998]]
    ),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
         [-0.011820, 0.042940, 0.968881]]
    ),
}  # fmt: skip
#: Smallest CIEDE2000 distance between two WikiSER colours: "clearly different" side by side
#: for normal vision, still distinct when red and green collapse. ColorBrewer Set3 (the old
#: export's palette) fails both: its two yellows are 9.5 apart, two colours 1.7 for deuteranopes.
MIN_DE_NORMAL = 12.0
MIN_DE_CVD = 6.0
OLD_SET3 = (
    "#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462",
    "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f",
)  # fmt: skip


def to_linear(rgb: np.ndarray) -> np.ndarray:
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def to_srgb(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def rgb(hex_color: str) -> np.ndarray:
    assert re.fullmatch(r"#[0-9a-f]{6}", hex_color), hex_color
    return np.array([int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)])


def simulate(srgb: np.ndarray, kind: str | None) -> np.ndarray:
    return srgb if kind is None else to_srgb(CVD[kind] @ to_linear(srgb))


def lab(srgb: np.ndarray) -> tuple[float, float, float]:
    m = np.array(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
         [0.0193339, 0.1191920, 0.9503041]]
    )  # fmt: skip
    xyz = m @ to_linear(srgb) / np.array([0.95047, 1.0, 1.08883])
    d = 6 / 29
    f = np.where(xyz > d**3, np.cbrt(xyz), xyz / (3 * d * d) + 4 / 29)
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def ciede2000(lab1: tuple[float, ...], lab2: tuple[float, ...]) -> float:
    """Sharma, Wu & Dalal (2005)'s formulation."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_mean = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_mean**7 / (c_mean**7 + 25**7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    h1 = math.degrees(math.atan2(b1, a1)) % 360
    h2 = math.degrees(math.atan2(b2, a2)) % 360
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    d_l, d_c = l2 - l1, c2 - c1
    d_h = 2 * math.sqrt(c1 * c2) * math.sin(math.radians(dh / 2))
    l_m, c_m = (l1 + l2) / 2, (c1 + c2) / 2
    if c1 * c2 == 0:
        h_m = h1 + h2
    elif abs(h1 - h2) <= 180:
        h_m = (h1 + h2) / 2
    else:
        h_m = (h1 + h2 + 360) / 2 if h1 + h2 < 360 else (h1 + h2 - 360) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(h_m - 30))
        + 0.24 * math.cos(math.radians(2 * h_m))
        + 0.32 * math.cos(math.radians(3 * h_m + 6))
        - 0.20 * math.cos(math.radians(4 * h_m - 63))
    )
    s_l = 1 + 0.015 * (l_m - 50) ** 2 / math.sqrt(20 + (l_m - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_m, 1 + 0.015 * c_m * t
    r_c = 2 * math.sqrt(c_m**7 / (c_m**7 + 25**7))
    r_t = -math.sin(math.radians(60 * math.exp(-(((h_m - 275) / 25) ** 2)))) * r_c
    return math.sqrt(
        (d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h)
    )


def closest_pair(colors: tuple[str, ...], kind: str | None) -> tuple[float, str, str]:
    labs = {c: lab(simulate(rgb(c), kind)) for c in colors}
    return min((ciede2000(labs[a], labs[b]), a, b) for a, b in itertools.combinations(colors, 2))


@pytest.mark.parametrize(
    ("lab1", "lab2", "expected"),
    [  # Sharma, Wu & Dalal (2005), table 1: pairs 1, 7, 17, 25, 34
        ((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
        ((50, 0, 0), (50, -1, 2), 2.3669),
        ((50, 2.5, 0), (73, 25, -18), 27.1492),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
        ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
    ],
)
def test_ciede2000_matches_published_values(lab1, lab2, expected):
    assert ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)


def test_the_simulation_keeps_greys_and_confuses_red_with_green():
    grey = rgb("#808080")
    for kind in CVD:  # each matrix's rows sum to 1: neutral colours are seen as they are
        assert simulate(grey, kind) == pytest.approx(grey, abs=1e-3)
        red, green = lab(simulate(rgb("#ff0000"), kind)), lab(simulate(rgb("#008a00"), kind))
        assert ciede2000(red, green) < 0.5 * ciede2000(lab(rgb("#ff0000")), lab(rgb("#008a00")))


def test_contrast_follows_wcag():
    assert palette.contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert palette.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert palette.contrast("#ffffff", "#777777") == palette.contrast("#777777", "#ffffff")


def test_one_colour_per_wikiser_type_and_black_text_is_readable_on_every_colour():
    assert len(palette.PALETTE) == len(set(palette.PALETTE)) == len(WIKISER_TYPES)
    assert [palette.color(t) for t in WIKISER_TYPES] == list(palette.PALETTE)
    others = [f"Custom_Type_{i}" for i in range(200)] + ["", "é", "型", "a b"]
    for label in [*palette.COLORS, *others]:
        c = palette.color(label)
        assert palette.contrast(palette.TEXT_COLOR, c) >= palette.MIN_CONTRAST >= 4.5, (label, c)


@pytest.mark.parametrize("kind", [None, *CVD])
def test_no_two_wikiser_colours_are_alike(kind):
    threshold = MIN_DE_NORMAL if kind is None else MIN_DE_CVD
    distance, a, b = closest_pair(palette.PALETTE, kind)
    assert distance >= threshold, f"{a} and {b}: {distance:.1f} for {kind or 'normal vision'}"
    assert closest_pair(OLD_SET3, kind)[0] < threshold  # the check tells a bad palette


def test_every_built_in_label_set_is_coloured_and_spread_over_the_palette():
    for name, types in SCHEMES.items():
        used = [palette.COLORS[t] for t in types]
        assert set(used) <= set(palette.PALETTE), name
        worst = max(used.count(c) for c in used)
        assert worst == math.ceil(len(types) / len(palette.PALETTE)), name  # as even as it gets
    assert len({palette.COLORS[t] for t in SNER_TYPES}) == len(SNER_TYPES)
    # Same meaning, same colour across label sets.
    assert palette.color("PL") == palette.color("Language")
    assert palette.color("Licence") == palette.color("License")


def test_other_types_get_a_stable_colour_of_their_own():
    assert palette.color("Framework") == palette.color("Framework")
    assert palette.color("Framework") not in palette.PALETTE
    fallback = {palette.color(f"Custom_Type_{i}") for i in range(50)}
    assert len(fallback) > 40
    assert palette.colors(["Library", "Framework"]) == {
        "Library": palette.COLORS["Library"],
        "Framework": palette.color("Framework"),
    }


TEXT = 'I use <Redis> & "Python" on Linux.'
ENTS = [
    Entity(TEXT.index(w), TEXT.index(w) + len(w), label, w, score)
    for w, label, score in [
        ("Redis", "Application", 0.9),
        ("Python", "Language", 0.8),
        ("Linux", "Operating_System", 0.7),
    ]
]


def mark_colours(page: str) -> list[tuple[str, str]]:
    """(entity text, background) of each ``<mark>``."""
    return re.findall(r'<mark style="background:(#[0-9a-f]{6});[^"]*"[^>]*>([^<]*)<', page)


def test_the_html_export_and_the_notebook_view_use_the_palette(tmp_path):
    out = tmp_path / "page.html"
    with out.open("w", encoding="utf-8") as f:
        w = DocWriter(f, "html", TYPES)
        w.write(TaggedDoc("doc-1", TEXT, ENTS, []))
        w.close()
    page = out.read_text(encoding="utf-8")
    expected = [(palette.color(e.label), html.escape(e.text)) for e in ENTS]
    assert mark_colours(page) == expected
    for t in TYPES:  # the legend: every type of the model on its colour
        assert f'<span style="background:{palette.color(t)};' in page and f">{t}</span>" in page
    assert f"color:{palette.TEXT_COLOR}" in page

    shown = serkit.displayed(TEXT, ENTS)
    frag = shown._repr_html_()
    assert mark_colours(frag) == expected
    legend = re.findall(r"<span [^>]*>([^<]*)</span>", frag)
    assert legend == sorted({e.label for e in ENTS})
    visible = re.sub(r"<sub[^>]*>.*?</sub>|<span[^>]*>.*?</span>|<[^>]+>", "", frag)
    assert html.unescape(visible) == TEXT and "<Redis>" not in frag  # escaped, nothing lost
    assert shown.entities == tuple(ENTS) and shown.text == TEXT
    assert serkit.displayed(TEXT, iter(ENTS)) == shown  # any iterable of entities


def test_a_taggers_result_shows_in_a_notebook():
    tagger = DictTagger()
    text = "Redis on Linux, from Python."
    ents = tagger(text)  # still a plain list of Entity
    assert type(ents) is list and all(isinstance(e, Entity) for e in ents)
    frag = serkit.displayed(text, ents)._repr_html_()
    assert mark_colours(frag) == [(palette.color(e.label), e.text) for e in ents] != []


def test_the_served_page_gets_the_same_colours():
    with TestClient(create_app(DictTagger())) as client:
        r = client.get("/v1/palette")
    assert r.status_code == 200
    body = r.json()
    assert body["text"] == palette.TEXT_COLOR
    assert {t: body["colors"][t] for t in TYPES} == palette.colors(TYPES)
    assert body["colors"] == {**palette.COLORS, **body["colors"]}  # every built-in type too
