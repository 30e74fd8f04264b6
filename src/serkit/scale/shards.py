"""Shards: the unit of work, of output and of resumption of a scaled-out run.

A run's inputs are cut into shards *before* anything is tagged, deterministically, from
the inputs alone: a run of consecutive text files, a range of lines of a JSONL file, a
run of row groups of a Parquet file. So a re-run plans the very same shards, and a shard
whose output is already listed in the manifest is skipped. A shard is small to describe
(paths and offsets, never texts): the driver holds the plan, each worker reads its
shard's documents itself, one at a time, and writes its output file as it goes, so no
process holds more than a shard's worth of anything (memory stays bounded whatever the
size of the corpus). Inputs and the output folder must therefore be on storage every
node sees (one machine, NFS, a mounted bucket).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from serkit.errors import LimitExceeded, SerkitError

#: Documents per shard: the unit of resumption (a crash loses at most this many per actor)
#: and of scheduling (many shards per actor keep every actor busy to the end).
DOCS_PER_SHARD = 1000
#: Bytes of text files per shard, whatever their number (a few big files are a shard).
MAX_SHARD_BYTES = 64 * 2**20
#: Parquet files (a text column) are read by this engine only; other inputs as locally.
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Shard kinds: text files (grouped), a JSONL line range, a whole record file (JSON, CSV,
#: TSV: a quoted CSV cell may span lines, so they are not cut), Parquet row groups.
TEXT, RANGE, FILE, PARQUET = "text", "jsonl-range", "records", "parquet"
#: Output formats of a scaled-out ``serkit tag`` and their file suffixes.
OUTPUT_SUFFIXES = {"jsonl": ".jsonl", "parquet": ".parquet"}


@dataclass(frozen=True, slots=True)
class Shard:
    """One unit of work. ``kind`` says how ``paths`` are read: ``text`` (each file is a
    document), ``jsonl`` (``{"id", "text"}`` lines ``[start, end)`` bytes of one file,
    the first on line ``first_line``) or ``parquet`` (``row_groups`` of one file, whose
    first row is row ``first_line`` of the file, counted from 1)."""

    index: int
    kind: str
    paths: tuple[str, ...]
    start: int = 0
    end: int = 0
    first_line: int = 1
    row_groups: tuple[int, ...] = ()
    #: Size and modification time of each file: a changed input changes the key.
    stamps: tuple[tuple[int, int], ...] = ()
    options: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Identity of the shard's work: same key, same output."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Shard:
        d = json.loads(text)
        d["paths"] = tuple(d["paths"])
        d["row_groups"] = tuple(d["row_groups"])
        d["stamps"] = tuple(tuple(s) for s in d["stamps"])
        return cls(**d)

    def output_name(self, suffix: str) -> str:
        """The name of the shard's output file, ``suffix`` its job's (``.jsonl``...)."""
        return output_name(self.index, suffix)


def output_name(index: int, suffix: str) -> str:
    """The name of shard ``index``'s output file: a plain name in the output folder."""
    return f"part-{index:05d}{suffix}"


def _stamp(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def reading_of(shard: Shard) -> Any:
    """How a local ``serkit tag`` reads the shard's files (``serkit.documents.Reading``)."""
    from serkit.documents import Reading

    o = shard.options
    return Reading(o["encoding"], False, o["input_format"], o["text_field"], o["id_field"])


def plan(
    inputs: Sequence[str],
    *,
    pattern: str = "*.txt",
    docs_per_shard: int = DOCS_PER_SHARD,
    input_format: str = "auto",
    text_field: str = "text",
    id_field: str = "id",
    encoding: str = "utf-8",
) -> list[Shard]:
    """The shards of ``inputs`` (files, folders, globs), in input order. Files are read as
    a local ``serkit tag`` reads them (``input_format``: text, or records by suffix), and
    ``.parquet`` files by their ``text_field`` column."""
    from serkit.documents import Reading, resolve_inputs

    if docs_per_shard < 1:
        raise SerkitError(f"docs per shard must be >= 1, got {docs_per_shard}")
    options = {
        "encoding": encoding,
        "input_format": input_format,
        "text_field": text_field,
        "id_field": id_field,
    }
    reading = Reading(encoding, False, input_format, text_field, id_field)
    sources = resolve_inputs(inputs, pattern)
    for src in sources:
        if src.path is None or src.path == "-":
            raise SerkitError(
                f"{src.text if src.path is None else '-'}: a scaled-out run reads files, "
                "folders or globs (not text arguments or stdin)"
            )
        if not Path(src.path).is_file():
            raise SerkitError(f"{src.path}: not a regular file (a scaled-out run re-reads it)")
    reading.check(sources)
    shards: list[Shard] = []
    texts: list[str] = []
    text_bytes = 0

    def add(kind: str, paths: Sequence[str], **kw: Any) -> None:
        stamps = tuple(_stamp(p) for p in paths)
        shards.append(Shard(len(shards), kind, tuple(paths), stamps=stamps, options=options, **kw))

    def flush_texts() -> None:
        nonlocal text_bytes
        if texts:
            add(TEXT, texts)
            texts.clear()
            text_bytes = 0

    for src in sources:
        path = str(src.path)
        parquet = input_format == "auto" and Path(path).suffix.lower() in PARQUET_SUFFIXES
        kind = PARQUET if parquet else reading.format_of(src)
        if kind == "text":
            size = os.stat(path).st_size
            if texts and (len(texts) >= docs_per_shard or text_bytes + size > MAX_SHARD_BYTES):
                flush_texts()
            texts.append(path)
            text_bytes += size
            continue
        flush_texts()
        if kind == PARQUET:
            for groups, first in _row_group_runs(path, docs_per_shard):
                add(PARQUET, [path], row_groups=groups, first_line=first)
        elif kind == "jsonl" and _cuttable(encoding):
            for start, end, first in _line_ranges(path, docs_per_shard):
                add(RANGE, [path], start=start, end=end, first_line=first)
        else:
            add(FILE, [path])
    flush_texts()
    return shards


def _cuttable(encoding: str) -> bool:
    """Whether a file in ``encoding`` can be cut at ``\\n`` bytes (UTF-16 cannot)."""
    return encoding.lower().replace("_", "-") in ("utf-8", "utf8", "latin-1", "ascii")


def _line_ranges(path: str, per_shard: int) -> Iterator[tuple[int, int, int]]:
    """``(start, end, first line)`` byte ranges of ``per_shard`` non-blank lines each: one
    pass over the file, holding one line at a time."""
    from serkit.files.inputs import MAX_LINE_BYTES

    with open(path, "rb") as f:
        start, first, n, pos, lineno = 0, 1, 0, 0, 0
        while True:
            raw = f.readline(MAX_LINE_BYTES + 2)
            if not raw:
                break
            lineno += 1
            if len(raw) > MAX_LINE_BYTES + 1 or (
                len(raw) == MAX_LINE_BYTES + 1 and not raw.endswith(b"\n")
            ):
                raise LimitExceeded(
                    f"{path}:{lineno}: line longer than {MAX_LINE_BYTES // 2**20} MiB "
                    "(the limit for one line)"
                )
            pos += len(raw)
            if raw.strip():
                n += 1
            if n >= per_shard:
                yield start, pos, first
                start, first, n = pos, lineno + 1, 0
        if n:
            yield start, pos, first


def _row_group_runs(path: str, per_shard: int) -> Iterator[tuple[tuple[int, ...], int]]:
    """Consecutive row groups of about ``per_shard`` rows (a row group is never split)."""
    meta = _parquet_file(path).metadata
    groups: list[int] = []
    rows, first, seen = 0, 1, 0
    for g in range(meta.num_row_groups):
        groups.append(g)
        n = meta.row_group(g).num_rows
        rows += n
        seen += n
        if rows >= per_shard:
            yield tuple(groups), first
            groups, rows, first = [], 0, seen + 1
    if groups:
        yield tuple(groups), first


def _parquet_file(path: str):  # -> pyarrow.parquet.ParquetFile
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - the `scale` extra brings it
        raise SerkitError(
            f"{path}: reading Parquet needs pyarrow: pip install 'serkit[scale]'"
        ) from None
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as e:  # pyarrow's ArrowInvalid is a ValueError
        raise SerkitError(f"{path}: not a Parquet file ({e})") from None


# -- reading a shard ---------------------------------------------------------------------

Item = tuple[Any, str]  # (serkit.documents.Source, text)


def read_shard(shard: Shard, skipped: list[str]) -> Iterator[Item]:
    """The shard's documents as ``(Source, text)``, one at a time, read by the code of a
    local ``serkit tag`` (same ids, same records, same errors); an input or a record that
    cannot be read goes to ``skipped`` (its one-line reason) and the others carry on."""
    from serkit.documents import Source, read_documents, skipping

    def bad(err: SerkitError) -> None:
        skipped.append(str(err))

    if shard.kind == PARQUET:
        return _read_parquet(shard, skipped)
    if shard.kind == RANGE:
        return _read_range(shard, bad)
    sources = [Source(p, p) for p in shard.paths]
    return skipping(
        read_documents, sources, lambda _src, err: bad(err), reading_of(shard), None, bad
    )


def _read_range(shard: Shard, on_error: Any) -> Iterator[Item]:
    """The JSONL records on lines ``[start, end)`` bytes of a file, under the rules of
    ``serkit.files.records`` (ids ``path:line`` counted from the top of the file)."""
    from serkit.documents import Source, decode
    from serkit.files.records import _Reader  # the record rules, kept in one place

    path = shard.paths[0]
    o = shard.options
    enc = o["encoding"]
    reader = _Reader(path, o["text_field"], o["id_field"], on_error)

    def lines() -> Iterator[tuple[int, str]]:
        with open(path, "rb") as f:
            f.seek(shard.start)
            for n, raw in enumerate(_lines(f, shard.end - shard.start), shard.first_line):
                try:
                    yield n, decode(path, raw, enc, n)
                except SerkitError as e:
                    on_error(e)

    for rec in reader.jsonl(lines()):
        fields = rec.fields
        if fields.get(o["id_field"]) is None:
            fields = {o["id_field"]: rec.id, **fields}
        yield Source(rec.id, path, None, fields), rec.text


def _lines(f: IO[bytes], n_bytes: int) -> Iterator[bytes]:
    left = n_bytes
    while left > 0:
        raw = f.readline(left)
        if not raw:
            return
        left -= len(raw)
        yield raw


def _read_parquet(shard: Shard, skipped: list[str]) -> Iterator[Item]:
    """Rows of a text column, in batches of 256; ids from the id column when the file has
    one, else ``path#row`` (rows counted from 1)."""
    from serkit.documents import Source

    path = shard.paths[0]
    id_col, text_col = shard.options["id_field"], shard.options["text_field"]
    pf = _parquet_file(path)
    names = pf.schema_arrow.names
    if text_col not in names:
        raise SerkitError(f"{path}: no column {text_col!r} (columns: {', '.join(names)})")
    cols = [text_col] + ([id_col] if id_col in names else [])
    row = shard.first_line - 1
    for batch in pf.iter_batches(batch_size=256, row_groups=list(shard.row_groups), columns=cols):
        texts = batch.column(text_col).to_pylist()
        ids = batch.column(id_col).to_pylist() if len(cols) > 1 else [None] * len(texts)
        for text, doc_id in zip(texts, ids, strict=True):
            row += 1
            if not isinstance(text, str):
                skipped.append(f"{path}: row {row}: {text_col!r} is not a string ({text!r})")
                continue
            yield Source(f"{path}#{row}" if doc_id is None else str(doc_id), None, text), text


# -- writing a shard's output ------------------------------------------------------------

PARQUET_BATCH = 256


def _parquet_schema():
    import pyarrow as pa

    entity = pa.struct(
        [
            ("start", pa.int64()),
            ("end", pa.int64()),
            ("label", pa.string()),
            ("text", pa.string()),
            ("score", pa.float64()),
        ]
    )
    return pa.schema(
        [
            ("id", pa.string()),
            ("path", pa.string()),
            ("text", pa.string()),
            ("entities", pa.list_(entity)),
        ]
    )


class ParquetDocWriter:
    """Tagged documents as Parquet rows ``id``, ``path`` (text files) or ``text`` (records),
    ``entities``, in row groups of ``PARQUET_BATCH`` documents. Other fields of an input
    record are not carried (the JSONL output keeps them)."""

    def __init__(self, f: IO[bytes]) -> None:
        import pyarrow.parquet as pq

        self.schema = _parquet_schema()
        self.writer = pq.ParquetWriter(f, self.schema)
        self.rows: list[dict] = []

    def write(self, doc: Any) -> None:
        file = doc.path is not None and doc.record is None  # a text file: its path, as JSONL
        self.rows.append(
            {
                "id": str(doc.id),
                "path": doc.path if file else None,
                "text": None if file else doc.text,
                "entities": [e.to_dict() for e in doc.entities],
            }
        )
        if len(self.rows) >= PARQUET_BATCH:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows.clear()

    def close(self) -> None:
        self._flush()
        self.writer.close()


def read_output(path: str | Path) -> Iterable[dict]:
    """The records of one output shard (JSONL or Parquet), as ``serkit tag`` JSONL dicts."""
    path = Path(path)
    if path.suffix == OUTPUT_SUFFIXES["parquet"]:
        import pyarrow.parquet as pq

        for rec in pq.read_table(path).to_pylist():
            yield {k: v for k, v in rec.items() if v is not None or k == "entities"}
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)
