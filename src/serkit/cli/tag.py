"""`serkit tag`: find software entities in texts, files, folders, globs or stdin."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from serkit.cli._app import app
from serkit.errors import SerkitError

SUFFIX_FORMATS = {
    ".html": "html",
    ".htm": "html",
    ".conll": "conll",
    ".jsonl": "jsonl",
    ".wikiser": "wikiser",
}


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
    pattern: str = typer.Option("*.txt", "--pattern", help="Files to take from folders."),
    lines: bool = typer.Option(False, "--lines", help="Each non-empty input line is a document."),
    threads: int | None = typer.Option(None, "--threads", min=0, help="Inference threads."),
    progress: bool | None = typer.Option(
        None,
        "--progress/--no-progress",
        help="Progress bar on stderr (default: for several files).",
    ),
) -> None:
    """Tag software entities; one output record per input document, exact character offsets."""
    from tqdm import tqdm

    from serkit.documents import read_sources, resolve_inputs, split_lines, tag_documents
    from serkit.io.atomic import atomic_write, check_output
    from serkit.models.registry import load_tagger
    from serkit.render import FORMATS, DocWriter

    if fmt is None:
        fmt = SUFFIX_FORMATS.get(output.suffix.lower(), "jsonl") if output else "jsonl"
    if fmt not in FORMATS:
        raise SerkitError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if inputs.count("-") > 1:
        raise SerkitError("stdin ('-') can be given only once")
    sources = resolve_inputs(inputs, pattern)
    if output is not None:
        check_output(output, [s.path for s in sources])
    kwargs = {"threads": threads} if threads is not None else {}
    tagger = load_tagger(model, prefer=runtime, **kwargs)

    n_files = sum(s.path not in (None, "-") for s in sources)
    bar = tqdm(
        sources,
        desc="tagging",
        unit="file",
        file=sys.stderr,
        disable=not (progress if progress is not None else n_files > 1),
    )
    items = split_lines(bar, sys.stdin) if lines else read_sources(bar, sys.stdin)
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
