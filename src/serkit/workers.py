"""Tagging on every core of one machine: N worker processes, each loading the model once.

One process tags about one core's worth: ONNX Runtime's intra-op threads gave no gain on
small windows (``--threads 2``: 33.3 s vs 35.9 s). :class:`WorkerTagger` is a ``Tagger``
whose sentences are tagged by ``workers`` processes (``spawn``: no state of this process
is shared; each loads the model once, in its initializer). Everything about text stays
here, in :class:`serkit.tagger.Tagger`: sentence splitting, tokenising and pooling run in
this process, each pool of sentences is cut into pieces of about equal work that the
workers tag at once, and the answers are put back in input order. Output is identical to
one process whenever a sentence's tags do not depend on the other sentences of its batch:
ONNX models (the default; they run one window at a time) and CRFs. A torch model batches
windows, so its scores may differ in the last float bits.

Small inputs start no process: the first :data:`MIN_WORDS` words are tagged here, and
workers start (loading while this process tags on) only when more come.

    with WorkerTagger(None, workers=2) as tagger:      # the shipped model on 2 cores
        for entities in tagger.pipe(texts):
            ...

or :func:`pipe` in one call. ``serkit tag --workers N`` uses it.
"""

from __future__ import annotations

import contextlib
import copy
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from serkit.errors import SerkitError
from serkit.tagger import Tagger
from serkit.tokens import Entity, TaggedDoc

#: Words tagged in this process before worker processes are started (a worker takes a
#: second or two to start and load the model: not worth it for a few texts).
MIN_WORDS = 10_000
#: Pieces per worker each pool of sentences is cut into (longest first), so that no worker
#: waits long for the others at the end of a pool.
PIECES_PER_WORKER = 4
#: How worker processes start: ``spawn`` (a fresh interpreter; safe with threads, on every OS).
START_METHOD = "spawn"

Prediction = tuple[list[str], list[float]]

_tagger: Tagger | None = None  # the model of a worker process
_load_error: SerkitError | None = None  # why a worker process could not load it


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), the default ``--workers``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def process_memory(pid: int | str = "self") -> dict[str, float]:
    """A process's memory in MB: ``rss`` and ``peak`` (resident now / at most), ``pss``
    (resident, each shared page divided among the processes that map it) and ``uss`` (pages
    no other process maps: what another worker really adds).

    RSS counts shared libraries (ONNX Runtime, Arrow, Ray's core) in full in every process,
    so N workers on one node use about N x USS plus the shared pages once. Read from
    ``/proc`` (Linux); elsewhere only ``peak`` of this process (``getrusage``).
    """
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                out["rss" if line.startswith("VmRSS") else "peak"] = int(line.split()[1]) / 1024
        kb: dict[str, int] = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                kb[parts[0].rstrip(":")] = int(parts[1])
        out["pss"] = kb["Pss"] / 1024
        out["uss"] = (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024
    except (OSError, KeyError, ValueError):
        if pid == "self" and "peak" not in out:
            import resource  # not on Windows; there is no /proc there either

            out["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {k: round(v, 1) for k, v in out.items()}


def _init(path: Path | None, prefer: str, kwargs: dict[str, Any]) -> None:
    """A worker's initializer: load the model once. Ctrl-C is left to the parent, which
    stops the workers itself (workers start with it ignored: :func:`_sigint_ignored`); a
    worker whose parent dies (SIGKILL, or SIGTERM before it could stop them) exits."""
    global _tagger, _load_error
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    from serkit.models.registry import load_tagger

    # An initializer that raises prints a traceback and breaks the pool ("stopped
    # unexpectedly"): the error is kept and raised by the worker's first task, so that the
    # parent says it in one line (the folder deleted or changed since the parent loaded it).
    try:
        _tagger = load_tagger(path, prefer=prefer, **kwargs)
    except Exception as e:  # any failure, said in one line by the parent
        why = str(e) if isinstance(e, SerkitError) else f"{type(e).__name__}: {e}"
        _load_error = SerkitError(f"a worker process could not load the model: {why}")


def _exit_with_parent() -> None:
    """Exit when the parent process is gone. An idle worker waits on the task queue, which
    every worker holds open too, so it would never notice by itself and live on, orphaned."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()  # its sentinel closes when the parent dies, however it dies
        os._exit(1)

    threading.Thread(target=watch, name="serkit-parent-watch", daemon=True).start()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while worker processes are spawned, so that they inherit it ignored:
    Ctrl-C reaches the whole process group, and a worker still importing (before its
    initializer runs) would otherwise print a KeyboardInterrupt traceback. The parent stops
    them itself on Ctrl-C. Only the main thread may change signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old if old is not None else signal.default_int_handler)


def _loaded() -> Tagger:
    if _load_error is not None:
        raise _load_error
    assert _tagger is not None, "worker not initialised"
    return _tagger


def _predict(batch: list[list[str]], batch_size: int) -> list[Prediction]:
    return _predict_with(_loaded(), batch, batch_size)


def _ready(pause: float = 0.0) -> int:
    """A worker's pid, once it has loaded the model (its initializer ran first)."""
    _loaded()
    time.sleep(pause)
    return os.getpid()


def _predict_with(tagger: Tagger, batch: Sequence[Sequence[str]], size: int) -> list[Prediction]:
    """``tagger.predict_words`` in the batches it would get from ``pipe``."""
    if tagger.batches_itself:
        return tagger.predict_words(batch)
    out: list[Prediction] = []
    for lo in range(0, len(batch), size):
        out.extend(tagger.predict_words(batch[lo : lo + size]))
    return out


class WorkerTagger(Tagger):
    """A model tagging in ``workers`` processes (default: :func:`usable_cores`, or one
    when the model runs on a GPU, ``device="cuda"``); use it
    like any ``Tagger`` (``pipe``, ``pipe_tagged``, ``__call__``) and close it (or use it
    as a context manager) to stop the workers.

    ``model``, ``prefer``, ``scheme`` and ``kwargs`` go to ``load_tagger`` in this process
    and in each worker; ``threads`` is per process (default: ONNX Runtime's in this
    process, 1 in each worker). ``on_words`` is called with every batch of sentences
    once tagged (progress). ``workers=1`` tags in this process only."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        workers: int | None = None,
        prefer: str = "auto",
        scheme: str | None = None,
        threads: int | None = None,
        on_words: Callable[[Sequence[Sequence[str]]], None] | None = None,
        min_words: int | None = None,
        **kwargs: Any,
    ) -> None:
        from serkit.models.registry import load_tagger

        if workers is not None and (
            not isinstance(workers, int) or isinstance(workers, bool) or workers < 1
        ):
            raise ValueError(f"workers must be an int >= 1, got {workers!r}")
        here = dict(kwargs) if threads is None else {**kwargs, "threads": threads}
        self.local = load_tagger(model, prefer=prefer, scheme=scheme, **here)
        # On a GPU one process feeds it; more would each hold a copy of the model there.
        default = usable_cores() if self.local.device == "cpu" else 1
        self.workers = default if workers is None else workers
        self._prefer, self._scheme = prefer, scheme
        self._kwargs = {**kwargs, "threads": 1 if threads is None else threads}
        self.on_words = on_words
        self.min_words = MIN_WORDS if min_words is None else min_words
        self._pool: ProcessPoolExecutor | None = None
        self._words = 0
        self._batch_size = 32
        self._follow_local()

    def _follow_local(self) -> None:
        local = self.local
        self.labels, self.card = local.labels, local.card
        self.model_dir, self.decoding = local.model_dir, local.decoding
        self.device = local.device
        # Several workers: pools come whole, to be cut into pieces for them.
        self.batches_itself = local.batches_itself or self.workers > 1

    @property
    def runtime(self) -> str | None:
        return self.local.runtime

    @property
    def schemes(self) -> list[str]:
        return self.local.schemes

    @property
    def started(self) -> bool:
        """Whether worker processes are running."""
        return self._pool is not None

    def use_scheme(self, scheme: str | None) -> None:
        self.local.use_scheme(scheme)
        self._scheme = scheme
        self._follow_local()
        self.close()  # workers restart, in the new scheme, when needed

    def with_scheme(self, scheme: str | None) -> WorkerTagger:
        other = copy.copy(self)
        other.local = self.local.with_scheme(scheme)
        other._scheme, other._pool = scheme, None  # its own workers, started when needed
        other._follow_local()
        return other

    def pipe(self, texts: Iterable[str], batch_size: int = 32) -> Iterator[list[Entity]]:
        """``Tagger.pipe`` with pools ``workers`` times larger (work for every worker),
        each worker tagging batches of ``batch_size``."""
        self._batch_size = batch_size
        return super().pipe(texts, batch_size * self.workers)

    def pipe_tagged(self, texts: Iterable[str], batch_size: int = 32) -> Iterator[TaggedDoc]:
        """``Tagger.pipe_tagged``, pooled as :meth:`pipe`."""
        self._batch_size = batch_size
        return super().pipe_tagged(texts, batch_size * self.workers)

    def predict_words(self, batch: Sequence[Sequence[str]]) -> list[Prediction]:
        n_words = sum(map(len, batch))
        if self.workers == 1 or (self._pool is None and self._words + n_words < self.min_words):
            out = _predict_with(self.local, batch, self._batch_size)
        elif self._pool is None:
            self._start()  # the workers load while this batch is tagged here
            out = _predict_with(self.local, batch, self._batch_size)
        else:
            out = self._fan_out(batch)
        self._words += n_words
        if self.on_words is not None:
            self.on_words(batch)
        return out

    @property
    def pids(self) -> list[int]:
        """Process ids of the running workers (for monitoring; empty before they start)."""
        procs = getattr(self._pool, "_processes", None) or {}
        return sorted(procs)

    def start(self) -> None:
        """Start the workers now and return once each has loaded the model (before a timed
        run, or a server's first request), rather than when enough words have come."""
        if self.workers == 1:
            return
        if self._pool is None:
            self._start()
        pool, seen = self._pool, set()
        assert pool is not None
        try:
            while len(seen) < self.workers:  # every worker answered: every one has loaded
                seen.update(
                    f.result() for f in [pool.submit(_ready, 0.05) for _ in range(self.workers)]
                )
        except BrokenProcessPool:
            raise self._broken() from None

    def _start(self) -> None:
        ctx = multiprocessing.get_context(START_METHOD)
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=ctx,
            initializer=_init,
            initargs=(
                self.local.model_dir,
                self._prefer,
                {**self._kwargs, "scheme": self._scheme},
            ),
        )
        with _sigint_ignored():  # ProcessPoolExecutor spawns a process per submit
            for _ in range(self.workers):
                self._pool.submit(_ready)

    def _fan_out(self, batch: Sequence[Sequence[str]]) -> list[Prediction]:
        """The batch (a pool sorted by length) cut into pieces of about equal words, each
        at most ``batch_size`` sentences, tagged by the workers longest first."""
        assert self._pool is not None
        total = sum(map(len, batch))
        target = max(1, total // (self.workers * PIECES_PER_WORKER))
        pieces: list[tuple[int, int]] = []
        lo = words = 0
        for i, sent in enumerate(batch):
            words += len(sent)
            if words >= target or i + 1 - lo >= self._batch_size:
                pieces.append((lo, i + 1))
                lo, words = i + 1, 0
        if lo < len(batch):
            pieces.append((lo, len(batch)))
        futures: dict[int, Future] = {}
        try:
            for k in sorted(range(len(pieces)), key=lambda k: -_cost(batch, pieces[k])):
                a, b = pieces[k]
                futures[k] = self._pool.submit(
                    _predict, [list(s) for s in batch[a:b]], self._batch_size
                )
            out: list[Prediction] = []
            for k in range(len(pieces)):
                out.extend(futures[k].result())
        except BrokenProcessPool:
            raise self._broken() from None
        return out

    def _broken(self) -> SerkitError:
        """A worker died (killed, out of memory): the pool is stopped, the error said."""
        self.close()
        return SerkitError(
            "a worker process stopped unexpectedly (out of memory?); try fewer --workers"
        )

    def close(self) -> None:
        """Stop the workers (they restart when needed)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> WorkerTagger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cost(batch: Sequence[Sequence[str]], piece: tuple[int, int]) -> int:
    return sum(len(s) for s in batch[piece[0] : piece[1]])


def pipe(
    model: str | Path | None,
    texts: Iterable[str],
    *,
    workers: int | None = None,
    batch_size: int = 32,
    **load: Any,
) -> Iterator[list[Entity]]:
    """Entities of each text, in order, tagged by ``workers`` processes (default: every
    usable core) that each load ``model`` once (None: the shipped model); ``load`` goes to
    :class:`WorkerTagger` (``prefer``, ``scheme``, ``threads``...)."""
    with WorkerTagger(model, workers=workers, **load) as tagger:
        yield from tagger.pipe(texts, batch_size)
