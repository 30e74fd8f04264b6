"""The lexicon feature of a model folder, in the convention of the scheme asked for.

A model trained on several corpora reads one merged lexicon (``lexicon.tsv``) in training.
Its folder may also hold each corpus's own lexicon (``lexicon.<head>.tsv``, written by the
trainer of a multi-head model). A scheme whose primary head has one reads the merged
lexicon typed as that corpus types it (:meth:`serkit.lexicon.Lexicon.in_convention`):
asked for Stack Overflow's convention, the lexicon feature says Library for TensorFlow,
as Stack Overflow NER does, not Language, as WikiSER does. Without head lexicons every
scheme reads the merged lexicon, as before.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from serkit.errors import ModelLoadError
from serkit.lexicon import Lexicon
from serkit.models import folder

LexiconTagger = Callable[[Sequence[str]], list[str]]


class LexiconFeature:
    """The merged lexicon and the heads' own; one matcher per convention, built on first
    use and shared by every copy of the tagger (``with_scheme``)."""

    def __init__(
        self,
        merged: Lexicon,
        own: Mapping[str, Lexicon | Callable[[], Lexicon]] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.merged = merged
        self.own = dict(own or {})
        self.options = dict(options or {})
        self._taggers: dict[str | None, LexiconTagger] = {}
        self._lock = threading.Lock()

    def convention(self, head: str | None) -> str | None:
        """The head whose lexicon a scheme of ``head`` reads (None: the merged one)."""
        return head if head in self.own else None

    def tagger(self, head: str | None = None) -> LexiconTagger:
        """``tokens -> IOB2 lexicon tags`` in ``head``'s convention."""
        key = self.convention(head)
        with self._lock:
            tags = self._taggers.get(key)
            if tags is None:
                lex = self.merged if key is None else self.merged.in_convention(self._own(key))
                tags = self._taggers[key] = lex.matcher(**self.options).tags
        return tags

    def initial_tagger(self) -> LexiconTagger | None:
        """The encoder's tagger before a scheme is chosen: the merged lexicon's, or None
        when heads have their own (the scheme's view builds only the one it reads)."""
        return None if self.own else self.tagger()

    def _own(self, head: str) -> Lexicon:
        """Head ``head``'s lexicon, read on first use (a scheme not asked for costs nothing)."""
        lex = self.own[head]
        if callable(lex):
            lex = self.own[head] = lex()
        return lex

    def save(self, model_dir: str | Path) -> None:
        """Write ``lexicon.tsv`` and each head's ``lexicon.<head>.tsv`` into ``model_dir``."""
        d = Path(model_dir)
        self.merged.save(d / folder.LEXICON)
        for head in sorted(self.own):
            self._own(head).save(d / folder.head_lexicon(head))


def _read(model_dir: Path, name: str, card: Mapping[str, Any] | None) -> Lexicon:
    path = folder.checked_path(model_dir, name, card, folder.MAX_LEXICON_BYTES)
    try:
        return Lexicon.load(path)
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{model_dir}: unreadable {name}: {e}") from e


def load_lexicons(
    model_dir: str | Path,
    config: Mapping[str, Any],
    card: Mapping[str, Any] | None,
    options: Mapping[str, Any],
) -> LexiconFeature:
    """The lexicons of a model folder, each checked against the card before it is parsed:
    ``lexicon.tsv`` (required) and the head lexicons of the heads ``config.json`` names."""
    d = Path(model_dir)
    if not (d / folder.LEXICON).is_file():
        raise ModelLoadError(f"{d}: lexicon features but no {folder.LEXICON}")
    merged = _read(d, folder.LEXICON, card)
    own = {}
    for head in config.get("serkit_heads") or []:
        name = head.get("name") if isinstance(head, Mapping) else None
        if not isinstance(name, str) or not name:
            continue
        file = folder.head_lexicon(name)
        if (d / file).is_file():
            own[name] = functools.partial(_read, d, file, card)
    return LexiconFeature(merged, own, options)
