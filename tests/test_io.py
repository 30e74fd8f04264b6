"""Readers, writers, validation and the `serkit data` CLI on small hand-made files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import serkit.cli.data  # noqa: F401  (registers `serkit data ...` on the app)
from serkit import files
from serkit.cli._app import app
from serkit.errors import DataFormatError, SerkitError
from serkit.files.stats import corpus_stats
from serkit.tokens import Sentence

WIKISER = "<s>\nThe\tO\nURI\tB-Protocol\n[ nuclear ] \tO\n</s>\n<s>\nLinux\tB-Operating_System\nkernel\tI-Operating_System\n</s>\n"  # noqa: E501


def _w(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def test_wikiser_reads_tokens_byte_exact_with_index_line_doc(tmp_path):
    p = _w(tmp_path, "small.txt", WIKISER)
    reader = files.read(p)
    sents = list(reader)
    assert reader.format == "wikiser"
    assert [s.tokens for s in sents] == [["The", "URI", "[ nuclear ] "], ["Linux", "kernel"]]
    assert sents[1].tags == ["B-Operating_System", "I-Operating_System"]
    assert [(s.index, s.line, s.doc_id) for s in sents] == [(0, 1, "small"), (1, 6, "small")]
    assert reader.stats.sentences == 2 and reader.stats.tokens == 5


def test_wikiser_token_with_tab_splits_on_last_tab(tmp_path):
    p = _w(tmp_path, "t.txt", "<s>\na\tb\tB-Library\n</s>\n")
    assert files.read_all(p)[0].tokens == ["a\tb"]


def test_conll_stackoverflow_style_separators_and_columns(tmp_path):
    text = "Question_ID\tO\tQuestion_ID\tO\n:\tO\t:\tO\n\t\n\t\nI\tO\tI\tO\nuse\tO\tuse\tO\nC++\tB-Language\tC++\tO\n\n"  # noqa: E501
    p = _w(tmp_path, "so.txt", text)
    sents = files.read_all(p)
    assert [s.tokens for s in sents] == [["Question_ID", ":"], ["I", "use", "C++"]]
    assert [s.line for s in sents] == [1, 5] and [s.index for s in sents] == [0, 1]
    assert sents[1].meta["columns"][2] == ["C++", "B-Language", "C++", "O"]
    out = tmp_path / "out.txt"
    files.write(out, sents, "conll")
    assert out.read_text() == (
        "Question_ID\tO\tQuestion_ID\tO\n:\tO\t:\tO\n\n"
        "I\tO\tI\tO\nuse\tO\tuse\tO\nC++\tB-Language\tC++\tO\n"
    )


def test_conll_leading_blank_line_and_chosen_columns(tmp_path):
    p = _w(tmp_path, "c.txt", "\nx\tpos\tB-PL\ny\tpos\tO\n")
    s = files.read_all(p, token_col=0, tag_col=2)[0]
    assert (s.tokens, s.tags, s.line) == (["x", "y"], ["B-PL", "O"], 2)


def test_single_column_file_reads_unlabelled(tmp_path):
    p = _w(tmp_path, "u.txt", "hello\nworld\n\nagain\n")
    sents = files.read_all(p, "conll")
    assert [s.tokens for s in sents] == [["hello", "world"], ["again"]]
    assert all(s.tags is None for s in sents)


def test_space_separated_columns_keep_their_tags(tmp_path):
    """Read as one column, ``Python B-Language`` was a token with a space and no tag: a
    lexicon built from it was empty, without a word."""
    p = _w(
        tmp_path, "s.conll", "Python B-Language\nis O\n\nI  O\nuse O\nLinux B-Operating_System\n"
    )
    sents = files.read_all(p, "conll")
    assert [s.tokens for s in sents] == [["Python", "is"], ["I", "use", "Linux"]]
    assert [s.tags for s in sents] == [["B-Language", "O"], ["O", "O", "B-Operating_System"]]


def test_conll_2003_columns_and_docstart(tmp_path):
    text = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n"
    p = _w(tmp_path, "c03.txt", text)
    (s,) = files.read_all(p, "conll", tag_col=3)
    assert (s.tokens, s.tags) == (["EU", "rejects"], ["B-ORG", "O"])
    with pytest.raises(DataFormatError, match="c03.txt:3: unknown tag 'NNP'"):
        files.read_all(p, "conll")  # the default tag column holds POS tags: said, not guessed


def test_a_single_column_with_spaces_in_tokens_stays_unlabelled(tmp_path):
    p = _w(tmp_path, "u.txt", "New York\nis\n")
    (s,) = files.read_all(p, "conll")
    assert (s.tokens, s.tags) == (["New York", "is"], None)


@pytest.mark.parametrize(
    ("name", "text", "line", "reason"),
    [
        ("bad.txt", "foo\tX-BAR\n", 1, "unknown tag 'X-BAR'"),
        ("cols.txt", "a\tO\tx\nb\tO\n", 2, "expected 3 columns, found 2"),
        ("open.txt", "<s>\na\tO\n", 1, "unclosed <s>"),
        ("open2.txt", "<s>\na\tO\n<s>\nb\tO\n</s>\n", 1, "unclosed <s>"),
        ("close.txt", "<s>\na\tO\n</s>\n</s>\n", 4, "stray </s>"),
        ("outside.txt", "<s>\na\tO\n</s>\nb\tO\n", 4, "outside"),
        ("notab.txt", "<s>\na\tO\nb\n</s>\n", 3, "1 column"),
        ("utf8.txt", b"a\tO\nb\xff\tO\n", 2, "invalid UTF-8"),
        ("empty.txt", "a\tO\n\tO\n", 2, "empty token"),
        ("json.jsonl", '{"text": "", "tokens": []}\n{"text": 1}\n', 2, '"text" string'),
        ("json2.jsonl", '{"text": "", "tokens": []}\n{oops\n', 2, "invalid JSON"),
    ],
)
def test_malformed_lines_name_path_and_line(tmp_path, name, text, line, reason):
    p = _w(tmp_path, name, text)
    with pytest.raises(DataFormatError) as e:
        files.read_all(p)
    assert e.value.line == line and reason in e.value.reason
    assert str(e.value).startswith(f"{p}:{line}: ")


def test_label_set_rejects_unknown_type(tmp_path):
    p = _w(tmp_path, "l.txt", "a\tB-Library\nb\tB-Framework\n")
    assert len(files.read_all(p)) == 1
    with pytest.raises(DataFormatError, match=r"l\.txt:2: label 'Framework'"):
        files.read_all(p, labels="softner-9")
    with pytest.raises(DataFormatError):
        files.read_all(p, labels=["Library"])
    assert files.read_all(p, labels=["B-Library", "I-Library", "B-Framework", "O"])
    with pytest.raises(SerkitError, match="unknown label scheme"):
        files.read_all(p, labels="nope")


def test_stray_i_is_kept_unless_repair_and_then_counted(tmp_path):
    p = _w(tmp_path, "s.txt", "a\tI-Library\nb\tO\nc\tI-Language\n\nd\tB-PL\n")
    plain = files.read_all(p)
    assert plain[0].tags == ["I-Library", "O", "I-Language"]
    assert corpus_stats(plain)["stray_i"] == 2
    reader = files.read(p, repair=True)
    fixed = list(reader)
    assert fixed[0].tags == ["B-Library", "O", "B-Language"]
    assert fixed[0].meta["repaired"] == 2 and "repaired" not in fixed[1].meta
    assert reader.stats.repaired == 2


def test_corpus_folder_streams_articles_in_sorted_order(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    _w(folder, "Zsh.txt", "<s>\nZsh\tB-Application\n</s>\n")
    _w(folder, "Apache_HTTP_Server.txt", "<s>\nApache\tB-Application\n</s>\n<s>\nit\tO\n</s>\n")
    reader = files.read(folder)
    first = next(reader)
    assert (first.doc_id, first.index) == ("Apache_HTTP_Server", 0)
    assert reader.stats.files == 0  # lazily: the second file is not opened yet
    rest = list(reader)
    assert [(s.doc_id, s.index) for s in rest] == [("Apache_HTTP_Server", 1), ("Zsh", 0)]
    assert reader.stats.files == 2


def test_detection_and_override(tmp_path):
    assert files.detect_format(_w(tmp_path, "a.txt", "\n<s>\nx\tO\n</s>\n")) == "wikiser"
    assert files.detect_format(_w(tmp_path, "b.txt", "\n\nx\tO\n")) == "conll"
    assert files.detect_format(_w(tmp_path, "c.txt", '{"text": "x"}\n')) == "jsonl"
    assert files.detect_format(_w(tmp_path, "d.txt", '{"x"\tB-Library\n')) == "conll"
    assert files.detect_format(_w(tmp_path, "e.txt", '{"text": \n')) == "jsonl"
    assert files.detect_format(tmp_path) == "wikiser"
    with pytest.raises(SerkitError, match="unknown format"):
        files.read(tmp_path / "a.txt", "xml")
    with pytest.raises(SerkitError, match="no such file"):
        files.read(tmp_path / "missing.txt")


def test_jsonl_entities_align_to_given_tokens_and_doccano_labels(tmp_path):
    toks = [("I", 0, 1), ("use", 2, 5), ("Node.js", 6, 13), ("here", 14, 18)]
    docs = [
        {"id": 7, "text": "I use Node.js here",
         "entities": [{"start": 6, "end": 13, "label": "Library"}],
         "tokens": [{"text": t, "start": a, "end": b} for t, a, b in toks]},
        {"text": "Red Hat Linux", "label": [[0, 13, "Operating_System"]],
         "tokens": [{"start": 0, "end": 3}, {"start": 4, "end": 7}, {"start": 8, "end": 13}]},
    ]  # fmt: skip
    p = _w(tmp_path, "d.jsonl", "".join(json.dumps(d) + "\n" for d in docs))
    a, b = files.read_all(p)
    assert (a.tokens, a.tags, a.meta["id"], a.line) == (
        ["I", "use", "Node.js", "here"], ["O", "O", "B-Library", "O"], 7, 1,
    )  # fmt: skip
    assert b.tags == ["B-Operating_System", "I-Operating_System", "I-Operating_System"]


def test_jsonl_boundary_inside_token_is_an_error(tmp_path):
    doc = {"text": "Node.js", "entities": [{"start": 0, "end": 4, "label": "Library"}],
           "tokens": [{"text": "Node.js", "start": 0, "end": 7}]}  # fmt: skip
    p = _w(tmp_path, "e.jsonl", "\n" + json.dumps(doc) + "\n")
    with pytest.raises(DataFormatError, match=r"e\.jsonl:2: .*inside token 'Node.js'"):
        files.read_all(p)


def test_jsonl_without_tokens_uses_serkit_tokenizer(tmp_path):
    text = "I use C++ and Node.js (HPC)."
    start = text.index("Node.js")
    doc = {"text": text, "entities": [{"start": start, "end": start + 7, "label": "Library"}]}
    s = files.read_all(_w(tmp_path, "t.jsonl", json.dumps(doc) + "\n"))[0]
    assert "C++" in s.tokens and "Node.js" in s.tokens
    assert s.tags[s.tokens.index("Node.js")] == "B-Library"
    assert all(
        s.meta["text"][a:b] == t for (a, b), t in zip(s.meta["offsets"], s.tokens, strict=True)
    )


def test_write_jsonl_layout_and_stray_tags_survive(tmp_path):
    s = Sentence(["use", "Node.js", "v8"], ["O", "I-Library", "O"], "doc", 3)
    out = tmp_path / "o.jsonl"
    files.write(out, [s])
    doc = json.loads(out.read_text())
    assert doc["text"] == "use Node.js v8"
    assert doc["entities"] == [{"start": 4, "end": 11, "label": "Library"}]
    assert doc["tags"] == ["O", "I-Library", "O"]  # stray I- kept exactly, not silently repaired
    assert files.read_all(out)[0].tags == s.tags


def test_failed_write_leaves_no_file(tmp_path):
    src = _w(tmp_path, "in.txt", "a\tO\n\nb\tB-Library\nc\tX-BAR\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(DataFormatError):
        files.write(out, files.read(src), "jsonl")
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_unwritable_tokens_are_refused(tmp_path):
    with pytest.raises(SerkitError, match="cannot be written as conll"):
        files.write(tmp_path / "x.txt", [Sentence(["a\tb"], ["O"])], "conll")
    with pytest.raises(SerkitError, match="output format"):
        files.write(tmp_path / "x.txt", [Sentence(["a"], ["O"])])
    assert not (tmp_path / "x.txt").exists()


runner = CliRunner()


def test_cli_convert_and_stats(tmp_path):
    src = _w(tmp_path, "w.txt", WIKISER)
    out = tmp_path / "w.jsonl"
    r = runner.invoke(app, ["data", "convert", str(src), str(out), "--to", "jsonl"])
    assert r.exit_code == 0, r.output
    back = tmp_path / "back.txt"
    r = runner.invoke(app, ["data", "convert", str(out), str(back), "--to", "wikiser"])
    assert r.exit_code == 0, r.output
    assert back.read_bytes() == src.read_bytes()
    r = runner.invoke(app, ["data", "stats", str(src), str(out), "--json"])
    assert r.exit_code == 0, r.output
    st = json.loads(r.stdout)
    assert (st["sentences"], st["tokens"], st["entities"]) == (4, 10, 4)
    assert st["entities_per_type"] == {"Operating_System": 2, "Protocol": 2}
    r = runner.invoke(app, ["data", "stats", str(src)])
    assert r.exit_code == 0 and "Protocol" in r.stdout


def test_cli_convert_says_what_it_wrote_in_one_line(tmp_path):
    """The summary went through rich and wrapped at the console width, even in a pipe."""
    deep = tmp_path / ("a-rather-long-folder-name-" * 4)
    deep.mkdir()
    src = _w(deep, "w.txt", "x\tI-PL\ny\tO\n")
    out = deep / "converted-with-a-long-name.jsonl"
    r = runner.invoke(app, ["data", "convert", str(src), str(out), "--to", "jsonl", "--repair"])
    assert r.exit_code == 0, r.output
    (line,) = r.stderr.splitlines()
    assert line.startswith("wrote 1 sentences") and line.endswith("; repaired 1 stray I- tags")


def test_cli_bad_tag_exits_2_with_path_line_and_no_output(tmp_path):
    """Through the installed console script, so main.py's SerkitError mapping is exercised."""
    bad = _w(tmp_path, "bad.txt", "foo\tX-BAR\n")
    out = tmp_path / "out.jsonl"
    exe = Path(sys.executable).with_name("serkit")
    r = subprocess.run([str(exe), "data", "convert", str(bad), str(out), "--to", "jsonl"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2
    assert f"{bad}:1: unknown tag 'X-BAR'" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]
    r = subprocess.run([str(exe), "data", "stats", str(bad), "--json"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2 and f"{bad}:1:" in r.stderr and r.stdout == ""


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"text": "ab", "entities": [{"start": 0, "end": 5, "label": "A"}]}, "outside the text"),
        ({"text": "a b", "entities": [[0, 3, "A"], [2, 3, "B"]]}, "overlaps"),
        ({"text": "a", "entities": [{"start": 0, "label": "A"}]}, "start/end must be integers"),
        ({"text": "a", "entities": [[0, 1, "A"]], "columns": [["a\tb"]]}, '"columns"'),
        ({"text": "a", "tokens": [{"text": "b", "start": 0, "end": 1}]}, "does not match"),
        (
            {"text": "a b", "tokens": [{"start": 2, "end": 3}, {"start": 0, "end": 1}]},
            "out of order",
        ),
        ({"text": "a b", "entities": [[0, 1, "A"]], "tags": ["O", "O"]}, "disagree"),
    ],
)
def test_jsonl_bad_documents(tmp_path, doc, reason):
    p = _w(tmp_path, "bad.jsonl", json.dumps(doc) + "\n")
    with pytest.raises(DataFormatError, match=r"bad\.jsonl:1: .*" + reason):
        files.read_all(p)


def test_jsonl_to_jsonl_keeps_the_original_text(tmp_path):
    text = "Install  Node.js on\tUbuntu."
    doc = {"id": "q1", "text": text, "entities": [{"start": 9, "end": 16, "label": "Library"}]}
    src = _w(tmp_path, "in.jsonl", json.dumps(doc) + "\n")
    out = tmp_path / "out.jsonl"
    files.write(out, files.read(src), "jsonl")
    again = json.loads(out.read_text())
    assert (again["id"], again["text"], again["entities"]) == ("q1", text, doc["entities"])


def test_cli_converts_a_corpus_folder(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    _w(folder, "B_article.txt", "<s>\nZsh\tB-Application\n</s>\n")
    _w(folder, "A_article.txt", "<s>\nGCC\tB-Application\n</s>\n")
    out = tmp_path / "all.jsonl"
    r = runner.invoke(app, ["data", "convert", str(folder), str(out), "--to", "jsonl"])
    assert r.exit_code == 0, r.output
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(d["doc_id"], d["text"]) for d in docs] == [("A_article", "GCC"), ("B_article", "Zsh")]
