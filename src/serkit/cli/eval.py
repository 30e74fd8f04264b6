"""`serkit eval`: score predictions (a file, or a model run on the gold tokens) against gold."""

from __future__ import annotations

import io
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from serkit.cli._app import app
from serkit.devices import DEVICES, DTYPES_HELP, check_device, check_dtype


class Mode(StrEnum):
    strict = "strict"
    default = "default"


def _render(report, fmt: str) -> str:
    """The report as JSON, Markdown or plain-text tables (for -o FILE)."""
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if fmt == "markdown":
        return report.to_markdown()
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=120, no_color=True, force_terminal=False).print(report)
    return buf.getvalue()


@app.command("eval")
def eval_cmd(
    gold: Annotated[
        Path, typer.Argument(help="Gold file (WikiSER, CoNLL or JSONL; detected); '-' for stdin.")
    ],
    pred: Annotated[
        Path | None,
        typer.Argument(help="Predictions over the same tokens, any format. Omit with --model."),
    ] = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model", "-m", help="Model directory: tag GOLD's tokens with it, then score."
        ),
    ] = None,
    map_spec: Annotated[
        str | None,
        typer.Option(
            "--map",
            help="Map predicted types into the gold label set: a built-in 'src:dst' "
            "(e.g. wikiser:softner-9) or a TOML/JSON file of type -> type.",
        ),
    ] = None,
    gold_map: Annotated[
        str | None,
        typer.Option("--gold-map", help="Map gold types too (same forms as --map)."),
    ] = None,
    mode: Annotated[
        Mode,
        typer.Option(help="Which seqeval mode the per-type table uses (both are reported)."),
    ] = Mode.strict,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the report as Markdown tables.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to FILE (atomically) instead."),
    ] = None,
    record: Annotated[
        str | None,
        typer.Option(
            "--record",
            help="With --model: store the strict micro P/R/F1 in the model's card under "
            "results.NAME (a protocol name such as W1).",
        ),
    ] = None,
    scheme: Annotated[
        str | None,
        typer.Option(
            "--scheme",
            help="With --model: the label set/convention the model answers in (wikiser, "
            "softner-9, sner, developer; default: the model's own).",
        ),
    ] = None,
    device: Annotated[
        str, typer.Option("--device", help=f"With --model: where it runs: {DEVICES}.")
    ] = "cpu",
    dtype: Annotated[str, typer.Option("--dtype", help=f"With --model: {DTYPES_HELP}.")] = "fp32",
    batch_size: Annotated[int, typer.Option(help="Sentences per batch with --model.", min=1)] = 64,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr with --model.")] = True,
) -> None:
    """Entity-level P/R/F1 (seqeval strict IOB2 after stray-I repair, and conlleval-style),
    per type, an error breakdown and a type confusion table.
    """
    from serkit.errors import SerkitError
    from serkit.evaluate import predict_sentences, score_sentences
    from serkit.files import read_all
    from serkit.files.atomic import atomic_write, check_output
    from serkit.files.inputs import check_stdin_once
    from serkit.scheme import type_problem

    if as_json and as_markdown:
        raise SerkitError("choose one of --json and --markdown")
    if (pred is None) == (model is None):
        raise SerkitError("give either PRED or --model DIR (exactly one)")

    if record is not None and model is None:
        raise SerkitError("--record needs --model (it writes into that model's card)")
    if record is not None and type_problem(record):  # the same rule as an entity type's
        raise SerkitError(
            f"--record {record!r}: a protocol name is one word such as W1 "
            "(no whitespace or control characters)"
        )
    if scheme is not None and model is None:
        raise SerkitError("--scheme needs --model (it picks how the model answers)")
    if (check_device(device) != "cpu" or check_dtype(dtype) != "fp32") and model is None:
        raise SerkitError("--device and --dtype need --model (they say how the model runs)")
    check_stdin_once([gold, pred])
    if output is not None:
        check_output(output, [gold, pred, map_spec, gold_map])
    gold_sents = read_all(gold)
    if not gold_sents:  # all-zero scores without a word would read as a result
        typer.echo(f"note: {gold} holds no sentences: nothing to score (all scores 0)", err=True)
    if model is not None:
        import serkit

        tagger = serkit.load(str(model), scheme=scheme, device=device, dtype=dtype)
        pred_sents = predict_sentences(tagger, gold_sents, batch_size=batch_size, progress=progress)
    else:
        pred_sents = read_all(pred)
    report = score_sentences(
        gold_sents, pred_sents, mapping=map_spec, gold_mapping=gold_map, mode=mode.value
    )
    for note in report.notes:
        typer.echo(f"note: {note}", err=True)
    _warn_foreign_types(report, map_spec)
    if record is not None:
        _record(model, record, report, tagger, gold, map_spec, scheme)

    fmt = "json" if as_json else "markdown" if as_markdown else "table"
    if output is not None:
        if fmt == "table" and output.suffix.lower() in (".json", ".md"):
            fmt = "json" if output.suffix.lower() == ".json" else "markdown"
        with atomic_write(output) as f:
            f.write(_render(report, fmt))
        m = report.micro
        typer.echo(
            f"wrote {output} ({report.mode} micro P {m.precision:.4f} R {m.recall:.4f} "
            f"F1 {m.f1:.4f})",
            err=True,
        )
    elif fmt == "table":
        from rich.console import Console

        # Never crop: a table wider than the terminal (the summary needs 87 columns, a
        # confusion table of 12 types more) wraps rather than losing its last columns.
        Console().print(report, crop=False)
    else:
        sys.stdout.write(_render(report, fmt))


def _record(
    model: Path, name: str, report, tagger, gold: Path, map_spec: str | None, scheme: str | None
) -> None:
    """The strict numbers (the protocols' metric, whatever --mode shows) into the card."""
    import datetime as dt

    from serkit.card import command_line, record_result

    micro = report.scores["strict"].micro
    result = {
        "precision": round(micro.precision, 4),
        "recall": round(micro.recall, 4),
        "f1": round(micro.f1, 4),
        "test": str(gold),
        "mapping": map_spec,
        "scheme": scheme,
        "runtime": tagger.runtime,
        "decoding": tagger.decoding,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
    }
    record_result(model, name, result)
    typer.echo(f"recorded {name} F1 {micro.f1:.4f} in {model}/serkit.json", err=True)


def _warn_foreign_types(report, map_spec: str | None) -> None:
    """Predicted types that never occur in gold usually mean a missing --map."""
    foreign = sorted(t for t, s in report.per_type.items() if s.gold == 0 and s.pred > 0)
    if foreign:
        hint = "" if map_spec else " (scoring across label sets? see --map)"
        typer.echo(f"note: predicted types absent from gold: {', '.join(foreign)}{hint}", err=True)
