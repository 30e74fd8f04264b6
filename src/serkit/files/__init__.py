"""Corpus readers and writers: WikiSER, CoNLL columns and JSONL spans, streamed.

``read`` yields ``Sentence`` objects lazily (a WikiSER corpus folder is read file by file),
validates every line (``DataFormatError(path, line, reason)``) and repairs stray ``I-`` tags
only when asked, counting the repairs in ``reader.stats.repaired`` and
``Sentence.meta["repaired"]``. ``write`` always goes through an atomic temp-file rename, so
a bad input line never leaves a partial output file. Formats are looked up in the one table
of ``serkit.files.formats``; a path of ``-`` is stdin, and pipes, FIFOs and ``<(...)`` are
opened once (``serkit.files.inputs``).
"""

from __future__ import annotations

import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from serkit.errors import SerkitError
from serkit.files._common import ReadContext, ReadStats, resolve_types
from serkit.files.atomic import atomic_write
from serkit.files.formats import (
    FORMAT_TABLE,
    Columns,
    check_format,
    corpus_formats,
    detect_format,
    format_from_suffix,
    get_format,
)
from serkit.files.inputs import Input, check_path, is_stdin
from serkit.files.wikiser import corpus_files
from serkit.tokens import Sentence

FORMATS = corpus_formats()

__all__ = [
    "FORMATS",
    "Input",
    "ReadStats",
    "SentenceReader",
    "atomic_write",
    "detect_format",
    "read",
    "read_all",
    "write",
]


class SentenceReader(Iterator[Sentence]):
    """An iterator of sentences that also exposes running counts (``.stats``)."""

    def __init__(self, it: Iterator[Sentence], stats: ReadStats, fmt: str | None) -> None:
        self._it = it
        self.stats = stats
        self.format = fmt

    def __iter__(self) -> SentenceReader:
        return self

    def __next__(self) -> Sentence:
        return next(self._it)


def _read_one(src: Path | Input, fmt: str | None, ctx: ReadContext, cols: Columns):
    """One file, opened once: sniffed from its head, then read from the same stream."""
    inp = src if isinstance(src, Input) else Input(src)
    try:
        name = check_format(fmt) if fmt else detect_format(inp)
    except BaseException:
        inp.close()
        raise
    return FORMAT_TABLE[name].read(inp, ctx, cols), name  # type: ignore[misc]


def _read_folder(folder: Path, fmt: str | None, ctx: ReadContext, cols: Columns):
    for p in corpus_files(folder):
        yield from _read_one(p, fmt, ctx, cols)[0]


def read(
    path: str | Path | Input,
    fmt: str | None = None,
    *,
    token_col: int = 0,
    tag_col: int | None = 1,
    labels: str | Iterable[str] | None = None,
    repair: bool = False,
) -> SentenceReader:
    """Stream the sentences of a file, ``-`` (stdin) or a WikiSER corpus folder.

    ``fmt`` is ``wikiser``, ``conll`` or ``jsonl`` (detected from content when None);
    ``token_col``/``tag_col`` pick CoNLL columns (0-based); ``labels`` (a scheme name or a
    list of types/tags) rejects any other label; ``repair`` turns stray ``I-`` into ``B-``.
    ``Sentence.index`` is the 0-based sentence index within its file, ``doc_id`` the file
    stem (the article name in a corpus folder). A pipe or FIFO is read once, as it streams.
    """
    ctx = ReadContext(types=resolve_types(labels), repair=repair)
    cols = Columns(token_col, tag_col)
    if isinstance(path, Input) or is_stdin(path):
        it, name = _read_one(path if isinstance(path, Input) else Input(path), fmt, ctx, cols)
        return SentenceReader(it, ctx.stats, name)
    path = Path(path)
    if stat.S_ISDIR(check_path(path).st_mode):
        if fmt is not None:
            check_format(fmt)
        it = _read_folder(path, fmt, ctx, cols)
        return SentenceReader(it, ctx.stats, fmt or "wikiser")
    it, name = _read_one(path, fmt, ctx, cols)
    return SentenceReader(it, ctx.stats, name)


def read_all(path: str | Path, fmt: str | None = None, **kwargs) -> list[Sentence]:
    """``list(read(...))``: for the small files where holding everything is fine."""
    return list(read(path, fmt, **kwargs))


def write(
    path: str | Path,
    sentences: Iterable[Sentence],
    fmt: str | None = None,
    *,
    token_col: int = 0,
    tag_col: int = 1,
) -> int:
    """Write sentences atomically (temp file + rename); returns how many were written.

    ``sentences`` may be a lazy reader: an error half-way leaves no output file behind.
    """
    fmt = fmt or format_from_suffix(path)
    if fmt is None:
        raise SerkitError(
            f"{path}: cannot tell the output format; name one of {', '.join(FORMATS)}"
        )
    writer = get_format(fmt).write
    try:
        with atomic_write(path) as f:
            return writer(f, sentences, Columns(token_col, tag_col))  # type: ignore[misc]
    except UnicodeEncodeError as e:  # lone surrogates in a token: not valid UTF-8 text
        bad = e.object[e.start : e.end]
        raise SerkitError(f"{path}: cannot write {bad!r} as UTF-8 (lone surrogate)") from None
