"""Deterministic taggers and a live uvicorn server for the serve tests.

``DictTagger`` tags words from a fixed dictionary, so a test can assert exact spans; it
can also be slow (to make requests overlap) or fail on a word (a model bug), to test the
micro-batcher and the error paths. ``LiveServer`` runs the app on a free loopback port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence

from serkit.tagger import Tagger

WORDS = {
    "redis": "Application",
    "linux": "Operating_System",
    "ubuntu": "Operating_System",
    "tensorflow": "Library",
    "python": "Language",
    "nvidia": "Device",
}
TYPES = ("Application", "Device", "Language", "Library", "Operating_System")


class DictTagger(Tagger):
    """Word -> type from ``WORDS``; ``A100`` right after ``NVIDIA`` continues the device."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.labels = ["O"] + [f"{p}-{t}" for t in TYPES for p in "BI"]
        self.card = {"arch": "dict", "name": "dict-test", "version": "1.2.3", "labels": self.labels}
        self.delay = delay
        self.fail_on = fail_on
        self.pipe_calls: list[int] = []
        #: The texts of each ``pipe`` call, to see what the model was made to compute.
        self.pipe_texts: list[list[str]] = []

    def pipe(self, texts, batch_size: int = 32):
        texts = list(texts)
        self.pipe_calls.append(len(texts))
        self.pipe_texts.append(texts)
        return super().pipe(texts, batch_size)

    def predict_words(self, batch: Sequence[Sequence[str]]) -> list[tuple[list[str], list[float]]]:
        if self.delay:
            time.sleep(self.delay)
        out = []
        for words in batch:
            if self.fail_on is not None and self.fail_on in words:
                raise RuntimeError("model bug")
            tags = []
            for i, w in enumerate(words):
                t = WORDS.get(w.lower())
                if t:
                    tags.append(f"B-{t}")
                elif w.upper() == "A100" and i and words[i - 1].lower() == "nvidia":
                    tags.append("I-Device")
                else:
                    tags.append("O")
            out.append((tags, [0.9 if t != "O" else 0.99 for t in tags]))
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving ``app`` in a thread on a free loopback port (a context manager),
    configured as ``serkit serve`` configures it."""

    def __init__(self, app) -> None:
        import uvicorn

        from serkit.serve.server import uvicorn_config

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn_config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
