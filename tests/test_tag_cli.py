"""`serkit tag`: inputs (text, stdin, files, folders, globs), formats, -o, errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import serkit.cli.main as cli_main
from serkit.cli._app import app
from serkit.files import read

TEXT = "I installed TensorFlow on Ubuntu 22.04 with pip and ran it on an NVIDIA A100."
TRICKY = 'Use <script>alert("x")</script> & Python 🐍 on Linux; 中文 Ubuntu.'


def run(args, input=None):
    return CliRunner().invoke(app, ["tag", *args], input=input, catch_exceptions=False)


def records(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def check_record(rec: dict, text: str) -> None:
    for e in rec["entities"]:
        assert text[e["start"] : e["end"]] == e["text"]
        assert 0 <= e["score"] <= 1 and e["label"]


def test_text_argument_gives_one_jsonl_record(tiny_dirs, onnx_tagger):
    res = run([TEXT, "--model", str(tiny_dirs["onnx"])])
    assert res.exit_code == 0, res.output
    (rec,) = records(res.stdout)
    assert rec["id"] == "text-1" and rec["text"] == TEXT
    check_record(rec, TEXT)
    assert rec["entities"] == [e.to_dict() for e in onnx_tagger(TEXT)]


def test_stdin(tiny_dirs):
    res = run(["-", "-m", str(tiny_dirs["onnx"])], input=TRICKY + "\n")
    assert res.exit_code == 0
    (rec,) = records(res.stdout)
    assert rec["id"] == "stdin" and rec["text"] == TRICKY + "\n"
    check_record(rec, rec["text"])


def test_stdin_lines(tiny_dirs):
    res = run(["-", "--lines", "-m", str(tiny_dirs["onnx"])], input=f"{TEXT}\n\n{TRICKY}\n")
    recs = records(res.stdout)
    assert [r["id"] for r in recs] == ["stdin:1", "stdin:3"]
    assert [r["text"] for r in recs] == [TEXT, TRICKY]


def test_files_folders_and_globs_in_order(tmp_path, tiny_dirs):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text(TEXT, encoding="utf-8")
    (docs / "sub" / "b.txt").write_text(TRICKY * 50, encoding="utf-8")
    (docs / "c.md").write_text("not matched by *.txt", encoding="utf-8")
    (docs / ".hidden.txt").write_text("hidden", encoding="utf-8")
    single = tmp_path / "single.txt"
    single.write_text("\ufeff" + TEXT, encoding="utf-8")  # BOM dropped
    res = run(
        [str(single), str(docs), str(docs / "*.md"), "-m", str(tiny_dirs["onnx"]), "--progress"]
    )
    assert res.exit_code == 0, res.output
    recs = records(res.stdout)
    assert [r["path"] for r in recs] == [
        str(single),
        str(docs / "a.txt"),
        str(docs / "sub" / "b.txt"),
        str(docs / "c.md"),
    ]
    assert all("text" not in r for r in recs)
    for r in recs:
        with open(r["path"], encoding="utf-8-sig") as f:
            check_record(r, f.read())
    assert "tagging" in res.stderr  # progress bar for several files


def test_output_file_is_written_atomically(tmp_path, tiny_dirs):
    out = tmp_path / "out" / "tags.jsonl"
    res = run([TEXT, TRICKY, "-o", str(out), "-m", str(tiny_dirs["onnx"])])
    assert res.exit_code == 0 and res.stdout == ""
    assert [r["id"] for r in records(out.read_text(encoding="utf-8"))] == ["text-1", "text-2"]
    assert [p.name for p in out.parent.iterdir()] == ["tags.jsonl"]


def test_failed_run_leaves_no_output(tmp_path, tiny_dirs):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9 latin-1\n")
    good = tmp_path / "good.txt"
    good.write_text(TEXT)
    out = tmp_path / "tags.jsonl"
    args = ["tag", str(good), str(bad), "-o", str(out), "-m", str(tiny_dirs["onnx"]), "--strict"]
    with pytest.raises(SystemExit) as exc:
        cli_main.main(args)
    assert exc.value.code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt", "good.txt"]


def test_bad_file_in_a_folder_keeps_the_good_results(tmp_path, tiny_dirs, capsys):
    """Issue 16.2: good files tagged, the bad one reported with its reason, a summary,
    exit 1; ``--encoding latin-1`` reads it; ``--strict`` stops (above)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(TEXT, encoding="utf-8")
    (docs / "b.txt").write_bytes("caf\u00e9 on Linux".encode("latin-1"))
    (docs / "c.txt").write_text(TRICKY, encoding="utf-8")
    (docs / "d.txt").write_bytes(TEXT.encode("utf-16-le"))
    out = tmp_path / "tags.jsonl"
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["tag", str(docs), "-o", str(out), "-m", str(tiny_dirs["onnx"])])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert [Path(r["path"]).name for r in records(out.read_text())] == ["a.txt", "c.txt"]
    assert f"{docs / 'b.txt'}:1: not UTF-8" in err
    assert f"{docs / 'd.txt'}:1: UTF-16-LE text without a byte-order mark" in err
    assert "2 of 4 inputs skipped, 2 tagged" in err
    res = run([str(docs / "b.txt"), "--encoding", "latin-1", "-m", str(tiny_dirs["onnx"])])
    assert res.exit_code == 0
    res = run([str(docs / "d.txt"), "--encoding", "auto", "-m", str(tiny_dirs["onnx"])])
    assert res.exit_code == 0 and len(records(res.stdout)) == 1


def test_empty_argument_and_missing_path_lookalike(tiny_dirs, capsys, tmp_path, monkeypatch):
    """Issue 16.1 and 16.4: `serkit tag ""` and a missing `docker-compose.yml` are errors;
    `--text` tags the name as text."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.txt").write_text(TEXT)
    for args, message in (([""], "empty argument"), (["docker-compose.yml"], "--text")):
        with pytest.raises(SystemExit) as exc:
            cli_main.main(["tag", *args, "-m", str(tiny_dirs["onnx"])])
        assert exc.value.code == 2 and message in capsys.readouterr().err
    res = run(["--text", "docker-compose.yml", "-m", str(tiny_dirs["onnx"])])
    assert res.exit_code == 0 and records(res.stdout)[0]["text"] == "docker-compose.yml"


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.txt"], "no such file"),
        (["nothing/*.txt"], "no file matches"),
        (["x", "--format", "xml"], "unknown format"),
        (["x", "--model", "/no/such/model"], "no such model directory"),
        (["-", "-"], "only once"),
    ],
)
def test_user_errors_exit_2_with_one_line(args, message, capsys, tiny_dirs):
    if "--model" not in args:
        args = [*args, "--model", str(tiny_dirs["onnx"])]
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["tag", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_undecodable_file_names_path_and_line(tmp_path, capsys, tiny_dirs):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\nsecond caf\xe9\n")
    with pytest.raises(SystemExit):
        cli_main.main(["tag", str(bad), "-m", str(tiny_dirs["onnx"])])
    assert f"{bad}:2: not UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["conll", "wikiser"])
def test_column_formats_read_back(tmp_path, fmt, tiny_dirs, onnx_tagger):
    out = tmp_path / f"out.{fmt}"
    res = run([TEXT, TRICKY, "--format", fmt, "-o", str(out), "-m", str(tiny_dirs["onnx"])])
    assert res.exit_code == 0, res.output
    sents = list(read(out, fmt))
    expected = [
        s for text in (TEXT, TRICKY) for s in next(onnx_tagger.pipe_tagged([text])).sentences
    ]
    assert [s.tokens for s in sents] == [s.tokens for s in expected]
    assert [s.tags for s in sents] == [s.tags for s in expected]


def test_html_page_escapes_and_has_a_legend(tmp_path, tiny_dirs, onnx_tagger):
    out = tmp_path / "page.html"
    res = run([TRICKY, TEXT, "-o", str(out), "-m", str(tiny_dirs["onnx"])])
    assert res.exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script>" not in page and "&lt;script&gt;" in page and "&amp;" in page
    assert 'class="legend"' in page
    for t in onnx_tagger.entity_types:
        assert f">{t}</span>" in page
    n_marks = sum(len(onnx_tagger(t)) for t in (TRICKY, TEXT))
    assert page.count("<mark ") == n_marks > 0
    assert "🐍" in page and "中文" in page


def test_long_input_is_not_truncated(tiny_dirs, onnx_tagger):
    text = " ".join([TEXT] * 400)  # ~32,000 characters, many windows
    res = run(["-", "-m", str(tiny_dirs["onnx"])], input=text)
    (rec,) = records(res.stdout)
    check_record(rec, text)
    assert rec["entities"] == [e.to_dict() for e in onnx_tagger(text)]
    assert rec["entities"][-1]["end"] > len(text) - len(TEXT)


# --- records: JSONL, JSON, CSV, TSV (issue 16 item 3) -------------------------------------


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_records_keep_their_fields_in_order(tmp_path, tiny_dirs, onnx_tagger):
    rows = [
        {"id": 7, "text": TEXT, "lang": "en"},
        {"id": "b", "text": TRICKY, "meta": {"votes": 3}},
        {"text": "", "id": None},
    ]
    res = run([str(write_jsonl(tmp_path / "posts.jsonl", rows)), "-m", str(tiny_dirs["onnx"])])
    assert res.exit_code == 0, res.output
    recs = records(res.stdout)
    assert len(recs) == 3
    for row, rec in zip(rows[:2], recs[:2], strict=True):
        assert {k: v for k, v in rec.items() if k != "entities"} == row
        assert rec["entities"] == [e.to_dict() for e in onnx_tagger(row["text"])]
    path = str(tmp_path / "posts.jsonl")
    assert recs[2] == {"id": f"{path}:3", "text": "", "entities": []}  # no id: file:line


def test_json_array_csv_and_tsv_give_the_same_records(tmp_path, tiny_dirs):
    import csv

    rows = [{"id": "1", "body": TEXT, "tags": "x"}, {"id": "2", "body": 'a\nmulti-line, "quoted"'}]
    (tmp_path / "p.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    for name, dialect in (("p.csv", "excel"), ("p.tsv", "excel-tab")):
        with open(tmp_path / name, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, ["id", "body", "tags"], dialect=dialect)
            w.writeheader()
            for r in rows:
                w.writerow(r)
    outs = []
    for name in ("p.json", "p.csv", "p.tsv"):
        res = run([str(tmp_path / name), "--text-field", "body", "-m", str(tiny_dirs["onnx"])])
        assert res.exit_code == 0, res.output
        outs.append(records(res.stdout))
    assert [r["id"] for r in outs[0]] == ["1", "2"]
    assert [r["body"] for r in outs[0]] == [TEXT, rows[1]["body"]]
    for recs in outs[1:]:  # CSV cells are strings; a missing cell is ""
        assert [r["entities"] for r in recs] == [r["entities"] for r in outs[0]]
        assert [r["body"] for r in recs] == [TEXT, rows[1]["body"]]


def test_stdin_records_with_input_format(tiny_dirs):
    res = run(
        ["-", "--input-format", "jsonl", "-m", str(tiny_dirs["onnx"])],
        input=json.dumps({"id": "s", "text": TEXT}) + "\n",
    )
    assert res.exit_code == 0, res.output
    assert [r["id"] for r in records(res.stdout)] == ["s"]
    # and --input-format text tags a .jsonl file as text, as before
    res = run(["-", "-m", str(tiny_dirs["onnx"])], input='{"text": "x"}')
    assert records(res.stdout)[0]["text"] == '{"text": "x"}'


def test_records_starting_on_one_line_get_distinct_ids(tmp_path, tiny_dirs, capsys):
    """Without an id field a record is ``file:line``; the second and later records starting
    on one line (a one-line JSON array) are ``file:line#2``, ``#3``..., counted by position,
    bad records too, so each id still finds its record; one record a line keeps plain
    ``file:line``."""
    one_line = tmp_path / "arr.json"
    rows = [{"text": "Python"}, {"text": "Rust"}, 5, {"id": "x", "text": "Go"}, {"text": "C"}]
    one_line.write_text(json.dumps(rows) + "\n", encoding="utf-8")
    pretty = tmp_path / "pretty.json"
    pretty.write_text('[{"text": "a"},\n {"text": "b"}, {"text": "c"},\n {"text": "d"}]')
    with pytest.raises(SystemExit) as exc:  # the 5 is a bad record, skipped
        cli_main.main(["tag", str(one_line), str(pretty), "-m", str(tiny_dirs["onnx"])])
    assert exc.value.code == 1
    ids = [r["id"] for r in records(capsys.readouterr().out)]
    a, p = str(one_line), str(pretty)
    assert ids == [f"{a}:1", f"{a}:1#2", "x", f"{a}:1#5", f"{p}:1", f"{p}:2", f"{p}:2#2", f"{p}:3"]
    assert len(set(ids)) == len(ids)


def test_stdin_is_stdin_in_every_id(tiny_dirs):
    """Text, its lines, and records without an id read from stdin: ids say ``stdin`` (error
    messages say ``<stdin>``)."""
    model = ["-m", str(tiny_dirs["onnx"])]
    assert [r["id"] for r in records(run(["-", *model], input=TEXT).stdout)] == ["stdin"]
    res = run(["-", "--lines", *model], input=f"{TEXT}\n{TEXT}\n")
    assert [r["id"] for r in records(res.stdout)] == ["stdin:1", "stdin:2"]
    res = run(["-", "--input-format", "jsonl", *model], input='\n{"text": "Python"}\n')
    assert [r["id"] for r in records(res.stdout)] == ["stdin:2"]
    res = run(["-", "--input-format", "json", *model], input='[{"text": "a"}, {"text": "b"}]')
    assert [r["id"] for r in records(res.stdout)] == ["stdin:1", "stdin:1#2"]


def test_bad_records_are_reported_by_line_and_the_rest_kept(tmp_path, tiny_dirs, capsys):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"id": 1, "text": TEXT}),
                "{not json",
                json.dumps({"id": 3, "body": "no text field"}),
                json.dumps([1, 2]),
                json.dumps({"id": 5, "text": None}),
                json.dumps({"id": 6, "text": "gold", "entities": []}),
                json.dumps({"id": 7, "text": TRICKY}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    model = ["-m", str(tiny_dirs["onnx"])]
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["tag", str(path), "-o", str(out), *model])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert [r["id"] for r in records(out.read_text())] == [1, 7]
    for line, reason in (
        (2, "invalid JSON"),
        (3, "no 'text' field"),
        (4, "expected an object with a 'text' field, not an array"),
        (5, "'text' is null, not a string"),
        (6, "the record has an 'entities' field already"),
    ):
        assert f"{path}:{line}: {reason}" in err
    assert "5 bad records skipped, 2 tagged" in err
    with pytest.raises(SystemExit) as exc:  # --strict stops at the first, writes nothing
        cli_main.main(["tag", str(path), "-o", str(tmp_path / "s.jsonl"), "--strict", *model])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"{path}:2: invalid JSON" in err and err.count("\n") == 1
    assert not (tmp_path / "s.jsonl").exists()


def test_an_undecodable_jsonl_line_is_a_bad_record_not_the_end_of_the_file(
    tmp_path, tiny_dirs, capsys
):
    """A JSONL line is a record of its own: bytes that are not UTF-8 in one (a latin-1
    paste) skip that record, as invalid JSON does, and the records after it are tagged
    (they were lost, and with one input the run failed with exit 2)."""
    path = tmp_path / "posts.jsonl"
    good = [json.dumps({"id": i, "text": f"Doc {i} on Linux."}).encode() for i in range(5)]
    path.write_bytes(b"\n".join([*good[:2], b'{"id": 9, "text": "caf\xe9"}', *good[2:]]) + b"\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["tag", str(path), "-o", str(out), "-m", str(tiny_dirs["onnx"])])
    assert exc.value.code == 1
    assert [r["id"] for r in records(out.read_text())] == [0, 1, 2, 3, 4]
    err = capsys.readouterr().err
    assert f"{path}:3: not UTF-8 text (byte 0xe9 at offset 22)" in err
    assert "1 bad records skipped, 5 tagged" in err
    with pytest.raises(SystemExit) as exc:  # --strict still stops there
        cli_main.main(["tag", str(path), "--strict", "-m", str(tiny_dirs["onnx"])])
    assert exc.value.code == 2


def test_bad_table_and_json_files(tmp_path, tiny_dirs, capsys):
    model = ["-m", str(tiny_dirs["onnx"])]
    (tmp_path / "a.csv").write_text("id,body\n1,x\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("id,text\n1,fine\n2,too,many\n3,ok\n", encoding="utf-8")
    (tmp_path / "c.json").write_text('[\n  {"text": "one"},\n  {"text": "two"}\n  {"x": 1}\n]')
    args = [str(tmp_path / n) for n in ("a.csv", "b.csv", "c.json")]
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["tag", *args, *model])
    assert exc.value.code == 1
    cap = capsys.readouterr()
    assert [r["text"] for r in records(cap.out)] == ["fine", "ok", "one", "two"]
    assert f"{tmp_path / 'a.csv'}:1: no 'text' column in the header row" in cap.err
    assert f"{tmp_path / 'b.csv'}:3: 3 cells, the header row has 2" in cap.err
    assert f"{tmp_path / 'c.json'}:4: invalid JSON: expected ',' or ']'" in cap.err
    assert "2 of 3 inputs skipped, 1 bad records skipped, 4 tagged" in cap.err


def test_records_with_lines_is_an_error(tmp_path, tiny_dirs, capsys):
    path = write_jsonl(tmp_path / "p.jsonl", [{"text": TEXT}])
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["tag", str(path), "--lines", "-m", str(tiny_dirs["onnx"])])
    assert exc.value.code == 2 and "--input-format text" in capsys.readouterr().err


def test_record_encodings(tmp_path, tiny_dirs):
    text = "café on Linux"
    (tmp_path / "l1.csv").write_bytes(f"id,text\n1,{text}\n".encode("latin-1"))
    (tmp_path / "u16.jsonl").write_bytes(
        (json.dumps({"id": 1, "text": text}, ensure_ascii=False) + "\n").encode("utf-16")
    )
    model = ["-m", str(tiny_dirs["onnx"])]
    res = run([str(tmp_path / "l1.csv"), "--encoding", "latin-1", *model])
    assert res.exit_code == 0 and records(res.stdout)[0]["text"] == text
    res = run([str(tmp_path / "u16.jsonl"), "--encoding", "auto", *model])
    assert res.exit_code == 0 and records(res.stdout)[0]["text"] == text


# --- progress (issue 16 item 5) -----------------------------------------------------------


def test_progress_only_on_a_terminal(tmp_path, tiny_dirs, monkeypatch):
    import serkit.cli.tag as tag_cmd

    big = tmp_path / "big.txt"
    big.write_text((TEXT + " ") * 200, encoding="utf-8")
    args = [str(big), "-m", str(tiny_dirs["onnx"])]
    monkeypatch.setattr(tag_cmd, "PROGRESS_DELAY", 0)
    assert "tagging" not in run(args).stderr  # stderr is not a terminal here
    monkeypatch.setattr(tag_cmd, "_is_terminal", lambda stream: True)
    res = run(args)
    assert res.exit_code == 0
    assert "tagging" in res.stderr and "100%" in res.stderr  # by bytes, up to the file size
    assert "tagging" not in run([*args, "--no-progress"]).stderr


# --- help text (issue 16 item 9) ----------------------------------------------------------


def test_help_has_plain_metavars_and_commands_in_a_users_order(capsys):
    with pytest.raises(SystemExit):
        cli_main.main(["--help"])
    top = capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli_main.main(["tag", "--help"])
    tag_help = capsys.readouterr().out
    for text in (top, tag_help):
        assert "<bool>" not in text and "<list[" not in text and "{inputs}" not in text
        assert "<path>" not in text and "<int" not in text and "<str>" not in text
    assert "tag [OPTIONS] INPUTS..." in tag_help
    assert "--workers" in tag_help and "--text-field" in tag_help
    listed = [
        m.group(1) for line in top.splitlines() if (m := re.match(r"│ ([a-z][a-z-]*) ", line))
    ]
    assert listed[:3] == ["tag", "train", "eval"]
    assert listed.index("tokenize") > listed.index("data")


def test_a_tagged_text_is_a_tagged_doc_of_plain_sentences(tmp_path, onnx_tagger):
    """``pipe_tagged`` gives the document shape ``serkit tag`` writes: a ``TaggedDoc`` whose
    sentences are plain ``Sentence`` objects (words, tags, scores, offsets into the text)
    that any corpus writer takes as they are, and whose entities are ``tagger(text)``'s."""
    from serkit import files
    from serkit.tokens import Sentence, TaggedDoc

    text = f"{TEXT} {TRICKY}"
    (doc,) = onnx_tagger.pipe_tagged([text])
    assert isinstance(doc, TaggedDoc) and doc.text == text and len(doc.sentences) >= 2
    assert doc.entities == onnx_tagger(text)
    for s in doc.sentences:
        assert type(s) is Sentence
        assert [text[a:b] for a, b in s.meta["offsets"]] == s.tokens
        assert len(s.scores) == len(s.tags) == len(s.tokens)
    out = tmp_path / "s.conll"
    assert files.write(out, doc.sentences) == len(doc.sentences)
    back = [(s.tokens, s.tags) for s in files.read_all(out)]
    assert back == [(s.tokens, s.tags) for s in doc.sentences]


def test_a_format_that_drops_record_fields_says_so_once(tmp_path, tiny_dirs, capsys):
    rows = [{"id": 1, "text": TEXT, "votes": 3}, {"id": 2, "text": TRICKY, "votes": 1}]
    src = str(write_jsonl(tmp_path / "posts.jsonl", rows))
    for fmt in ("conll", "hf"):
        res = CliRunner().invoke(app, ["tag", src, "-f", fmt, "-m", str(tiny_dirs["onnx"])])
        assert res.exit_code == 0, res.output
        assert res.stderr.count("note:") == 1 and "'votes'" in res.stderr
        assert "are not written (-f jsonl keeps them)" in res.stderr
    res = run([src, "-f", "jsonl", "-m", str(tiny_dirs["onnx"])])
    assert "note:" not in res.stderr and [r["votes"] for r in records(res.stdout)] == [3, 1]
