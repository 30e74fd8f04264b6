"""Micro-batching: concurrent requests share one ``tagger.pipe`` call on a worker thread.

Requests queue up while the model is busy; when it is free, the worker takes everything
waiting (up to ``max_batch_texts`` texts, after at most ``max_wait_ms`` for company) and
tags it in one call, so sentences of different requests share batches. The model runs on
that one thread only: the event loop stays free to accept and answer, and a tagger need
not be thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from dataclasses import dataclass

from serkit.tagger import Tagger
from serkit.types import Entity


class Overloaded(Exception):
    """More requests are waiting than ``max_pending``."""


@dataclass(slots=True)
class _Job:
    texts: list[str]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


_STOP = object()


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
        max_wait_ms: float = 2.0,
        max_pending: int = 1024,
    ) -> None:
        self.tagger = tagger
        self.batch_size = batch_size
        self.max_batch_texts = max_batch_texts
        self.max_wait = max_wait_ms / 1000.0
        self.max_pending = max_pending
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        #: Counters for /healthz and the tests: calls of tagger.pipe and requests served.
        self.batches = 0
        self.requests = 0

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="serkit-batcher", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(timeout)

    async def submit(self, texts: list[str]) -> list[list[Entity]]:
        """Entities for each text, once the worker got to them."""
        if not texts:
            return []
        if self._queue.qsize() >= self.max_pending:
            raise Overloaded(f"{self._queue.qsize()} requests are waiting; try again later")
        self.start()
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.put(_Job(list(texts), fut, loop))
        return await fut

    def _take(self) -> list[_Job] | None:
        """Block for one job, then gather what else arrives within ``max_wait``."""
        first = self._queue.get()
        if first is _STOP:
            return None
        jobs = [first]
        n = len(first.texts)
        deadline = time.monotonic() + self.max_wait
        while n < self.max_batch_texts:
            timeout = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                self._queue.put(_STOP)  # finish this batch, then stop
                break
            jobs.append(job)
            n += len(job.texts)
        return jobs

    def _tag(self, texts: list[str]) -> list[list[Entity]]:
        return list(self.tagger.pipe(texts, batch_size=self.batch_size))

    def _work(self) -> None:
        while True:
            jobs = self._take()
            if jobs is None:
                return
            outcomes: list[tuple[list[list[Entity]] | None, BaseException | None]] = []
            try:
                results = self._tag([t for job in jobs for t in job.texts])
                i = 0
                for job in jobs:
                    outcomes.append((results[i : i + len(job.texts)], None))
                    i += len(job.texts)
            except Exception:
                # One request broke the batch: run each alone so only it fails.
                outcomes = []
                for job in jobs:
                    try:
                        outcomes.append((self._tag(job.texts), None))
                    except Exception as e:  # handed to that request; the worker lives on
                        outcomes.append((None, e))
            self.batches += 1
            self.requests += len(jobs)
            for job, (result, error) in zip(jobs, outcomes, strict=True):
                with contextlib.suppress(RuntimeError):  # that request's loop is closed
                    job.loop.call_soon_threadsafe(_resolve, job.future, result, error)
