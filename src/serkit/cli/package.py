"""`serkit package`: a model folder as an installable wheel (as `spacy package` does)."""

from __future__ import annotations

from pathlib import Path

import typer

from serkit.cli._app import app


@app.command("package")
def package_cmd(
    model: Path = typer.Argument(..., help="A saved serkit model directory."),
    output: Path = typer.Option(Path("dist"), "--output", "-o", help="Folder for the wheel."),
    name: str = typer.Option(
        ..., "--name", "-n", help="Package name: what `serkit.load(NAME)` will take."
    ),
    version: str = typer.Option("0.1.0", "--version", "-v", help="Package version (PEP 440)."),
) -> None:
    """Build a wheel holding MODEL (card, README); once installed with pip,
    `serkit.load(NAME)`, `serkit tag --model NAME` and the spaCy component find it."""
    from serkit.packaging import build_wheel

    built = build_wheel(model, output, name, version)
    for skipped in built.skipped:
        typer.echo(f"left out {skipped}", err=True)
    typer.echo(f"wrote {built.wheel} ({built.files} model files, {built.size / 1e6:.1f} MB)")
    typer.echo(f"install: pip install {built.wheel}")
