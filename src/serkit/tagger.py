"""The one inference interface. The CLI, the server and the benchmarks only see a ``Tagger``.

A concrete tagger (transformer on torch, transformer on ONNX Runtime, CRF) implements
``predict_words``: word-level IOB2 tags plus a confidence per word for a batch of
pre-tokenised sentences. Everything about raw text (sentence splitting, tokenising,
offsets, batching, spans) lives here once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from serkit.types import Entity, Token


class Tagger(ABC):
    #: IOB2 label set of the model, ``"O"`` first.
    labels: list[str]
    #: The model card (``serkit.json``) it was loaded from.
    card: dict[str, Any]

    @abstractmethod
    def predict_words(
        self, batch: Sequence[Sequence[str]]
    ) -> list[tuple[list[str], list[float]]]:
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
        """Entities for each text, in order, holding at most ``batch_size`` sentences of
        other texts in memory at once (one long text is streamed sentence by sentence).
        """
        from serkit.decode import entities_from_tags
        from serkit.tokenize import sentences

        for text in texts:
            ents: list[Entity] = []
            pending: list[list[Token]] = []

            def flush(pending: list[list[Token]] = pending, ents: list[Entity] = ents) -> None:
                if not pending:
                    return
                # Sort by length so each batch pads little; results go back in order.
                order = sorted(range(len(pending)), key=lambda i: len(pending[i]))
                preds = self.predict_words([[t.text for t in pending[i]] for i in order])
                by_index = dict(zip(order, preds, strict=True))
                for i, sent in enumerate(pending):
                    tags, scores = by_index[i]
                    ents.extend(entities_from_tags(text, sent, tags, scores))
                pending.clear()

            for sent in sentences(text):
                if sent:
                    pending.append(sent)
                if len(pending) >= batch_size:
                    flush()
            flush()
            yield ents
