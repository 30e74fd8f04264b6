"""Hostile input to the command line: every failure is one stderr line and exit code 2,
and no command ever destroys its input or leaves a partial/unreadable output."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from serkit.cli.main import main
from serkit.documents import Source, read_source, split_lines
from serkit.errors import DataFormatError, SerkitError
from serkit.files import read_all
from serkit.files.atomic import atomic_write
from serkit.lexicon import Lexicon
from serkit.lexicon.weak import label_text_file

WIKISER = "<s>\nPython\tB-Language\nis\tO\n</s>\n"
LEXICON = "surface\ttypes\nPython\tLanguage:2\n"


def fail(args: list[str], capsys) -> str:
    """Run the CLI, expect exit 2 and one clean stderr line; return it."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    gold = tmp_path / "gold.wikiser"
    gold.write_text(WIKISER, encoding="utf-8")
    lex = tmp_path / "lex.tsv"
    lex.write_text(LEXICON, encoding="utf-8")
    raw = tmp_path / "raw.txt"
    raw.write_text("I use Python daily.\n", encoding="utf-8")
    return {"gold": gold, "lex": lex, "raw": raw}


@pytest.mark.parametrize(
    "args, victim",
    [
        (["data", "convert", "{gold}", "{gold}", "--to", "jsonl"], "gold"),
        (["tag", "{raw}", "-o", "{raw}"], "raw"),
        (["eval", "{gold}", "{gold}", "-o", "{gold}"], "gold"),
        (["predict", "{gold}", "-o", "{gold}"], "gold"),
        (["weak-label", "{raw}", "-l", "{lex}", "-o", "{raw}"], "raw"),
        (["weak-label", "{raw}", "-l", "{lex}", "-o", "{lex}"], "lex"),
        (["lexicon", "build", "{gold}", "-o", "{gold}"], "gold"),
    ],
)
def test_output_equal_to_input_is_refused(args, victim, files, capsys):
    before = {k: p.read_bytes() for k, p in files.items()}
    err = fail([a.format(**files) for a in args], capsys)
    assert "output is the input file" in err
    assert {k: p.read_bytes() for k, p in files.items()} == before


@pytest.mark.parametrize(
    "cmd",
    [
        ["data", "convert", "{gold}", "{out}", "--to", "jsonl"],
        ["eval", "{gold}", "{gold}", "-o", "{out}"],
        ["lexicon", "build", "{gold}", "-o", "{out}"],
        ["weak-label", "{raw}", "-l", "{lex}", "-o", "{out}"],
    ],
)
def test_unwritable_output_paths_exit_2(cmd, files, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    for out, why in ((blocker / "sub" / "x.jsonl", "is a file, not a folder"),
                     (tmp_path, "is a folder")):  # fmt: skip
        err = fail([a.format(out=out, **files) for a in cmd], capsys)
        assert why in err and err.count("\n") == 1
    assert blocker.read_text() == "a file, not a folder"


def test_bad_output_paths_fail_before_any_work(files, tmp_path, capsys):
    """The output is checked first: a missing model is not even looked for."""
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    missing_model = str(tmp_path / "no-model")
    for cmd in (
        ["predict", str(files["gold"]), "-m", missing_model],
        ["tag", "Python", "-m", missing_model],
        ["eval", str(files["gold"]), "-m", missing_model],
    ):
        err = fail([*cmd, "-o", str(blocker / "out.txt")], capsys)
        assert "is a file, not a folder" in err and "no-model" not in err


def test_oserror_outside_io_is_one_line(files, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    args = ["train", "--train", str(files["gold"]), "--arch", "crf", "-o", str(blocker / "m")]
    fail([*args, "--no-progress"], capsys)


def test_atomic_write_gives_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    new = tmp_path / "new.txt"
    with atomic_write(new) as f:
        f.write("x")
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask  # mkstemp alone gives 0o600
    new.chmod(0o640)
    with atomic_write(new) as f:
        f.write("y")
    assert stat.S_IMODE(new.stat().st_mode) == 0o640


@pytest.mark.parametrize("cols", [["--token-col", "-1"], ["--tag-col", "-3"]])
def test_negative_conll_columns_never_drop_tokens(cols, files, tmp_path, capsys):
    out = tmp_path / "out.conll"
    err = fail(["data", "convert", str(files["gold"]), str(out), "--to", "conll", *cols], capsys)
    assert "bad columns" in err
    assert not out.exists()


def test_predict_batch_size_zero_is_a_usage_error(files, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(files["gold"]), "--batch-size", "0"])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("args", [["tokenize", "-"], ["tag", "-"], ["tag", "--lines", "-"]])
def test_closed_stdin(args, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", None)  # what `serkit ... <&-` gives Python
    assert "stdin is closed" in fail(args, capsys)


def _stdin(data: bytes) -> io.TextIOWrapper:
    """Like sys.stdin under a C locale: undecodable bytes would become lone surrogates."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape")


def test_tag_stdin_is_strict_utf8_and_drops_a_bom():
    src = Source("stdin", "-")
    assert read_source(src, _stdin(b"\xef\xbb\xbfPython\n")) == "Python\n"
    with pytest.raises(DataFormatError, match=r"<stdin>:2: not UTF-8"):
        read_source(src, _stdin(b"ok\nPy\xffthon\n"))
    got = [t for _, t in split_lines([src], _stdin(b"\xef\xbb\xbfone\n\ntwo\r\n"))]
    assert got == ["one", "two"]
    with pytest.raises(DataFormatError, match=r"<stdin>:3: not UTF-8"):
        list(split_lines([src], _stdin(b"a\nb\nc\xff\n")))


def test_lexicon_load_bom_crlf_and_bad_bytes(tmp_path):
    p = tmp_path / "lex.tsv"
    p.write_bytes(b"\xef\xbb\xbf" + LEXICON.replace("\n", "\r\n").encode())
    assert Lexicon.load(p).entries["Python"].counts == {"Language": 2}
    p.write_bytes(LEXICON.encode() + b"Ja\xffva\tLanguage\n")
    with pytest.raises(DataFormatError, match=r"lex.tsv:3: invalid UTF-8"):
        Lexicon.load(p)
    with pytest.raises(SerkitError, match="is a folder"):
        Lexicon.load(tmp_path)


def test_weak_label_text_names_the_bad_line_and_drops_bom(tmp_path):
    lex = Lexicon()
    p = tmp_path / "raw.txt"
    p.write_bytes(b"fine\n\nbad \xff here\n")
    with pytest.raises(DataFormatError, match=r"raw.txt:3: invalid UTF-8"):
        list(label_text_file(lex.matcher(), p))
    p.write_bytes(b"\xef\xbb\xbfPython rocks.\r\n")
    (s,) = label_text_file(lex.matcher(), p)
    assert s.tokens[0] == "Python" and s.meta["text"] == "Python rocks."


def test_jsonl_tags_must_be_strings_and_offsets_not_bools(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"text": "abc def", "entities": [[0, 3, "X"]], "tags": [1, 2]}\n')
    with pytest.raises(DataFormatError, match="x.jsonl:1: .*tag string per token"):
        read_all(p)
    p.write_text('{"text": "abc def", "entities": [[true, 3, "X"]]}\n')
    with pytest.raises(DataFormatError, match="x.jsonl:1: .*must be integers"):
        read_all(p)


def test_empty_sentence_is_not_silently_dropped_from_conll(tmp_path, capsys):
    src = tmp_path / "in.wikiser"
    src.write_text("<s>\n</s>\n" + WIKISER, encoding="utf-8")
    assert len(read_all(src)) == 2
    out = tmp_path / "out.conll"
    err = fail(["data", "convert", str(src), str(out), "--to", "conll"], capsys)
    assert "empty sentence" in err and not out.exists()


def test_tag_reads_an_existing_non_regular_file(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tag", os.devnull])  # was "no such file or folder"
    assert exc.value.code == 0
    assert '"path": "/dev/null", "entities": []' in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["data", "convert", "{gold}", "-", "--to", "jsonl"],
        ["tag", "Python", "-o", "-"],
        ["eval", "{gold}", "{gold}", "-o", "-"],
        ["predict", "{gold}", "-o", "-"],
        ["lexicon", "build", "{gold}", "-o", "-"],
        ["weak-label", "{raw}", "-l", "{lex}", "-o", "-"],
    ],
)
def test_dash_is_not_an_output_file(args, files, tmp_path, monkeypatch, capsys):
    """'-' reads stdin everywhere; as an output it made a file named '-' (and `data
    convert IN -` said it wrote to '-', printing nothing)."""
    monkeypatch.chdir(tmp_path)
    err = fail([a.format(**files) for a in args], capsys)
    assert "'-' is stdin, not an output" in err and err.count("\n") == 1
    assert not (tmp_path / "-").exists()


def test_atomic_write_refuses_dash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SerkitError, match="is stdin, not an output"), atomic_write("-") as f:
        f.write("x")
    assert not (tmp_path / "-").exists()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from _runtime_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tag") / "m")


def test_tag_that_fails_never_replaces_the_output(tiny_model, tmp_path, capsys):
    """A run that ends in exit 2 (its one input unreadable, or nothing tagged) replaced an
    existing -o file with an empty one; one that tags something keeps its output (exit 1)."""
    out = tmp_path / "out.jsonl"
    out.write_text('{"precious": true}\n', encoding="utf-8")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\nnot \xff UTF-8\n")
    worse = tmp_path / "worse.csv"
    worse.write_text('id,text\n1,fine\n2,"never closed\n3,lost\n', encoding="utf-8")
    good = tmp_path / "good.txt"
    good.write_text("I use Python.\n", encoding="utf-8")
    common = ["-m", str(tiny_model), "--workers", "1", "--no-progress", "-o", str(out)]
    err = fail(["tag", str(bad), *common], capsys)
    assert "bad.txt:2: not UTF-8" in err
    err = fail(["tag", str(worse), *common], capsys)  # one record tagged, then the file broke
    assert "worse.csv:3: invalid CSV: a quoted cell is never closed" in err
    utf16 = tmp_path / "utf16.txt"
    utf16.write_bytes("I use Python.".encode("utf-16"))
    err = fail(["tag", str(bad), str(utf16), *common], capsys)
    assert "2 of 2 inputs skipped, 0 tagged" in err
    assert out.read_text(encoding="utf-8") == '{"precious": true}\n'
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(SystemExit) as exc:
        main(["tag", str(bad), str(good), *common])
    assert exc.value.code == 1 and "1 of 2 inputs skipped, 1 tagged" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8").startswith('{"id": "')


def test_csv_quote_never_closed_is_an_error_not_one_huge_cell(tmp_path):
    """Without csv's strict mode a quote left open swallowed every later row into one cell
    (rows 3 and 4 were tagged as part of row 2's text), and `"a"b` read as `ab`."""
    from serkit.files.records import iter_records

    p = tmp_path / "posts.csv"
    p.write_text('id,text\n1,fine\n2,"oops\n3,lost\n4,lost too\n', encoding="utf-8")
    got = []
    with pytest.raises(DataFormatError, match=r"posts.csv:3: invalid CSV: a quoted cell is never"):
        got.extend(r.text for r in iter_records(p))
    assert got == ["fine"]
    p.write_text('id,text\n1,"a"b\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"posts.csv:2: invalid CSV"):
        list(iter_records(p))
    p.write_text('id,text\n1,"multi\nline ""quoted"""\n2,plain "inner" quotes\n', encoding="utf-8")
    assert [r.text for r in iter_records(p)] == ['multi\nline "quoted"', 'plain "inner" quotes']


@pytest.mark.parametrize("name", ["", "two words", "a\nb", "tab\there"])
def test_eval_record_needs_a_protocol_name(name, files, tmp_path, capsys):
    """--record '' or a name with a newline was stored in the card (and printed as two
    stderr lines); it is refused before the model is even loaded."""
    err = fail(["eval", str(files["gold"]), "-m", str(tmp_path / "no-model"), "--record", name],
               capsys)  # fmt: skip
    assert "a protocol name is one word" in err and "no-model" not in err


def test_tokenize_show_must_not_be_negative(files, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tokenize", "--check", str(files["gold"]), "--show", "-1"])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_loading_a_torch_model_draws_no_transformers_progress_bars(tiny_dirs):
    """transformers drew "Loading weights 0/39 ... 39/39" on stderr on every torch load,
    in logs and pipes too; the command's own output is all that should be there."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    proc = subprocess.run(
        [sys.executable, "-m", "serkit", "tag", "--model", str(tiny_dirs["torch"])]
        + ["--runtime", "torch", "I use Linux."],
        capture_output=True,
        text=True,
        env={**env, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"entities"' in proc.stdout
    assert "Loading weights" not in proc.stderr and "it/s]" not in proc.stderr, proc.stderr
