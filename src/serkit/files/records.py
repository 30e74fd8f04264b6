"""Texts held in records: JSONL/JSON objects or CSV/TSV rows with a text field.

This is how many people hold their posts and issues (``{"id": 7, "text": "..."}`` a line,
or a spreadsheet with a ``text`` column), and what ``serkit tag`` reads one output record
per input record from. One reader for all who need it (``serkit tag``, the Ray engine):
:func:`iter_records`, also importable as ``serkit.documents.iter_records``.

A bad record (not an object, no text field, a row with the wrong number of cells, a
JSONL line with undecodable bytes) is one ``DataFormatError(path, line, reason)``: passed
to ``on_error`` and skipped when one is given, else raised. A file that cannot be read on
(bad syntax in a JSON array, undecodable bytes in JSON, CSV or a UTF-16 file, a CSV
without the text column) raises, after the records before it were yielded.
Lines and fields are bounded as everywhere (:mod:`serkit.files.inputs`).
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serkit.errors import DataFormatError, LimitExceeded, SerkitError
from serkit.files.inputs import (
    AUTO,
    MAX_LINE_BYTES,
    Input,
    as_input,
    decode,
    input_id,
    sniff_encoding,
    utf16_problem,
)
from serkit.files.jsonl import parse_json_line

#: Record formats by file suffix (what ``serkit tag`` reads as records unless told).
RECORD_SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
}
RECORD_FORMATS = ("jsonl", "json", "csv", "tsv")
#: Largest JSON (array) file read whole; JSONL is streamed and has no such limit.
MAX_JSON_BYTES = 64 * 2**20
#: The field ``serkit tag`` writes its entities to: an input record must not hold it.
ENTITIES_FIELD = "entities"

OnError = Callable[[DataFormatError], None]


@dataclass(frozen=True, slots=True)
class Record:
    """One input record: its id (the id field as text, else ``name:line``; ``name:line#N``
    for the Nth record starting on one line of a JSON file, from the second on), its text,
    the whole record as read (JSON object, or CSV row of strings) and the line it starts on."""

    id: str
    text: str
    fields: dict[str, Any]
    line: int


def record_format(path: str | Path) -> str | None:
    """The record format a file name implies (``posts.jsonl`` -> ``jsonl``), or None."""
    return RECORD_SUFFIXES.get(Path(str(path)).suffix.lower())


def iter_records(
    src: str | Path | Input,
    *,
    fmt: str | None = None,
    text_field: str = "text",
    id_field: str = "id",
    encoding: str = "utf-8",
    on_error: OnError | None = None,
) -> Iterator[Record]:
    """The records of a JSONL, JSON (an array of objects, or one object), CSV or TSV file
    (``fmt``; default: from the suffix), streamed (JSONL, CSV, TSV) in file order.

    ``encoding``: ``utf-8`` (a BOM is dropped, UTF-16 refused by name), ``auto`` (by
    byte-order mark) or any codec name. Bad records go to ``on_error`` (then skipped) or
    are raised; see the module docstring."""
    inp = as_input(src)
    fmt = fmt or record_format(inp.name)
    if fmt not in RECORD_FORMATS:
        raise SerkitError(
            f"{inp.name}: not a record file (give one of {', '.join(RECORD_FORMATS)}; "
            f"suffixes {', '.join(RECORD_SUFFIXES)})"
        )
    reader = _Reader(inp.name, text_field, id_field, on_error, input_id(inp.path))
    with inp:
        if fmt == "jsonl":
            # JSONL lines are records of their own: a line that is not text is a bad record
            yield from reader.jsonl(_text_lines(inp, encoding, reader.bad))
        elif fmt == "json":
            yield from reader.json(inp, encoding)
        else:
            yield from reader.table(_text_lines(inp, encoding), fmt)


class _Reader:
    """``name`` is what messages show, ``id_name`` what ids say (default: ``name``)."""

    def __init__(
        self,
        name: str,
        text_field: str,
        id_field: str,
        on_error: OnError | None,
        id_name: str | None = None,
    ):
        self.name, self.text_field, self.id_field = name, text_field, id_field
        self.on_error, self.id_name = on_error, id_name or name

    def bad(self, line: int, reason: str) -> None:
        err = DataFormatError(self.name, line, reason)
        if self.on_error is None:
            raise err
        self.on_error(err)

    def record(self, obj: Any, line: int, what: str = "field", nth: int = 1) -> Record | None:
        """The record ``obj`` holds, or None after reporting why it is bad; ``nth``: the
        how-manieth record starting on ``line`` it is (a one-line JSON array holds many)."""
        if not isinstance(obj, dict):
            self.bad(line, f"expected an object with a {self.text_field!r} {what}, "
                     f"not {_json_type(obj)}")  # fmt: skip
            return None
        text = obj.get(self.text_field)
        if not isinstance(text, str):
            if self.text_field in obj:
                reason = f"{self.text_field!r} is {_json_type(text)}, not a string"
            else:
                names = ", ".join(map(str, list(obj)[:10])) or "none"
                reason = f"no {self.text_field!r} {what} (--text-field names it; has: {names})"
            self.bad(line, reason)
            return None
        if ENTITIES_FIELD in obj:
            self.bad(line, f"the record has an {ENTITIES_FIELD!r} {what} already; serkit tag "
                     "writes its entities there (rename it)")  # fmt: skip
            return None
        rid = obj.get(self.id_field)
        if rid is None:
            rid = f"{self.id_name}:{line}" + (f"#{nth}" if nth > 1 else "")
        return Record(str(rid), text, obj, line)

    def jsonl(self, lines: Iterator[tuple[int, str]]) -> Iterator[Record]:
        for lineno, line in lines:
            if not line.strip():
                continue
            try:
                obj = parse_json_line(line, self.name, lineno)
            except DataFormatError as e:
                self.bad(lineno, e.reason)
                continue
            rec = self.record(obj, lineno)
            if rec is not None:
                yield rec

    def json(self, inp: Input, encoding: str) -> Iterator[Record]:
        """An array of records (or one record), parsed element by element so each bad
        element is named by its line."""
        try:
            data = inp.read_all(MAX_JSON_BYTES)
        except LimitExceeded:
            raise LimitExceeded(
                f"{inp.name}: a JSON file larger than {MAX_JSON_BYTES // 2**20} MiB; give the "
                "records as JSONL, one a line (jq -c '.[]' turns an array into JSONL)"
            ) from None
        text = decode(inp.name, data, encoding)
        dec = json.JSONDecoder()
        pos, line = _skip_ws(text, 0), 1

        def at(p: int) -> int:
            nonlocal pos, line
            line += text.count("\n", pos, p)
            pos = p
            return line

        def syntax(p: int, what: str) -> DataFormatError:
            return DataFormatError(self.name, at(p), f"invalid JSON: {what}")

        if pos == len(text):
            return
        if text[pos] != "[":  # one record
            obj, end = self._decode(dec, text, pos, at)
            if _skip_ws(text, end) != len(text):
                raise syntax(_skip_ws(text, end), "extra data after the record")
            rec = self.record(obj, at(pos))
            if rec is not None:
                yield rec
            return
        p = _skip_ws(text, pos + 1)
        if text.startswith("]", p):  # an empty array
            if _skip_ws(text, p + 1) != len(text):
                raise syntax(_skip_ws(text, p + 1), "extra data after the array")
            return
        prev, nth = 0, 0
        while p < len(text):
            obj, end = self._decode(dec, text, p, at)
            start = at(p)
            nth = nth + 1 if start == prev else 1
            prev = start
            rec = self.record(obj, start, nth=nth)
            if rec is not None:
                yield rec
            p = _skip_ws(text, end)
            if text.startswith(",", p):
                p = _skip_ws(text, p + 1)
            elif text.startswith("]", p):
                if _skip_ws(text, p + 1) != len(text):
                    raise syntax(_skip_ws(text, p + 1), "extra data after the array")
                return
            else:
                raise syntax(p, "expected ',' or ']' between records")
        raise syntax(len(text), "the array is not closed")

    def _decode(
        self, dec: json.JSONDecoder, text: str, p: int, at: Callable[[int], int]
    ) -> tuple[Any, int]:
        try:
            return dec.raw_decode(text, p)
        except json.JSONDecodeError as e:
            raise DataFormatError(self.name, at(e.pos), f"invalid JSON: {e.msg}") from None
        except RecursionError:
            raise DataFormatError(self.name, at(p), "invalid JSON: nested too deeply") from None
        except ValueError as e:  # an integer beyond Python's digit limit
            raise DataFormatError(self.name, at(p), f"invalid JSON: {e}") from None

    def table(self, lines: Iterator[tuple[int, str]], fmt: str) -> Iterator[Record]:
        """CSV (Excel's dialect) or TSV rows under a header row; quoted cells may span
        lines, so a row's line is the line it starts on."""
        if csv.field_size_limit() < MAX_LINE_BYTES:  # one cell may hold a long post
            csv.field_size_limit(MAX_LINE_BYTES)
        counted = _Counted(lines)
        # strict: a quote never closed would swallow every later row into one cell, and
        # `"a"b` would read as `ab`; both are errors naming the row's first line instead
        dialect = "excel-tab" if fmt == "tsv" else "excel"
        rows = csv.reader(counted, dialect=dialect, strict=True)
        header: list[str] | None = None
        start = 1
        while True:
            start = counted.line + 1
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as e:
                why = "a quoted cell is never closed" if "end of data" in str(e) else e
                raise DataFormatError(self.name, start, f"invalid {fmt.upper()}: {why}") from None
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            if header is None:
                header = row
                dup = sorted({c for c in row if row.count(c) > 1})
                if dup:
                    raise DataFormatError(self.name, start, f"column {dup[0]!r} named twice")
                if self.text_field not in header:
                    names = ", ".join(header[:10])
                    raise DataFormatError(
                        self.name,
                        start,
                        f"no {self.text_field!r} column in the header row "
                        f"(--text-field names it; columns: {names})",
                    )
                continue
            if len(row) != len(header):
                self.bad(start, f"{len(row)} cells, the header row has {len(header)}")
                continue
            rec = self.record(dict(zip(header, row, strict=True)), start, "column")
            if rec is not None:
                yield rec


class _Counted:
    """Lines for ``csv.reader``, counting how many it has taken."""

    def __init__(self, lines: Iterator[tuple[int, str]]) -> None:
        self._lines, self.line = lines, 0

    def __iter__(self) -> _Counted:
        return self

    def __next__(self) -> str:
        self.line, text = next(self._lines)
        return text


def _json_type(value: Any) -> str:
    """What a JSON user calls the type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return {dict: "an object", list: "an array", str: "a string"}.get(type(value), "a value")


def _skip_ws(text: str, p: int) -> int:
    n = len(text)
    while p < n and text[p] in " \t\r\n":
        p += 1
    return p


def _text_lines(
    inp: Input, encoding: str, bad_line: Callable[[int, str], None] | None = None
) -> Iterator[tuple[int, str]]:
    """``(line number, line with its newline)``, decoded as it streams (any codec, UTF-16
    too) and bounded per line; only ``\\n`` ends a line. With ``bad_line``, a UTF-8 line
    that does not decode goes to ``bad_line(line, reason)`` and the next lines are read
    (UTF-8 resynchronises at a newline); without it, it ends the file."""
    if encoding == AUTO:
        enc = sniff_encoding(inp.head)
        enc = "utf-8-sig" if enc == "utf-8" else enc
    else:
        enc = encoding
        if enc.lower().replace("_", "-") in ("utf-8", "utf8"):
            problem = utf16_problem(inp.head[:4096])
            if problem:
                raise DataFormatError(
                    inp.name, 1, f"{problem}, not UTF-8: pass --encoding auto (or convert it)"
                )
            enc = "utf-8-sig"
    decoder = codecs.getincrementaldecoder(enc)("strict")
    what = "UTF-8" if enc.startswith("utf-8") else enc
    per_line = bad_line is not None and enc.startswith("utf-8")
    lineno, buf = 0, ""
    for raw in inp.raw_lines():
        try:
            buf += decoder.decode(raw)
        except UnicodeDecodeError as e:
            # the offset in its line, as serkit.files.inputs.decode says it of a line
            reason = f"not {what} text (byte 0x{e.object[e.start]:02x} at offset {e.start})"
            if not per_line or buf:
                raise DataFormatError(inp.name, lineno + 1, reason) from None
            lineno += 1
            bad_line(lineno, reason)  # type: ignore[misc]
            decoder = codecs.getincrementaldecoder("utf-8")("strict")  # no BOM mid-file
            continue
        while (i := buf.find("\n")) >= 0:
            lineno += 1
            yield lineno, buf[: i + 1]
            buf = buf[i + 1 :]
        if len(buf) > MAX_LINE_BYTES:
            raise LimitExceeded(f"{inp.name}:{lineno + 1}: line longer than the limit for one line")
    try:
        buf += decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        if not per_line:
            raise DataFormatError(inp.name, lineno + 1, f"not {what} text (cut short)") from None
        bad_line(lineno + 1, f"not {what} text (cut short)")  # type: ignore[misc]
        return
    if buf:
        yield lineno + 1, buf
