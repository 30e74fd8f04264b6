"""`serkit tag`: find software entities in texts, files, folders, globs or stdin."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from serkit.cli._app import app
from serkit.errors import SerkitError


@app.command("tag")
def tag(
    inputs: list[str] = typer.Argument(
        ...,
        help="Text to tag, '-' for stdin, files, folders (recursive) or globs.",
        show_default=False,
    ),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Model directory (default: the shipped model)."
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help="jsonl (one record per document), conll, wikiser or html "
        "(default: from the -o suffix, else jsonl).",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write here (atomically) instead of streaming to stdout."
    ),
    batch_size: int = typer.Option(32, "--batch-size", "-b", min=1, help="Sentences per batch."),
    runtime: str = typer.Option(
        "auto",
        "--runtime",
        help="auto (ONNX when the model has it), torch, onnx, onnx-fp32, onnx-int8.",
    ),
    scheme: str | None = typer.Option(
        None,
        "--scheme",
        help="Label set and convention of the answer: developer (the default model's "
        "default), wikiser, softner-9, sner; the model's card lists its schemes.",
    ),
    pattern: str = typer.Option("*.txt", "--pattern", help="Files to take from folders."),
    lines: bool = typer.Option(False, "--lines", help="Each non-empty input line is a document."),
    as_text: bool = typer.Option(
        False, "--text", help="Take every argument as text to tag, never as a path."
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Stop at the first input that cannot be read (default: report it on stderr, "
        "tag the others, exit 1; exit 2 when none could be read).",
    ),
    encoding: str = typer.Option(
        "utf-8",
        "--encoding",
        help="Encoding of files and stdin: utf-8, auto (by byte-order mark; UTF-16 without "
        "one is recognised), or any codec name such as latin-1.",
    ),
    threads: int | None = typer.Option(None, "--threads", min=0, help="Inference threads."),
    progress: bool | None = typer.Option(
        None,
        "--progress/--no-progress",
        help="Progress bar on stderr (default: for several files).",
    ),
) -> None:
    """Tag software entities; one output record per input document, exact character offsets."""
    from tqdm import tqdm

    from serkit.documents import (
        check_encoding,
        read_sources,
        resolve_inputs,
        skipping,
        split_lines,
        tag_documents,
    )
    from serkit.files.atomic import atomic_write, check_output
    from serkit.files.formats import format_from_suffix, get_format
    from serkit.models.registry import load_tagger
    from serkit.render import FORMATS, DocWriter

    if fmt is None:
        fmt = (format_from_suffix(output, FORMATS) if output else None) or "jsonl"
    get_format(fmt, FORMATS)
    if inputs.count("-") > 1:
        raise SerkitError("stdin ('-') can be given only once")
    check_encoding(encoding)
    sources = resolve_inputs(inputs, pattern, as_text=as_text)
    if output is not None:
        check_output(output, [s.path for s in sources])
    kwargs = {"threads": threads} if threads is not None else {}
    tagger = load_tagger(model, prefer=runtime, scheme=scheme, **kwargs)

    n_files = sum(s.path not in (None, "-") for s in sources)
    bar = tqdm(
        sources,
        desc="tagging",
        unit="file",
        file=sys.stderr,
        disable=not (progress if progress is not None else n_files > 1),
    )
    read_items = split_lines if lines else read_sources
    skipped: list = []
    if strict:
        items = read_items(bar, sys.stdin, encoding)
    else:
        items = skipping(read_items, bar, skipped, sys.stdin, encoding)
    docs = tag_documents(tagger, items, batch_size)

    def run(f) -> None:
        writer = DocWriter(f, fmt, tagger.entity_types)
        for doc in docs:
            writer.write(doc)
            if output is None:
                f.flush()
        writer.close()

    try:
        if output is not None:
            with atomic_write(output) as f:
                run(f)
        else:
            run(sys.stdout)
    finally:
        bar.close()
    if len(skipped) == len(sources) == 1:
        raise skipped[0][1]  # one input, unreadable: a plain error
    if skipped:
        from serkit.cli._app import one_line

        for _src, err in skipped:
            typer.echo(f"serkit: skipped: {one_line(str(err))}", err=True)
        typer.echo(
            f"serkit: {len(skipped)} of {len(sources)} inputs skipped, "
            f"{len(sources) - len(skipped)} tagged",
            err=True,
        )
        raise typer.Exit(2 if len(skipped) == len(sources) else 1)
