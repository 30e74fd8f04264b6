"""Atomic writes: a temp file in the same folder, renamed over the target on success.

A failure half-way (bad input line, Ctrl-C) leaves no partial output behind. The file
gets the permissions a plain ``open(path, "w")`` would give (``mkstemp`` alone makes it
private), or keeps those of the file it replaces.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from serkit.errors import SerkitError

_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _target_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    path = Path(path)
    if path.is_dir():
        raise SerkitError(f"{path}: is a folder; give a file name to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:  # a parent is a file, read-only, or not creatable
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else e.strerror or str(e)
        raise SerkitError(f"{path}: cannot write: {why}") from None
    if "b" in mode:
        encoding = None
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline="" if encoding else None) as f:
            os.fchmod(fd, _target_mode(path))
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_output(output: str | Path, inputs: Iterable[str | Path | None] = ()) -> None:
    """Fail before any work, not after it: an output path that is a folder, lies under a
    file or in a folder we cannot write, or is one of the inputs (writing it would destroy
    the input). ``atomic_write`` checks the same at the end; this saves the wasted run."""
    out = Path(output)
    if out.is_dir():
        raise SerkitError(f"{out}: is a folder; give a file name to write")
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise SerkitError(f"{out}: cannot write: {blocker} is a file, not a folder")
    nearest = next((p for p in out.parents if p.exists()), None)
    if nearest is not None and not os.access(nearest, os.W_OK | os.X_OK):
        raise SerkitError(f"{out}: cannot write: {nearest} is not writable")
    if not out.exists():
        return
    for src in inputs:
        if src is None or str(src) == "-":
            continue
        with contextlib.suppress(OSError):
            if Path(src).is_file() and out.samefile(src):
                raise SerkitError(f"{output}: output is the input file {src}; write elsewhere")
