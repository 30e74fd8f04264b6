"""`serkit average`: one model from the averaged weights of checkpoints of one run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serkit.cli._app import app


@app.command("average")
def average_cmd(
    models: Annotated[
        list[Path],
        typer.Argument(
            help="A model folder (supplies config, tokenizer, lexicons), then more model "
            "folders or training checkpoints (<run>/checkpoint) of the same run. A lexicon a "
            "later folder has must be the first one's too (none is dropped silently)."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="A new folder for the model.")],
) -> None:
    """Average the weights of MODELS (checkpoint averaging, a "model soup") into a new model
    folder that loads, exports and tags like any other. Checksums are verified first."""
    from serkit.training.average import average_models

    out = average_models(models, output)
    typer.echo(f"wrote {out} (the mean of {len(models)} weight sets)")
