"""The typer application every command file registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="serkit",
    help="Software entity recognition: tag, train, evaluate and convert SER data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect and convert corpus files.", no_args_is_help=True)
lexicon_app = typer.Typer(help="Build and inspect software-name lexicons.", no_args_is_help=True)
export_app = typer.Typer(help="Export a model to another runtime.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(lexicon_app, name="lexicon")
app.add_typer(export_app, name="export")
