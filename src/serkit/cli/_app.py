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

#: Longest error line printed (the rest is counted, not shown).
MAX_MESSAGE = 2000


def one_line(msg: str, limit: int = MAX_MESSAGE) -> str:
    """``msg`` on one line (newlines escaped), clipped to ``limit`` characters: a message
    may quote a 10 MB input line."""
    msg = msg.replace("\r", "\\r").replace("\n", "\\n")
    if len(msg) > limit:
        msg = f"{msg[:limit]}... ({len(msg) - limit:,} more characters)"
    return msg
