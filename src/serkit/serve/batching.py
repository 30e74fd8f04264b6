"""Micro-batching with fair scheduling: requests share ``tagger.pipe`` calls on one thread.

Requests queue up as jobs while the model is busy. Each job is cut into pieces: a text of
at most ``max_batch_chars`` characters is one piece, a longer one is cut where a sentence
starts (``serkit.sentences``) into pieces of at most that size, so the entities of the
pieces are those of the whole text (a single sentence longer than the cap stays whole).
One batch is one ``pipe`` call of at most ``max_batch_chars`` characters and
``max_batch_texts`` pieces, filled shortest remaining job first: a 20-character request
that arrives behind a hundred 20,000-character ones waits for the batch in progress, not
for the hundred, and of equal jobs the oldest finishes first. A job whose request is
cancelled (its client went away) leaves the queue at once; none of its pieces that were
not yet sent is computed. The model runs on the worker thread only: the event loop stays
free to accept and answer, and a tagger need not be thread-safe.

Shortest-first means that under a sustained overload of small requests a big one waits
until they thin out; ``max_pending`` (503) bounds that queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import threading
import time
from dataclasses import dataclass, field

from serkit.tagger import Tagger, check_batch_size
from serkit.tokens import Entity


class Overloaded(Exception):
    """More requests are waiting than ``max_pending``, or the server is stopping."""


@dataclass(slots=True)
class _Piece:
    job: _Job
    index: int  # which text of the job
    offset: int  # where the piece starts in that text
    text: str


@dataclass(eq=False, slots=True)
class _Job:
    texts: list[str]
    tagger: Tagger
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    seq: int
    #: Characters not yet sent to the model (the scheduling key; worker thread only).
    unsent: int
    #: Characters not yet tagged (what ``/healthz`` reports; changed under the lock).
    untagged: int
    pieces: list[_Piece] | None = None
    sent: int = 0
    done: int = 0
    results: list[list[Entity]] = field(default_factory=list)
    cancelled: bool = False


def text_pieces(text: str, max_chars: int) -> list[tuple[int, str]]:
    """``text`` as ``(offset, piece)`` pairs of at most ``max_chars`` characters, cut only
    where a sentence starts after whitespace, so each piece splits into the same
    sentences, with the same tokens, as it does within the whole text. A sentence longer
    than ``max_chars`` is a piece of its own."""
    if len(text) <= max_chars:
        return [(0, text)]
    from serkit.sentences import sentence_bounds
    from serkit.tokenize import tokenize_arrays

    toks = tokenize_arrays(text)
    cuts = [
        toks.starts[lo]
        for lo, _ in sentence_bounds(toks.words, toks.gaps)[1:]
        if text[toks.starts[lo] - 1].isspace()
    ]
    pieces: list[tuple[int, str]] = []
    start = prev = 0
    for cut in [*cuts, len(text)]:
        if cut - start > max_chars and prev > start:
            pieces.append((start, text[start:prev]))
            start = prev
        prev = cut
    pieces.append((start, text[start:]))
    return pieces


def _shifted(entities: list[Entity], offset: int) -> list[Entity]:
    if not offset:
        return entities
    return [dataclasses.replace(e, start=e.start + offset, end=e.end + offset) for e in entities]


def _resolve(fut: asyncio.Future, result: object, error: BaseException | None) -> None:
    if fut.done():  # the client went away and the request was cancelled
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


class MicroBatcher:
    def __init__(
        self,
        tagger: Tagger,
        *,
        batch_size: int = 32,
        max_batch_texts: int = 256,
        max_batch_chars: int = 2048,
        max_wait_ms: float = 2.0,
        max_pending: int = 1024,
    ) -> None:
        self.tagger = tagger
        # Checked here, not on the first request: a bad size would fail every one of them.
        self.batch_size = check_batch_size(batch_size)
        self.max_batch_texts = max_batch_texts
        self.max_batch_chars = max_batch_chars
        self.max_wait = max_wait_ms / 1000.0
        self.max_pending = max_pending
        self._jobs: list[_Job] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._stopping = False
        self._thread: threading.Thread | None = None
        #: Counters for the tests: calls of tagger.pipe and requests answered.
        self.batches = 0
        self.requests = 0

    @property
    def pending(self) -> int:
        """Requests accepted and not yet answered: waiting, or being tagged."""
        return len(self._jobs)

    @property
    def pending_chars(self) -> int:
        """Characters of those requests not yet tagged."""
        with self._cond:
            return sum(j.untagged for j in self._jobs)

    def start(self) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(
                    target=self._work, name="serkit-batcher", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in progress; requests still waiting get ``Overloaded``."""
        with self._cond:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout)

    async def submit(self, texts: list[str], tagger: Tagger | None = None) -> list[list[Entity]]:
        """Entities for each text, once the worker got to them. Cancelling the caller
        (a client that disconnected) takes the request out of the queue."""
        if not texts:
            return []
        if len(self._jobs) >= self.max_pending:
            raise Overloaded(f"{len(self._jobs)} requests are waiting; try again later")
        self.start()
        loop = asyncio.get_running_loop()
        chars = sum(map(len, texts))
        job = _Job(list(texts), tagger or self.tagger, loop.create_future(), loop, 0, chars, chars)
        job.results = [[] for _ in texts]
        with self._cond:
            job.seq = next(self._seq)
            self._jobs.append(job)
            self._cond.notify()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._drop(job)
            raise

    def _drop(self, job: _Job) -> None:
        with self._cond:
            job.cancelled = True
            with contextlib.suppress(ValueError):
                self._jobs.remove(job)

    # ------------------------------------------------------------------ worker thread

    def _next_jobs(self) -> list[_Job] | None:
        """Block until there is work; after an idle spell, wait up to ``max_wait`` for
        company. The live jobs, shortest remaining first, or None to stop."""
        with self._cond:
            idle = not self._jobs
            while not self._jobs and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return None
            if idle and self.max_wait > 0:
                deadline = time.monotonic() + self.max_wait
                while (
                    not self._stopping
                    and sum(j.unsent for j in self._jobs) < self.max_batch_chars
                    and (left := deadline - time.monotonic()) > 0
                ):
                    self._cond.wait(left)
            return sorted(self._jobs, key=lambda j: (j.unsent, j.seq))

    def _fill(self, jobs: list[_Job]) -> list[_Piece]:
        """Pieces for one ``pipe`` call: the jobs' next pieces in this order, within the
        caps (one piece over the character cap goes alone), all for one tagger."""
        batch: list[_Piece] = []
        chars = 0
        tagger = None
        for job in jobs:
            if job.cancelled or (tagger is not None and job.tagger is not tagger):
                continue
            if job.pieces is None:
                job.pieces = [
                    _Piece(job, i, off, piece)
                    for i, text in enumerate(job.texts)
                    for off, piece in text_pieces(text, self.max_batch_chars)
                ]
            while job.sent < len(job.pieces) and len(batch) < self.max_batch_texts:
                piece = job.pieces[job.sent]
                if batch and chars + len(piece.text) > self.max_batch_chars:
                    break
                batch.append(piece)
                chars += len(piece.text)
                job.sent += 1
                job.unsent -= len(piece.text)
                tagger = job.tagger
            if chars >= self.max_batch_chars or len(batch) >= self.max_batch_texts:
                break
        return batch

    def _tag(self, tagger: Tagger, texts: list[str]) -> list[list[Entity]]:
        return list(tagger.pipe(texts, batch_size=self.batch_size))

    def _run(self, batch: list[_Piece]) -> list[tuple[list[Entity] | None, BaseException | None]]:
        tagger = batch[0].job.tagger
        try:
            return [(r, None) for r in self._tag(tagger, [p.text for p in batch])]
        except Exception:
            # One request broke the batch: run each piece alone so only its request fails.
            outcomes: list[tuple[list[Entity] | None, BaseException | None]] = []
            for piece in batch:
                try:
                    outcomes.append((self._tag(tagger, [piece.text])[0], None))
                except Exception as e:  # handed to that request; the worker lives on
                    outcomes.append((None, e))
            return outcomes

    def _work(self) -> None:
        while (jobs := self._next_jobs()) is not None:
            batch = self._fill(jobs)
            if not batch:  # every job was cancelled meanwhile
                continue
            outcomes = self._run(batch)
            self.batches += 1
            answers: list[tuple[_Job, object, BaseException | None]] = []
            with self._cond:
                for piece, (result, error) in zip(batch, outcomes, strict=True):
                    job = piece.job
                    if job.cancelled:
                        continue
                    if error is not None:
                        job.cancelled = True  # its other pieces are not computed
                        self._jobs.remove(job)
                        answers.append((job, None, error))
                        continue
                    job.results[piece.index].extend(_shifted(result, piece.offset))
                    job.done += 1
                    job.untagged -= len(piece.text)
                    if job.done == len(job.pieces):
                        self._jobs.remove(job)
                        answers.append((job, job.results, None))
            self.requests += len(answers)
            for job, result, error in answers:
                with contextlib.suppress(RuntimeError):  # that request's loop is closed
                    job.loop.call_soon_threadsafe(_resolve, job.future, result, error)
        with self._cond:
            left, self._jobs = self._jobs, []
        for job in left:
            with contextlib.suppress(RuntimeError):
                job.loop.call_soon_threadsafe(
                    _resolve, job.future, None, Overloaded("the server is shutting down")
                )
