"""`serkit weak-label`: distant labelling of raw text or token files with a lexicon."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from serkit.cli._app import app

INPUT_KINDS = ("auto", "text", "wikiser", "conll", "jsonl")


@app.command("weak-label")
def weak_label(
    input: Path = typer.Argument(..., help="Raw text file, or a token file (wikiser/conll/jsonl)."),
    lexicon: Path = typer.Option(
        ..., "--lexicon", "-l", help="Lexicon TSV (serkit lexicon build)."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Output file (written atomically)."),
    to: str | None = typer.Option(
        None, "--to", help="jsonl|conll|wikiser (default: from the output suffix, else jsonl)."
    ),
    source: str = typer.Option(
        "auto", "--from", help="Input kind: auto, text, wikiser, conll or jsonl."
    ),
    case: str = typer.Option("smart", "--case", help="smart, sensitive or insensitive."),
    min_ratio: float = typer.Option(
        0.4,
        "--min-ratio",
        min=0.0,
        max=1.0,
        help="Skip forms labelled less often than this (0.4: best on the W1 validation slice).",
    ),
    min_count: int = typer.Option(1, "--min-count", min=1, help="Skip rarer forms."),
) -> None:
    """Tag every longest lexicon match with the majority type of its entry."""
    from serkit.errors import SerkitError
    from serkit.io import read, write
    from serkit.io.atomic import check_output
    from serkit.io.detect import detect_format, format_from_suffix
    from serkit.lexicon import Lexicon
    from serkit.lexicon.weak import label_sentences, label_text_file, looks_like_raw_text

    if source not in INPUT_KINDS:
        raise SerkitError(f"unknown input kind {source!r} (choose from {', '.join(INPUT_KINDS)})")
    if not input.is_file() and not (input.is_dir() and source in ("auto", "wikiser")):
        raise SerkitError(f"{input}: no such file")
    check_output(output, [input, lexicon])
    matcher = Lexicon.load(lexicon).matcher(case=case, min_ratio=min_ratio, min_count=min_count)
    kind = source
    if kind == "auto":
        kind = detect_format(input)
        if kind == "conll" and looks_like_raw_text(input):
            kind = "text"
    fmt = to or format_from_suffix(output) or ("jsonl" if kind == "text" else kind)
    if kind == "text":
        sents = label_text_file(matcher, input)
    else:
        sents = label_sentences(matcher, read(input, kind, tag_col=None))

    counts: Counter[str] = Counter()
    n_tokens = 0

    def counted(it):
        nonlocal n_tokens
        from serkit.labels import spans

        for s in it:
            n_tokens += len(s.tokens)
            counts.update(t for _, _, t in spans(s.tags))
            yield s

    n = write(output, counted(sents), fmt)
    per_type = ", ".join(f"{t} {c}" for t, c in counts.most_common())
    typer.echo(
        f"{output}: {n} sentences, {n_tokens} tokens, {sum(counts.values())} entities"
        + (f" ({per_type})" if per_type else ""),
        err=True,
    )
