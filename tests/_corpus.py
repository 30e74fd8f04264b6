"""Tiny tagged corpora written as WikiSER files through serkit.files (the real writer)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from serkit.files import write
from serkit.tokens import Sentence


def write_tagged(path: Path, pairs: Iterable[tuple[str, str]]) -> Path:
    """``(space-separated words, space-separated tags)`` pairs -> a WikiSER file at ``path``."""
    sentences = [Sentence(text.split(), tags.split()) for text, tags in pairs]
    write(path, sentences, "wikiser")
    return path


#: Five sentences over six WikiSER types, one or two entities each: the training tests'
#: corpus (repeated a few times), also trained on under torchrun by test_ddp.
TOY = [
    ("i use python on linux .", "O O B-Language O B-Operating_System O"),
    ("we wrote it in java .", "O O O O B-Language O"),
    ("spring boot runs on windows", "B-Library I-Library O O B-Operating_System"),
    ("numpy arrays and a hash table", "B-Library O O O B-Data_Structure I-Data_Structure"),
    ("quick sort over my laptop", "B-Algorithm I-Algorithm O O B-Device"),
]

# Two corpora that label one word differently on purpose: A (WikiSER convention) calls
# tensorflow a Language and labels http a Protocol; B (Stack Overflow convention) calls it
# a Library and never annotates Protocol. Multi-corpus tests train on both.
CONVENTION_A = [("i use tensorflow on linux .", "O O B-Language O B-Operating_System O"),
                ("http is a protocol", "B-Protocol O O O"),
                ("tensorflow is fast", "B-Language O O")] * 8  # fmt: skip
CONVENTION_B = [("i use tensorflow on linux .", "O O B-Library O B-Operating_System O"),
                ("http over tcp", "O O O"),
                ("tensorflow is fast", "B-Library O O")] * 8  # fmt: skip
