"""One format table (serkit.files.formats): names, suffixes, sniffing, readers and writers,
used by files.read/write, serkit tag's -o suffix, predict, weak-label and the renderers."""

from __future__ import annotations

import io as stdio
from pathlib import Path

import pytest

from serkit import files, render
from serkit.errors import SerkitError
from serkit.files import formats
from serkit.files.formats import FORMAT_TABLE, Format, format_from_suffix, get_format, register
from serkit.files.inputs import Input
from serkit.tokens import Entity, Sentence

SENTS = [
    Sentence(["I", "use", "Python", "3"], ["O", "O", "B-Language", "I-Language"], "d", 0),
    Sentence(["Linux", "."], ["B-Operating_System", "O"], "d", 1),
]


def test_every_module_sees_the_same_table() -> None:
    from serkit.files import detect

    assert files.FORMATS == detect.FORMATS == formats.corpus_formats()
    assert set(files.FORMATS) == {"wikiser", "conll", "jsonl", "labelstudio", "doccano"}
    assert formats.document_formats() == render.FORMATS
    assert set(render.FORMATS) == {*files.FORMATS, "html", "hf"}


@pytest.mark.parametrize("name", ["wikiser", "conll", "jsonl"])
def test_round_trip_through_the_table(tmp_path: Path, name: str) -> None:
    out = tmp_path / f"x{FORMAT_TABLE[name].suffixes[0]}"
    assert format_from_suffix(out) == name
    assert files.write(out, SENTS) == 2  # format from the suffix
    assert files.detect_format(out) == name
    back = files.read_all(out)
    assert [(s.tokens, s.tags) for s in back] == [(s.tokens, s.tags) for s in SENTS]


def test_suffixes_for_tag_outputs() -> None:
    assert format_from_suffix("page.HTM", render.FORMATS) == "html"
    assert format_from_suffix("page.html") is None  # not a corpus format
    assert format_from_suffix("x.wikiser", render.FORMATS) == "wikiser"
    assert format_from_suffix("x.txt", render.FORMATS) is None


def test_unknown_names_list_the_choices() -> None:
    with pytest.raises(SerkitError, match="unknown format 'html' .*choose from"):
        get_format("html")  # html holds no sentences
    with pytest.raises(SerkitError, match="unknown format 'xml'"):
        files.read_all(Path(__file__), "xml")


def test_sniffing_an_input_does_not_consume_it() -> None:
    data = b"<s>\nPython\tB-Language\n</s>\n"
    inp = Input("-", stdio.BytesIO(data))
    assert files.detect_format(inp) == "wikiser"
    assert [s.tokens for s in files.read(inp)] == [["Python"]]


class _Doc:
    id, text, path, record = "doc", "Python", None, None
    entities = [Entity(0, 6, "Language", "Python", 0.9)]

    sentences = [Sentence(["Python"], ["B-Language"], "doc", 0, 0, {"offsets": [(0, 6)]})]


def test_a_new_format_is_one_registration(tmp_path: Path) -> None:
    """A toy format (one token a line, upper-cased tags) works for read, write, sniffing,
    suffixes and serkit tag's writer once registered, with no other edit."""

    def read_toy(src, ctx, cols):
        inp = src
        toks = [ln.decode().strip() for ln in inp.stream.read().splitlines()[1:] if ln.strip()]
        yield ctx.finish(Sentence(toks, None, inp.stem, 0))

    def write_toy(f, sents, cols):
        n = 0
        for s in sents:
            f.write("#toy\n" + "".join(t + "\n" for t in s.tokens))
            n += 1
        return n

    register(
        Format(
            "toy",
            "test format",
            suffixes=(".toy",),
            sniff=lambda lines: lines[0] == b"#toy",
            read=read_toy,
            write=write_toy,
        )
    )
    try:
        out = tmp_path / "a.toy"
        assert files.write(out, SENTS[:1]) == 1
        assert files.detect_format(out) == "toy"
        assert files.read_all(out)[0].tokens == SENTS[0].tokens
        buf = stdio.StringIO()
        w = FORMAT_TABLE["toy"].document_writer(buf)
        w.write(_Doc())
        assert buf.getvalue() == "#toy\nPython\n"
    finally:
        del FORMAT_TABLE["toy"]


def test_document_writers_come_from_the_table() -> None:
    for name in render.FORMATS:
        buf = stdio.StringIO()
        w = render.DocWriter(buf, name, ["Language"])
        w.write(_Doc())
        w.close()
        assert "Python" in buf.getvalue()
    with pytest.raises(SerkitError, match="unknown format"):
        render.DocWriter(stdio.StringIO(), "xml")
