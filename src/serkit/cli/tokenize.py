"""`serkit tokenize`: tokens with offsets for raw text, or `--check` round-trip agreement
of the tokenizer against corpus files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from serkit.cli._app import app
from serkit.errors import DataFormatError
from serkit.files import read
from serkit.files.inputs import Input, check_stdin_once
from serkit.tokenize import round_trip_agreement, sentences, tokenize


@app.command("tokenize")
def tokenize_cmd(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TEXT|-|FILE...",
            help="Text to tokenize ('-' reads stdin); with --check, corpus files ('-': stdin).",
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Print, per corpus file, the share of sentences with "
            "tokenize(detokenize(tokens)) == tokens.",
        ),
    ] = False,
    by_sentence: Annotated[
        bool, typer.Option("--sentences", help="Split into sentences (blank line between).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="With --check: wikiser | conll | jsonl; sniffed if unset."),
    ] = None,
    show: Annotated[
        int,
        typer.Option("--show", min=0, help="With --check: print this many disagreeing sentences."),
    ] = 0,
) -> None:
    """Tokenize TEXT (one `start<TAB>end<TAB>token` line per token), or check agreement."""
    if not args:
        raise typer.BadParameter("give TEXT, '-' for stdin, or --check FILE...")
    if check:
        check_stdin_once(args)
        _check([Path(a) for a in args], fmt, show, as_json)
        return
    from serkit.tagger import check_text

    # Undecodable bytes in an argument arrive as lone surrogates: one error line, as for stdin.
    text = _read_stdin() if args == ["-"] else check_text(" ".join(args))
    if by_sentence:
        sents = sentences(text)
        if as_json:
            print(json.dumps([[_tok_dict(t) for t in s] for s in sents], ensure_ascii=False))
            return
        print("\n\n".join("\n".join(_tok_line(t) for t in s) for s in sents))
        return
    toks = tokenize(text)
    if as_json:
        print(json.dumps([_tok_dict(t) for t in toks], ensure_ascii=False))
        return
    if toks:
        print("\n".join(_tok_line(t) for t in toks))


def _check(files: list[Path], fmt: str | None, show: int, as_json: bool) -> None:
    results = []
    for f in files:
        res = round_trip_agreement((s.tokens for s in read(f, fmt)), keep=show)
        results.append({"file": str(f), "agree": res.agree, "total": res.total,
                        "ratio": round(res.ratio, 6)})  # fmt: skip
        if not as_json:
            print(f"{f}\t{res.agree}/{res.total}\t{100 * res.ratio:.2f}%")
            for gold, again in res.failures:
                print(f"  corpus: {' | '.join(gold)}\n  ours:   {' | '.join(again)}")
    if as_json:
        print(json.dumps(results, indent=2))


def _read_stdin() -> str:
    """All of stdin (within ``MAX_DOCUMENT_BYTES``), strict UTF-8."""
    with Input("-", sys.stdin) as inp:
        data = inp.read_all()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DataFormatError("<stdin>", line, "invalid UTF-8") from None


def _tok_line(t) -> str:
    return f"{t.start}\t{t.end}\t{t.text}"


def _tok_dict(t) -> dict:
    return {"text": t.text, "start": t.start, "end": t.end}
