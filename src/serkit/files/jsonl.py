"""JSONL span files, one document a line: ``{"id", "text", "entities": [{start, end, label}]}``.

This is what doccano and Label Studio exports look like (doccano's ``"label": [[s, e, "T"]]``
is accepted too). Entity offsets are characters into ``text``. Token boundaries come from a
Prodigy-style ``"tokens": [{"text", "start", "end"}]`` list when present (what ``write``
emits, so token files round-trip exactly), otherwise from ``serkit.tokenize``.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from serkit.errors import DataFormatError, SerkitError
from serkit.files._common import (
    ReadContext,
    check_writable_tag,
    check_writable_token,
    code_point_offsets,
    iter_lines,
)
from serkit.files.inputs import Input, as_input
from serkit.scheme import repair_iob, spans, tags_from_spans, type_problem
from serkit.tokenize import tokenize
from serkit.tokens import Sentence


def _tokens_from_field(
    raw: Any, text: str, path: Path | str, lineno: int
) -> list[tuple[str, int, int]]:
    """Prodigy-style tokens, checked: in order, inside the text, ``text`` matching the slice."""
    if not isinstance(raw, list):
        raise DataFormatError(path, lineno, '"tokens" must be a list')
    out = []
    prev, n = 0, len(text)
    for t in raw:
        try:
            s, e = t["start"], t["end"]
        except (TypeError, KeyError):
            raise DataFormatError(path, lineno, 'each token needs "start" and "end"') from None
        if type(s) is not int or type(e) is not int or not (prev <= s < e <= n):
            raise DataFormatError(path, lineno, f"token offsets [{s}, {e}) out of order or range")
        tok = text[s:e]
        if t.get("text", tok) != tok:
            raise DataFormatError(
                path, lineno, f"token {t['text']!r} does not match text[{s}:{e}] = {tok!r}"
            )
        out.append((tok, s, e))
        prev = e
    return out


def _tokenize(text: str) -> list[tuple[str, int, int]]:
    return [(t.text, t.start, t.end) for t in tokenize(text)]


def _raw_entities(obj: dict, path: Path | str, lineno: int) -> list[tuple[int, int, str]] | None:
    """Entities as ``(start, end, label)`` code-point offsets from either the doccano/Label
    Studio dict form or doccano's ``"label": [[s, e, "T"]]``; None when the document carries no
    annotation. doccano's forms (the ``"label"`` list, ``start_offset``/``end_offset``) count
    UTF-16 code units, as its JavaScript front end does: they are converted."""
    raw = obj.get("entities")
    doccano = False
    if raw is None and isinstance(obj.get("label"), list):
        raw, doccano = obj["label"], True
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise DataFormatError(path, lineno, '"entities" must be a list')
    out = []
    for e in raw:
        if isinstance(e, dict):
            doccano = doccano or "start_offset" in e
            s, t, label = (
                e.get("start", e.get("start_offset")),
                e.get("end", e.get("end_offset")),
                e.get("label"),
            )
        elif isinstance(e, list | tuple) and len(e) == 3:
            s, t, label = e
        else:
            raise DataFormatError(path, lineno, f"entity {e!r}: expected start, end and label")
        if type(s) is not int or type(t) is not int or not isinstance(label, str):  # no bools
            raise DataFormatError(
                path, lineno, f"entity {e!r}: start/end must be integers, label a string"
            )
        problem = type_problem(label)
        if problem:  # a tab or newline in a label would break a CoNLL file written from it
            raise DataFormatError(path, lineno, f"entity [{s}, {t}): {problem}")
        out.append((s, t, label))
    return _from_utf16(obj["text"], out, path, lineno) if doccano else out


def _from_utf16(
    text: str, ents: list[tuple[int, int, str]], path: Path | str, lineno: int
) -> list[tuple[int, int, str]]:
    """doccano's UTF-16 offsets as code points; one inside a character is an error (offsets
    outside the text are left for :func:`_align` to report)."""
    n = len(text.encode("utf-16-le", "surrogatepass")) // 2  # the length in UTF-16 units
    # one pass over the text for all the document's offsets, not one per entity
    points = code_point_offsets(text, [x for s, e, _ in ents for x in (s, e)])
    out = []
    for (s, e, label), cs, ce in zip(ents, points[::2], points[1::2], strict=True):
        if (cs is None and 0 <= s <= n) or (ce is None and 0 <= e <= n):
            raise DataFormatError(
                path,
                lineno,
                f"entity [{s}, {e}) {label}: an offset falls inside a character (doccano "
                "offsets count UTF-16 code units, an emoji 2)",
            )
        out.append((s if cs is None else cs, e if ce is None else ce, label))
    return out


def _align(
    text: str,
    toks: list[tuple[str, int, int]],
    ents: list[tuple[int, int, str]],
    path: Path | str,
    lineno: int,
) -> list[tuple[int, int, str]]:
    """Character entities -> token spans; a boundary inside a token is an error, not a guess."""
    starts = {s: i for i, (_, s, _) in enumerate(toks)}
    ends = {e: i for i, (_, _, e) in enumerate(toks)}
    tok_starts = [s for _, s, _ in toks]
    out = []
    for s, e, label in sorted(ents):
        if not (0 <= s < e <= len(text)):
            raise DataFormatError(path, lineno, f"entity [{s}, {e}) {label} outside the text")
        if s not in starts or e not in ends:
            bad = s if s not in starts else e
            i = max(bisect.bisect_right(tok_starts, bad) - 1, 0)
            tok = toks[i][0] if toks else ""
            raise DataFormatError(
                path,
                lineno,
                f"entity [{s}, {e}) {text[s:e]!r} ({label}): boundary {bad} falls "
                f"inside token {tok!r} or on whitespace",
            )
        i, j = starts[s], ends[e] + 1
        if out and i < out[-1][1]:
            raise DataFormatError(path, lineno, f"entity [{s}, {e}) {label} overlaps another")
        out.append((i, j, label))
    return out


def _columns(raw: Any, n: int, path: Path | str, lineno: int) -> list[list[str]]:
    """CoNLL columns carried through JSONL: one row of tab-free strings per token."""
    if not (
        isinstance(raw, list)
        and len(raw) == n
        and all(
            isinstance(row, list)
            and all(isinstance(c, str) and "\t" not in c and "\n" not in c for c in row)
            for row in raw
        )
    ):
        raise DataFormatError(path, lineno, '"columns" must hold one row of strings per token')
    return raw


def parse_json_line(line: str, path: Path | str, lineno: int) -> Any:
    """``json.loads`` with every failure as one ``path:line`` error: syntax, nesting deeper
    than Python's recursion limit, an integer beyond Python's digit limit."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise DataFormatError(path, lineno, f"invalid JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise DataFormatError(path, lineno, "invalid JSON: nested too deeply") from None
    except ValueError as e:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise DataFormatError(path, lineno, f"invalid JSON: {e}") from None


def read_jsonl(src: Path | Input, ctx: ReadContext) -> Iterator[Sentence]:
    """One Sentence per document line; ``index`` counts documents, ``line`` is their line."""
    inp = as_input(src)
    path, stem = inp.name, inp.stem
    index = 0
    for lineno, line in iter_lines(inp):
        if not line.strip():
            continue
        obj = parse_json_line(line, path, lineno)
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise DataFormatError(path, lineno, 'expected an object with a "text" string')
        text = obj["text"]
        toks = (
            _tokens_from_field(obj["tokens"], text, path, lineno)
            if "tokens" in obj
            else _tokenize(text)
        )
        ents = _raw_entities(obj, path, lineno)
        tags: list[str] | None = None
        if ents is not None:
            tspans = _align(text, toks, ents, path, lineno)
            tags = tags_from_spans(len(toks), tspans)
            if "tags" in obj:  # exact IOB2 tags (stray I- kept) written alongside the spans
                given = obj["tags"]
                if (
                    not isinstance(given, list)
                    or len(given) != len(toks)
                    or not all(isinstance(t, str) for t in given)
                ):
                    raise DataFormatError(path, lineno, '"tags" must list one tag string per token')
                if spans(given) != tspans:
                    raise DataFormatError(path, lineno, '"tags" disagree with "entities"')
                tags = list(given)
            for tag in tags:
                ctx.check_tag(tag, path, lineno)
        meta: dict[str, Any] = {"text": text, "offsets": [(s, e) for _, s, e in toks]}
        if "id" in obj:
            meta["id"] = obj["id"]
        if "columns" in obj:
            meta["columns"] = _columns(obj["columns"], len(toks), path, lineno)
        doc_id = obj.get("doc_id")
        yield ctx.finish(
            Sentence(
                [t for t, _, _ in toks],
                tags,
                str(doc_id) if doc_id is not None else stem,
                index,
                lineno,
                meta,
            )
        )
        index += 1
    ctx.stats.files += 1


def _layout(s: Sentence) -> tuple[str, list[tuple[int, int]]]:
    """Reuse the source text when the sentence came from JSONL; else join tokens by spaces."""
    text, offsets = s.meta.get("text"), s.meta.get("offsets")
    if (
        isinstance(text, str)
        and isinstance(offsets, list)
        and len(offsets) == len(s.tokens)
        and all(text[a:b] == t for (a, b), t in zip(offsets, s.tokens, strict=True))
    ):
        return text, [(a, b) for a, b in offsets]
    out, pos = [], 0
    for tok in s.tokens:
        out.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    return " ".join(s.tokens), out


def checked_layout(
    s: Sentence, fmt: str, ok: set[str]
) -> tuple[str, list[tuple[int, int]], list[tuple[int, int, str]] | None]:
    """A sentence as text, its tokens' and its entities' character spans (None: untagged), after the
    checks every character-offset writer (jsonl, doccano, labelstudio) makes."""
    for tok in s.tokens:
        check_writable_token(tok, fmt, s, "")
    text, offsets = _layout(s)
    if s.tags is None:
        return text, offsets, None
    if len(s.tags) != len(s.tokens):
        raise SerkitError(f"sentence {s.index}: {len(s.tokens)} tokens but {len(s.tags)} tags")
    for tag in s.tags:
        check_writable_tag(tag, fmt, s, ok)
    ents = [(offsets[i][0], offsets[j - 1][1], typ) for i, j, typ in spans(s.tags)]
    return text, offsets, ents


def write_jsonl(f: IO[str], sentences: Iterable[Sentence]) -> int:
    n = 0
    ok: set[str] = set()
    for s in sentences:
        text, offsets, ents = checked_layout(s, "jsonl", ok)
        doc: dict[str, Any] = {"id": s.meta.get("id", n), "text": text}
        if s.doc_id is not None:
            doc["doc_id"] = s.doc_id
        if ents is not None:
            doc["entities"] = [{"start": a, "end": b, "label": typ} for a, b, typ in ents]
            if repair_iob(s.tags)[1]:  # stray I- cannot be told apart in spans: keep the tags
                doc["tags"] = list(s.tags)
        doc["tokens"] = [
            {"text": t, "start": a, "end": b} for t, (a, b) in zip(s.tokens, offsets, strict=True)
        ]
        if isinstance(s.meta.get("columns"), list):
            doc["columns"] = s.meta["columns"]
        f.write(json.dumps(doc, ensure_ascii=False) + "\n")
        n += 1
    return n


def jsonl_record(doc: Any) -> dict:
    """The ``serkit tag`` record of a tagged document: ``{"id", "path" | "text", "entities"}``,
    or the input record it came from with ``"entities"`` added."""
    if doc.record is not None:
        return {**doc.record, "entities": [e.to_dict() for e in doc.entities]}
    rec: dict = {"id": doc.id}
    if doc.path is not None:
        rec["path"] = doc.path
    else:
        rec["text"] = doc.text
    rec["entities"] = [e.to_dict() for e in doc.entities]
    return rec


class RecordWriter:
    """Tagged documents as JSONL records, one line each, written as they come."""

    def __init__(self, f: IO[str]) -> None:
        self.f = f

    def write(self, doc: Any) -> None:
        self.f.write(json.dumps(jsonl_record(doc), ensure_ascii=False) + "\n")

    def close(self) -> None:
        pass
