"""Request limits of the REST service: one place, so the CLI, the docs and the checks agree.

The body limit is enforced on the raw bytes (``Content-Length`` first, then the streamed
size) before anything is parsed; the character and count limits after parsing, on the
decoded texts. Every breach is a 413 with an error code saying which limit it was.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from serkit.errors import LimitExceeded


class LimitError(LimitExceeded):
    """A breached limit with the error code the API reports (``text_too_long``...)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Limits:
    #: Characters (Unicode code points) in one text.
    max_text_chars: int = 20_000
    #: Characters in all the texts of one request together.
    max_request_chars: int = 100_000
    #: Texts in one ``{"texts": [...]}`` request.
    max_texts: int = 256
    #: Bytes of one request body, checked before it is read. JSON escapes (``\\u00e9``)
    #: take up to 6 bytes a character, hence the margin over ``max_request_chars``.
    max_body_bytes: int = 1_048_576
    #: Requests waiting for the model at once; more get 503 instead of queueing forever.
    max_pending: int = 1024

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"limit {name} must be a positive integer, got {value!r}")

    def check_texts(self, texts: list[str], *, single: bool = False) -> None:
        """Raise ``LimitError`` when the texts of one request break a limit; ``single``:
        the request had one ``text`` (the message then names no index)."""
        if len(texts) > self.max_texts:
            raise LimitError(
                "too_many_texts",
                f"{len(texts):,} texts in one request (limit {self.max_texts:,})",
            )
        total = 0
        for i, text in enumerate(texts):
            if len(text) > self.max_text_chars:
                what = "text" if single else f"text {i}"
                raise LimitError(
                    "text_too_long",
                    f"{what} has {len(text):,} characters (limit {self.max_text_chars:,})",
                )
            total += len(text)
        if total > self.max_request_chars:
            raise LimitError(
                "request_too_long",
                f"{total:,} characters in one request (limit {self.max_request_chars:,})",
            )

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one client connection may hold: slow or idle clients are closed, not kept.

    ``header_timeout`` and ``keep_alive`` and ``max_connections`` are enforced by the
    HTTP protocol (``serkit.serve.server``), ``body_timeout`` by the app, which answers
    it with a JSON 408.
    """

    #: Seconds from the connection (or the end of the previous response) to the end of
    #: the request's headers. Slow senders (slowloris) are closed after this.
    header_timeout: float = 10.0
    #: Seconds for the whole body, from the end of the headers: a body shorter than its
    #: ``Content-Length`` is a 408, not a request that hangs.
    body_timeout: float = 30.0
    #: Seconds an idle kept-alive connection stays open between requests.
    keep_alive: float = 5.0
    #: Open connections at once; a connection over the cap gets a 503 and is closed.
    max_connections: int = 1000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not 0 < value < math.inf:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not isinstance(self.max_connections, int):
            raise ValueError(f"max_connections must be an integer, got {self.max_connections!r}")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)
