"""The format table: every file format serkit reads or writes, declared once.

Each :class:`Format` names its suffixes, how to recognise it from its first lines, how to
read sentences, how to write sentences and how to write tagged documents (``serkit tag``).
``serkit.files.read``/``write``, ``serkit tag``, ``serkit predict``, ``serkit weak-label`` and
``serkit.render`` all look formats up here, so adding one is one new module (its reader
and/or writers) plus one :func:`register` line at the bottom of this file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from serkit.errors import SerkitError
from serkit.files._common import ReadContext
from serkit.files.conll import read_conll, write_conll
from serkit.files.doccano import DoccanoWriter, write_doccano
from serkit.files.hf import HfWriter
from serkit.files.html_page import HtmlWriter
from serkit.files.inputs import Input, as_input, is_stdin
from serkit.files.jsonl import RecordWriter, read_jsonl, write_jsonl
from serkit.files.labelstudio import (
    LabelStudioWriter,
    looks_like_labelstudio,
    read_labelstudio,
    write_labelstudio,
)
from serkit.files.wikiser import read_wikiser, write_wikiser
from serkit.tokens import Sentence


@dataclass(frozen=True, slots=True)
class Columns:
    """Which CoNLL columns hold the token and the tag (0-based); other formats ignore it."""

    token_col: int = 0
    tag_col: int | None = 1


class DocumentWriter(Protocol):
    """What ``serkit tag`` writes documents with: ``write(doc)`` as they come, ``close()``."""

    def write(self, doc: Any) -> None: ...
    def close(self) -> None: ...


Reader = Callable[[Input, ReadContext, Columns], Iterator[Sentence]]
Writer = Callable[[IO[str], Iterable[Sentence], Columns], int]


@dataclass(frozen=True, slots=True)
class Format:
    """One format. ``sniff`` gets the first non-blank lines (stripped bytes) of an input;
    ``documents`` makes the writer ``serkit tag`` uses (``None``: sentences via ``write``,
    with ``between`` written between two documents); ``keeps`` says what of a tagged
    document it holds when that is not all of it (``serkit tag`` notes what records lose)."""

    name: str
    help: str
    suffixes: tuple[str, ...] = ()
    sniff: Callable[[list[bytes]], bool] | None = None
    read: Reader | None = None
    write: Writer | None = None
    documents: Callable[[IO[str], Sequence[str]], DocumentWriter] | None = None
    between: str = ""
    keeps: str | None = None

    def document_writer(self, f: IO[str], entity_types: Sequence[str] = ()) -> DocumentWriter:
        if self.documents is not None:
            return self.documents(f, entity_types)
        if self.write is None:
            raise SerkitError(f"format {self.name!r} cannot hold tagged documents")
        return _SentenceDocWriter(f, self)


class _SentenceDocWriter:
    """Tagged documents written as their sentences (token/tag columns): a ``TaggedDoc``'s
    sentences are ``Sentence`` objects, written as they are."""

    def __init__(self, f: IO[str], fmt: Format) -> None:
        self.f, self.fmt = f, fmt
        self.wrote = False

    def write(self, doc: Any) -> None:
        sents = doc.sentences
        if not sents:
            return
        if self.wrote:
            self.f.write(self.fmt.between)
        self.fmt.write(self.f, sents, Columns())  # type: ignore[misc]
        self.wrote = True

    def close(self) -> None:
        pass


#: name -> format, in sniffing order.
FORMAT_TABLE: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    if fmt.name in FORMAT_TABLE:
        raise ValueError(f"format {fmt.name!r} registered twice")
    FORMAT_TABLE[fmt.name] = fmt
    return fmt


def corpus_formats() -> tuple[str, ...]:
    """Formats that hold tokenised sentences (read and write)."""
    return tuple(n for n, f in FORMAT_TABLE.items() if f.read is not None and f.write is not None)


def document_formats() -> tuple[str, ...]:
    """Formats ``serkit tag`` can write."""
    return tuple(n for n, f in FORMAT_TABLE.items() if f.documents or f.write)


def get_format(name: str, choices: Sequence[str] | None = None) -> Format:
    """The format called ``name``; an unknown one (or one outside ``choices``) is an error
    listing what would do."""
    choices = corpus_formats() if choices is None else tuple(choices)
    if name not in choices:
        raise SerkitError(f"unknown format {name!r} (choose from {', '.join(choices)})")
    return FORMAT_TABLE[name]


def check_format(fmt: str) -> str:
    """``fmt`` if it is a corpus format, else an error listing them."""
    return get_format(fmt).name


def format_from_suffix(path: str | Path, choices: Sequence[str] | None = None) -> str | None:
    """The format a file name implies (``out.jsonl`` -> ``jsonl``), or None."""
    suffix = Path(path).suffix.lower()
    choices = corpus_formats() if choices is None else choices
    return next((n for n in choices if suffix in FORMAT_TABLE[n].suffixes), None)


#: How many non-blank lines sniffing looks at.
SNIFF_LINES = 50
FALLBACK = "conll"


def sniff_lines(head: bytes) -> list[bytes]:
    """The first non-blank lines of ``head``, stripped."""
    out = []
    for raw in head.splitlines():
        line = raw.strip()
        if line:
            out.append(line)
            if len(out) >= SNIFF_LINES:
                break
    return out


def detect_format(src: str | Path | Input) -> str:
    """The format of a file from its first non-blank lines (the suffix decides only for an
    empty file; CoNLL when nothing else fits). A folder is a WikiSER corpus.

    A path is opened, sniffed and closed; pass an :class:`Input` to sniff a stream that
    cannot be reopened (its head is replayed to the reader).
    """
    if not isinstance(src, Input):
        if not is_stdin(src) and Path(src).is_dir():
            return "wikiser"
        with as_input(src) as inp:
            return detect_format(inp)
    lines = sniff_lines(src.head)
    for name, fmt in FORMAT_TABLE.items():
        if fmt.sniff is not None and fmt.read is not None and lines and fmt.sniff(lines):
            return name
    if not lines:
        return format_from_suffix(src.name) or FALLBACK
    return FALLBACK


def _looks_like_json(lines: list[bytes]) -> bool:
    """A JSON object on the first line, or a ``{`` line without tabs (so the JSONL reader
    reports its error); a CoNLL token that merely starts with ``{`` has a tab before its tag."""
    line = lines[0]
    if not line.startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except (ValueError, RecursionError):
        return b"\t" not in line


def _has_sentence_marks(lines: list[bytes]) -> bool:
    return any(line in (b"<s>", b"</s>") for line in lines)


register(
    Format(
        "jsonl",
        "one JSON document a line with character-offset entities",
        suffixes=(".jsonl", ".ndjson"),
        sniff=_looks_like_json,
        read=lambda src, ctx, cols: read_jsonl(src, ctx),
        write=lambda f, sents, cols: write_jsonl(f, sents),
        documents=lambda f, types: RecordWriter(f),
    )
)
register(
    Format(
        "wikiser",
        "<s> ... </s> blocks of token<TAB>tag lines",
        suffixes=(".wikiser",),
        sniff=_has_sentence_marks,
        read=lambda src, ctx, cols: read_wikiser(src, ctx),
        write=lambda f, sents, cols: write_wikiser(f, sents),
        keeps="tokens and tags only (no document ids or boundaries, no empty documents)",
    )
)
register(
    Format(
        "conll",
        "token and tag columns, blank line between sentences",
        suffixes=(".conll", ".tsv"),
        read=lambda src, ctx, cols: read_conll(src, ctx, cols.token_col, cols.tag_col),
        write=lambda f, sents, cols: write_conll(f, sents, cols.token_col, cols.tag_col or 0),
        between="\n",
        keeps="tokens and tags only (no document ids or boundaries, no empty documents)",
    )
)
register(
    Format(
        "html",
        "a standalone page, entities coloured by type (output of serkit tag only)",
        suffixes=(".html", ".htm"),
        documents=HtmlWriter,
        keeps="each document's id, text and entities",
    )
)
register(
    Format(
        "labelstudio",
        "Label Studio tasks (JSON list): exports read as data; writes annotations or predictions",
        suffixes=(".json",),
        sniff=looks_like_labelstudio,
        read=lambda src, ctx, cols: read_labelstudio(src, ctx),
        write=lambda f, sents, cols: write_labelstudio(f, sents),
        documents=LabelStudioWriter,
        keeps="each document's id, text and entities",
    )
)
register(
    Format(
        "doccano",
        'doccano JSONL {"text", "label": [[start, end, type]]} (read like jsonl)',
        read=lambda src, ctx, cols: read_jsonl(src, ctx),
        write=lambda f, sents, cols: write_doccano(f, sents),
        documents=DoccanoWriter,
        keeps="each document's text and entities",
    )
)
register(
    Format(
        "hf",
        "transformers token-classification pipeline dicts, a JSON list per document "
        "(output of serkit tag only)",
        documents=HfWriter,
        keeps="each document's entities only, a line each in input order",
    )
)
