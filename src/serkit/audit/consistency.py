"""Corpus consistency: does the rest of the corpus label this surface the way this
sentence does?

The lexicon of the corpus itself (``serkit.lexicon.Lexicon.build``) counts, per surface
form, its labelled occurrences per type and its untagged ones: the labelled ratio. A
span's labelling is judged against the *other* occurrences only (leave-one-out), so a
form seen once supports nothing. The lexicon matcher (majority type, forms labelled at
least twice and more often than not) also proposes labellings the models may not.
"""

from __future__ import annotations

from collections.abc import Sequence

from serkit.audit.corpus import AuditCorpus
from serkit.labels import OUTSIDE, spans
from serkit.lexicon import Lexicon
from serkit.tokens import Sentence

#: What the matcher proposes: forms labelled >= MIN_COUNT times and in >= MIN_RATIO of
#: their occurrences (majority type).
MIN_COUNT, MIN_RATIO = 2, 0.5


class Consistency:
    """Leave-one-out label support of surface forms, and the lexicon's proposals."""

    name = "consistency"

    def __init__(self, corpus: AuditCorpus) -> None:
        self.corpus = corpus
        self.lexicon = Lexicon.build(
            [Sentence(a.tokens, a.tags, a.sentence.doc_id) for a in corpus.sentences]
        )
        self._matcher = self.lexicon.matcher(
            case="sensitive", min_ratio=MIN_RATIO, min_count=MIN_COUNT
        )

    def proposal(self, index: int) -> list[str]:
        """The lexicon's labelling of a sentence (leftmost-longest, majority types)."""
        return self._matcher.tags(self.corpus.sentences[index].tokens)

    def support(self, index: int, start: int, end: int, typ: str | None) -> float:
        """Share of the *other* occurrences of ``tokens[start:end]`` labelled ``typ``
        (``None``: left untagged), with one pseudo-occurrence so that few occurrences
        weigh little: ``count / (others + 1)``."""
        a = self.corpus.sentences[index]
        entry = self.lexicon.entries.get(" ".join(a.tokens[start:end]))
        if entry is None:
            return 0.0
        counts = dict(entry.counts)
        untagged = entry.untagged
        if all(t == OUTSIDE for t in a.tags[start:end]):
            untagged -= 1
        else:
            own = next((t for s, e, t in spans(a.tags) if s == start and e == end), None)
            if own is not None:
                counts[own] = counts.get(own, 0) - 1
        others = sum(counts.values()) + untagged
        hits = untagged if typ is None else counts.get(typ, 0)
        return max(hits, 0) / (max(others, 0) + 1)

    def _labelling_support(
        self, index: int, labelled: Sequence[tuple[int, int, str]],
        other: Sequence[tuple[int, int, str]],
    ) -> float:  # fmt: skip
        if labelled:
            return sum(self.support(index, s, e, t) for s, e, t in labelled) / len(labelled)
        return sum(self.support(index, s, e, None) for s, e, _ in other) / max(len(other), 1)

    def score(
        self, index: int, start: int, given: Sequence[str], suggested: Sequence[str]
    ) -> float:
        """How much more the rest of the corpus supports the suggested labelling of the
        region ``[start, start + len(given))`` than the given one, in [-1, 1] (negative:
        the corpus labels this surface as given, evidence against the suggestion)."""
        g = [(start + s, start + e, t) for s, e, t in spans(given)]
        p = [(start + s, start + e, t) for s, e, t in spans(suggested)]
        diff = self._labelling_support(index, p, g) - self._labelling_support(index, g, p)
        return min(max(diff, -1.0), 1.0)
