"""Shared reader plumbing: UTF-8 line iteration with line numbers, tag checks, repair counts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from serkit.errors import DataFormatError, SerkitError
from serkit.labels import OUTSIDE, SCHEMES, repair_iob
from serkit.types import Sentence


@dataclass(slots=True)
class ReadStats:
    """Running counts of one ``read()`` call; ``repaired`` counts stray ``I-`` turned to ``B-``."""

    sentences: int = 0
    tokens: int = 0
    repaired: int = 0
    files: int = 0


@dataclass(slots=True)
class ReadContext:
    """What every format reader needs besides the path: label checks and repair policy."""

    types: frozenset[str] | None = None
    repair: bool = False
    stats: ReadStats = field(default_factory=ReadStats)
    _ok: set[str] = field(default_factory=set)

    def check_tag(self, tag: str, path: Path | str, lineno: int) -> str:
        """Validate one IOB2 tag (prefix and, when a label set is given, its type)."""
        if tag in self._ok:
            return tag
        if tag != OUTSIDE:
            if len(tag) < 3 or tag[1] != "-" or tag[0] not in "BI":
                raise DataFormatError(
                    path, lineno, f"unknown tag {tag!r}: expected O, B-<type> or I-<type>"
                )
            if self.types is not None and tag[2:] not in self.types:
                raise DataFormatError(
                    path,
                    lineno,
                    f"label {tag[2:]!r} is not in the label set ({len(self.types)} types)",
                )
        self._ok.add(tag)
        return tag

    def finish(self, sentence: Sentence) -> Sentence:
        """Apply the repair policy and count; stray ``I-`` is only changed when asked."""
        if self.repair and sentence.tags:
            tags, fixed = repair_iob(sentence.tags)
            if fixed:
                sentence.tags = tags
                sentence.meta["repaired"] = fixed
                self.stats.repaired += fixed
        self.stats.sentences += 1
        self.stats.tokens += len(sentence.tokens)
        return sentence


def resolve_types(labels: str | Iterable[str] | None) -> frozenset[str] | None:
    """A scheme name (``"wikiser"``), a list of types, or a list of IOB2 tags -> a type set."""
    if labels is None:
        return None
    if isinstance(labels, str):
        try:
            return frozenset(SCHEMES[labels])
        except KeyError:
            known = ", ".join(SCHEMES)
            raise SerkitError(f"unknown label scheme {labels!r} (known: {known})") from None
    types: set[str] = set()
    for item in labels:
        if item == OUTSIDE:
            continue
        types.add(item[2:] if len(item) > 2 and item[1] == "-" and item[0] in "BI" else item)
    return frozenset(types)


def iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(1-based line number, line without its newline)``; bad UTF-8 names its line.

    Reads bytes and decodes line by line so a single broken byte is reported where it is,
    and only ``\\n`` ends a line (tokens may hold other Unicode line separators).
    """
    try:
        f = path.open("rb")
    except OSError as e:
        raise SerkitError(f"{path}: cannot open: {e.strerror or e}") from e
    with f:
        for lineno, raw in enumerate(f, 1):
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataFormatError(
                    path,
                    lineno,
                    f"invalid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})",
                ) from None
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield lineno, line


def check_writable_token(tok: str, fmt: str, sentence: Sentence, forbidden: str) -> None:
    """Refuse tokens a format cannot hold rather than write a file that reads back wrong."""
    if not tok or any(c in tok for c in forbidden) or (fmt == "conll" and not tok.strip()):
        where = f"sentence {sentence.index}" + (f" of {sentence.doc_id}" if sentence.doc_id else "")
        raise SerkitError(f"{where}: token {tok!r} cannot be written as {fmt}")
