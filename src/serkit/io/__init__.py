"""Corpus readers and writers: WikiSER, CoNLL columns and JSONL spans, streamed.

``read`` yields ``Sentence`` objects lazily (a WikiSER corpus folder is read file by file),
validates every line (``DataFormatError(path, line, reason)``) and repairs stray ``I-`` tags
only when asked, counting the repairs in ``reader.stats.repaired`` and
``Sentence.meta["repaired"]``. ``write`` always goes through an atomic temp-file rename, so
a bad input line never leaves a partial output file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from serkit.errors import SerkitError
from serkit.io._common import ReadContext, ReadStats, resolve_types
from serkit.io.atomic import atomic_write
from serkit.io.conll import read_conll, write_conll
from serkit.io.detect import FORMATS, check_format, detect_format, format_from_suffix
from serkit.io.jsonl import read_jsonl, write_jsonl
from serkit.io.wikiser import corpus_files, read_wikiser, write_wikiser
from serkit.types import Sentence

__all__ = [
    "FORMATS",
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


def _read_one(path: Path, fmt: str | None, ctx: ReadContext, token_col: int, tag_col: int | None):
    fmt = check_format(fmt) if fmt else detect_format(path)
    if fmt == "wikiser":
        return read_wikiser(path, ctx)
    if fmt == "conll":
        return read_conll(path, ctx, token_col, tag_col)
    return read_jsonl(path, ctx)


def _read_folder(folder: Path, fmt: str | None, ctx: ReadContext, token_col, tag_col):
    for p in corpus_files(folder):
        yield from _read_one(p, fmt, ctx, token_col, tag_col)


def read(
    path: str | Path,
    fmt: str | None = None,
    *,
    token_col: int = 0,
    tag_col: int | None = 1,
    labels: str | Iterable[str] | None = None,
    repair: bool = False,
) -> SentenceReader:
    """Stream the sentences of a file or a WikiSER corpus folder.

    ``fmt`` is ``wikiser``, ``conll`` or ``jsonl`` (detected from content when None);
    ``token_col``/``tag_col`` pick CoNLL columns (0-based); ``labels`` (a scheme name or a
    list of types/tags) rejects any other label; ``repair`` turns stray ``I-`` into ``B-``.
    ``Sentence.index`` is the 0-based sentence index within its file, ``doc_id`` the file
    stem (the article name in a corpus folder).
    """
    path = Path(path)
    if not path.exists():
        raise SerkitError(f"{path}: no such file or folder")
    ctx = ReadContext(types=resolve_types(labels), repair=repair)
    if path.is_dir():
        it = _read_folder(path, fmt, ctx, token_col, tag_col)
        return SentenceReader(it, ctx.stats, fmt or "wikiser")
    fmt = check_format(fmt) if fmt else detect_format(path)
    return SentenceReader(_read_one(path, fmt, ctx, token_col, tag_col), ctx.stats, fmt)


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
    check_format(fmt)
    try:
        with atomic_write(path) as f:
            if fmt == "wikiser":
                return write_wikiser(f, sentences)
            if fmt == "conll":
                return write_conll(f, sentences, token_col, tag_col)
            return write_jsonl(f, sentences)
    except UnicodeEncodeError as e:  # lone surrogates in a token: not valid UTF-8 text
        bad = e.object[e.start : e.end]
        raise SerkitError(f"{path}: cannot write {bad!r} as UTF-8 (lone surrogate)") from None
