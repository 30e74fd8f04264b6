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
    """The one sentence shape: tokens plus optional IOB2 tags. Every corpus reader yields
    it, every writer takes it, and a tagged text's sentences (``TaggedDoc.sentences``) are
    Sentences too, so a model's output writes like a corpus.

    ``doc_id`` is the article/document name when known; ``index`` is the 0-based
    position of the sentence in its source (used for the W1 validation slice);
    ``line`` is the 1-based line where it starts, for error messages; ``scores`` the
    model's confidence in each tag, when the tags are predicted. ``meta["offsets"]``
    holds each token's ``(start, end)`` in the text it came from, when it came from a text
    (``meta["text"]`` for JSONL/Label Studio records; ``TaggedDoc.text`` for a tagged text).
    """

    tokens: list[str]
    tags: list[str] | None = None
    doc_id: str | None = None
    index: int = 0
    line: int = 0
    meta: dict = field(default_factory=dict)
    scores: list[float] | None = None

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


@dataclass(slots=True)
class TaggedDoc:
    """The one shape of a tagged text: what ``Tagger.pipe_tagged`` yields and ``serkit tag``
    writes. ``entities`` hold character offsets into ``text``; ``sentences`` its words with
    their tags, scores and ``meta["offsets"]`` (into ``text``). ``id``: the source's name
    (``pipe_tagged``: the text's position); ``path`` is set for files, else ``text`` is
    shown; ``record``: the input record it came from (JSONL/CSV inputs), kept in the output.
    """

    id: str
    text: str
    entities: list[Entity]
    sentences: list[Sentence]
    path: str | None = None
    record: dict | None = None
