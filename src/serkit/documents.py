"""What ``serkit tag`` tags: command-line arguments -> documents -> tagged documents.

An argument is ``-`` (stdin), an existing file, a folder (its files matching a
pattern, recursively), a glob, or else literal text. Paths are resolved up front (so a
progress bar knows the total) but files are read one at a time as tagging proceeds.
"""

from __future__ import annotations

import glob
import io
import sys
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from serkit.errors import DataFormatError, SerkitError
from serkit.render import TaggedDoc
from serkit.tagger import Tagger

GLOB_CHARS = "*?["
#: An argument that looks like a file name but does not exist is an error, not text.
PATH_SUFFIXES = {".txt", ".md", ".rst", ".text", ".json", ".jsonl", ".html", ".conll", ".csv"}


@dataclass(frozen=True, slots=True)
class Source:
    """One input: literal text (``path`` None), stdin (``path`` "-") or a file."""

    id: str
    path: str | None = None
    text: str | None = None


def resolve_inputs(args: Sequence[str], pattern: str = "*.txt") -> list[Source]:
    """Turn command-line arguments into sources, in the order given (folders sorted)."""
    if not args:
        raise SerkitError("nothing to tag: give a text, '-' for stdin, files, folders or globs")
    out: list[Source] = []
    n_text = 0
    for arg in args:
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
            p.suffix.lower() in PATH_SUFFIXES or "/" in arg.rstrip("/")[1:]
        ):
            raise SerkitError(f"{arg}: no such file or folder")
        else:
            n_text += 1
            out.append(Source(f"text-{n_text}", None, arg))
    return out


def _is_path(p: Path) -> bool:
    try:
        return p.exists()
    except (OSError, ValueError):  # a long text argument is not a valid path name
        return False


def read_source(src: Source, stdin: IO[str] | None = None) -> str:
    """The text of a source; files must be UTF-8 (a BOM is dropped)."""
    if src.path is None:
        return src.text or ""
    if src.path == "-":
        return _decode("<stdin>", _stdin_bytes(stdin).read())
    try:
        data = Path(src.path).read_bytes()
    except OSError as e:
        raise SerkitError(f"{src.path}: cannot read: {e.strerror or e}") from e
    return _decode(src.path, data)


def _decode(name: str, data: bytes, first_line: int = 1) -> str:
    """Strict UTF-8 (a leading BOM dropped): undecodable bytes would reach the tokenizer
    as lone surrogates and make it fail."""
    try:
        return data.decode("utf-8-sig" if first_line == 1 else "utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + first_line
        raise DataFormatError(
            name, line, f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})"
        ) from None


def _stdin_bytes(stdin: IO[str] | None) -> IO[bytes]:
    """The byte stream under ``stdin`` (default ``sys.stdin``), so it decodes strictly."""
    stream = stdin if stdin is not None else sys.stdin
    if stream is None:  # started with stdin closed (`serkit tag - <&-`)
        raise SerkitError("'-': stdin is closed, nothing to read")
    buf = getattr(stream, "buffer", None)
    if buf is None:  # an in-memory text stream: already decoded
        return io.BytesIO(stream.read().encode("utf-8", "surrogateescape"))
    return buf


def split_lines(
    sources: Iterable[Source], stdin: IO[str] | None = None
) -> Iterator[tuple[Source, str]]:
    """``--lines``: every non-empty line of every source is its own document (``id:line``)."""
    for src in sources:
        if src.path == "-":
            raw = _stdin_bytes(stdin)
            lines: Iterable[str] = (_decode("<stdin>", b, i) for i, b in enumerate(raw, 1))
        else:
            lines = read_source(src).splitlines()
        for i, line in enumerate(lines, 1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield Source(f"{src.id}:{i}", src.path, line), line


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
    sources: Iterable[Source], stdin: IO[str] | None = None
) -> Iterator[tuple[Source, str]]:
    for src in sources:
        yield src, read_source(src, stdin)
