"""Training data: read, the W1 validation slice, the label set."""

from __future__ import annotations

from collections.abc import Sequence

from serkit.labels import SCHEMES, bio_labels, repair_iob, split_tag
from serkit.types import Sentence


def val_slice(sentences: Sequence[Sentence]) -> tuple[list[Sentence], list[Sentence]]:
    """W1 split: the sentences at 0-based position % 10 == 9 are dev, the rest train."""
    train = [s for i, s in enumerate(sentences) if i % 10 != 9]
    dev = [s for i, s in enumerate(sentences) if i % 10 == 9]
    return train, dev


def read_labelled(path: str, fmt: str | None = None) -> list[Sentence]:
    """Sentences with IOB2 tags (stray ``I-`` repaired), empty sentences dropped."""
    from serkit.io import read_all

    out = []
    for s in read_all(path, fmt):
        if not s.tokens:
            continue
        if s.tags is None:
            from serkit.errors import DataFormatError

            raise DataFormatError(path, s.line, "training data needs a tag column")
        s.tags, _ = repair_iob(s.tags)
        out.append(s)
    return out


def label_set(sentences: Sequence[Sentence]) -> list[str]:
    """``O`` + B/I of each type; a known scheme's full type list when the data fits one."""
    seen = {split_tag(t)[1] for s in sentences for t in (s.tags or ())} - {None}
    fitting = [types for types in SCHEMES.values() if seen <= set(types)]
    if fitting:
        return bio_labels(min(fitting, key=len))
    return bio_labels(sorted(seen))
