"""``evaluate`` and ``score_sentences``: check the inputs line up, normalise tags, score.

Tags are validated (``O``/``B-T``/``I-T`` only), stray ``I-`` are repaired to ``B-``
and counted, and predicted (optionally gold) types are mapped into one label set
before anything is scored, so every number in the report describes the same entities.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from serkit.errors import MismatchError, SerkitError
from serkit.evaluate.breakdown import breakdown
from serkit.evaluate.metrics import MODES, PRF, mode_scores
from serkit.evaluate.report import EvalReport
from serkit.labels import load_mapping, map_tags, mapping_notes, repair_iob, split_tag
from serkit.tokens import Sentence

MappingSpec = Mapping[str, str | None] | str | Path | None


def resolve_mapping(spec: MappingSpec) -> dict[str, str | None] | None:
    """A mapping dict from a dict, a built-in ``"src:dst"`` spec or a TOML/JSON file."""
    if spec is None:
        return None
    if isinstance(spec, Mapping):  # as a file would read: "" and "O" drop a type
        return {k: (None if not v or v == "O" else v) for k, v in spec.items()}
    return load_mapping(spec)


def _tag_sequences(side: str, sequences: Iterable[Sequence[str]]) -> list[Sequence[str]]:
    """``sequences`` as a list of tag sequences, one per sentence (any iterable is read
    once). A string where a sentence should be is refused rather than read letter by
    letter: seqeval's flat ``["B-X", "O"]`` is one sentence, ``[["B-X", "O"]]``."""
    if isinstance(sequences, str | bytes | bytearray) or not isinstance(sequences, Iterable):
        raise TypeError(
            f"{side} must be a list of tag sequences, one per sentence, not "
            f"{type(sequences).__name__}"
        )
    out: list[Sequence[str]] = []
    for i, tags in enumerate(sequences):
        if isinstance(tags, str | bytes | bytearray):
            raise TypeError(
                f"{side} sentence {i} is a string ({tags[:40]!r}), not a sequence of tags: "
                "give one list of tags per sentence, e.g. [['B-Library', 'O']]"
            )
        if not isinstance(tags, Sequence):
            if not isinstance(tags, Iterable):
                raise TypeError(
                    f"{side} sentence {i} is a {type(tags).__name__}, not a sequence of tags"
                )
            tags = list(tags)
        out.append(tags)
    return out


def _prepare(
    side: str, sequences: Sequence[Sequence[str]], mapping: Mapping[str, str | None] | None
) -> tuple[list[list[str]], list[list[str]], int]:
    """(raw tags mapped, repaired tags mapped, number of stray I- repaired)."""
    raw_out: list[list[str]] = []
    fixed_out: list[list[str]] = []
    n_fixed = 0
    for i, tags in enumerate(sequences):
        try:
            fixed, n = repair_iob(tags)
        except ValueError as e:
            raise SerkitError(f"{side} sentence {i}: {e}") from None
        n_fixed += n
        raw = list(tags)
        if mapping is not None:
            raw, fixed = map_tags(raw, mapping), map_tags(fixed, mapping)
        raw_out.append(raw)
        fixed_out.append(fixed)
    return raw_out, fixed_out, n_fixed


def evaluate(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    *,
    mapping: MappingSpec = None,
    gold_mapping: MappingSpec = None,
    mode: str = "strict",
) -> EvalReport:
    """Score predicted IOB2 tag sequences against gold ones, entity by entity.

    ``mapping`` maps predicted types into the gold label set (types it maps to
    ``None``/``"O"`` or does not list are dropped); ``gold_mapping`` does the same for
    gold, e.g. StackOverflow NER gold scored as SoftNER-9. ``mode`` picks which of
    the two seqeval modes the report leads with; both are always computed.
    """
    if mode not in MODES:
        raise SerkitError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
    gold, pred = _tag_sequences("gold", gold), _tag_sequences("prediction", pred)
    if len(gold) != len(pred):
        raise MismatchError(f"gold has {len(gold)} sentences, prediction has {len(pred)}")
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if len(g) != len(p):
            raise MismatchError(f"sentence {i}: gold has {len(g)} tags, prediction has {len(p)}")
    pred_map, gold_map = resolve_mapping(mapping), resolve_mapping(gold_mapping)
    gold_raw, gold_fixed, gold_n = _prepare("gold", gold, gold_map)
    pred_raw, pred_fixed, pred_n = _prepare("prediction", pred, pred_map)
    notes = [
        note
        for side, seqs, table in (("prediction", pred, pred_map), ("gold", gold, gold_map))
        for note in mapping_notes(table, (split_tag(t)[1] for seq in seqs for t in seq), side)
    ]

    scores = {
        "strict": mode_scores("strict", gold_fixed, pred_fixed),
        "default": mode_scores("default", gold_raw, pred_raw),
    }
    notes += _zero_division_notes(scores["strict"].micro)
    errors = breakdown(gold_fixed, pred_fixed)
    assert errors.gold["correct"] == scores["strict"].micro.tp, "breakdown disagrees with seqeval"
    return EvalReport(
        mode=mode,
        scores=scores,
        breakdown=errors,
        sentences=len(gold),
        tokens=sum(len(g) for g in gold),
        repaired={"gold": gold_n, "pred": pred_n},
        mapping=pred_map,
        gold_mapping=gold_map,
        notes=notes,
    )


def _zero_division_notes(micro: PRF) -> list[str]:
    """Say where a score is 0/0 (reported as 0, as seqeval does), so an all-zero row is not
    read as a measured result: no predicted entity leaves precision undefined, no gold
    entity recall (and with neither, the macro average has no type to average)."""
    notes = []
    if micro.gold == 0:
        notes.append("gold holds no entities: recall is 0/0, reported as 0")
    if micro.pred == 0:
        notes.append("the predictions hold no entities: precision is 0/0, reported as 0")
    return notes


def check_aligned(gold: Sequence[Sentence], pred: Sequence[Sentence]) -> None:
    """Raise ``MismatchError`` naming the first sentence whose tokens differ."""

    def where(i: int, g: Sentence, p: Sentence) -> str:
        doc = f" of {g.doc_id}" if g.doc_id else ""
        return f"sentence {i}{doc} (gold line {g.line}, prediction line {p.line})"

    for i, (g, p) in enumerate(zip(gold, pred, strict=False)):
        if g.tokens == p.tokens:
            continue
        for j, (a, b) in enumerate(zip(g.tokens, p.tokens, strict=False)):
            if a != b:
                raise MismatchError(
                    f"tokens differ at {where(i, g, p)}, token {j}: gold {a!r}, prediction {b!r}"
                )
        raise MismatchError(
            f"tokens differ at {where(i, g, p)}: gold has {len(g.tokens)} tokens, "
            f"prediction has {len(p.tokens)}"
        )
    if len(gold) != len(pred):
        n = min(len(gold), len(pred))
        extra, side = (gold, "gold") if len(gold) > n else (pred, "prediction")
        raise MismatchError(
            f"gold has {len(gold)} sentences, prediction has {len(pred)}: "
            f"{side} sentence {n} (line {extra[n].line}) has no counterpart"
        )
    for side, sents in (("gold", gold), ("prediction", pred)):
        for i, s in enumerate(sents):
            if s.tags is None:
                raise SerkitError(f"{side} sentence {i} (line {s.line}) has no tags")


def score_sentences(gold: Sequence[Sentence], pred: Sequence[Sentence], **kw) -> EvalReport:
    """``evaluate`` on two readings of the same tokens; refuses to score misaligned input."""
    check_aligned(gold, pred)
    return evaluate([s.tags or [] for s in gold], [s.tags or [] for s in pred], **kw)
