"""Atomic writes: a temp file in the same folder, renamed over the target on success.

A failure half-way (bad input line, Ctrl-C, SIGTERM, SIGHUP) leaves no partial output
behind: the temp file is removed on the way out, and on those signals before the process
dies of them. A temp file that still survives (SIGKILL, power loss) is named
``.<target>.serkit-<pid>-<random>.tmp``; the next write into that folder removes such files
once their process is gone and they are older than the current run. The file gets the
permissions a plain ``open(path, "w")`` would give (``mkstemp`` alone makes it private), or
keeps those of the file it replaces. A full disk names the path being written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from serkit.errors import SerkitError
from serkit.files.inputs import is_stdin

_UMASK = os.umask(0o022)
os.umask(_UMASK)

#: Our temp-file names, and nobody else's: ``.<target>.serkit-<pid>-<8 random>.tmp``.
_TMP_RE = re.compile(r"^\..+\.serkit-(\d+)-[a-z0-9_]{8}\.tmp$")
_STARTED = time.time()
_LIVE: set[str] = set()  # temp files being written by this process
_SWEPT: set[str] = set()  # folders already cleaned of stale temp files
_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))
_installed = False
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO)


def _on_signal(signum: int, frame: object) -> None:
    """Remove our temp files, then die of the signal as if we had not caught it."""
    for tmp in list(_LIVE):
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _install_handlers() -> None:
    """Catch SIGTERM/SIGHUP while nobody else does (SIGINT already raises
    KeyboardInterrupt, which the writer's cleanup handles). Only from the main thread."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    for sig in _SIGNALS:
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _on_signal)
    _installed = True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def sweep_stale(folder: Path) -> list[Path]:
    """Remove temp files of ours left in ``folder`` by a run that died (its process is
    gone, the file older than this run); return what was removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TMP_RE.match(entry.name)
        if m is None or entry.path in _LIVE or int(m.group(1)) == os.getpid():
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if entry.stat(follow_symlinks=False).st_mtime >= _STARTED:
                continue
            if _alive(int(m.group(1))):
                continue
            os.unlink(entry.path)
            removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file under this process's umask (temp files and
    some writers, safetensors among them, create files private to their owner)."""
    return 0o666 & ~_UMASK


def _target_mode(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return new_file_mode()


def _refuse_stdin_name(path: str | Path) -> None:
    """``-`` reads stdin everywhere; as an output it would quietly make a file named ``-``."""
    if is_stdin(path):
        raise SerkitError(
            "-: '-' is stdin, not an output: give a file name "
            "(without -o, serkit tag, predict and eval print to stdout)"
        )


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    _refuse_stdin_name(path)
    path = Path(path)
    if path.is_dir():
        raise SerkitError(f"{path}: is a folder; give a file name to write")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _install_handlers()
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.serkit-{os.getpid()}-", suffix=".tmp", dir=path.parent
        )
    except OSError as e:  # a parent is a file, read-only, or not creatable
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else e.strerror or str(e)
        raise SerkitError(f"{path}: cannot write: {why}") from None
    _LIVE.add(tmp)
    folder = str(path.parent.resolve())
    if folder not in _SWEPT:
        _SWEPT.add(folder)
        sweep_stale(path.parent)
    if "b" in mode:
        encoding = None
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline="" if encoding else None) as f:
            os.fchmod(fd, _target_mode(path))
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        _unlink(tmp)
        if e.errno in _FULL and not e.filename:  # "No space left on device" names nothing
            raise SerkitError(f"{path}: cannot write: {e.strerror or e}") from None
        raise
    except BaseException:
        _unlink(tmp)
        raise
    finally:
        _LIVE.discard(tmp)


def _unlink(tmp: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)


def check_output(output: str | Path, inputs: Iterable[str | Path | None] = ()) -> None:
    """Fail before any work, not after it: an output path that is a folder, lies under a
    file or in a folder we cannot write, or is one of the inputs (writing it would destroy
    the input), or ``-``. ``atomic_write`` checks the same at the end; this saves the
    wasted run."""
    _refuse_stdin_name(output)
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
