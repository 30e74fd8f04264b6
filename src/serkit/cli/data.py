"""`serkit data convert` and `serkit data stats`: thin wrappers over serkit.files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from serkit.cli._app import data_app
from serkit.files import FORMATS, read, write
from serkit.files.atomic import check_output
from serkit.files.inputs import check_stdin_once
from serkit.files.stats import corpus_stats, merge_stats

FORMAT_HELP = " | ".join(FORMATS)
TokenCol = Annotated[int, typer.Option("--token-col", help="CoNLL token column (0-based).")]
TagCol = Annotated[int, typer.Option("--tag-col", help="CoNLL tag column (0-based).")]
Labels = Annotated[
    str | None,
    typer.Option("--labels", help="Reject labels outside this scheme (wikiser, softner-9, sner, "
                 "stackoverflow-ner)."),
]  # fmt: skip


@data_app.command("convert")
def convert(
    src: Annotated[
        Path,
        typer.Argument(metavar="IN", help="Input file, '-' for stdin, or a WikiSER corpus folder."),
    ],
    dst: Annotated[Path, typer.Argument(metavar="OUT", help="Output file (written atomically).")],
    to: Annotated[str, typer.Option("--to", help=f"Output format: {FORMAT_HELP}.")],
    from_: Annotated[
        str | None, typer.Option("--from", help=f"Input format ({FORMAT_HELP}); sniffed if unset.")
    ] = None,
    token_col: TokenCol = 0,
    tag_col: TagCol = 1,
    repair: Annotated[
        bool, typer.Option("--repair", help="Turn stray I- tags into B- (counted).")
    ] = False,
    labels: Labels = None,
) -> None:
    """Convert between WikiSER, CoNLL columns and JSONL spans; tokens and tags round-trip."""
    check_output(dst, [src])
    reader = read(src, from_, token_col=token_col, tag_col=tag_col, labels=labels, repair=repair)
    n = write(dst, reader, to, token_col=token_col, tag_col=tag_col)
    st = reader.stats
    msg = f"wrote {n} sentences ({st.tokens} tokens) from {reader.format} to {to}: {dst}"
    if repair:
        msg += f"; repaired {st.repaired} stray I- tags"
    typer.echo(msg, err=True)  # one line, never wrapped at the console's width


@data_app.command("stats")
def stats(
    files: Annotated[
        list[Path],
        typer.Argument(metavar="FILE", help="Files, '-' for stdin, or WikiSER corpus folders."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help=f"Input format ({FORMAT_HELP}); sniffed if unset."),
    ] = None,
    token_col: TokenCol = 0,
    tag_col: TagCol = 1,
    labels: Labels = None,
) -> None:
    """Sentences, tokens, entities per type and stray I- count (entities: stray I- opens one)."""
    check_stdin_once(files)
    per_file = []
    for f in files:
        reader = read(f, fmt, token_col=token_col, tag_col=tag_col, labels=labels)
        per_file.append({"file": str(f), "format": reader.format, **corpus_stats(reader)})
    total = merge_stats(
        {k: v for k, v in p.items() if k not in ("file", "format")} for p in per_file
    )
    if as_json:
        print(json.dumps({**total, "files": per_file}, indent=2))
        return
    _print_table(per_file, total)


def _print_table(per_file: list[dict], total: dict) -> None:
    console = Console()
    table = Table(title="serkit data stats")
    table.add_column("", style="bold")
    cols = per_file + ([{"file": "total", **total}] if len(per_file) > 1 else [])
    for p in cols:
        table.add_column(
            "/".join(Path(p["file"]).parts[-2:]) if p["file"] != "total" else "total",
            justify="right",
        )
    rows = [("format", "format"), ("sentences", "sentences"), ("tokens", "tokens"),
            ("entities", "entities"), ("stray I-", "stray_i")]  # fmt: skip
    for label, key in rows:
        table.add_row(label, *(str(p.get(key, "")) for p in cols))
    types = sorted({t for p in cols for t in p["entities_per_type"]})
    if types:
        table.add_section()
    for t in types:
        table.add_row(t, *(str(p["entities_per_type"].get(t, 0)) for p in cols))
    console.print(table)
