"""serkit: software entity recognition with exact character offsets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from serkit.tokens import Entity, Sentence, Token

__version__ = "0.1.0"

if TYPE_CHECKING:
    from collections.abc import Iterable

    from serkit.render import Displayed
    from serkit.tagger import Tagger

__all__ = ["Entity", "Sentence", "Token", "Tagger", "displayed", "load", "__version__"]


def load(path: str | None = None, **kwargs) -> Tagger:
    """Load a saved serkit model (the shipped default when ``path`` is None)."""
    from serkit.models.registry import load_tagger

    return load_tagger(path, **kwargs)


def displayed(text: str, entities: Iterable[Entity]) -> Displayed:
    """``text`` with its ``entities`` highlighted in a notebook (``serkit.render.displayed``)."""
    from serkit.render import displayed

    return displayed(text, entities)
