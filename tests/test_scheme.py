"""The IOB2 scheme is declared once (serkit.scheme) and every user follows it: readers,
label lists, the Viterbi constraints, the weak labeller's sniffing and the matcher."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import serkit.labels as labels
from serkit import files, scheme
from serkit.errors import DataFormatError, SerkitError
from serkit.files._common import ReadContext
from serkit.lexicon import Lexicon
from serkit.lexicon.weak import looks_like_raw_text
from serkit.models.viterbi import FORBIDDEN, iob2_constraints
from serkit.scheme import IOB2, type_problem
from serkit.tokens import Sentence

TAGS = st.lists(st.sampled_from(["O", "B-A", "I-A", "B-B", "I-B"]), max_size=12)


def test_labels_reexports_the_scheme_functions() -> None:
    for name in ("split_tag", "spans", "tags_from_spans", "repair_iob", "bio_labels"):
        assert getattr(labels, name) is getattr(scheme, name)
    assert labels.OUTSIDE == IOB2.outside == "O"
    assert not hasattr(labels, "count_stray")  # dead code removed
    assert labels.bio_labels(["A"]) == ["O", "B-A", "I-A"]


@pytest.mark.parametrize(
    "tag, ok",
    [
        ("O", True),
        ("B-Library", True),
        ("I-Error_Name", True),
        ("S-Library", False),  # BIES/IOBES is not IOB2
        ("E-Library", False),
        ("B-", False),
        ("B-a\tb", False),
        ("I-a\nb", False),
        ("B-two words", False),
        ("B-zero\u200bwidth", False),
        ("B-\u00e9t\u00e9", True),
    ],
)
def test_check(tag: str, ok: bool) -> None:
    assert IOB2.is_tag(tag) is ok
    assert (IOB2.check(tag) is None) is ok


def test_type_problem_names_the_character() -> None:
    assert type_problem("Library") is None
    assert "'\\t'" in type_problem("a\tb")
    assert type_problem("") == "an empty entity type"


@given(TAGS)
@settings(max_examples=200, deadline=None)
def test_spans_and_tags_are_inverse_after_repair(tags: list[str]) -> None:
    fixed, _ = IOB2.repair(tags)
    assert IOB2.tags(len(tags), IOB2.spans(fixed)) == fixed
    assert IOB2.spans(tags) == IOB2.spans(fixed)  # a stray I- opens an entity either way
    assert all(IOB2.allowed(p, t) for p, t in zip([None, *fixed], fixed, strict=False))


def test_viterbi_constraints_follow_the_scheme() -> None:
    names = IOB2.labels(["A", "B"])
    trans, start = iob2_constraints(names)
    for j, to in enumerate(names):
        assert bool(start[j] == 0) is IOB2.allowed(None, to)
        for i, frm in enumerate(names):
            assert bool(trans[i, j] == 0) is IOB2.allowed(frm, to)
            assert trans[i, j] in (0, FORBIDDEN)


def test_matcher_tags_are_the_scheme_spans() -> None:
    lex = Lexicon.build(
        [
            Sentence(
                ["Visual", "Studio", "Code", "and", "Python"],
                ["B-App", "I-App", "I-App", "O", "B-Lang"],
            )
        ]
    )
    toks = ["I", "use", "Visual", "Studio", "Code", "with", "Python"]
    tags = lex.matcher().tags(toks)
    assert all(IOB2.is_tag(t) for t in tags)
    assert IOB2.spans(tags) == [(2, 5, "App"), (6, 7, "Lang")]


def test_weak_labeller_does_not_take_bies_tags_for_iob2(tmp_path: Path) -> None:
    """Two-word lines ending in S-/E- tags are prose to an IOB2 reader (was: CoNLL)."""
    p = tmp_path / "x.txt"
    p.write_text("Python S-Language\nJava E-Language\nRust S-Language\n", encoding="utf-8")
    assert looks_like_raw_text(p)
    p.write_text("Python B-Language\nJava I-Language\nRust O\n", encoding="utf-8")
    assert not looks_like_raw_text(p)


def test_readers_check_tags_with_the_scheme(tmp_path: Path) -> None:
    ctx = ReadContext(types=frozenset({"Library"}))
    assert ctx.check_tag("B-Library", "f", 1) == "B-Library"
    with pytest.raises(DataFormatError, match="f:2: unknown tag 'S-Library'"):
        ctx.check_tag("S-Library", "f", 2)
    with pytest.raises(DataFormatError, match="not in the label set"):
        ctx.check_tag("B-Language", "f", 3)
    p = tmp_path / "bies.conll"
    p.write_text("Python\tS-Language\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="bies.conll:1: unknown tag"):
        files.read_all(p)


def test_writers_refuse_tags_that_would_not_read_back(tmp_path: Path) -> None:
    s = Sentence(["Python"], ["B-Lang\tuage"], "d", 0)
    for fmt in files.FORMATS:
        out = tmp_path / f"out.{fmt}"
        with pytest.raises(SerkitError, match="whitespace or a control character"):
            files.write(out, [s], fmt)
        assert not out.exists()


@pytest.mark.parametrize("bad", [None, 3, b"B-X", ["B-X"], ("B", "X")])
def test_a_tag_that_is_not_a_str_is_a_value_error_with_a_reason(bad):
    # split's contract: ValueError with a reason for anything not a tag (len(None) was a
    # TypeError from deep inside evaluate/repair_iob).
    with pytest.raises(ValueError, match="invalid tag"):
        IOB2.split(bad)
    with pytest.raises(ValueError, match="invalid tag"):
        IOB2.repair(["O", bad])
    assert IOB2.check(bad) is not None and not IOB2.is_tag(bad)
