"""`serkit predict`: tag a corpus file with a model, writing the input's format."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from serkit.cli._app import app


@app.command("predict")
def predict_cmd(
    file: Annotated[
        Path, typer.Argument(help="Tokenised input: WikiSER, CoNLL or JSONL; '-' for stdin.")
    ],
    model: Annotated[
        Path | None, typer.Option("--model", "-m", help="Model directory (default: shipped model).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output file (default: stdout).")
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Output format: wikiser, conll or jsonl (default: the input's)."),
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="Input format (default: detected).")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Sentences per model call.")
    ] = 64,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar.")
    ] = True,
) -> None:
    """Replace the tags of FILE's sentences with the model's predictions (tokens unchanged)."""
    from serkit.evaluate import predict_sentences
    from serkit.files import read, write
    from serkit.files.atomic import check_output
    from serkit.files.formats import Columns, get_format
    from serkit.models.registry import load_tagger

    if to is not None:
        get_format(to)
    if output is not None:
        check_output(output, [file])
    reader = read(file, fmt)  # before the model: a bad path fails fast
    tagger = load_tagger(model)
    sentences = list(reader)
    out_fmt = get_format(to or reader.format or "wikiser")
    tagged = predict_sentences(tagger, sentences, batch_size=batch_size, progress=progress)
    if output is not None:
        n = write(output, tagged, out_fmt.name)
        typer.echo(f"{n} sentences tagged -> {output}", err=True)
        return
    out_fmt.write(sys.stdout, tagged, Columns())  # type: ignore[misc]
