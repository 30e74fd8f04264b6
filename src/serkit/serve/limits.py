"""Request limits of the REST service: one place, so the CLI, the docs and the checks agree.

The body limit is enforced on the raw bytes (``Content-Length`` first, then the streamed
size) before anything is parsed; the character and count limits after parsing, on the
decoded texts. Every breach is a 413 with an error code saying which limit it was.
"""

from __future__ import annotations

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

    def check_texts(self, texts: list[str]) -> None:
        """Raise ``LimitError`` when the texts of one request break a limit."""
        if len(texts) > self.max_texts:
            raise LimitError(
                "too_many_texts",
                f"{len(texts)} texts in one request; the limit is {self.max_texts}",
            )
        total = 0
        for i, text in enumerate(texts):
            if len(text) > self.max_text_chars:
                raise LimitError(
                    "text_too_long",
                    f"text {i} has {len(text)} characters; the limit is {self.max_text_chars}",
                )
            total += len(text)
        if total > self.max_request_chars:
            raise LimitError(
                "request_too_long",
                f"{total} characters in one request; the limit is {self.max_request_chars}",
            )

    def to_dict(self) -> dict[str, int]:
        return asdict(self)
