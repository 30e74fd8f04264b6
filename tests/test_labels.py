"""Label schemes, IOB2 helpers and mappings, including the SO NER -> SoftNER-9 check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from serkit import files
from serkit.errors import SerkitError
from serkit.labels import (
    SCHEMES,
    SOFTNER9_TYPES,
    SONER_TO_SOFTNER9,
    WIKISER_TO_SOFTNER9,
    bio_labels,
    get_mapping,
    load_mapping,
    map_tags,
    mapping_notes,
    repair_iob,
    spans,
    split_tag,
    tags_from_spans,
)
from serkit.tokens import Sentence

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _align(selection: list[Sentence], source: list[Sentence]) -> list[tuple[Sentence, Sentence]]:
    """Pair each selected sentence with the next source sentence of identical tokens.

    SoftNER-9 is an in-order selection of StackOverflow NER segments, so a single forward
    scan finds them all; an unmatched sentence fails the test rather than being skipped.
    """
    pairs, j = [], 0
    for s in selection:
        while j < len(source) and source[j].tokens != s.tokens:
            j += 1
        assert j < len(source), f"softner sentence at line {s.line} not found in order"
        pairs.append((s, source[j]))
        j += 1
    return pairs


@pytest.mark.integration
def test_soner_mapping_reproduces_every_softner9_test_tag():
    softner = files.read_all(DATA / "softner-9/test.txt", labels="softner-9")
    soner = files.read_all(DATA / "stackoverflow-ner/test.txt", labels="stackoverflow-ner")
    pairs = _align(softner, soner)
    assert len(pairs) == 3108 and sum(len(s) for s, _ in pairs) == 45541
    for soft, so in pairs:
        assert map_tags(so.tags, SONER_TO_SOFTNER9) == soft.tags, f"line {soft.line}"


@pytest.mark.integration
def test_soner_mapping_on_dev_differs_only_on_15_organization_tokens():
    """The README's caveat: the dev release labels 15 Organization tokens Application."""
    softner = files.read_all(DATA / "softner-9/dev.txt")
    soner = files.read_all(DATA / "stackoverflow-ner/dev.txt")
    diffs = []
    for soft, so in _align(softner, soner):
        mapped = map_tags(so.tags, SONER_TO_SOFTNER9)
        diffs += [(o, g) for o, m, g in zip(so.tags, mapped, soft.tags, strict=True) if m != g]
    assert len(diffs) == 15
    assert all(o.endswith("Organization") and g.endswith("Application") for o, g in diffs)


def test_scheme_sizes():
    assert {k: len(v) for k, v in SCHEMES.items()} == {
        "wikiser": 12, "softner-9": 9, "sner": 5, "stackoverflow-ner": 28,
    }  # fmt: skip
    assert set(SONER_TO_SOFTNER9.values()) - {None} == set(SOFTNER9_TYPES)
    assert sorted(k for k, v in WIKISER_TO_SOFTNER9.items() if v is None) == [
        "Architecture", "General_Concept", "Protocol",
    ]  # fmt: skip
    assert bio_labels(["A", "B"]) == ["O", "B-A", "I-A", "B-B", "I-B"]


def test_split_tag():
    assert split_tag("B-Library") == ("B", "Library")
    assert split_tag("I-Data_Structure") == ("I", "Data_Structure")
    assert split_tag("O") == ("O", None)
    for bad in ("X-BAR", "B-", "B", "b-Lib", ""):
        with pytest.raises(ValueError):
            split_tag(bad)


def test_repair_iob():
    assert repair_iob(["I-A", "I-A", "O", "I-B", "B-A", "I-B", "I-B"]) == (
        ["B-A", "I-A", "O", "B-B", "B-A", "B-B", "I-B"], 3,
    )  # fmt: skip
    assert repair_iob(["B-A", "I-A", "B-A"]) == (["B-A", "I-A", "B-A"], 0)
    assert repair_iob([]) == ([], 0)


def test_spans():
    assert spans(["B-A", "I-A", "O", "B-B", "B-B", "I-B"]) == [
        (0, 2, "A"),
        (3, 4, "B"),
        (4, 6, "B"),
    ]
    assert spans(["O", "I-A", "I-A", "I-B"]) == [(1, 3, "A"), (3, 4, "B")]  # stray I- opens
    assert spans(["B-A", "I-A"]) == [(0, 2, "A")] and spans(["O"]) == []


def test_map_tags_keeps_spans_and_drops_to_o():
    tags = ["B-Website", "I-Website", "B-Code_Block", "I-Code_Block", "B-Licence"]
    assert map_tags(tags, SONER_TO_SOFTNER9) == ["B-Application", "I-Application", "O", "O",
                                                "B-License"]  # fmt: skip
    assert map_tags(["B-Unknown"], SONER_TO_SOFTNER9) == ["O"]


@given(st.lists(st.sampled_from(["O", "B-A", "I-A", "B-B", "I-B"]), max_size=20))
def test_spans_and_tags_from_spans_are_inverse_after_repair(tags):
    fixed, n = repair_iob(tags)
    assert tags_from_spans(len(tags), spans(tags)) == fixed
    assert spans(fixed) == spans(tags)
    assert (n == 0) == (fixed == tags)


def test_load_mapping_builtin_toml_and_json(tmp_path):
    assert load_mapping("stackoverflow-ner:softner-9") is SONER_TO_SOFTNER9
    assert get_mapping("wikiser", "softner-9") is WIKISER_TO_SOFTNER9
    with pytest.raises(SerkitError, match="no built-in mapping"):
        load_mapping("sner:wikiser")
    toml = tmp_path / "m.toml"
    toml.write_text('[mapping]\nFram = "Library"\nPL = "Language"\nAPI = "O"\nStan = ""\n')
    assert load_mapping(toml) == {"Fram": "Library", "PL": "Language", "API": None, "Stan": None}
    flat = tmp_path / "flat.toml"
    flat.write_text('Plat = "Operating_System"\n')
    assert load_mapping(flat) == {"Plat": "Operating_System"}
    js = tmp_path / "m.json"
    js.write_text(json.dumps({"Fram": "Library", "API": "O"}))
    m = load_mapping(js)
    assert m == {"Fram": "Library", "API": None}
    assert map_tags(["B-Fram", "I-Fram", "B-API"], m) == ["B-Library", "I-Library", "O"]


@pytest.mark.parametrize(
    "content",
    ['{"Fram": 3}', "[1, 2]", "not json", '{"a": "b"'],
    ids=["int", "list", "text", "cut"],
)
def test_load_mapping_rejects_bad_files(tmp_path, content):
    p = tmp_path / "bad.json"
    p.write_text(content)
    with pytest.raises(SerkitError, match="bad.json"):
        load_mapping(p)
    with pytest.raises(SerkitError):
        load_mapping(tmp_path / "missing.json")


def test_mapping_notes_name_unlisted_types_and_the_likely_typo():
    table = {"Libary": "Library", "Language": "Language", "Junk": None}
    seen = ["Library", "Language", None, "Operating_System", "Junk"]
    (note,) = mapping_notes(table, seen, "prediction")
    assert "Library (listed: 'Libary', a typo?)" in note
    assert "Operating_System" in note and "prediction" in note and "mapped to O" in note
    assert "Language" not in note and "Junk" not in note  # listed: mapped or dropped on purpose
    # Every type listed (explicit drops included), or a built-in mapping on its own corpus:
    assert mapping_notes(table, ["Language", "Junk"]) == []
    assert mapping_notes(SONER_TO_SOFTNER9, ["Library_Class", "Website", "Organization"]) == []


def test_load_mapping_files_with_a_bom_and_crlf(tmp_path):
    """Like every file users write (configs, declarations), a mapping may start with a BOM
    (Windows editors add one) and end its lines with CRLF."""
    toml = tmp_path / "m.toml"
    toml.write_bytes(b'\xef\xbb\xbf[mapping]\r\nFram = "Library"\r\nAPI = "O"\r\n')
    assert load_mapping(toml) == {"Fram": "Library", "API": None}
    js = tmp_path / "m.json"
    js.write_bytes(b'\xef\xbb\xbf{"Fram": "Library"}')
    assert load_mapping(js) == {"Fram": "Library"}
    with pytest.raises(SerkitError, match=r"m2.toml: cannot read mapping: .*line 1"):
        (tmp_path / "m2.toml").write_text("x = \n")
        load_mapping(tmp_path / "m2.toml")
