"""Tag gold sentences with a model, for ``serkit eval --model``.

Sentences are sorted by length so each batch pads little, sent in batches of a
fixed number of sentences, and put back in their original order.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tqdm import tqdm

from serkit.errors import MismatchError
from serkit.tagger import Tagger, check_batch_size
from serkit.tokens import Sentence


def predict_sentences(
    tagger: Tagger,
    sentences: Sequence[Sentence],
    *,
    batch_size: int = 64,
    progress: bool = True,
) -> list[Sentence]:
    """Copies of ``sentences`` (same tokens, ids, lines) carrying the tagger's tags."""
    check_batch_size(batch_size)
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i].tokens))
    tags: list[list[str] | None] = [None] * len(sentences)
    with tqdm(
        total=len(sentences), desc="tagging", unit="sent", file=sys.stderr,
        disable=not progress, dynamic_ncols=True,
    ) as bar:  # fmt: skip
        for lo in range(0, len(order), batch_size):
            chunk = order[lo : lo + batch_size]
            todo = [i for i in chunk if sentences[i].tokens]
            for i in chunk:
                if not sentences[i].tokens:
                    tags[i] = []
            if todo:
                preds = tagger.predict_words([list(sentences[i].tokens) for i in todo])
                if len(preds) != len(todo):
                    raise MismatchError(
                        f"tagger returned {len(preds)} results for {len(todo)} sentences"
                    )
                for i, (t, _scores) in zip(todo, preds, strict=True):
                    if len(t) != len(sentences[i].tokens):
                        raise MismatchError(
                            f"sentence {i} (line {sentences[i].line}): tagger returned "
                            f"{len(t)} tags for {len(sentences[i].tokens)} tokens"
                        )
                    tags[i] = list(t)
            bar.update(len(chunk))
    return [
        Sentence(list(s.tokens), tags[i], s.doc_id, s.index, s.line, dict(s.meta))
        for i, s in enumerate(sentences)
    ]
