"""The one inference interface. The CLI, the server and the benchmarks only see a ``Tagger``.

A concrete tagger (transformer on torch, transformer on ONNX Runtime, CRF) implements
``predict_words``: word-level IOB2 tags plus a confidence per word for a batch of
pre-tokenised sentences. Everything about raw text (sentence splitting, tokenising,
offsets, batching, spans) lives here once.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serkit.errors import InvalidText, SerkitError
from serkit.tokens import Entity, Token

if TYPE_CHECKING:
    from serkit.tokenize import TokenArrays

#: Sentences pooled per ``batch_size`` before sorting by length: a bigger pool pads
#: less (length buckets) at the cost of holding a few more sentences in memory.
POOL_FACTOR = 4


class InvalidScheme(SerkitError, ValueError):
    """A label scheme the model cannot answer in."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def check_text(text: object, what: str = "text") -> str:
    """``text`` if it is a ``str`` of valid Unicode; a clear error, not a failure deep in
    the tokenizer, if it is not (``None``, bytes, a lone surrogate from undecodable bytes)."""
    if not isinstance(text, str):
        hint = "; decode bytes first" if isinstance(text, bytes | bytearray) else ""
        raise TypeError(f"{what} must be a str, not {type(text).__name__}{hint}")
    if not text.isascii() and (m := _SURROGATE.search(text)):
        raise InvalidText(
            f"{what} is not valid Unicode: a lone surrogate ({m.group()!a}) at character "
            f"{m.start()}"
        )
    return text


@dataclass(slots=True)
class TaggedSentence:
    """One sentence of a text with its word tags: what CoNLL/WikiSER outputs need."""

    tokens: list[Token]
    tags: list[str]
    scores: list[float]


@dataclass(slots=True)
class _Doc:
    """A text in flight: its tokens as arrays, the ``(first, end)`` token indices of its
    sentences and, as batches come back, each sentence's tags and scores."""

    text: str
    tokens: TokenArrays
    bounds: list[tuple[int, int]]
    preds: list[tuple[Sequence[str], Sequence[float]] | None]
    missing: int

    def entities(self) -> list[Entity]:
        """Entities of every sentence, in text order; offsets looked up for them only."""
        from serkit.decode import entities_from_offsets

        out: list[Entity] = []
        starts, ends = self.tokens.starts, self.tokens.ends
        for (lo, _), (tags, scores) in zip(self.bounds, self.preds, strict=True):  # type: ignore[misc]
            out.extend(entities_from_offsets(self.text, starts, ends, tags, scores, lo))
        return out

    def tagged(self) -> list[TaggedSentence]:
        """Sentences with ``Token`` objects, built only for the outputs that list tokens."""
        toks = self.tokens
        tokens = list(map(Token, toks.words, toks.starts, toks.ends))
        return [
            TaggedSentence(tokens[lo:hi], list(tags), list(scores))
            for (lo, hi), (tags, scores) in zip(self.bounds, self.preds, strict=True)  # type: ignore[misc]
        ]


class Tagger(ABC):
    #: IOB2 label set of the model, ``"O"`` first.
    labels: list[str]
    #: The model card (``serkit.json``) it was loaded from.
    card: dict[str, Any]
    #: ``pipe`` hands ``predict_words`` its whole pool of sentences at once rather than
    #: ``batch_size`` at a time: for a tagger that batches better by itself (the CRF
    #: decodes a pool in one pass, paying per position of the longest sentence).
    batches_itself: bool = False
    #: The folder the model was loaded from (None: built in memory).
    model_dir: Path | None = None
    #: How word scores become tags (``viterbi``/``argmax``); None where there is no choice
    #: (the CRF decodes itself).
    decoding: str | None = None

    @property
    def runtime(self) -> str | None:
        """What computes the scores (``torch``, ``onnx-int8``, ``crf``...); a tagger class
        that does not say gives its card's word, else None."""
        card = getattr(self, "card", None) or {}
        runtime = card.get("runtime")
        return None if runtime is None else str(runtime)

    @abstractmethod
    def predict_words(self, batch: Sequence[Sequence[str]]) -> list[tuple[list[str], list[float]]]:
        """Tags and per-word confidences in [0, 1] for each sentence; any sentence length."""

    @property
    def schemes(self) -> list[str]:
        """Label sets/conventions this model can answer in (``use_scheme``); empty: only
        its own labels."""
        return []

    def with_scheme(self, scheme: str | None) -> Tagger:
        """A tagger answering in ``scheme`` that shares this one's model (weights, session,
        caches): cheap, and this tagger keeps answering as before (thread-safe)."""
        import copy

        other = copy.copy(self)
        other.use_scheme(scheme)
        return other

    def use_scheme(self, scheme: str | None) -> None:
        """Answer in ``scheme`` from now on; models without schemes only take None."""
        if scheme is not None:
            raise InvalidScheme(
                f"unknown scheme {scheme!r}: this model answers in its own labels only"
            )

    @property
    def entity_types(self) -> list[str]:
        return sorted({lab[2:] for lab in self.labels if lab != "O"})

    def tag_tokens(self, tokens: Sequence[str]) -> list[str]:
        """IOB2 tags for one pre-tokenised sentence."""
        if isinstance(tokens, str) or tokens is None:
            raise TypeError(
                "tag_tokens() takes a sequence of token strings; use tagger(text) for a text"
            )
        words = [check_text(tok, f"token {i}") for i, tok in enumerate(tokens)]
        if not words:
            return []
        return self.predict_words([words])[0][0]

    def __call__(self, text: str) -> list[Entity]:
        return next(self.pipe([check_text(text)]))

    def pipe(self, texts: Iterable[str], batch_size: int = 32) -> Iterator[list[Entity]]:
        """Entities for each text, in order; see ``pipe_tagged`` for the memory bound."""
        for doc in self._tag_docs(texts, batch_size):
            yield doc.entities()

    def pipe_tagged(
        self, texts: Iterable[str], batch_size: int = 32
    ) -> Iterator[tuple[str, list[TaggedSentence]]]:
        """Each text with its tagged sentences, in input order.

        Sentences of consecutive texts share batches (many short texts run as fast as
        one long one), sorted by length within a pool of ``POOL_FACTOR * batch_size``
        sentences so each batch pads little. At most that many sentences and that many
        unfinished texts are held at once, whatever the number or length of the texts
        (one long text is tagged in pools of sentences as it goes).
        """
        for doc in self._tag_docs(texts, batch_size):
            yield doc.text, doc.tagged()

    def _tag_docs(self, texts: Iterable[str], batch_size: int) -> Iterator[_Doc]:
        """The tagged texts in input order. Texts are tokenised into arrays (no ``Token``
        per word): sentences are slices of the word list, and offsets are looked up only
        for the entities (``pipe``) or the texts that ask for tokens (``pipe_tagged``)."""
        if not isinstance(batch_size, int):
            raise TypeError(f"batch_size must be an int, not {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if isinstance(texts, str | bytes):
            raise TypeError("pipe() takes an iterable of texts; use tagger(text) for one text")
        from serkit.sentences import sentence_bounds
        from serkit.tokenize import tokenize_arrays

        pool_size = POOL_FACTOR * batch_size
        queue: deque[_Doc] = deque()
        pending: list[tuple[_Doc, int, list[str]]] = []

        def flush() -> None:
            pending.sort(key=lambda p: len(p[2]))  # stable: ties keep their text order
            step = max(len(pending), 1) if self.batches_itself else batch_size
            for lo in range(0, len(pending), step):
                chunk = pending[lo : lo + step]
                preds = self.predict_words([words for _, _, words in chunk])
                for (doc, k, _), pred in zip(chunk, preds, strict=True):
                    doc.preds[k] = pred
                    doc.missing -= 1
            pending.clear()

        def finished() -> Iterator[_Doc]:
            while queue and queue[0].missing == 0:
                yield queue.popleft()

        for i, text in enumerate(texts):
            toks = tokenize_arrays(check_text(text, f"text {i}"))
            bounds = sentence_bounds(toks.words, toks.gaps)
            doc = _Doc(text, toks, bounds, [None] * len(bounds), len(bounds))
            queue.append(doc)
            words = toks.words
            for k, (lo, hi) in enumerate(bounds):
                pending.append((doc, k, words[lo:hi]))
                if len(pending) >= pool_size:
                    flush()
                    yield from finished()
            if len(queue) >= pool_size:
                flush()
            yield from finished()
        flush()
        yield from finished()
