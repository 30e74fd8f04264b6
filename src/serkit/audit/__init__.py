"""``serkit audit``: find label errors in a corpus, rank them at span level, fix them.

``read_corpus`` -> ``audit`` (signals -> candidates -> ranked ``Finding`` list) ->
``serkit.audit.report`` (JSONL, Markdown, HTML) and ``serkit.audit.fix`` (corrected copy
in the input's format plus a change log).
"""

from serkit.audit.core import AuditResult, audit, combine
from serkit.audit.corpus import AuditCorpus, AuditSentence, read_corpus
from serkit.audit.findings import KINDS, Finding

__all__ = [
    "KINDS", "AuditCorpus", "AuditResult", "AuditSentence", "Finding", "audit", "combine",
    "read_corpus",
]  # fmt: skip
