"""The core value types shared by readers, models, decoders and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Token:
    """A token with character offsets: ``text[start:end] == token.text`` always."""

    text: str
    start: int
    end: int


@dataclass(slots=True)
class Sentence:
    """What every corpus reader yields: tokens plus optional IOB2 tags.

    ``doc_id`` is the article/document name when known; ``index`` is the 0-based
    position of the sentence in its source (used for the W1 validation slice);
    ``line`` is the 1-based line where it starts, for error messages.
    """

    tokens: list[str]
    tags: list[str] | None = None
    doc_id: str | None = None
    index: int = 0
    line: int = 0
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass(frozen=True, slots=True)
class Entity:
    """One recognised mention: character offsets into the caller's text.

    Every model and every output returns this type; ``score`` is in [0, 1].
    """

    start: int
    end: int
    label: str
    text: str
    score: float = 1.0

    def to_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "label": self.label,
            "text": self.text,
            "score": round(float(self.score), 4),
        }

    def to_hf(self) -> dict:
        """The dict of transformers' ``pipeline("token-classification",
        aggregation_strategy="simple")``, keys in its order, so code written for it switches
        with one line. ``word`` is the exact text (the pipeline's is decoded sub-tokens,
        lower-cased by uncased models); ``score`` a plain float (the pipeline's a numpy one)."""
        return {
            "entity_group": self.label,
            "score": float(self.score),
            "word": self.text,
            "start": self.start,
            "end": self.end,
        }
