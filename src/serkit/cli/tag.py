"""`serkit tag`: find software entities in texts, files, folders, globs or stdin."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import typer

from serkit.architectures import runtimes_help
from serkit.cli._app import app
from serkit.devices import DEVICES, DTYPES_HELP
from serkit.errors import SerkitError
from serkit.files.formats import document_formats


@app.command("tag")
def tag(
    inputs: list[str] = typer.Argument(
        ...,
        help="Text to tag, '-' for stdin, files, folders (recursive) or globs.",
        show_default=False,
    ),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Model directory (default: the shipped model)."
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help=f"{', '.join(document_formats())} (jsonl: one record per document; "
        "default: from the -o suffix, else jsonl).",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write here (atomically) instead of streaming to stdout."
    ),
    batch_size: int = typer.Option(32, "--batch-size", "-b", min=1, help="Sentences per batch."),
    runtime: str = typer.Option(
        "auto",
        "--runtime",
        help=runtimes_help(),
    ),
    scheme: str | None = typer.Option(
        None,
        "--scheme",
        help="Label set and convention of the answer: developer (the default model's "
        "default), wikiser, softner-9, sner; the model's card lists its schemes.",
    ),
    pattern: str = typer.Option("*.txt", "--pattern", help="Files to take from folders."),
    lines: bool = typer.Option(False, "--lines", help="Each non-empty input line is a document."),
    as_text: bool = typer.Option(
        False, "--text", help="Take every argument as text to tag, never as a path."
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Stop at the first input or record that cannot be read (default: report it on "
        "stderr, tag the others, exit 1; exit 2 when nothing could be tagged).",
    ),
    encoding: str = typer.Option(
        "utf-8",
        "--encoding",
        help="Encoding of files and stdin: utf-8, auto (by byte-order mark; UTF-16 without "
        "one is recognised), or any codec name such as latin-1.",
    ),
    input_format: str = typer.Option(
        "auto",
        "--input-format",
        help="How files and stdin are read: auto (.jsonl, .json, .csv and .tsv files as "
        "records, one document each; other files and stdin as text), text, jsonl, json, "
        "csv or tsv.",
    ),
    text_field: str = typer.Option(
        "text", "--text-field", help="Field (JSON) or column (CSV/TSV) holding a record's text."
    ),
    id_field: str = typer.Option(
        "id",
        "--id-field",
        help="Field or column holding a record's id (kept; a record without one gets file:line).",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Processes tagging at once, each loading the model once; output in input order, "
        "as with one (default: the usable cores; 1 on a GPU). Small inputs are tagged in this "
        "process.",
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=0,
        help="Inference threads per process (more threads gave no gain on small windows: "
        "use --workers for more cores).",
    ),
    device: str = typer.Option(
        "cpu",
        "--device",
        help=f"Where the model runs: {DEVICES}. On a GPU one worker feeds it (--workers 1 "
        "by default); the transformer's torch weights are used when the folder has them. "
        "--engine ray takes cpu or cuda.",
    ),
    dtype: str = typer.Option("fp32", "--dtype", help=DTYPES_HELP),
    gpus_per_actor: float = typer.Option(
        0.0,
        "--gpus-per-actor",
        min=0.0,
        help="--engine ray: GPUs each actor asks Ray for (a fraction shares one GPU); "
        "above 0 the actors run the model on cuda.",
    ),
    progress: bool | None = typer.Option(
        None,
        "--progress/--no-progress",
        help="Progress bar on stderr, by bytes (default: when stderr is a terminal).",
    ),
    engine: str = typer.Option(
        "local",
        "--engine",
        help="local, or ray: Ray Data actors over shards of files, JSONL records or Parquet; "
        "-o names a folder of shards (jsonl or parquet) and a manifest; re-run to resume.",
    ),
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster (default: RAY_ADDRESS, else a local instance)."
    ),
    actors: int | None = typer.Option(
        None,
        "--actors",
        min=1,
        help="Ray actors, each loading the model once (default: as many as the cluster's "
        "CPUs, and GPUs for GPU actors, hold).",
    ),
) -> None:
    """Tag software entities; one output record per input document, exact character offsets."""
    if gpus_per_actor and engine == "local":
        raise SerkitError("--gpus-per-actor needs --engine ray (locally: --device cuda)")
    if engine != "local":  # a scaled-out run: serkit.scale owns it
        from serkit.scale import ray_tag

        if engine != "ray":
            raise SerkitError(f"unknown engine {engine!r} (choose from local, ray)")
        if output is None or lines or as_text or strict:
            raise SerkitError("--engine ray: give -o OUT_DIR (no --lines, --text, --strict)")
        run = ray_tag(inputs, output, model=model, runtime=runtime, scheme=scheme,
                      fmt=fmt or "jsonl", actors=actors, address=address, batch_size=batch_size,
                      pattern=pattern, encoding=encoding, input_format=input_format,
                      text_field=text_field, id_field=id_field, threads_per_actor=threads or 1,
                      device=device, gpus_per_actor=gpus_per_actor, dtype=dtype,
                      progress=bool(progress))  # fmt: skip
        for line in run.lines():
            typer.echo(line, err=True)
        raise typer.Exit(run.exit_code)
    from serkit.documents import Reading, read_documents, resolve_inputs, skipping, tag_documents
    from serkit.files.atomic import atomic_write, check_output
    from serkit.files.formats import format_from_suffix, get_format
    from serkit.render import FORMATS, DocWriter
    from serkit.workers import WorkerTagger, usable_cores

    if workers is not None and workers > (cores := usable_cores()):
        typer.echo(
            f"serkit: note: {workers} workers on {cores} usable cores: each loads its own copy "
            "of the model; workers beyond the cores add memory, not speed",
            err=True,
        )
    if fmt is None:
        fmt = (format_from_suffix(output, FORMATS) if output else None) or "jsonl"
    keeps = get_format(fmt, FORMATS).keeps
    if inputs.count("-") > 1:
        raise SerkitError("stdin ('-') can be given only once")
    reading = Reading(encoding, lines, input_format, text_field, id_field)
    sources = resolve_inputs(inputs, pattern, as_text=as_text)
    reading.check(sources)
    if output is not None:
        check_output(output, [s.path for s in sources])
    tagger = WorkerTagger(
        model,
        workers=workers,
        prefer=runtime,
        scheme=scheme,
        threads=threads,
        device=device,
        dtype=dtype,
        on_words=lambda batch: _advance(bar, _batch_bytes(batch)),
    )
    from serkit.files.labelstudio import MODEL_VERSION, model_version

    MODEL_VERSION.set(model_version(tagger.card))  # Label Studio predictions name the model
    bar = _progress_bar(sources, reading, progress)
    report = _Report(len(sources), bar)
    if strict:
        items = read_documents(sources, reading, sys.stdin)
    else:
        items = skipping(read_documents, sources, report.skip, reading, sys.stdin, report.bad)

    def run(f) -> None:
        writer = DocWriter(f, fmt, tagger.entity_types)
        noted = keeps is None
        for doc in tag_documents(tagger, items, batch_size):
            if not noted and (  # say once what records lose in this format
                lost := [k for k in doc.record or () if k not in (text_field, id_field)]
            ):
                noted = True
                report.note(
                    f"note: {fmt} output holds {keeps}: record fields such as "
                    f"{', '.join(map(repr, lost))} are not written (-f jsonl keeps them)"
                )
            writer.write(doc)
            report.tagged += 1
            if output is None:
                f.flush()
        writer.close()

    try:
        if output is not None:
            with atomic_write(output) as f:
                run(f)
                report.check_failed()  # before the rename: a failed run writes nothing
        else:
            run(sys.stdout)
        if bar.total:
            bar.update(max(0, bar.total - bar.n))
    finally:
        bar.close()
        tagger.close()
    report.finish()


#: Seconds before a progress bar that was not asked for shows (a quick run shows none).
PROGRESS_DELAY = 2.0


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


def _progress_bar(sources: list, reading, progress: bool | None):
    """A bar on stderr by bytes of input (tagged words count as they are tagged, so one
    large file moves too); shown when asked, else only when stderr is a terminal."""
    from tqdm import tqdm

    show = progress if progress is not None else _is_terminal(sys.stderr)
    return tqdm(
        total=_total_bytes(sources, reading),
        desc="tagging",
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not show,
        delay=0 if progress else PROGRESS_DELAY,
    )


def _total_bytes(sources: list, reading) -> int | None:
    """Bytes of text to tag; None when unknown beforehand (stdin, a pipe, records)."""
    total = 0
    for src in sources:
        if src.path is None:
            total += len(
                (src.text or "").encode("utf-8", "surrogatepass")
            )  # bad text fails later, in one line
            continue
        if src.path == "-" or reading.format_of(src) != "text":
            return None
        try:
            st = os.stat(src.path)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        total += st.st_size
    return total


def _advance(bar, n: int) -> None:
    """Move the bar by an estimate, short of its total: the last step is the real end."""
    if bar.total:
        n = min(n, max(0, bar.total - 1 - bar.n))
    bar.update(n)


def _batch_bytes(batch) -> int:
    """About the bytes of text a batch of tagged sentences covered (a space per word)."""
    return sum(len(w.encode("utf-8")) + 1 for sent in batch for w in sent)


class _Report:
    """What could not be read: each on stderr as it happens, a summary and the exit code
    at the end. One input that cannot be read is a plain error (exit 2)."""

    def __init__(self, n_sources: int, bar) -> None:
        self.n_sources, self.bar = n_sources, bar
        self.skipped: list[SerkitError] = []
        self.bad_records = 0
        self.tagged = 0

    def _say(self, msg: str) -> None:
        from serkit.cli._app import one_line

        self.bar.write(f"serkit: {one_line(msg)}", file=sys.stderr)

    def note(self, msg: str) -> None:
        self._say(msg)

    def skip(self, _src: object, err: SerkitError) -> None:
        self.skipped.append(err)
        if self.n_sources > 1:
            self._say(f"skipped: {err}")

    def bad(self, err: SerkitError) -> None:
        self.bad_records += 1
        self._say(f"skipped: {err}")

    def check_failed(self) -> None:
        """Raise when the run failed as a whole (exit 2: the one input could not be read,
        or nothing could be tagged). Called inside the output's atomic write, so a failed
        run leaves no output file and an older one where it was."""
        if len(self.skipped) == self.n_sources == 1 and not self.bad_records:
            raise self.skipped[0]  # one input, unreadable: a plain error
        if (self.skipped or self.bad_records) and self.tagged == 0:
            self._summary()
            raise typer.Exit(2)

    def finish(self) -> None:
        self.check_failed()
        if self.skipped or self.bad_records:
            self._summary()
            raise typer.Exit(1)

    def _summary(self) -> None:
        parts = []
        if self.skipped:
            parts.append(f"{len(self.skipped)} of {self.n_sources} inputs skipped")
        if self.bad_records:
            parts.append(f"{self.bad_records:,} bad records skipped")
        self._say(f"{', '.join(parts)}, {self.tagged:,} tagged")
