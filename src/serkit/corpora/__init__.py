"""Training corpora with their own label sets (declarations) and the label spaces that
combine them (modes: single, merge, partial, multihead)."""

from serkit.corpora.declare import BUILTIN, SERKIT_TYPES, CorpusSpec, Declaration, load_declaration
from serkit.corpora.space import DEVELOPER, MODES, Head, LabelSpace

__all__ = [
    "BUILTIN",
    "DEVELOPER",
    "MODES",
    "SERKIT_TYPES",
    "CorpusSpec",
    "Declaration",
    "Head",
    "LabelSpace",
    "load_declaration",
]
