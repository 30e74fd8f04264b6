"""Input integrity and bounds (issue 14, items 5, 8, 9, 10, 12): piped input is read, not
lost; labels are checked like tokens; temp files never outlive a run; inputs are read in
bounded pieces; every failure is one line and exit code 2."""

from __future__ import annotations

import errno
import io as stdio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import serkit.files.atomic as atomic
import serkit.files.inputs as inputs
from serkit import files
from serkit.cli.main import main
from serkit.documents import Source, decode, read_source, resolve_inputs, split_lines
from serkit.errors import DataFormatError, LimitExceeded, SerkitError

WIKISER = "<s>\nI\tO\nuse\tO\nPython\tB-Language\n</s>\n<s>\nLinux\tB-Operating_System\n</s>\n"
JSONL = '{"text": "I use Python", "entities": [{"start": 6, "end": 12, "label": "Language"}]}\n'


def run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return exc.value.code or 0, out, err


def fail(args: list[str], capsys) -> str:
    code, _, err = run(args, capsys)
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


@pytest.fixture
def gold(tmp_path: Path) -> Path:
    p = tmp_path / "gold.txt"
    p.write_text(WIKISER, encoding="utf-8")
    return p


def _stats(args: list[str], capsys) -> dict:
    code, out, err = run(["data", "stats", *args, "--json"], capsys)
    assert code == 0, err
    return {k: v for k, v in json.loads(out).items() if k != "files"}


def _pipe_path(data: bytes) -> str:
    """``/dev/fd/N`` of a pipe fed by a thread: what ``<(cat f)`` hands a program."""
    r, w = os.pipe()

    def feed() -> None:
        with os.fdopen(w, "wb") as f:
            f.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return f"/dev/fd/{r}"


def _fifo(tmp_path: Path, data: bytes, name: str = "fifo") -> Path:
    p = tmp_path / name
    os.mkfifo(p)

    def feed() -> None:
        with open(p, "wb") as f:
            f.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return p


# -- item 5: piped input -------------------------------------------------------------


def test_stdin_dash_counts_the_same_as_the_file(gold, monkeypatch, capsys):
    expected = _stats([str(gold)], capsys)
    assert expected["sentences"] == 2
    monkeypatch.setattr(sys, "stdin", stdio.TextIOWrapper(stdio.BytesIO(gold.read_bytes())))
    assert _stats(["-"], capsys) == expected


def test_process_substitution_and_fifo_are_read_once(gold, tmp_path, capsys):
    expected = _stats([str(gold)], capsys)
    assert _stats([_pipe_path(gold.read_bytes())], capsys) == expected
    assert _stats([str(_fifo(tmp_path, gold.read_bytes()))], capsys) == expected


@pytest.mark.parametrize("fmt", ["jsonl", "conll"])
def test_convert_from_a_pipe_writes_every_sentence(gold, tmp_path, fmt, capsys):
    out = tmp_path / f"out.{fmt}"
    code, _, err = run(
        ["data", "convert", _pipe_path(gold.read_bytes()), str(out), "--to", fmt], capsys
    )
    assert code == 0 and "wrote 2 sentences" in err
    assert [s.tokens for s in files.read_all(out)] == [s.tokens for s in files.read_all(gold)]


def test_eval_lexicon_and_tokenize_read_pipes(gold, tmp_path, capsys):
    data = gold.read_bytes()
    code, out, err = run(["eval", _pipe_path(data), _pipe_path(data), "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["micro"]["f1"] == 1.0
    lex = tmp_path / "lex.tsv"
    code, _, err = run(["lexicon", "build", str(_fifo(tmp_path, data)), "-o", str(lex)], capsys)
    assert code == 0, err
    assert "Python" in lex.read_text(encoding="utf-8")
    code, out, _ = run(["tokenize", "--check", _pipe_path(data)], capsys)
    assert code == 0 and "\t2/2\t" in out


def test_weak_label_reads_a_pipe(tmp_path, capsys):
    lex = tmp_path / "lex.tsv"
    lex.write_text("surface\ttypes\nPython\tLanguage:2\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    text = b"I use Python every day.\nIt is a language we like a lot.\n"
    code, _, err = run(["weak-label", _pipe_path(text), "-l", str(lex), "-o", str(out)], capsys)
    assert code == 0, err
    (rec,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()][:1]
    assert rec["entities"][0]["label"] == "Language"


def test_stdin_twice_is_refused(gold, capsys):
    assert "only once" in fail(["data", "stats", "-", "-"], capsys)
    assert "only once" in fail(["eval", "-", "-"], capsys)


def test_cat_into_data_stats_dash_acceptance(gold):
    """The acceptance check of issue 14, through a real pipe and a real process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "serkit", "data", "stats", "--json"]
    direct = subprocess.run([*cmd, str(gold)], capture_output=True, env=env, check=True)
    piped = subprocess.run(
        f"cat {gold} | {' '.join(cmd)} -", shell=True, capture_output=True, env=env, check=True
    )
    strip = lambda out: {k: v for k, v in json.loads(out).items() if k != "files"}  # noqa: E731
    assert strip(piped.stdout) == strip(direct.stdout)
    assert strip(direct.stdout)["sentences"] == 2


# -- item 8: labels are checked like tokens ----------------------------------------------


@pytest.mark.parametrize("label", ["Lang\tuage", "Lang\nuage", "Lang uage", "Lang\x00", ""])
def test_jsonl_label_with_whitespace_or_control_is_a_line_error(tmp_path, label, capsys):
    src = tmp_path / "in.jsonl"
    rec = {"text": "I use Python", "entities": [{"start": 6, "end": 12, "label": label}]}
    src.write_text(JSONL + json.dumps(rec) + "\n", encoding="utf-8")
    out = tmp_path / "out.conll"
    err = fail(["data", "convert", str(src), str(out), "--to", "conll"], capsys)
    assert f"{src}:2: " in err
    assert not out.exists()


# -- item 9: temp files --------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_mid_write_leaves_no_temp_file(tmp_path, sig):
    out = tmp_path / "out.txt"
    code = textwrap.dedent(
        f"""
        import os, signal, sys
        from serkit.files.atomic import atomic_write
        # as in a terminal (a background job of a script starts with SIGINT ignored,
        # and a run under nohup with SIGHUP ignored: both are inherited)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        with atomic_write({str(out)!r}) as f:
            f.write("x" * 100000)
            f.flush()
            print("writing", flush=True)
            sys.stdin.readline()  # wait for the signal
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout.readline() == b"writing\n"
    assert len(list(tmp_path.iterdir())) == 1  # the temp file
    proc.send_signal(sig)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_files_of_ours_are_swept_on_the_next_write(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old = time.time() - 3600
    stale = tmp_path / f".out.jsonl.serkit-{dead.pid}-abcd_123.tmp"
    alive = tmp_path / f".out.jsonl.serkit-{os.getppid()}-abcd_123.tmp"  # process running
    fresh = tmp_path / f".x.serkit-{dead.pid}-zzzzzzzz.tmp"  # newer than this run
    foreign = tmp_path / f".out.jsonl.{dead.pid}-abcd_123.tmp"  # not our naming
    for p in (stale, alive, fresh, foreign):
        p.write_text("partial")
    for p in (stale, alive, foreign):
        os.utime(p, (old, old))
    with atomic.atomic_write(tmp_path / "other.txt") as f:
        f.write("done")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, fresh.name, foreign.name, "other.txt"]
    )


def test_temp_file_name_is_ours(tmp_path):
    with atomic.atomic_write(tmp_path / "out.jsonl") as f:
        (tmp,) = [p for p in tmp_path.iterdir()]
        assert atomic._TMP_RE.match(tmp.name)
        f.write("x")


# -- item 10: bounded reads ------------------------------------------------------------


def test_dev_zero_fails_fast_with_the_limit(capsys):
    t = time.perf_counter()
    err = fail(["data", "stats", "/dev/zero"], capsys)
    assert "/dev/zero:1: line longer than 16 MiB" in err
    with pytest.raises(LimitExceeded, match="larger than 16 MiB"):
        read_source(Source("/dev/zero", "/dev/zero"))
    with pytest.raises(LimitExceeded, match="line longer than"):
        list(split_lines([Source("/dev/zero", "/dev/zero")]))
    assert time.perf_counter() - t < 30


def test_a_sentence_without_separators_is_bounded(tmp_path, monkeypatch, capsys):
    import serkit.files._common as common

    monkeypatch.setattr(common, "MAX_SENTENCE_TOKENS", 5)
    p = tmp_path / "x.conll"
    p.write_text("a\tO\n" * 6, encoding="utf-8")
    assert "x.conll:6: sentence longer than 5 tokens" in fail(["data", "stats", str(p)], capsys)


def test_a_long_line_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(inputs, "MAX_LINE_BYTES", 10)
    p = tmp_path / "x.conll"
    p.write_text("a\tO\n" + "b" * 9 + "\n" + "c" * 11 + "\n", encoding="utf-8")
    with pytest.raises(LimitExceeded, match="x.conll:3: line longer than"):
        list(inputs.Input(p).raw_lines(inputs.MAX_LINE_BYTES))


# -- item 12: one line, exit 2 ---------------------------------------------------------


@pytest.mark.parametrize(
    "line, reason",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"text": "x", "id": ' + "9" * 5000 + "}", "invalid JSON"),
        ('{"text": ' + "[" * 100_000, "nested too deeply"),
    ],
)
def test_hostile_json_is_one_line(tmp_path, line, reason, capsys):
    p = tmp_path / "x.jsonl"
    p.write_text(JSONL + line + "\n", encoding="utf-8")
    err = fail(["data", "stats", str(p)], capsys)
    assert f"{p}:2: " in err and reason in err


def test_huge_error_message_is_clipped(tmp_path, capsys):
    p = tmp_path / "x.txt"
    p.write_text("<s>\nx\t" + "Q" * 10_000_000 + "\n</s>\n", encoding="utf-8")
    err = fail(["data", "stats", str(p)], capsys)
    assert len(err) < 3000 and "more characters" in err and f"{p}:2:" in err


def test_full_disk_names_the_path(tmp_path, gold, monkeypatch, capsys):
    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    out = tmp_path / "out.jsonl"
    err = fail(["data", "convert", str(gold), str(out), "--to", "jsonl"], capsys)
    assert f"{out}: cannot write: No space left on device" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gold.txt"]


def test_untraversable_parent_is_not_a_missing_file(tmp_path, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    target = locked / "gold.txt"
    real_stat, real_access = os.stat, os.access

    def stat(p, *a, **k):
        if str(p) == str(target):
            raise PermissionError(errno.EACCES, "Permission denied", str(p))
        return real_stat(p, *a, **k)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "access", lambda p, m: str(p) != str(locked) and real_access(p, m))
    for args in (["data", "stats", str(target)], ["eval", str(target), str(target)]):
        err = fail(args, capsys)
        assert f"permission denied on folder {locked}" in err and "no such file" not in err


def test_missing_input_is_one_line(tmp_path, capsys):
    for args in (
        ["data", "stats", str(tmp_path / "nope.txt")],
        ["eval", str(tmp_path / "nope.txt"), str(tmp_path / "nope.txt")],
        ["predict", str(tmp_path / "nope.txt")],
        ["data", "convert", str(tmp_path / "nope.txt"), str(tmp_path / "o.jsonl"), "--to", "jsonl"],
    ):
        assert "nope.txt: no such file or folder" in fail(args, capsys)


def test_empty_against_empty_eval_says_so(tmp_path, capsys):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("")
    b.write_text("\n")
    code, out, err = run(["eval", str(a), str(b), "--json"], capsys)
    assert code == 0 and json.loads(out)["micro"]["f1"] == 0.0
    assert f"note: {a} holds no sentences: nothing to score" in err


def _utf16(text: str, enc: str) -> bytes:
    return text.encode(enc)


@pytest.mark.parametrize("enc", ["utf-16-le", "utf-16-be", "utf-16"])
def test_utf16_corpus_is_refused_by_name(tmp_path, enc):
    p = tmp_path / "x.txt"
    p.write_bytes(WIKISER.encode(enc))
    with pytest.raises(DataFormatError, match="x.txt:1: UTF-16"):
        files.read_all(p)


@pytest.mark.parametrize("enc", ["utf-16-le", "utf-16-be"])
def test_utf16_text_is_refused_or_decoded(enc):
    text = "I use Python on Linux.\n"
    data = text.encode(enc)
    with pytest.raises(DataFormatError, match=f"{enc.upper()} text without a byte-order mark"):
        decode("f.txt", data)
    assert decode("f.txt", data, "auto") == text
    assert decode("f.txt", text.encode("utf-16"), "auto") == text  # with a BOM
    assert decode("f.txt", b"\xef\xbb\xbf" + text.encode(), "auto") == text
    assert decode("f.txt", "café".encode("latin-1"), "latin-1") == "café"
    with pytest.raises(DataFormatError, match="not UTF-8"):
        decode("f.txt", "café".encode("latin-1"), "auto")


# -- issue 16, items 1 and 4: what is a path ----------------------------------------------


def test_empty_argument_is_an_error():
    with pytest.raises(SerkitError, match="empty argument"):
        resolve_inputs([""])
    with pytest.raises(SerkitError, match="empty argument"):
        resolve_inputs(["ok", "  "])


@pytest.mark.parametrize("arg", ["docker-compose.yml", "notes.txt", "src/main", "a/b.c"])
def test_missing_path_lookalike_is_an_error_unless_text(arg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SerkitError, match="no such file or folder .*--text"):
        resolve_inputs([arg])
    (src,) = resolve_inputs([arg], as_text=True)
    assert src.text == arg and src.path is None


def test_text_with_spaces_is_text(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (src,) = resolve_inputs(["I use docker-compose.yml daily"])
    assert src.path is None
