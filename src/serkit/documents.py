"""What ``serkit tag`` tags: command-line arguments -> documents -> tagged documents.

An argument is ``-`` (stdin), an existing file, a folder (its files matching a
pattern, recursively), a glob, or else literal text; an empty argument, or a missing one
that looks like a path (a slash or a file suffix), is an error. Paths are resolved up front
(so a progress bar knows the total) but files are read one at a time as tagging proceeds,
each within ``serkit.files.inputs.MAX_DOCUMENT_BYTES`` (lines within ``MAX_LINE_BYTES``).
"""

from __future__ import annotations

import codecs
import glob
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from serkit.errors import DataFormatError, SerkitError
from serkit.files.inputs import Input, guess_utf16, utf16_problem
from serkit.render import TaggedDoc
from serkit.tagger import Tagger

GLOB_CHARS = "*?["
#: An argument without whitespace ending like a file name (``notes.txt``,
#: ``docker-compose.yml``) is a path: missing, it is an error, not text (``--text`` forces text).
_FILE_SUFFIX = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,4}$")
#: ``--encoding`` values besides any codec name Python knows.
AUTO = "auto"


@dataclass(frozen=True, slots=True)
class Source:
    """One input: literal text (``path`` None), stdin (``path`` "-") or a file."""

    id: str
    path: str | None = None
    text: str | None = None


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
            out.append(Source("stdin", "-"))
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


def check_encoding(encoding: str) -> str:
    if encoding != AUTO:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise SerkitError(f"unknown encoding {encoding!r} (utf-8, auto, latin-1...)") from None
    return encoding


def decode(name: str, data: bytes, encoding: str = "utf-8", first_line: int = 1) -> str:
    """Bytes -> text. ``utf-8`` is strict (undecodable bytes would reach the tokenizer as
    lone surrogates) and drops a leading BOM; UTF-16/32 is refused with its name instead of
    being tagged as garbage. ``auto`` follows a byte-order mark (UTF-8/16/32), recognises
    UTF-16 without one, and otherwise reads UTF-8. Any other codec name is used as is."""
    if encoding == AUTO:
        encoding = _sniff_encoding(data) if first_line == 1 else "utf-8"
    elif first_line == 1 and encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        problem = utf16_problem(data[:4096])
        if problem:
            raise DataFormatError(
                name, 1, f"{problem}, not UTF-8: pass --encoding auto (or convert it to UTF-8)"
            )
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig" if first_line == 1 else "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + first_line
        what = "UTF-8" if encoding.startswith("utf-8") else encoding
        raise DataFormatError(
            name, line, f"not {what} text (byte 0x{data[e.start]:02x} at offset {e.start})"
        ) from None


def _sniff_encoding(data: bytes) -> str:
    for bom, enc in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return enc
    return guess_utf16(data) or "utf-8"


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
    """Tag ``(source, text)`` pairs as a stream, in order (sentences share batches)."""
    from serkit.decode import entities_from_tags

    held: deque[Source] = deque()

    def texts() -> Iterator[str]:
        for src, text in items:
            held.append(src)
            yield text

    for text, sents in tagger.pipe_tagged(texts(), batch_size):
        src = held.popleft()
        ents = []
        for s in sents:
            ents.extend(entities_from_tags(text, s.tokens, s.tags, s.scores))
        path = src.path if src.path not in (None, "-") else None
        yield TaggedDoc(src.id, text, ents, sents, path)


def read_sources(
    sources: Iterable[Source], stdin: IO[str] | None = None, encoding: str = "utf-8"
) -> Iterator[tuple[Source, str]]:
    for src in sources:
        yield src, read_source(src, stdin, encoding)


def skipping(
    read: Callable[..., Iterator[tuple[Source, str]]],
    sources: Iterable[Source],
    skipped: list[tuple[Source, SerkitError]],
    *args: object,
) -> Iterator[tuple[Source, str]]:
    """``read(sources, *args)`` source by source; a source that cannot be read (bad
    encoding, over a limit, unreadable) goes to ``skipped`` and the others carry on (with
    ``--lines``, the lines before a bad one have been tagged)."""
    for src in sources:
        try:
            yield from read([src], *args)
        except SerkitError as e:
            skipped.append((src, e))
