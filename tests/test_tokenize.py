"""Tokenizer, sentence splitter and detokenizer: corpus conventions, offsets on arbitrary
text, linear time on hostile input, round-trip agreement on the real corpora, CLI."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import serkit.cli.tokenize  # noqa: F401  (registers `serkit tokenize` on the app)
from serkit import files
from serkit.cli._app import app
from serkit.errors import DataFormatError, InvalidText
from serkit.tokenize import detokenize, round_trip_agreement, sentences, tokenize

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SEP = re.compile(
    r"[\s\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


def words(text: str) -> list[str]:
    return [t.text for t in tokenize(text)]


def check_offsets(text: str) -> None:
    """Every token is a non-empty slice of the text, in order, without separators, and
    every non-separator character belongs to exactly one token."""
    toks = tokenize(text)
    covered = [False] * len(text)
    last_end = 0
    for t in toks:
        assert text[t.start : t.end] == t.text
        assert t.start >= last_end and t.end > t.start
        assert not SEP.search(t.text), t
        for k in range(t.start, t.end):
            covered[k] = True
        last_end = t.end
    for k, ch in enumerate(text):
        assert covered[k] or SEP.match(ch), (k, ch, text)


# ----------------------------------------------------------------- corpus conventions


@pytest.mark.parametrize(
    "token",
    [
        "C++", "C#", "F#", ".NET", "ASP.NET", "Node.js", "node.js", "x86-64", "802.11",
        "802.11ac", "ATI/AMD", "GPU-kernel-based", "I/O", "TCP/IP", "OS/2", "CP/M", "AT&T",
        "v1.2.3", "2.0", "3.10.4", "1.0-beta", "Win32", "HTTP/1.1", "GPL-2.0-or-later",
        "C++11", "libc++", "std::vector", "CONFIG.SYS", "e.g.", "i.e.", "U.S.", "vs.", "Dr.",
        "https://github.com/serkit/serkit", "http://example.com/a?b=1&c=%20#x",
        "www.example.org", "/usr/bin/env", "./run.sh", "../../lib/x.py", "~/.bashrc",
        "C:\\Windows\\System32", "config/modules.config.php", "--verbose", "-n", "@Entity",
        "#include", "$scope", "time(NULL)", "Thread.sleep()", "pt[0]", "19,850", "50%",
        "%PATH%", "user@example.com", "A*", "C--", "Wi-Fi", "L'Etrange",
    ],
)  # fmt: skip
def test_software_names_stay_whole(token: str) -> None:
    assert words(f"We use {token} daily") == ["We", "use", token, "daily"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ROCm's kernels", ["ROCm", "'s", "kernels"]),
        ("AMD’s GPUs", ["AMD", "’s", "GPUs"]),
        ("the (HPC) market", ["the", "(", "HPC", ")", "market"]),
        ("[Linux]", ["[", "Linux", "]"]),
        ("don't", ["do", "n't"]),
        ("can't", ["ca", "n't"]),
        ("it isn't", ["it", "is", "n't"]),
        ("I'm sure we'll", ["I", "'m", "sure", "we", "'ll"]),
        ("users' data", ["users", "'", "data"]),
        ("Use Python.", ["Use", "Python", "."]),
        ("Use Python 3.12.", ["Use", "Python", "3.12", "."]),
        ("Java, Go; Rust: yes!", ["Java", ",", "Go", ";", "Rust", ":", "yes", "!"]),
        ('Called "Request-URI Too Long"', ["Called", '"', "Request-URI", "Too", "Long", '"']),
        ("e.g., this", ["e.g.", ",", "this"]),
        ("such as MySQL, etc. and more", ["such", "as", "MySQL", ",", "etc", ".", "and", "more"]),
        ("Palm, Inc., the", ["Palm", ",", "Inc.", ",", "the"]),
        ('the "proxy." Then', ["the", '"', "proxy.", '"', "Then"]),
        ("see http://x.org/a).", ["see", "http://x.org/a", ")", "."]),
        # a URL keeps a bracket group it closes (StackOverflow NER writes them whole)
        (
            "see https://en.wikipedia.org/wiki/C_(programming_language).",
            ["see", "https://en.wikipedia.org/wiki/C_(programming_language)", "."],
        ),
        (
            "(at http://x.org/A.html#isChecked())",
            ["(", "at", "http://x.org/A.html#isChecked()", ")"],
        ),
        (
            "http://x.org/a(b)c) and http://x.org/a(b",
            ["http://x.org/a(b)c", ")", "and", "http://x.org/a(b"],
        ),
        ("$ 19,850 and $20", ["$", "19,850", "and", "$20"]),
        ("6.5% and 80%", ["6.5", "%", "and", "80%"]),
        ("CP/M -86 and -based", ["CP/M", "-86", "and", "-based"]),
        ("wait...", ["wait", "..."]),
        ("a -> b", ["a", "->", "b"]),
        ("thanks :)", ["thanks", ":)"]),
    ],
)
def test_conventions(text: str, expected: list[str]) -> None:
    assert words(text) == expected


def test_scripts_emoji_and_controls() -> None:
    assert words("我喜欢Python。") == ["我", "喜", "欢", "Python", "。"]
    assert words("مرحبا بالعالم؟") == ["مرحبا", "بالعالم", "؟"]
    assert words("שלום עולם") == ["שלום", "עולם"]
    assert words("👍🏽 ok 👨\u200d👩\u200d👧 🇺🇸") == ["👍🏽", "ok", "👨\u200d👩\u200d👧", "🇺🇸"]
    assert words("cafe\u0301 naïve") == ["cafe\u0301", "naïve"]  # combining accent stays
    assert words("a\x00b\x07c \u200fd\ufeff") == ["a", "b", "c", "d"]
    assert tokenize("") == [] and tokenize(" \n\t\u3000\x00 ") == []


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_offsets_on_arbitrary_text(text: str) -> None:
    check_offsets(text)


# Text built from the characters the rules care about, so hypothesis reaches them.
TRICKY = list(" \n\t.,;:!?'\"`’‘“”()[]{}<>-–—/\\|+#*&@$%^=~_ 0123456789aAnNtTsSxX.:/") + [
    "n't", "'s", "http://", "www.", "e.g.", "C++", "\u0301", "\u200d", "👍", "🏽", "中",
    "。", "\x00", "\u200f", "\ufeff", "…", "″", "×", "−",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TRICKY) | st.characters(), max_size=60).map("".join))
def test_offsets_on_tricky_text(text: str) -> None:
    check_offsets(text)
    sents = sentences(text)
    assert all(sents)
    assert [t for s in sents for t in s] == tokenize(text)


# ----------------------------------------------------------------------- sentences


def sentence_texts(text: str) -> list[str]:
    return [text[s[0].start : s[-1].end] for s in sentences(text)]


def test_sentences_basic_and_software_abbreviations() -> None:
    text = (
        "I use Node.js. It is fast, e.g. for APIs, i.e. servers. Upgrade to v2.0.1. "
        "Then Dr. Smith compared Go vs. Rust. J. Doe agreed! Why? Because.\n\nNew paragraph"
    )
    assert sentence_texts(text) == [
        "I use Node.js.",
        "It is fast, e.g. for APIs, i.e. servers.",
        "Upgrade to v2.0.1.",
        "Then Dr. Smith compared Go vs. Rust.",
        "J. Doe agreed!",
        "Why?",
        "Because.",
        "New paragraph",
    ]


def test_sentences_quotes_lists_cjk() -> None:
    assert sentence_texts('He said "use Python." Then he left.') == [
        'He said "use Python."',
        "Then he left.",
    ]
    assert sentence_texts("(It works.) Next one.") == ["(It works.)", "Next one."]
    assert sentence_texts("Steps:\n1. Install it.\n2. Run it.") == [
        "Steps:\n1. Install it.",
        "2. Run it.",
    ]
    assert sentence_texts("Apple Inc. released it. Fine etc. Next.") == [
        "Apple Inc. released it.",
        "Fine etc.",
        "Next.",
    ]
    assert sentence_texts("lower. case stays. Ok") == ["lower. case stays.", "Ok"]
    assert sentence_texts("我喜欢Python。他用C++！好") == ["我喜欢Python。", "他用C++！", "好"]
    assert sentence_texts("Features\n- fast\n- small") == ["Features", "- fast", "- small"]
    assert sentences("") == [] and sentences("  \n\n ") == []


def test_sentence_offsets_index_the_full_text() -> None:
    text = "First one. Second one.\n\nThird."
    sents = sentences(text)
    assert len(sents) == 3
    for s in sents:
        for t in s:
            assert text[t.start : t.end] == t.text
    assert sents[2][0].start == text.index("Third")


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def test_sentences_on_a_million_characters() -> None:
    para = (
        "Serkit tags C++ and Node.js in text, e.g. ROCm's (HPC) stack on x86-64. "
        "See https://example.com/a?b=1 or /usr/bin/env. 我喜欢Python。 Done!\n\n"
    )
    text = para * (1_000_000 // len(para) + 1)
    sents, dt = _timed(sentences, text)
    assert len(text) >= 1_000_000
    assert len(sents) == 4 * (len(text) // len(para)) + (len(text) % len(para) > 0)
    assert sents[-1][-1].end == len(text.rstrip())
    assert dt < 30, f"sentences() took {dt:.1f}s on 1M characters"


@pytest.mark.parametrize(
    "text",
    [
        "x" * 10_000,
        "a.b-" * 2_500,
        "http://" + "a/" * 5_000,
        "http://" + "(a)(" * 2_500,
        "f(" + "a" * 10_000,
        "[" * 10_000,
        "a(" * 5_000,
        "<" + "a" * 10_000,
        "a." * 5_000 + "b",
        "don" + "'t" * 5_000,
        ".." * 5_000,
        "\u0301" * 10_000,
        "e" + "\u0301" * 10_000,
    ],
)
def test_long_single_tokens_and_hostile_runs_are_fast(text: str) -> None:
    for t in (text, text * 20, text + " " * 200_000, text + "\x00" * 200_000):
        (_, dt) = _timed(tokenize, t)
        assert dt < 5, f"{dt:.1f}s on {t[:20]!r}... ({len(t)} chars)"
    check_offsets(text)


def test_a_ten_thousand_character_token_stays_whole() -> None:
    tok = "a" * 5_000 + "." + "b" * 4_999
    assert words(f"see {tok} now") == ["see", tok, "now"]


# ----------------------------------------------------------------------- detokenize


@pytest.mark.parametrize(
    ("tokens", "text"),
    [
        (["Hello", ",", "world", "!"], "Hello, world!"),
        (["ROCm", "'s", "stack", "(", "HPC", ")", "."], "ROCm's stack (HPC)."),
        (["I", "do", "n't", "know"], "I don't know"),
        (["Called", '"', "Too", "Long", '"', "in", "RFC"], 'Called "Too Long" in RFC'),
        (["users", "'", "data"], "users' data"),
        (["costs", "$", "5", "or", "6.5", "%"], "costs $ 5 or 6.5%"),
        (["wait", "..", "."], "wait.. ."),
        (["a", "-", "b", "/", "c"], "a - b / c"),
        (["我", "喜", "欢", "Python", "。"], "我喜欢 Python。"),
        ([], ""),
    ],
)
def test_detokenize_spacing(tokens: list[str], text: str) -> None:
    assert detokenize(tokens) == text
    if tokens:
        assert words(text) == tokens


def test_round_trip_agreement_counts_failures() -> None:
    res = round_trip_agreement([["C++", "is", "fine", "."], ["a b"], ["x", "y"]], keep=5)
    assert (res.agree, res.total) == (2, 3)
    assert res.failures == [(["a b"], ["a", "b"])]
    assert res.ratio == pytest.approx(2 / 3)


# ------------------------------------------------------------- real corpora (slow-ish)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("path", "threshold"),
    [("wikiser-small/test.txt", 0.97), ("softner-9/test.txt", 0.90)],
)
def test_round_trip_agreement_on_the_corpora(path: str, threshold: float) -> None:
    res = round_trip_agreement(s.tokens for s in files.read(DATA / path))
    assert res.total > 3000
    assert res.ratio >= threshold, f"{path}: {res.agree}/{res.total} = {res.ratio:.4f}"


# ------------------------------------------------------------------------------ CLI

runner = CliRunner()


def test_cli_prints_tokens_with_offsets() -> None:
    r = runner.invoke(app, ["tokenize", "ROCm's C++ (HPC)"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        "0\t4\tROCm", "4\t6\t's", "7\t10\tC++", "11\t12\t(", "12\t15\tHPC", "15\t16\t)"
    ]  # fmt: skip


def test_cli_json_stdin_and_sentences() -> None:
    r = runner.invoke(app, ["tokenize", "-", "--json"], input="Go vs. Rust.")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == [
        {"text": "Go", "start": 0, "end": 2},
        {"text": "vs.", "start": 3, "end": 6},
        {"text": "Rust", "start": 7, "end": 11},
        {"text": ".", "start": 11, "end": 12},
    ]
    r = runner.invoke(app, ["tokenize", "--sentences", "A b. C d."])
    assert r.exit_code == 0
    assert r.output == "0\t1\tA\n2\t3\tb\n3\t4\t.\n\n5\t6\tC\n7\t8\td\n8\t9\t.\n"


def test_cli_rejects_missing_text_and_bad_utf8() -> None:
    r = runner.invoke(app, ["tokenize"])
    assert r.exit_code == 2
    r = runner.invoke(app, ["tokenize", "-"], input=b"ok\n\xff\xfe\n")
    assert isinstance(r.exception, DataFormatError)
    assert str(r.exception) == "<stdin>:2: invalid UTF-8"
    # Undecodable bytes in an argument reach Python as lone surrogates: refused like stdin's,
    # not printed back as tokens with offsets into text that is not Unicode.
    r = runner.invoke(app, ["tokenize", "ab\udcff cd"])
    assert isinstance(r.exception, InvalidText) and "character 2" in str(r.exception)


def test_cli_check_prints_agreement(tmp_path: Path) -> None:
    f = tmp_path / "tiny.txt"
    f.write_text(
        "<s>\nROCm\tB-Library\n's\tO\nstack\tO\n.\tO\n</s>\n<s>\n[ x ] \tO\nok\tO\n</s>\n",
        encoding="utf-8",
    )
    r = runner.invoke(app, ["tokenize", "--check", str(f), "--show", "1"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[0] == f"{f}\t1/2\t50.00%"
    r = runner.invoke(app, ["tokenize", "--check", str(f), "--json"])
    assert json.loads(r.output) == [{"file": str(f), "agree": 1, "total": 2, "ratio": 0.5}]


# ------------------------------------------------------- arrays (the tagging hot path)


def finditer_reference(text: str) -> list[tuple[int, int]]:
    """Token spans straight from the scanner's match objects (what tokenize did before
    ``tokenize_arrays`` derived offsets from running lengths)."""
    from serkit.tokenize import _SCAN_RE, _SEP_CHARS

    return [m.span(2) for m in _SCAN_RE.finditer(text, 0, len(text.rstrip(_SEP_CHARS)))]


def check_arrays(text: str) -> None:
    from serkit.sentences import sentence_bounds, split_sentences
    from serkit.tokenize import tokenize_arrays

    a = tokenize_arrays(text)
    spans = finditer_reference(text)
    assert list(zip(a.starts, a.ends, strict=True)) == spans
    assert a.words == [text[s:e] for s, e in spans]
    assert a.gaps == [text[e:s] for e, s in zip([0, *a.ends], a.starts, strict=False)]
    toks = tokenize(text)
    assert [(t.text, t.start, t.end) for t in toks] == list(
        zip(a.words, a.starts, a.ends, strict=True)
    )
    bounds = sentence_bounds(a.words, a.gaps)
    assert [toks[lo:hi] for lo, hi in bounds] == split_sentences(text, toks) == sentences(text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arrays_match_match_objects_on_arbitrary_text(text: str) -> None:
    check_arrays(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TRICKY) | st.characters(), max_size=60).map("".join))
def test_arrays_match_match_objects_on_tricky_text(text: str) -> None:
    check_arrays(text)


def test_arrays_count_unscanned_characters_as_separators(monkeypatch) -> None:
    """Should the scanner ever skip characters, offsets stay right and the skipped
    characters join the separators before the next token."""
    import serkit.tokenize as tok

    monkeypatch.setattr(tok, "_SCAN_RE", re.compile(r"([ ]*+)([a-z]+)"))
    a = tok.tokenize_arrays("ab 1 cd")
    assert (a.words, a.starts, a.ends, a.gaps) == (["ab", "cd"], [0, 5], [2, 7], ["", " 1 "])


def test_runs_of_one_punctuation_character_stay_whole() -> None:
    assert words('a -- b ... c === d ""') == ["a", "--", "b", "...", "c", "===", "d", '""']
    assert words("x ## y __ z") == ["x", "##", "y", "__", "z"]
