"""Hypothesis round trips: whatever tokens and tags a format can hold come back unchanged."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serkit import files
from serkit.errors import SerkitError
from serkit.files.stats import corpus_stats
from serkit.tokens import Sentence

types = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True)
tags = st.one_of(st.just("O"), st.tuples(st.sampled_from("BI"), types).map("-".join))

# Each format's token alphabet: WikiSER splits a line on its last tab, so only newlines are
# excluded; CoNLL columns cannot hold tabs or CR and a blank token would read as a separator
# (a leading BOM on line 1 is dropped as a byte-order mark); JSONL holds anything.
wikiser_tokens = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\n"), min_size=1
)
conll_tokens = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\t\n\r\ufeff"), min_size=1
).filter(str.strip)
jsonl_tokens = st.text(min_size=1)


def sentences(tok: st.SearchStrategy[str], min_len: int = 0) -> st.SearchStrategy:
    pair = st.tuples(tok, tags)
    return st.lists(st.lists(pair, min_size=min_len, max_size=12), max_size=6).map(
        lambda ss: [
            Sentence([t for t, _ in s], [g for _, g in s], "doc", i) for i, s in enumerate(ss)
        ]
    )


def _round_trip(sents: list[Sentence], fmt: str) -> list[Sentence]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "doc.data"
        assert files.write(path, sents, fmt) == len(sents)
        reader = files.read(path) if sents else files.read(path, fmt)
        back = list(reader)
        if sents:
            assert reader.format == fmt  # detection agrees with the writer
    assert [(s.index, s.doc_id) for s in back] == [(i, "doc") for i in range(len(back))]
    return back


def _same(a: list[Sentence], b: list[Sentence]) -> None:
    assert [(s.tokens, s.tags) for s in a] == [(s.tokens, s.tags) for s in b]


@settings(max_examples=50, deadline=None)
@given(sentences(wikiser_tokens))
def test_wikiser_round_trip(sents):
    _same(sents, _round_trip(sents, "wikiser"))


@settings(max_examples=50, deadline=None)
@given(sentences(conll_tokens, min_len=1))
def test_conll_round_trip(sents):
    _same(sents, _round_trip(sents, "conll"))


@settings(max_examples=50, deadline=None)
@given(sentences(jsonl_tokens))
def test_jsonl_round_trip_keeps_tokens_tags_and_stray_i(sents):
    back = _round_trip(sents, "jsonl")
    _same(sents, back)
    for s in back:
        assert s.meta["text"] == " ".join(s.tokens)
    assert corpus_stats(back) == corpus_stats(sents)


@settings(max_examples=30, deadline=None)
@given(sentences(conll_tokens, min_len=1), st.integers(0, 2))
def test_conll_extra_columns_survive_jsonl(sents, extra):
    for s in sents:
        s.meta["columns"] = [[t, g] + [f"x{i}:{t[:3]}" for i in range(extra)] for t, g in
                             zip(s.tokens, s.tags, strict=True)]  # fmt: skip
        s.meta["columns"] = [[c.replace("\t", " ") for c in row] for row in s.meta["columns"]]
    via_jsonl = _round_trip(sents, "jsonl")
    back = _round_trip(via_jsonl, "conll")
    _same(sents, back)
    if extra:
        assert [s.meta["columns"] for s in back] == [s.meta["columns"] for s in sents]


def test_conll_refuses_a_token_that_would_read_back_as_a_docstart_line(tmp_path):
    """``-DOCSTART-`` lines separate documents when read: written as a token it would vanish."""
    s = Sentence(["see", "-DOCSTART-", "here"], ["O", "B-Library", "O"], "d", 0, 1)
    out = tmp_path / "out.conll"
    with pytest.raises(SerkitError, match=r"token '-DOCSTART-' cannot be written as conll"):
        files.write(out, [s], "conll")
    assert not out.exists()
    files.write(tmp_path / "out.wikiser", [s], "wikiser")  # WikiSER carries it
    (back,) = files.read_all(tmp_path / "out.wikiser", "wikiser")
    assert (back.tokens, back.tags) == (s.tokens, s.tags)
