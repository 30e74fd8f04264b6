"""`serkit lexicon build|stats`: a software-name lexicon from labelled corpora, and its summary."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import typer

from serkit.cli._app import lexicon_app


@lexicon_app.command("build")
def build(
    data: list[Path] = typer.Argument(
        ..., help="Labelled corpus files, '-' for stdin, or WikiSER folders."
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Lexicon TSV to write."),
    min_count: int = typer.Option(1, "--min-count", min=1, help="Drop forms labelled fewer times."),
    fmt: str | None = typer.Option(None, "--format", help="wikiser|conll|jsonl (default: detect)."),
    mapping: str | None = typer.Option(
        None, "--map", help="Map types first: built-in 'src:dst' or a TOML/JSON file."
    ),
) -> None:
    """Count every labelled token sequence per type, its documents and untagged occurrences."""
    from serkit.files import read
    from serkit.files.atomic import check_output
    from serkit.files.inputs import check_stdin_once, rereadable
    from serkit.labels import load_mapping, map_tags, mapping_notes, split_tag
    from serkit.lexicon import Lexicon

    check_stdin_once(data)
    check_output(output, [*data, mapping])
    table = load_mapping(mapping) if mapping else None
    seen: set[str | None] = set()  # types before mapping, for the mapping's notes

    with rereadable(data) as paths:  # the corpus is read twice: pipes are copied once

        def corpus():
            for s in itertools.chain.from_iterable(read(p, fmt) for p in paths):
                if table is not None and s.tags is not None:
                    seen.update(split_tag(t)[1] for t in s.tags)
                    s.tags = map_tags(s.tags, table)
                yield s

        lex = Lexicon.build_stream(corpus, min_count=min_count)
    lex.save(output)
    for note in mapping_notes(table, seen, "corpus"):
        typer.echo(f"note: {note}", err=True)
    st = lex.stats()
    typer.echo(
        f"{output}: {st['entries']} entries ({st['multi_token_entries']} multi-token), "
        f"{st['labelled_occurrences']} labelled and {st['untagged_occurrences']} untagged "
        f"occurrences, {len(st['types'])} types",
        err=True,
    )


@lexicon_app.command("stats")
def stats(
    lexicon: Path = typer.Argument(..., help="Lexicon TSV."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Entries per type, ambiguity and the labelled-ratio histogram."""
    from rich.console import Console
    from rich.table import Table

    from serkit.lexicon import Lexicon

    st = Lexicon.load(lexicon).stats()
    if as_json:
        typer.echo(json.dumps(st, indent=2))
        return
    console = Console()
    console.print(
        f"[bold]{lexicon}[/]: {st['entries']} entries, {st['multi_token_entries']} multi-token; "
        f"{st['labelled_occurrences']} labelled / {st['untagged_occurrences']} untagged occurrences"
    )
    console.print(
        f"ambiguous (more than one type): {st['ambiguous_entries']} entries, "
        f"{st['minority_type_occurrences']} occurrences labelled with a minority type"
    )
    t = Table("type (majority)", "entries", "labelled")
    for typ, row in st["types"].items():
        t.add_row(typ, str(row["entries"]), str(row["labelled"]))
    console.print(t)
    h = Table("labelled ratio", "entries")
    for bucket, n in st["ratio_histogram"].items():
        h.add_row(bucket, str(n))
    console.print(h)
