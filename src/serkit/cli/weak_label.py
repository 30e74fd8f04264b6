"""`serkit weak-label`: distant labelling of raw text or token files with a lexicon."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from serkit.cli._app import app

TEXT = "text"  # raw prose: an input kind of this command, not a corpus format


@app.command("weak-label")
def weak_label(
    inputs: list[Path] = typer.Argument(
        ...,
        help="Raw text file, or a token file (wikiser/conll/jsonl); '-' for stdin. With "
        "--engine ray: files, folders or globs of documents read as serkit tag reads them.",
        show_default=False,
    ),
    lexicon: Path = typer.Option(
        ..., "--lexicon", "-l", help="Lexicon TSV (serkit lexicon build)."
    ),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Output file (written atomically); a folder with --engine ray."
    ),
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
    token_col: int = typer.Option(0, "--token-col", help="CoNLL token column (0-based)."),
    tag_col: int = typer.Option(
        1,
        "--tag-col",
        help="CoNLL tag column (0-based): the IOB2 tags it holds are replaced by the weak "
        "labels (CoNLL-2003 files: 3); a one-column token file gets one. A column holding "
        "something else (part-of-speech tags) is refused at its line, never overwritten.",
    ),
    engine: str = typer.Option(
        "local",
        "--engine",
        help="local, or ray: Ray Data actors over shards of documents (text files, JSONL "
        "records, Parquet), each text labelled as a local run labels a text file; -o names "
        "a folder of shards and a manifest; re-run to resume.",
    ),
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster (default: RAY_ADDRESS, else a local instance)."
    ),
    actors: int | None = typer.Option(
        None, "--actors", min=1, help="Ray actors, each loading the lexicon once (default: CPUs)."
    ),
    pattern: str = typer.Option("*.txt", "--pattern", help="--engine ray: files from folders."),
    text_field: str = typer.Option("text", "--text-field", help="--engine ray: records' text."),
    id_field: str = typer.Option("id", "--id-field", help="--engine ray: records' id."),
) -> None:
    """Tag every longest lexicon match with the majority type of its entry."""
    import stat

    from serkit.errors import SerkitError
    from serkit.files import Input, read, write
    from serkit.files.atomic import check_output
    from serkit.files.formats import check_format, corpus_formats, detect_format, format_from_suffix
    from serkit.files.inputs import check_path, is_stdin
    from serkit.lexicon import Lexicon
    from serkit.lexicon.weak import label_sentences, label_text_file, looks_like_raw_text

    kinds = ("auto", TEXT, *corpus_formats())
    if source not in kinds:
        raise SerkitError(f"unknown input kind {source!r} (choose from {', '.join(kinds)})")
    if to is not None:
        check_format(to)
    if engine != "local":  # a scaled-out run: serkit.scale owns it
        from serkit.scale import ray_weak_label

        if engine != "ray":
            raise SerkitError(f"unknown engine {engine!r} (choose from local, ray)")
        if source not in ("auto", TEXT):
            raise SerkitError(
                f"--engine ray labels documents (texts, records, Parquet), not --from {source}"
            )
        run = ray_weak_label([str(p) for p in inputs], output, lexicon=lexicon, case=case,
                             min_ratio=min_ratio, min_count=min_count, fmt=to or "jsonl",
                             actors=actors, address=address, pattern=pattern,
                             input_format="auto" if source == "auto" else "text",
                             text_field=text_field, id_field=id_field)  # fmt: skip
        for line in run.lines():
            typer.echo(line, err=True)
        raise typer.Exit(run.exit_code)
    if len(inputs) != 1:
        raise SerkitError("give one input (several, folders or globs with --engine ray)")
    (input,) = inputs
    folder = not is_stdin(input) and stat.S_ISDIR(check_path(input).st_mode)
    if folder and source not in ("auto", "wikiser"):
        raise SerkitError(f"{input}: is a folder; only a WikiSER corpus folder can be read")
    check_output(output, [input, lexicon])
    matcher = Lexicon.load(lexicon).matcher(case=case, min_ratio=min_ratio, min_count=min_count)
    src: Path | Input = input if folder else Input(input)  # opened once: pipes work
    kind = "wikiser" if folder and source == "auto" else source
    if kind == "auto":
        kind = detect_format(src)
        if kind == "conll" and looks_like_raw_text(src):
            kind = TEXT
    fmt = to or format_from_suffix(output) or ("jsonl" if kind == TEXT else kind)
    if kind == TEXT:
        sents = label_text_file(matcher, src)
    else:
        # read with the tag column, so that its tags (replaced) are checked and columns
        # separated by spaces (CoNLL-2003) are told apart from tokens holding spaces
        sents = label_sentences(matcher, read(src, kind, token_col=token_col, tag_col=tag_col))

    counts: Counter[str] = Counter()
    n_tokens = 0

    def counted(it):
        nonlocal n_tokens
        from serkit.labels import spans

        for s in it:
            n_tokens += len(s.tokens)
            counts.update(t for _, _, t in spans(s.tags))
            yield s

    n = write(output, counted(sents), fmt, token_col=token_col, tag_col=tag_col)
    per_type = ", ".join(f"{t} {c}" for t, c in counts.most_common())
    typer.echo(
        f"{output}: {n} sentences, {n_tokens} tokens, {sum(counts.values())} entities"
        + (f" ({per_type})" if per_type else ""),
        err=True,
    )
