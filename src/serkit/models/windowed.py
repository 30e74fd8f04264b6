"""The half the torch and ONNX runtimes share: words -> per-word logits -> decoded tags.

A runtime only says how to turn one padded batch of windows into logits (:meth:`logits`);
windowing, batching by length and decoding live here, so both runtimes tag identically.
"""

from __future__ import annotations

import dataclasses
from abc import abstractmethod
from collections.abc import Sequence

import numpy as np

from serkit.errors import SerkitError
from serkit.models.encoding import Encoder, decode, word_logits
from serkit.models.heads import Heads, View
from serkit.models.lexicons import LexiconFeature
from serkit.tagger import Tagger, check_word_batch


class WindowedTagger(Tagger):
    """Set by subclasses: ``encoder``, ``labels``, ``max_tokens`` and ``decoding``."""

    encoder: Encoder
    labels: list[str]
    max_tokens: int
    decoding: str
    #: A multi-head model's scheme (:mod:`serkit.models.heads`); None: the raw outputs.
    view: View | None = None
    #: The model's outputs, one name each (``labels`` is the view's when there is one).
    raw_labels: list[str] | None = None

    heads: Heads | None = None
    #: The lexicon feature by convention (None: no lexicon, or the encoder's one as given).
    lexicons: LexiconFeature | None = None

    def init_heads(self, config: dict) -> None:
        """Read the model's heads and schemes from its ``config.json`` and answer in the
        default scheme (a one-head model: its own labels, as always)."""
        self.raw_labels = list(self.labels)
        self.heads = Heads(config, self.raw_labels)
        self.set_view(self.heads.view())

    @property
    def schemes(self) -> list[str]:
        return self.heads.names if self.heads is not None else []

    def use_scheme(self, scheme: str | None) -> None:
        """Answer in the label set and convention ``scheme`` names (``wikiser``,
        ``softner-9``, ``sner``, ``developer``...; None: the model's default)."""
        if self.heads is None:
            raise SerkitError("this tagger has no heads to choose a scheme from")
        self.set_view(self.heads.view(scheme))

    def set_view(self, view: View | None) -> None:
        """Answer in ``view``'s labels from now on (None: the raw outputs)."""
        if self.raw_labels is None:
            self.raw_labels = list(self.labels)
        self.view = view
        self.labels = list(view.labels) if view is not None else list(self.raw_labels)
        if self.lexicons is not None and self.lexicons.own and self.encoder.scheme.lexicon:
            # This tagger's own encoder: a copy made by with_scheme keeps its convention.
            tags = self.lexicons.tagger(view.head if view is not None else None)
            if self.encoder.lexicon_tagger is not tags:
                self.encoder = dataclasses.replace(self.encoder, lexicon_tagger=tags)

    @abstractmethod
    def logits(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Padded window inputs -> logits ``(batch, seq, n_labels)``."""

    def _before_run(self) -> None:
        """Per-call runtime set-up (torch: thread count, eval mode)."""

    def word_logits(self, batch: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per-word label logits ``(n_words, n_labels)`` in :attr:`labels` order, undecoded:
        for ensembling, calibration or comparing decoders on one forward pass."""
        check_word_batch(batch)
        self._before_run()
        n_out = len(self.raw_labels if self.raw_labels is not None else self.labels)
        raw = word_logits(self.encoder, batch, self.logits, n_out, max_tokens=self.max_tokens)
        if self.view is None:
            return raw
        return [self.view.apply(r) for r in raw]

    def predict_words(self, batch: Sequence[Sequence[str]]) -> list[tuple[list[str], list[float]]]:
        return decode(self.word_logits(batch), self.labels, self.decoding)
