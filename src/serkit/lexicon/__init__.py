"""Software-name lexicons: build from labelled corpora, edit as TSV, match fast, weak-label.

``Lexicon.build(sentences)`` counts labelled token sequences per type and their untagged
occurrences; ``Lexicon.save/load`` use a TSV a person can edit; ``lexicon.matcher(...)``
gives leftmost-longest IOB2 tags and CRF features; ``serkit.lexicon.weak`` labels text
and token files with it.
"""

from serkit.lexicon.core import (
    CASE_POLICIES,
    COLUMNS,
    RATIO_BUCKETS,
    CasePolicy,
    Entry,
    Lexicon,
    ratio_bucket,
)
from serkit.lexicon.jackknife import fold_of, jackknife
from serkit.lexicon.matcher import Match, Matcher

__all__ = [
    "fold_of",
    "jackknife",
    "CASE_POLICIES", "COLUMNS", "RATIO_BUCKETS", "CasePolicy", "Entry", "Lexicon", "Match",
    "Matcher", "ratio_bucket",
]  # fmt: skip
