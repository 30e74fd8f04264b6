"""What ``serkit tag`` tags: command-line arguments -> documents -> tagged documents.

An argument is ``-`` (stdin), an existing file, a folder (its files matching a
pattern, recursively), a glob, or else literal text; an empty argument, or a missing one
that looks like a path (a slash or a file suffix), is an error. Paths are resolved up front
(so a progress bar knows the total) but files are read one at a time as tagging proceeds,
each within ``serkit.files.inputs.MAX_DOCUMENT_BYTES`` (lines within ``MAX_LINE_BYTES``).

A file is a text (one document, or one per line with ``--lines``) or, by its suffix
(``.jsonl``, ``.json``, ``.csv``, ``.tsv``) or ``--input-format``, a file of records with a
text field: one document per record, which keeps the record's fields
(:func:`iter_records`, from :mod:`serkit.files.records`).
"""

from __future__ import annotations

import glob
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from serkit.errors import DataFormatError, SerkitError
from serkit.files.inputs import AUTO, Input, check_encoding, decode, input_id, sniff_encoding
from serkit.files.records import RECORD_FORMATS, Record, iter_records, record_format
from serkit.tagger import Tagger
from serkit.tokens import TaggedDoc

__all__ = [
    "AUTO",
    "INPUT_FORMATS",
    "Reading",
    "Record",
    "Source",
    "check_encoding",
    "decode",
    "iter_records",
    "read_documents",
    "read_source",
    "resolve_inputs",
    "skipping",
    "sniff_encoding",
    "split_lines",
    "tag_documents",
]

GLOB_CHARS = "*?["
#: An argument without whitespace ending like a file name (``notes.txt``,
#: ``docker-compose.yml``) is a path: missing, it is an error, not text (``--text`` forces text).
_FILE_SUFFIX = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")


#: ``--input-format``: ``auto`` (records by suffix, else text), ``text``, or a record format.
INPUT_FORMATS = ("auto", "text", *RECORD_FORMATS)


@dataclass(frozen=True, slots=True)
class Source:
    """One input: literal text (``path`` None), stdin (``path`` "-") or a file; a document
    read from a record also carries the record (its fields, the id field always set)."""

    id: str
    path: str | None = None
    text: str | None = None
    record: dict | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """How ``serkit tag`` reads its inputs (its options, checked by :meth:`check`)."""

    encoding: str = "utf-8"
    lines: bool = False
    input_format: str = "auto"
    text_field: str = "text"
    id_field: str = "id"

    def format_of(self, src: Source) -> str:
        """``text`` or the record format ``src`` is read as."""
        if src.path is None:
            return "text"
        if self.input_format != "auto":
            return self.input_format
        return "text" if src.path == "-" else record_format(src.path) or "text"

    def check(self, sources: Sequence[Source]) -> None:
        check_encoding(self.encoding)
        if self.input_format not in INPUT_FORMATS:
            raise SerkitError(
                f"unknown input format {self.input_format!r} (choose from "
                f"{', '.join(INPUT_FORMATS)})"
            )
        for field, name in ((self.text_field, "--text-field"), (self.id_field, "--id-field")):
            if not field:
                raise SerkitError(f"{name}: give a field name")
        if self.lines:
            for src in sources:
                fmt = self.format_of(src)
                if fmt != "text":
                    raise SerkitError(
                        f"{src.path}: --lines splits texts into lines, but this is read as "
                        f"{fmt} records (--input-format text reads it as text)"
                    )


def resolve_inputs(
    args: Sequence[str], pattern: str = "*.txt", *, as_text: bool = False
) -> list[Source]:
    """Turn command-line arguments into sources, in the order given (folders sorted);
    ``as_text`` takes every argument as literal text."""
    if not args:
        raise SerkitError("nothing to tag: give a text, '-' for stdin, files, folders or globs")
    out: list[Source] = []
    n_text = 0
    for arg in args:
        if not arg.strip():  # `serkit tag "$EMPTY"` must not tag the current folder
            raise SerkitError(
                "an empty argument: give a text, '-' for stdin, files, folders or globs"
            )
        if as_text:
            n_text += 1
            out.append(Source(f"text-{n_text}", None, arg))
            continue
        if arg == "-":
            out.append(Source(input_id(arg), arg))
            continue
        p = Path(arg).expanduser()
        if _is_path(p) and not p.is_dir():  # a file, or a device/pipe such as /dev/stdin
            out.append(Source(arg, arg))
        elif _is_path(p) and p.is_dir():
            files = sorted(
                f
                for f in p.rglob(pattern)
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            if not files:
                raise SerkitError(f"{arg}: no files matching {pattern!r} in this folder")
            out.extend(Source(str(f), str(f)) for f in files)
        elif any(c in arg for c in GLOB_CHARS) and not any(c.isspace() for c in arg):
            files = sorted(f for f in glob.glob(str(p), recursive=True) if Path(f).is_file())
            if not files:
                raise SerkitError(f"{arg}: no file matches this pattern")
            out.extend(Source(f, f) for f in files)
        elif not any(c.isspace() for c in arg) and (
            _FILE_SUFFIX.search(arg) or "/" in arg.rstrip("/")[1:]
        ):
            raise SerkitError(f"{arg}: no such file or folder (to tag it as text: --text)")
        else:
            n_text += 1
            out.append(Source(f"text-{n_text}", None, arg))
    return out


def _is_path(p: Path) -> bool:
    try:
        return p.exists()
    except (OSError, ValueError):  # a long text argument is not a valid path name
        return False


def read_source(src: Source, stdin: IO[str] | None = None, encoding: str = "utf-8") -> str:
    """The text of a source, at most ``MAX_DOCUMENT_BYTES``; see :func:`decode` for
    ``encoding``."""
    if src.path is None:
        return src.text or ""
    with Input(src.path, stdin) as inp:
        return decode(inp.name, inp.read_all(), encoding)


def split_lines(
    sources: Iterable[Source], stdin: IO[str] | None = None, encoding: str = "utf-8"
) -> Iterator[tuple[Source, str]]:
    """``--lines``: every non-empty line of every source is its own document (``id:line``).

    Streamed line by line (each within ``MAX_LINE_BYTES``), from stdin and files alike."""
    for src in sources:
        if src.path is None:
            lines: Iterable[str] = (src.text or "").splitlines()
        elif encoding == "utf-8":
            lines = _stream_lines(src, stdin)
        else:  # a multi-byte codec cannot be cut at b"\n": decode the whole document
            lines = read_source(src, stdin, encoding).splitlines()
        for i, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield Source(f"{src.id}:{i}", src.path, line), line


def _stream_lines(src: Source, stdin: IO[str] | None) -> Iterator[str]:
    """UTF-8 lines of a file or stdin, split like ``str.splitlines`` (which is what a file's
    lines always were), without holding the whole input."""
    with Input(src.path, stdin) as inp:  # type: ignore[arg-type]
        for n, raw in enumerate(inp.raw_lines(), 1):
            yield from decode(inp.name, raw, "utf-8", n).splitlines() or [""]


def tag_documents(
    tagger: Tagger,
    items: Iterable[tuple[Source, str]],
    batch_size: int = 32,
) -> Iterator[TaggedDoc]:
    """Tag ``(source, text)`` pairs as a stream, in order (sentences share batches): each
    document is the tagger's ``TaggedDoc`` named after its source."""
    held: deque[Source] = deque()

    def texts() -> Iterator[str]:
        for src, text in items:
            held.append(src)
            yield text

    for doc in tagger.pipe_tagged(texts(), batch_size):
        src = held.popleft()
        doc.id, doc.record = src.id, src.record
        doc.path = src.path if src.path not in (None, "-") else None
        for s in doc.sentences:
            s.doc_id = src.id
        yield doc


def read_sources(
    sources: Iterable[Source], stdin: IO[str] | None = None, encoding: str = "utf-8"
) -> Iterator[tuple[Source, str]]:
    for src in sources:
        yield src, read_source(src, stdin, encoding)


def read_documents(
    sources: Iterable[Source],
    reading: Reading,
    stdin: IO[str] | None = None,
    on_bad_record: Callable[[DataFormatError], None] | None = None,
) -> Iterator[tuple[Source, str]]:
    """Every document of every source, in order: a text, its lines (``--lines``) or its
    records. A bad record goes to ``on_bad_record`` and is skipped (None: raised)."""
    for src in sources:
        fmt = reading.format_of(src)
        if fmt != "text":
            yield from _read_records(src, fmt, reading, stdin, on_bad_record)
        elif reading.lines:
            yield from split_lines([src], stdin, reading.encoding)
        else:
            yield src, read_source(src, stdin, reading.encoding)


def _read_records(
    src: Source,
    fmt: str,
    reading: Reading,
    stdin: IO[str] | None,
    on_error: Callable[[DataFormatError], None] | None,
) -> Iterator[tuple[Source, str]]:
    """A record file's documents; a record without an id gets ``path:line`` as its id (in
    the output too), so every output record can be traced back after skipped ones."""
    records = iter_records(
        Input(src.path, stdin),  # type: ignore[arg-type]
        fmt=fmt,
        text_field=reading.text_field,
        id_field=reading.id_field,
        encoding=reading.encoding,
        on_error=on_error,
    )
    for rec in records:
        fields = rec.fields
        if fields.get(reading.id_field) is None:
            rest = {k: v for k, v in fields.items() if k != reading.id_field}
            fields = {reading.id_field: rec.id, **rest}
        yield Source(rec.id, src.path, None, fields), rec.text


def skipping(
    read: Callable[..., Iterator[tuple[Source, str]]],
    sources: Iterable[Source],
    on_skip: Callable[[Source, SerkitError], None],
    *args: object,
) -> Iterator[tuple[Source, str]]:
    """``read(sources, *args)`` source by source; a source that cannot be read (bad
    encoding, over a limit, unreadable) goes to ``on_skip`` and the others carry on (with
    ``--lines`` or records, the documents before a bad line have been tagged)."""
    for src in sources:
        try:
            yield from read([src], *args)
        except SerkitError as e:
            on_skip(src, e)
