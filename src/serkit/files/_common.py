"""Shared reader plumbing: bounded UTF-8 line iteration with line numbers, tag checks
(``serkit.scheme.IOB2``), repair counts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

from serkit.errors import DataFormatError, LimitExceeded, SerkitError
from serkit.files.inputs import MAX_SENTENCE_TOKENS, Input, as_input
from serkit.labels import SCHEMES
from serkit.scheme import IOB2
from serkit.tokens import Sentence


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
        """Validate one IOB2 tag (prefix, type characters and, when a label set is given,
        its type)."""
        if tag in self._ok:
            return tag
        problem = IOB2.check(tag)
        if problem:
            raise DataFormatError(path, lineno, problem)
        typ = IOB2.type_of(tag)
        if self.types is not None and typ is not None and typ not in self.types:
            raise DataFormatError(
                path, lineno, f"label {typ!r} is not in the label set ({len(self.types)} types)"
            )
        self._ok.add(tag)
        return tag

    def finish(self, sentence: Sentence) -> Sentence:
        """Apply the repair policy and count; stray ``I-`` is only changed when asked."""
        if self.repair and sentence.tags:
            tags, fixed = IOB2.repair(sentence.tags)
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
    return frozenset(t for t in map(IOB2.type_of, labels) if t is not None)


def iter_lines(src: Path | str | Input) -> Iterator[tuple[int, str]]:
    """Yield ``(1-based line number, line without its newline)``; bad UTF-8 names its line.

    Reads bytes and decodes line by line so a single broken byte is reported where it is,
    and only ``\\n`` ends a line (tokens may hold other Unicode line separators). ``src`` is
    opened once (a pipe or ``-`` works); lines are bounded (``serkit.files.inputs``), and
    UTF-16 input is refused on its first line rather than read as garbage.
    """
    inp = as_input(src)
    name = inp.name
    with inp:
        inp.check_text()
        lines = inp.raw_lines()
        for lineno, raw in enumerate(lines, 1):
            raw = raw.rstrip(b"\n")
            if raw[-1:] == b"\r":
                raw = raw[:-1]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataFormatError(
                    name,
                    lineno,
                    f"invalid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})",
                ) from None
            if lineno == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield lineno, line


def sentence_limit() -> int:
    """:data:`~serkit.files.inputs.MAX_SENTENCE_TOKENS`, read when a reader starts."""
    return MAX_SENTENCE_TOKENS


def check_sentence_length(n: int, path: Path | str, lineno: int) -> None:
    """A sentence may not grow without bound (a file without separators)."""
    if n > MAX_SENTENCE_TOKENS:
        raise LimitExceeded(
            f"{path}:{lineno}: sentence longer than {MAX_SENTENCE_TOKENS:,} tokens (the limit); "
            "are the sentence separators missing?"
        )


def check_writable_token(tok: str, fmt: str, sentence: Sentence, forbidden: str) -> None:
    """Refuse tokens a format cannot hold rather than write a file that reads back wrong."""
    if not tok or any(c in tok for c in forbidden) or (fmt == "conll" and not tok.strip()):
        where = f"sentence {sentence.index}" + (f" of {sentence.doc_id}" if sentence.doc_id else "")
        raise SerkitError(f"{where}: token {tok!r} cannot be written as {fmt}")


def check_writable_tag(tag: str, fmt: str, sentence: Sentence, ok: set[str]) -> None:
    """A tag that is not IOB2 (a tab or newline in its type...) would not read back."""
    if tag in ok:
        return
    problem = IOB2.check(tag)
    if problem:
        where = f"sentence {sentence.index}" + (f" of {sentence.doc_id}" if sentence.doc_id else "")
        raise SerkitError(f"{where}: cannot write as {fmt}: {problem}")
    ok.add(tag)


# -- UTF-16 offsets ----------------------------------------------------------------------------
# serkit's offsets are code points (Python ``str`` indices). Tools written in JavaScript count
# UTF-16 code units instead (doccano; older Label Studio versions): there a character beyond U+FFFF
# (most emoji, math letters such as "𝔘") counts 2, so every offset after it is shifted.


def _astral(text: str) -> bool:
    return len(text.encode("utf-16-le", "surrogatepass")) != 2 * len(text)


def utf16_offsets(text: str, offsets: Iterable[int]) -> list[int]:
    """Code-point offsets into ``text`` as UTF-16 code-unit offsets."""
    offsets = list(offsets)
    if not _astral(text):
        return offsets
    units = list(accumulate((2 if ord(c) > 0xFFFF else 1 for c in text), initial=0))
    return [units[i] for i in offsets]


def code_point_offsets(text: str, units: Iterable[int]) -> list[int | None]:
    """UTF-16 code-unit offsets into ``text`` as code-point offsets; None for one that falls
    inside a character (between the two halves of a surrogate pair) or outside the text."""
    units = list(units)
    if not _astral(text):
        return [u if 0 <= u <= len(text) else None for u in units]
    at = {
        u: i
        for i, u in enumerate(accumulate((2 if ord(c) > 0xFFFF else 1 for c in text), initial=0))
    }
    return [at.get(u) for u in units]
