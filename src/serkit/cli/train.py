"""`serkit train`: train a tagger from a TOML config plus ``--option value`` overrides.

Options are not declared here: every field of :class:`serkit.training.config.TrainConfig`
is an override (``--epochs 2``, ``--val-slice``, ``--no-keep-best``), typed and documented
once, in the config.
"""

from __future__ import annotations

from pathlib import Path

import typer

from serkit.cli._app import app
from serkit.training.config import options_help


@app.command(
    "train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog="Options (any of them as --name value; in TOML as name = value, at the top of "
    "\\[train] or in its group table):\n\n" + options_help().replace("\n", "\n\n"),
)
def train_cmd(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c", help=r"TOML config (options under \[train] or its groups)."
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue from the output folder's last checkpoint with its own settings "
        "(--epochs/--max-steps may change its length).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Train a tagger. Example (W1): serkit train --config configs/w1.toml --epochs 2"""
    from serkit.training.config import load_config, parse_overrides

    cfg = load_config(config, parse_overrides(list(ctx.args)))
    from serkit.training import train as run

    out = run(cfg, resume=resume, progress=progress)
    typer.echo(f"model written to {out}")
