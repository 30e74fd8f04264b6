"""Issue 16 item 6: what trimming punctuation off entity ends (serkit.decode) does to F1.

    python bench/punct.py --model default=DEFAULT --model w1-default=/tmp/w1-default \\
        --only-for w1-default=WikiSER,SoftNER-9

Each model tags each test set once (gold tokens, as ``serkit eval``); the same tags are
scored as they are and after ``serkit.decode.trim_tags`` (what ``TRIM_PUNCT`` does to
entities), so the two rows differ only by the trimming. Test sets and schemes are M1's
(bench/m1.py): on a one-head WikiSER model WikiSER is W1 and SoftNER-9 is X1. The raw-text
path (the issue's example sentences) is shown with trimming off and on. Rows go to the
``punct`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time

import serkit
from _results import machine, today, update_section
from m1 import DATA, TESTS
from serkit.decode import entities_from_offsets, trim_tags
from serkit.errors import SerkitError
from serkit.evaluate import predict_sentences, score_sentences
from serkit.tokenize import tokenize_arrays
from serkit.tokens import Sentence
from serkit.training.data import read_labelled

EXAMPLES = (
    "It runs over plain HTTP. Then more text.",
    "Python's standard library has a json module.",
    "We moved from MySQL (the old one) to PostgreSQL: it was faster.",
)


def load(model: str, scheme: str):
    path = None if model == "DEFAULT" else model
    try:
        return serkit.load(path, scheme=scheme)
    except SerkitError:
        if scheme != "developer":
            raise
        return serkit.load(path)  # a one-head model has one convention: its own


def score(model: str, test: str) -> dict:
    rel, scheme, mapping = TESTS[test]
    tagger = load(model, scheme)
    gold = read_labelled(str(DATA / rel))
    t0 = time.perf_counter()
    pred = predict_sentences(tagger, gold, progress=False)
    secs = time.perf_counter() - t0
    trimmed = [Sentence(list(s.tokens), trim_tags(s.tokens, s.tags)) for s in pred]
    changed = sum(
        a != b
        for s, t in zip(pred, trimmed, strict=True)
        for a, b in zip(s.tags, t.tags, strict=True)
    )
    row = {"seconds": round(secs), "tokens_trimmed": changed}
    for name, sents in (("before", pred), ("after", trimmed)):
        m = score_sentences(gold, sents, mapping=mapping).scores["strict"].micro
        row[name] = (m.precision, m.recall, m.f1)
    print(f"  {test}: F1 {row['before'][2]:.4f} -> {row['after'][2]:.4f}, "
          f"{changed} tokens trimmed ({secs:.0f} s)", file=sys.stderr)  # fmt: skip
    return row


def examples(model: str) -> list[str]:
    tagger = load(model, "developer")
    lines = []
    for text in EXAMPLES:
        toks = tokenize_arrays(text)
        ((tags, scores),) = tagger.predict_words([toks.words])
        cells = []
        for trim in (False, True):
            ents = entities_from_offsets(text, toks.starts, toks.ends, tags, scores, trim=trim)
            cells.append(", ".join(f"`{e.text}` {e.label}" for e in ents) or "-")
        lines.append(f"| {text} | {cells[0]} | {cells[1]} |")
    return lines


def section(argv: list[str], wall: float, lines: list[str], shown: list[str], note: str) -> str:
    md = [
        "## Punctuation at entity ends (issue 16 item 6)",
        "",
        f"Command: `python bench/punct.py {' '.join(argv)}` ({today()}, {machine()}, "
        f"wall {wall / 60:.1f} min).",
        "",
        "Strict IOB2 micro P/R/F1 on gold tokens; *before*: the model's tags, *after*: the same "
        "tags with closing punctuation, unmatched closers and possessives trimmed off entity ends "
        "(`serkit.decode.trim_tags`, what `TRIM_PUNCT` does to entities).",
        "",
        *lines,
    ]
    if shown:
        md += ["", "Raw text, shipped default (`developer`):", "",
               "| text | trimming off | trimming on |", "|---|---|---|", *shown]  # fmt: skip
    return "\n".join([*md, "", note])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", required=True, metavar="NAME=DIR",
                    help="a row: NAME=DIR (DIR = DEFAULT for the shipped model)")  # fmt: skip
    ap.add_argument("--only-for", action="append", default=[], metavar="NAME=TEST,TEST",
                    help="one model's test sets, in order (default: all)")  # fmt: skip
    ap.add_argument("--note", default="", help="a sentence added under the table")
    args = ap.parse_args()
    only = {k: v.split(",") for k, _, v in (s.partition("=") for s in args.only_for)}
    t0 = time.perf_counter()
    lines = ["| model | test (scheme) | before P / R / F1 | after P / R / F1 | F1 change | "
             "tokens trimmed |", "|---|---|---|---|---:|---:|"]  # fmt: skip
    shown: list[str] = []
    for spec in args.model:
        name, _, model = spec.partition("=")
        print(f"{name} ({model})", file=sys.stderr)
        if model == "DEFAULT":
            shown = examples(model)
        for test in only.get(name, list(TESTS)):
            r = score(model, test)
            b, a = r["before"], r["after"]
            lines.append(
                f"| {name} | {test} (`{TESTS[test][1]}`) | {b[0]:.4f} / {b[1]:.4f} / {b[2]:.4f} "
                f"| {a[0]:.4f} / {a[1]:.4f} / {a[2]:.4f} | {a[2] - b[2]:+.4f} | "
                f"{r['tokens_trimmed']} |"
            )
            # Each row as it comes: a long run leaves what it measured.
            wall = time.perf_counter() - t0
            update_section("punct", section(sys.argv[1:], wall, lines, shown, args.note))
    print("wrote the punct section of bench/RESULTS.md", file=sys.stderr)


if __name__ == "__main__":
    from _results import main_guard

    main_guard(main)
