"""Opening an input once, whatever it is: a file, ``-`` (stdin), ``/dev/stdin``, a pipe, a
named FIFO or a ``<(...)`` process substitution; and reading it in bounded pieces.

A stream that cannot be rewound is read exactly once: the first bytes are peeked for
format sniffing and then replayed to the reader (sniffing used to consume a pipe and the
reader reopened it, reading nothing or waiting forever on a FIFO). Every line is read with
a length limit and every document with a size limit, so ``/dev/zero`` or a file without
newlines fails at once with one line instead of growing memory.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import functools
import io
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from serkit.errors import DataFormatError, LimitExceeded, SerkitError

#: The argument that means standard input.
STDIN = "-"
#: Longest line any reader accepts (a JSONL document is one line).
MAX_LINE_BYTES = 16 * 2**20
#: Largest single document ``serkit tag`` reads from a file or stdin.
MAX_DOCUMENT_BYTES = 16 * 2**20
#: Most tokens in one sentence of a corpus file.
MAX_SENTENCE_TOKENS = 1_000_000
#: How much of the start of an input is peeked for format sniffing.
HEAD_BYTES = 64 * 2**10
#: ``--encoding`` value that follows a byte-order mark (besides any codec name Python knows).
AUTO = "auto"


def _mib(n: int) -> str:
    return f"{n // 2**20} MiB" if n % 2**20 == 0 else f"{n:,} bytes"


def is_stdin(path: str | Path | None) -> bool:
    return path is not None and str(path) == STDIN


def input_id(path: str | Path) -> str:
    """What ids call an input (``serkit tag``'s documents and their ``file:line`` records):
    ``stdin``, or the path as given. Messages say ``<stdin>``."""
    return "stdin" if is_stdin(path) else str(path)


def open_error(path: str | Path, e: OSError, verb: str = "open") -> SerkitError:
    """One line saying why ``path`` cannot be opened; a folder on the way that cannot be
    entered is named as such, not reported as a missing file."""
    p = Path(path)
    if e.errno in (errno.EACCES, errno.EPERM):
        for parent in reversed(p.parents):
            if str(parent) in ("", ".") or not parent.is_dir():
                continue
            if not os.access(parent, os.X_OK):
                return SerkitError(f"{path}: cannot {verb}: permission denied on folder {parent}")
        return SerkitError(f"{path}: cannot {verb}: permission denied")
    if e.errno == errno.ENOENT:
        return SerkitError(f"{path}: no such file or folder")
    return SerkitError(f"{path}: cannot {verb}: {e.strerror or e}")


def check_path(path: str | Path) -> os.stat_result:
    """``stat`` a path given on the command line, with a one-line error for each reason it
    cannot be used (missing, untraversable folder, a broken link...)."""
    if str(path) == "":
        raise SerkitError("an empty path was given")
    try:
        return os.stat(path)
    except OSError as e:
        raise open_error(path, e, "read") from None
    except ValueError as e:  # an embedded NUL byte
        raise SerkitError(f"{path!r}: not a valid path ({e})") from None


class _Replay(io.RawIOBase):
    """The peeked head, then the rest of the underlying stream."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        self._head = memoryview(head)
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._raw.read(len(b))
        b[: len(data)] = data
        return len(data)


def utf16_problem(head: bytes) -> str | None:
    """Why ``head`` is not UTF-8 text although it is text: a UTF-16/32 byte-order mark, or
    UTF-16 without one (every other byte NUL). None when nothing points that way."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32 text (it starts with a UTF-32 byte-order mark)"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text (it starts with a UTF-16 byte-order mark)"
    guess = guess_utf16(head)
    return f"{guess.upper()} text without a byte-order mark" if guess else None


def guess_utf16(head: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` when the sample looks like mostly-ASCII UTF-16 (NUL in
    nearly every odd, resp. even, byte and almost never in the others)."""
    sample = head[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    z_even, z_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if z_odd >= 0.7 and z_even <= 0.1:
        return "utf-16-le"
    if z_even >= 0.7 and z_odd <= 0.1:
        return "utf-16-be"
    return None


def check_encoding(encoding: str) -> str:
    """``encoding`` if it is ``auto`` or a codec Python knows, else a one-line error."""
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
        encoding = sniff_encoding(data) if first_line == 1 else "utf-8"
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


def sniff_encoding(data: bytes) -> str:
    """The encoding a byte-order mark names, else UTF-16 recognised without one, else UTF-8."""
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


class Input:
    """One input, opened once. ``name`` is what messages show, ``stem`` the document id."""

    def __init__(self, path: str | Path, stdin: IO | None = None) -> None:
        self.path = path
        if is_stdin(path):
            self.name, self.stem = "<stdin>", input_id(path)
            stream = stdin if stdin is not None else sys.stdin
            if stream is None:  # started with stdin closed (`serkit ... - <&-`)
                raise SerkitError("'-': stdin is closed, nothing to read")
            buf = getattr(stream, "buffer", stream)
            if isinstance(buf, io.TextIOBase):  # an in-memory text stream: already decoded
                buf = io.BytesIO(buf.read().encode("utf-8", "surrogateescape"))
            self._raw: IO[bytes] = buf
            self._owned = False
            self._regular = False
        else:
            p = Path(path)
            self.name, self.stem = str(path), p.stem
            st = check_path(p)
            if stat.S_ISDIR(st.st_mode):
                raise SerkitError(f"{path}: is a folder, not a file")
            try:
                self._raw = open(p, "rb", buffering=0)  # noqa: SIM115 (closed by close())
            except OSError as e:
                raise open_error(p, e) from None
            self._owned = True
            self._regular = stat.S_ISREG(st.st_mode)
        self._head: bytes | None = None
        self._stream: io.BufferedReader | None = None

    def __enter__(self) -> Input:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._raw.close()

    @property
    def head(self) -> bytes:
        """Up to :data:`HEAD_BYTES` from the start, without consuming them."""
        if self._head is None:
            if self._stream is not None:
                raise RuntimeError("head of an input already being read")
            chunks, n = [], 0
            while n < HEAD_BYTES:
                chunk = self._read_raw(HEAD_BYTES - n)
                if not chunk:
                    break
                chunks.append(chunk)
                n += len(chunk)
            self._head = b"".join(chunks)
        return self._head

    def _read_raw(self, n: int) -> bytes:
        try:
            return self._raw.read(n) or b""
        except OSError as e:
            raise open_error(self.name, e, "read") from None

    @property
    def stream(self) -> io.BufferedReader:
        """The whole input as a byte stream (the peeked head first)."""
        if self._stream is None:
            if self._regular:  # a plain file: rewind instead of replaying the head
                self._raw.seek(0)
                self._stream = io.BufferedReader(self._raw, 2**16)  # type: ignore[arg-type]
            else:
                self._stream = io.BufferedReader(_Replay(self.head, self._raw), 2**16)
        return self._stream

    def check_text(self) -> None:
        """Refuse UTF-16/UTF-32 input clearly instead of reading it as garbage UTF-8."""
        problem = utf16_problem(self.head)
        if problem:
            raise DataFormatError(
                self.name, 1, f"{problem}; serkit reads UTF-8 (convert it, e.g. with iconv)"
            )

    def raw_lines(self, limit: int = MAX_LINE_BYTES) -> Iterator[bytes]:
        """Lines with their newline, each at most ``limit`` bytes (else ``LimitExceeded``)."""
        lineno = 0
        try:
            for raw in iter(functools.partial(self.stream.readline, limit + 1), b""):
                lineno += 1
                if len(raw) > limit and not (len(raw) == limit + 1 and raw[-1:] == b"\n"):
                    raise LimitExceeded(
                        f"{self.name}:{lineno}: line longer than {_mib(limit)} (the limit for "
                        "one line); is this a text file?"
                    )
                yield raw
        except OSError as e:
            raise open_error(self.name, e, "read") from None

    def read_all(self, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
        """Everything, or ``LimitExceeded`` as soon as it passes ``limit`` bytes."""
        try:
            data = self.stream.read(limit + 1)
        except OSError as e:
            raise open_error(self.name, e, "read") from None
        if len(data) > limit:
            raise LimitExceeded(
                f"{self.name}: larger than {_mib(limit)} (the limit for one document); "
                "split it, or tag it line by line with --lines"
            )
        return data


def as_input(src: str | Path | Input) -> Input:
    return src if isinstance(src, Input) else Input(src)


def check_stdin_once(args: list) -> None:
    """Stdin can be read once: ``-`` given twice would read nothing the second time."""
    if sum(is_stdin(a) for a in args) > 1:
        raise SerkitError("stdin ('-') can be given only once")


@contextlib.contextmanager
def rereadable(paths: Sequence[str | Path]) -> Iterator[list[Path]]:
    """The same inputs as paths that can be read more than once: stdin, pipes and FIFOs
    are copied (in chunks, not into memory) to a temporary file that keeps their name."""
    with tempfile.TemporaryDirectory(prefix="serkit-") as tmp:
        out: list[Path] = []
        for i, p in enumerate(paths):
            mode = 0 if is_stdin(p) else check_path(p).st_mode
            if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
                out.append(Path(p))
                continue
            with Input(p) as inp:
                copy = Path(tmp) / str(i) / f"{inp.stem or 'input'}{Path(inp.name).suffix}"
                copy.parent.mkdir()
                with open(copy, "wb") as f:
                    shutil.copyfileobj(inp.stream, f, 2**20)
            out.append(copy)
        yield out
