"""Entity-level evaluation: seqeval strict IOB2 and conlleval-style scores, per-type
tables, an error breakdown and a type confusion table, across label sets.

``evaluate(gold_tags, pred_tags)`` scores tag sequences; ``score_sentences`` first
checks that two readings hold the same tokens; ``predict_sentences`` tags gold
sentences with a model so it can be scored.
"""

from serkit.evaluate.breakdown import Breakdown, breakdown
from serkit.evaluate.core import check_aligned, evaluate, resolve_mapping, score_sentences
from serkit.evaluate.metrics import MODES, PRF, ModeScores
from serkit.evaluate.model import predict_sentences
from serkit.evaluate.report import EvalReport

__all__ = [
    "MODES", "PRF", "Breakdown", "EvalReport", "ModeScores", "breakdown", "check_aligned",
    "evaluate", "predict_sentences", "resolve_mapping", "score_sentences",
]  # fmt: skip
