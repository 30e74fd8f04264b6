"""The one inference interface. The CLI, the server and the benchmarks only see a ``Tagger``.

A concrete tagger (transformer on torch, transformer on ONNX Runtime, CRF) implements
``predict_words``: word-level IOB2 tags plus a confidence per word for a batch of
pre-tokenised sentences. Everything about raw text (sentence splitting, tokenising,
offsets, batching, spans) lives here once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from serkit.types import Entity, Token

#: Sentences pooled per ``batch_size`` before sorting by length: a bigger pool pads
#: less (length buckets) at the cost of holding a few more sentences in memory.
POOL_FACTOR = 4


@dataclass(slots=True)
class TaggedSentence:
    """One sentence of a text with its word tags: what CoNLL/WikiSER outputs need."""

    tokens: list[Token]
    tags: list[str]
    scores: list[float]


@dataclass(slots=True)
class _Doc:
    text: str
    sents: list[TaggedSentence | None] = field(default_factory=list)
    closed: bool = False
    missing: int = 0


class Tagger(ABC):
    #: IOB2 label set of the model, ``"O"`` first.
    labels: list[str]
    #: The model card (``serkit.json``) it was loaded from.
    card: dict[str, Any]

    @abstractmethod
    def predict_words(self, batch: Sequence[Sequence[str]]) -> list[tuple[list[str], list[float]]]:
        """Tags and per-word confidences in [0, 1] for each sentence; any sentence length."""

    @property
    def entity_types(self) -> list[str]:
        return sorted({lab[2:] for lab in self.labels if lab != "O"})

    def tag_tokens(self, tokens: Sequence[str]) -> list[str]:
        """IOB2 tags for one pre-tokenised sentence."""
        if not tokens:
            return []
        return self.predict_words([list(tokens)])[0][0]

    def __call__(self, text: str) -> list[Entity]:
        return next(self.pipe([text]))

    def pipe(self, texts: Iterable[str], batch_size: int = 32) -> Iterator[list[Entity]]:
        """Entities for each text, in order; see ``pipe_tagged`` for the memory bound."""
        from serkit.decode import entities_from_tags

        for text, sents in self.pipe_tagged(texts, batch_size):
            ents: list[Entity] = []
            for s in sents:
                ents.extend(entities_from_tags(text, s.tokens, s.tags, s.scores))
            yield ents

    def pipe_tagged(
        self, texts: Iterable[str], batch_size: int = 32
    ) -> Iterator[tuple[str, list[TaggedSentence]]]:
        """Each text with its tagged sentences, in input order.

        Sentences of consecutive texts share batches (many short texts run as fast as
        one long one), sorted by length within a pool of ``POOL_FACTOR * batch_size``
        sentences so each batch pads little. At most that many sentences and that many
        unfinished texts are held at once, whatever the number or length of the texts
        (one long text is streamed sentence by sentence).
        """
        from serkit.tokenize import sentences

        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if isinstance(texts, str):
            raise TypeError("pipe() takes an iterable of texts; use tagger(text) for one text")
        pool_size = POOL_FACTOR * batch_size
        queue: deque[_Doc] = deque()
        pending: list[tuple[_Doc, int, list[Token]]] = []

        def flush() -> None:
            order = sorted(range(len(pending)), key=lambda i: len(pending[i][2]))
            for lo in range(0, len(order), batch_size):
                chunk = [pending[i] for i in order[lo : lo + batch_size]]
                preds = self.predict_words([[t.text for t in toks] for _, _, toks in chunk])
                for (doc, idx, toks), (tags, scores) in zip(chunk, preds, strict=True):
                    doc.sents[idx] = TaggedSentence(toks, list(tags), list(scores))
                    doc.missing -= 1
            pending.clear()

        def finished() -> Iterator[tuple[str, list[TaggedSentence]]]:
            while queue and queue[0].closed and queue[0].missing == 0:
                doc = queue.popleft()
                yield doc.text, doc.sents  # type: ignore[misc]

        for text in texts:
            doc = _Doc(text)
            queue.append(doc)
            for sent in sentences(text):
                if not sent:
                    continue
                doc.sents.append(None)
                doc.missing += 1
                pending.append((doc, len(doc.sents) - 1, sent))
                if len(pending) >= pool_size:
                    flush()
                    yield from finished()
            doc.closed = True
            if len(queue) >= pool_size:
                flush()
            yield from finished()
        flush()
        yield from finished()
