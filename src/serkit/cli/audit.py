"""`serkit audit`: rank the suspected label errors of a corpus, report them, fix them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from serkit.cli._app import app

FINDINGS_FILE, MARKDOWN_FILE, HTML_FILE = "findings.jsonl", "report.md", "report.html"


@app.command("audit")
def audit_cmd(
    corpus: Annotated[list[Path], typer.Argument(help="Labelled corpus files or WikiSER folders.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for the report (and fixed copies).")
    ],
    fmt: Annotated[str | None, typer.Option("--format", help="wikiser|conll|jsonl.")] = None,
    mapping: Annotated[
        str | None, typer.Option("--map", help="Map types first: 'src:dst' or a TOML/JSON file.")
    ] = None,
    folds: Annotated[
        int, typer.Option("--folds", min=0, help="CRF cross-fitting folds (2 or more; 0: none).")
    ] = 5,
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="Also score with this model (CRF or transformer)."),
    ] = None,
    dropout: Annotated[
        int,
        typer.Option("--dropout", min=0, help="Dropout passes of the --model transformer (torch)."),
    ] = 0,
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.0, max=1.0, help="Report findings scoring this.")
    ] = 0.5,
    fix: Annotated[
        bool, typer.Option("--fix", help="Write corrected copies and changes.jsonl into -o.")
    ] = False,
    min_score: Annotated[
        float,
        typer.Option(
            "--min-score",
            min=0.0,
            max=1.0,
            help="Fix findings scoring this (on WikiSER dev a fix at ~0.9 was right 16 times "
            "in 25, at ~0.8 7 times).",
        ),
    ] = 0.9,
    top: Annotated[
        int, typer.Option("--top", min=0, help="Findings in the Markdown/HTML report (0: all).")
    ] = 200,
    token_col: Annotated[int, typer.Option("--token-col", help="CoNLL token column.")] = 0,
    tag_col: Annotated[int, typer.Option("--tag-col", help="CoNLL tag column.")] = 1,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the dropout passes.")] = 0,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache",
            help="An .npz of the cross-fitted folds: written by the first run, reused by the "
            "next on the same corpus and --folds (e.g. to --fix at another --min-score).",
        ),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Progress bars on stderr.")] = True,
) -> None:
    """Find suspected label errors at span level (missed, wrong type, wrong boundary,
    spurious), ranked: findings.jsonl, report.md and report.html in OUTPUT."""
    from serkit.audit import audit, read_corpus
    from serkit.audit.fix import CHANGE_LOG, apply_fixes, check_fixable, check_output_folder
    from serkit.audit.report import verdict, write_html, write_jsonl, write_markdown
    from serkit.errors import SerkitError

    check_output_folder(output, [*corpus, model])
    if folds == 1:  # one fold has no other folds to fit on: it would silently mean none
        raise SerkitError("--folds 1: cross-fitting needs 2 folds or more (0: none)")
    c = read_corpus(corpus, fmt, mapping=mapping, token_col=token_col, tag_col=tag_col)
    if fix:
        check_fixable(c)
    result = audit(
        c, folds=folds, model=model, use_model=model is not None, dropout=dropout,
        progress=progress, seed=seed, threshold=threshold, cache=cache,
    )  # fmt: skip
    shown = top or None
    write_jsonl(output / FINDINGS_FILE, result)
    write_markdown(output / MARKDOWN_FILE, result, shown)
    write_html(output / HTML_FILE, result, shown)
    typer.echo(f"{verdict(result)} -> {output / MARKDOWN_FILE}", err=True)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if fix:
        log = apply_fixes(result, min_score, output)
        # a JSONL line holds a document: several findings may change the same line
        n_lines = len({(r["output"], c["line"]) for r in log for c in r["changes"]})
        typer.echo(
            f"{len(log)} findings with score >= {min_score} fixed ({n_lines} lines changed) "
            f"-> {output}/ (log: {output / CHANGE_LOG})",
            err=True,
        )
