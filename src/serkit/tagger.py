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
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from serkit.errors import InvalidScheme, InvalidText
from serkit.tokens import Entity, Sentence, TaggedDoc

#: Sentences pooled per ``batch_size`` before sorting by length: a bigger pool pads
#: less (length buckets) at the cost of holding a few more sentences in memory.
POOL_FACTOR = 4
#: Characters of one text tokenised at a time (``_text_sentences``): memory for a long
#: text is that of a piece, the pool and the entities found, not of the whole text.
CHUNK_CHARS = 1 << 16
#: Words of a run with no sentence end tagged as one sentence: the model sees a window
#: of a few hundred words anyway, and a pool of such runs stays bounded.
MAX_SENTENCE_WORDS = 2048


_SURROGATE = re.compile("[\ud800-\udfff]")


@cache
def _cut_re() -> re.Pattern[str]:
    """Where a piece of text may end: a whitespace character after a token character
    (the start of a separator run, so no gap between tokens is ever cut)."""
    from serkit.tokenize import _NS  # the tokenizer's separator class, spelled there

    return re.compile(rf"(?<=[^{_NS}])\s")


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


def check_word_batch(batch: object) -> Sequence[Sequence[str]]:
    """``batch`` if it is a sequence of sentences, each a sequence of ``str`` tokens; a
    clear error otherwise. A string where a sentence (or the batch) should be would
    otherwise be tagged letter by letter."""
    if isinstance(batch, str | bytes | bytearray) or not isinstance(batch, Sequence):
        raise TypeError(
            "expected a batch of pre-tokenised sentences (a list of lists of token strings), "
            f"not {type(batch).__name__}; use tagger(text) for raw text"
        )
    for i, words in enumerate(batch):
        if isinstance(words, str | bytes | bytearray) or not isinstance(words, Sequence):
            raise TypeError(
                f"sentence {i} of the batch is a {type(words).__name__}, not a sequence of "
                "token strings (give [['I', 'use', 'Linux']], not ['I use Linux'])"
            )
        for j, word in enumerate(words):
            if not isinstance(word, str):
                raise TypeError(f"sentence {i}, token {j} must be a str, not {type(word).__name__}")
    return batch


def check_batch_size(batch_size: object) -> int:
    """``batch_size`` if it is an int >= 1 (not a bool); a clear error if it is not."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, not {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return batch_size


#: The tagged sentence of earlier versions: now a plain ``Sentence`` (words, tags, scores,
#: ``meta["offsets"]``), the shape of every sentence; the name stays importable.
TaggedSentence = Sentence


@dataclass(slots=True)
class _InFlight:
    """Bookkeeping of ``_tag_docs``, not a shape: a text whose sentences are being tagged,
    one slot per sentence read so far (its entities, and with ``sentences`` its
    ``Sentence``), filled as batches come back; ``read`` once its last sentence is pooled."""

    text: str
    entities: list[Any] = field(default_factory=list)
    sentences: list[Any] | None = None
    missing: int = 0
    read: bool = False

    def all_entities(self) -> list[Entity]:
        """Entities of every sentence, in text order."""
        return [e for ents in self.entities for e in ents]


def _text_sentences(text: str) -> Iterator[tuple[list[str], list[int], list[int]]]:
    """The sentences of ``text`` as ``(words, starts, ends)`` (offsets into ``text``),
    tokenised ``CHUNK_CHARS`` at a time so that one long text never holds more than a
    piece of its tokens (tokenising and splitting the whole text first cost ~40 bytes a
    character before any tagging).

    Pieces end where a separator run starts after a token, so each piece tokenises as
    the whole text does (every lookaround of the scanner reads a separator and the end of
    the string alike, and a gap is never cut). The last sentence of a piece may go on in
    the next one: its tokens are carried and split again with the new tokens, so the
    sentences are those of the whole text. Only a run of more than ``MAX_SENTENCE_WORDS``
    words with no sentence end is cut every ``MAX_SENTENCE_WORDS`` words (and a token or
    separator run over ``CHUNK_CHARS`` characters at a piece end).
    """
    from serkit.sentences import sentence_bounds
    from serkit.tokenize import tokenize_arrays

    n = len(text)
    words: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    gaps: list[str] = []
    a = 0
    while a < n:
        b = n
        if n - a > CHUNK_CHARS:
            m = _cut_re().search(text, a + CHUNK_CHARS, a + 2 * CHUNK_CHARS)
            b = m.start() if m else a + CHUNK_CHARS
        toks = tokenize_arrays(text[a:b])
        words += toks.words
        starts += map(a.__add__, toks.starts)
        ends += map(a.__add__, toks.ends)
        gaps += toks.gaps
        del toks
        a = b
        bounds = sentence_bounds(words, gaps)
        if a < n and bounds:  # the last sentence may go on: carry it (less whole runs)
            lo = bounds[-1][0]
            bounds[-1] = (lo, lo + (len(words) - lo) // MAX_SENTENCE_WORDS * MAX_SENTENCE_WORDS)
        done = 0
        for lo, hi in bounds:
            for k in range(lo, hi, MAX_SENTENCE_WORDS):
                e = min(hi, k + MAX_SENTENCE_WORDS)
                yield words[k:e], starts[k:e], ends[k:e]
            done = hi
        del words[:done], starts[:done], ends[:done], gaps[:done]


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
    #: Where the scores are computed: ``cpu``, ``cuda:0``... (:mod:`serkit.devices`).
    device: str = "cpu"

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
        if isinstance(tokens, str | bytes | bytearray) or tokens is None:
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
            yield doc.all_entities()

    def pipe_tagged(self, texts: Iterable[str], batch_size: int = 32) -> Iterator[TaggedDoc]:
        """Each text as a ``TaggedDoc`` (its entities and its tagged sentences), in input
        order; ``id`` is the text's position.

        Sentences of consecutive texts share batches (many short texts run as fast as
        one long one), sorted by length within a pool of ``POOL_FACTOR * batch_size``
        sentences so each batch pads little. At most that many sentences and that many
        unfinished texts are in flight at once, whatever the number or length of the
        texts: a long text is read ``CHUNK_CHARS`` characters at a time and each sentence
        becomes its result (entities, or here also its words and tags) as soon as it is
        tagged, so what grows with a text is only its result.
        """
        for i, doc in enumerate(self._tag_docs(texts, batch_size, tagged=True)):
            sents = doc.sentences or []
            for s in sents:
                s.doc_id = str(i)
            yield TaggedDoc(str(i), doc.text, doc.all_entities(), sents)

    def _tag_docs(
        self, texts: Iterable[str], batch_size: int, *, tagged: bool = False
    ) -> Iterator[_InFlight]:
        """The tagged texts in input order: each sentence's entities and, when ``tagged``,
        its ``Sentence``. Tokens stay arrays (``tokenize_arrays``: no object per word) from
        the tokenizer to the entities; the words list itself becomes the sentence's tokens."""
        check_batch_size(batch_size)
        if isinstance(texts, str | bytes | bytearray):
            raise TypeError("pipe() takes an iterable of texts; use tagger(text) for one text")
        if not isinstance(texts, Iterable):
            raise TypeError(f"pipe() takes an iterable of texts, not {type(texts).__name__}")
        from serkit.decode import entities_from_offsets

        pool_size = POOL_FACTOR * batch_size
        queue: deque[_InFlight] = deque()
        # (text, slot, words, starts, ends) of each sentence waiting for the model
        pending: list[tuple[_InFlight, int, list[str], list[int], list[int]]] = []

        def flush() -> None:
            pending.sort(key=lambda p: len(p[2]))  # stable: ties keep their text order
            step = max(len(pending), 1) if self.batches_itself else batch_size
            for lo in range(0, len(pending), step):
                chunk = pending[lo : lo + step]
                preds = self.predict_words([p[2] for p in chunk])
                for (doc, k, words, starts, ends), (tags, scores) in zip(chunk, preds, strict=True):
                    doc.entities[k] = entities_from_offsets(doc.text, starts, ends, tags, scores)
                    if doc.sentences is not None:
                        offsets = {"offsets": list(zip(starts, ends, strict=True))}
                        doc.sentences[k] = Sentence(
                            words, list(tags), None, k, 0, offsets, list(scores)
                        )
                    doc.missing -= 1
            pending.clear()

        def finished() -> Iterator[_InFlight]:
            while queue and queue[0].read and queue[0].missing == 0:
                yield queue.popleft()

        for i, text in enumerate(texts):
            doc = _InFlight(check_text(text, f"text {i}"), sentences=[] if tagged else None)
            queue.append(doc)
            for words, starts, ends in _text_sentences(text):
                pending.append((doc, len(doc.entities), words, starts, ends))
                doc.entities.append(None)
                if doc.sentences is not None:
                    doc.sentences.append(None)
                doc.missing += 1
                if len(pending) >= pool_size:
                    flush()
                    yield from finished()
            doc.read = True
            if len(queue) >= pool_size:
                flush()
            yield from finished()
        flush()
        yield from finished()
