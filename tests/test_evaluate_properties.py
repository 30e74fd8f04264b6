"""Property tests: serkit's evaluation against seqeval, its invariants, mappings and the CLI.

Zero division follows seqeval's default (``zero_division="warn"``, i.e. 0): a type with no
prediction has precision 0, one with no gold entity recall 0, F1 is 0 when P + R = 0. The
one place serkit differs on purpose: with no entity on either side seqeval's macro average
is the mean of an empty list (nan); serkit reports 0 (README, "Evaluation protocols").
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from serkit.cli.main import main
from serkit.evaluate import evaluate
from serkit.evaluate.breakdown import GOLD_CATEGORIES, PRED_CATEGORIES
from serkit.labels import OUTSIDE, map_tags, repair_iob, spans

TYPE_POOL = ["A", "B", "Data_Structure", "Foo-Bar"]
FAST = settings(max_examples=60, deadline=None)


@st.composite
def corpora(draw, min_types: int = 2):
    """(types, gold, pred): aligned sentences of any O/B-/I- mix, stray I- and empties included."""
    types = draw(st.lists(st.sampled_from(TYPE_POOL), min_size=min_types, max_size=4, unique=True))
    tag = st.sampled_from(["O", "O", *(f"{p}-{t}" for t in types for p in "BI")])
    lengths = draw(st.lists(st.integers(0, 9), max_size=5))
    gold = [draw(st.lists(tag, min_size=n, max_size=n)) for n in lengths]
    pred = [draw(st.lists(tag, min_size=n, max_size=n)) for n in lengths]
    return types, gold, pred


def seqeval_report(gold, pred, **kw) -> dict:
    with warnings.catch_warnings():  # zero-division warnings: seqeval then uses 0
        warnings.simplefilter("ignore")
        # seqeval rejects a corpus of no sentence; one empty sentence is the same corpus
        return classification_report(gold or [[]], pred or [[]], output_dict=True, **kw)


def assert_matches_seqeval(ours, gold, pred, **kw) -> None:
    """Micro, macro and per-type P/R/F1 and counts equal seqeval's classification_report."""
    ref = seqeval_report(gold, pred, **kw)
    # predictions per type = support of the report with the sides swapped
    swapped = seqeval_report(pred, gold, **kw)
    types = sorted(k for k in ref if not k.endswith(" avg"))
    assert sorted(ours.per_type) == types
    rows = [(t, ours.per_type[t]) for t in types] + [("micro avg", ours.micro)]
    for name, s in rows:
        r = ref[name]
        assert (s.precision, s.recall, s.f1) == pytest.approx(
            (r["precision"], r["recall"], r["f1-score"]), abs=1e-12
        ), name
        assert s.gold == r["support"] and s.pred == swapped[name]["support"], name
        assert s.tp == round(s.recall * s.gold), name
    if types:
        m = ref["macro avg"]
        assert (ours.macro.precision, ours.macro.recall, ours.macro.f1) == pytest.approx(
            (m["precision"], m["recall"], m["f1-score"]), abs=1e-12
        )
    else:  # seqeval: nan (mean of nothing); serkit: 0
        assert ours.macro.f1 == ours.micro.f1 == 0.0


# -- 1. against seqeval -------------------------------------------------------------------


@FAST
@given(corpora())
def test_strict_equals_seqeval_strict_on_repaired_tags(case):
    _, gold, pred = case
    r = evaluate(gold, pred)
    fixed_g = [repair_iob(t)[0] for t in gold]
    fixed_p = [repair_iob(t)[0] for t in pred]
    assert_matches_seqeval(r.scores["strict"], fixed_g, fixed_p, mode="strict", scheme=IOB2)
    assert r.repaired == {
        "gold": sum(repair_iob(t)[1] for t in gold),
        "pred": sum(repair_iob(t)[1] for t in pred),
    }


@FAST
@given(corpora())
def test_default_equals_seqeval_default_on_raw_tags(case):
    _, gold, pred = case
    r = evaluate(gold, pred, mode="default")
    assert_matches_seqeval(r.scores["default"], gold, pred)
    assert r.per_type == r.scores["default"].per_type and r.f1 == r.scores["default"].micro.f1


def test_no_entities_anywhere_scores_zero_not_nan():
    r = evaluate([[], ["O", "O"]], [[], ["O", "O"]])
    for s in r.scores.values():
        assert s.micro.f1 == s.macro.f1 == s.macro.precision == 0.0 and s.per_type == {}


def test_type_with_edge_hyphen_is_kept_as_written():
    """seqeval's strict Token strips '-' around a type ('B--X' -> 'X'), its default mode does
    not: serkit keeps types as written in both modes, so the breakdown agrees with them."""
    r = evaluate([["B-X", "O"]], [["B--X", "O"]])
    for s in r.scores.values():
        assert s.micro.tp == 0 and sorted(s.per_type) == ["-X", "X"]
    assert r.breakdown.gold["wrong_type"] == 1


# -- 2. invariants -------------------------------------------------------------------------


def _category(span, other):
    """Brute-force category of one span against the other side's spans."""
    s, e, t = span
    same = [o for o in other if (o[0], o[1]) == (s, e)]
    if same:
        return "correct" if same[0][2] == t else "wrong_type"
    return "wrong_boundary" if any(o[0] < e and s < o[1] for o in other) else None


@FAST
@given(corpora(min_types=1))
def test_invariants_breakdown_and_confusion(case):
    _, gold, pred = case
    r = evaluate(gold, pred)
    for s in r.scores.values():
        for prf in [s.micro, s.macro, *s.per_type.values()]:
            assert all(0.0 <= v <= 1.0 for v in (prf.precision, prf.recall, prf.f1))
        for prf in [s.micro, *s.per_type.values()]:
            assert prf.tp <= prf.pred and prf.tp <= prf.gold
        assert s.micro.tp == sum(p.tp for p in s.per_type.values())
        assert s.micro.gold == sum(p.gold for p in s.per_type.values())
        assert s.micro.pred == sum(p.pred for p in s.per_type.values())
    strict = r.scores["strict"]
    assert r.scores["default"].micro == strict.micro  # conlleval reads stray I- as the repair

    # every gold / predicted entity in exactly one category, checked by brute force
    want_g, want_p = {c: 0 for c in GOLD_CATEGORIES}, {c: 0 for c in PRED_CATEGORIES}
    for g_tags, p_tags in zip(gold, pred, strict=True):
        g_sp, p_sp = spans(g_tags), spans(p_tags)
        for sp in g_sp:
            want_g[_category(sp, p_sp) or "missed"] += 1
        for sp in p_sp:
            want_p[_category(sp, g_sp) or "spurious"] += 1
    b = r.breakdown
    assert dict(b.gold) | {c: b.gold[c] for c in GOLD_CATEGORIES} == want_g
    assert dict(b.pred) | {c: b.pred[c] for c in PRED_CATEGORIES} == want_p
    fn, fp = strict.micro.gold - strict.micro.tp, strict.micro.pred - strict.micro.tp
    assert b.gold["wrong_type"] + b.gold["wrong_boundary"] + b.gold["missed"] == fn
    assert b.pred["wrong_type"] + b.pred["wrong_boundary"] + b.pred["spurious"] == fp

    m = b.matrix()
    labels = [*b.types, OUTSIDE]
    assert list(m) == labels and b.to_dict()["confusion"]["labels"] == labels
    assert m[OUTSIDE][OUTSIDE] == 0
    assert sum(m[t][t] for t in b.types) == b.gold["correct"]
    assert sum(m[g][p] for g in b.types for p in b.types if g != p) == b.gold["wrong_type"]
    assert sum(m[g][OUTSIDE] for g in b.types) == b.gold["missed"] + b.gold["wrong_boundary"]
    assert sum(m[OUTSIDE][p] for p in b.types) == b.pred["spurious"] + b.pred["wrong_boundary"]
    for t in b.types:
        prf = strict.per_type[t]
        assert m[t][t] == prf.tp
        assert sum(m[t].values()) == prf.gold
        assert sum(row[t] for row in m.values()) == prf.pred


@FAST
@given(corpora(min_types=1))
def test_gold_against_itself_is_perfect(case):
    _, gold, _ = case
    r = evaluate(gold, gold)
    if any(spans(t) for t in gold):
        for s in r.scores.values():
            assert s.micro.f1 == s.macro.f1 == 1.0
            assert all(p.f1 == 1.0 for p in s.per_type.values())
    assert (
        r.breakdown.gold["correct"]
        == sum(len(spans(t)) for t in gold)
        == sum(r.breakdown.gold.values())
    )


# -- 3. mappings -------------------------------------------------------------------------


@st.composite
def mapped_corpora(draw):
    types, gold, pred = draw(corpora())
    targets = st.sampled_from(["A", "C", "Merged", None, "O"])
    # a type left out of the mapping is dropped, like one mapped to None / "O"
    mapping = {t: draw(targets) for t in types if draw(st.booleans()) or t == types[0]}
    return mapping, gold, pred


def _mapped_spans(tags, mapping):
    return [(s, e, mapping[t]) for s, e, t in spans(tags) if mapping.get(t) not in (None, "O")]


@FAST
@given(mapped_corpora())
def test_mapping_equals_mapping_by_hand(case):
    """Mapping keeps every span and only renames or drops it, in both modes, on both sides."""
    mapping, gold, pred = case
    for tags in gold + pred:
        assert spans(map_tags(tags, mapping)) == _mapped_spans(tags, mapping)
    r = evaluate(gold, pred, mapping=mapping, gold_mapping=mapping)
    by_hand = evaluate([map_tags(t, mapping) for t in gold], [map_tags(t, mapping) for t in pred])
    assert r.scores == by_hand.scores
    assert r.breakdown == by_hand.breakdown
    assert r.scores["default"].micro == r.scores["strict"].micro
    dropped = {t for t in TYPE_POOL if mapping.get(t) in (None, "O")} - set(mapping.values())
    assert not dropped & set(r.scores["strict"].per_type)
    assert not dropped & set(r.breakdown.types)


def test_mapping_merging_types_keeps_spans_apart():
    """B-A I-B with A, B -> C is two C entities (the stray I-B opens one), not one B-C I-C."""
    mapping = {"A": "C", "B": "C"}
    gold = [["B-A", "I-B", "O", "I-A", "I-B"]]
    assert map_tags(gold[0], mapping) == ["B-C", "B-C", "O", "I-C", "B-C"]
    r = evaluate(gold, [["B-C", "B-C", "O", "B-C", "B-C"]], gold_mapping=mapping)
    for s in r.scores.values():
        assert (s.micro.tp, s.micro.gold, s.micro.pred) == (4, 4, 4)
    assert r.repaired == {"gold": 3, "pred": 0}  # counted on the tags as given


def test_mapping_a_type_inside_an_entity_to_o():
    """B-A I-B I-A with B -> O: the stray I-B and the I-A after it are entities of their own,
    so dropping B leaves A (0, 1) and A (2, 3), never one A entity across the gap."""
    mapping = {"A": "A"}
    tags = ["B-A", "I-B", "I-A"]
    assert map_tags(tags, mapping) == ["B-A", "O", "I-A"]
    r = evaluate([tags], [["B-A", "O", "B-A"]], gold_mapping=mapping)
    for s in r.scores.values():
        assert (s.micro.tp, s.micro.gold, s.micro.pred) == (2, 2, 2)


def test_mapping_to_empty_string_drops_the_type():
    assert map_tags(["B-A", "I-A", "B-B"], {"A": "", "B": "B"}) == ["O", "O", "B-B"]
    r = evaluate([["B-B", "O"]], [["B-B", "B-A"]], mapping={"A": "", "B": "B"})
    assert r.micro.f1 == 1.0


# -- 4. the CLI carries the library's numbers -------------------------------------------


def _write(path: Path, sents: list[list[str]]) -> Path:
    blocks = ["\n".join(f"w{i}\t{t}" for i, t in enumerate(tags)) for tags in sents if tags]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def _run(args, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr().out
    assert exc.value.code in (0, None)
    return out


def _markdown_cells(md: str) -> dict[str, dict[str, list[str]]]:
    """Section title -> row name -> the row's other cells."""
    out: dict[str, dict[str, list[str]]] = {}
    for line in md.splitlines():
        if line.startswith("### "):
            section = out.setdefault(line[4:].split(" (")[0], {})
        elif line.startswith("| "):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            section[cells[0]] = cells[1:]
    return out


# capsys is read empty after every run, so sharing it across examples is safe
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=mapped_corpora(), mode=st.sampled_from(["strict", "default"]), both=st.booleans())
def test_cli_json_and_markdown_carry_the_library_numbers(case, mode, both, capsys):
    mapping, gold, pred = case
    gold = [t for t in gold if t]  # the CoNLL files hold no empty sentence
    pred = [t for t in pred if t]
    with tempfile.TemporaryDirectory() as d:
        g, p = _write(Path(d) / "g.conll", gold), _write(Path(d) / "p.conll", pred)
        mfile = Path(d) / "map.json"
        mfile.write_text(json.dumps({k: v or "O" for k, v in mapping.items()}))
        args = ["eval", str(g), str(p), "--mode", mode, "--map", str(mfile)]
        args += ["--gold-map", str(mfile)] if both else []
        d_json = json.loads(_run([*args, "--json"], capsys))
        md = _run([*args, "--markdown"], capsys)
    lib = evaluate(gold, pred, mapping=mapping, gold_mapping=mapping if both else None, mode=mode)
    assert d_json == json.loads(json.dumps(lib.to_dict()))
    for m in ("strict", "default"):
        mine = d_json["modes"][m]["micro"]
        s = lib.scores[m].micro
        assert mine["f1"] == pytest.approx(s.f1, abs=1e-6) and mine["tp"] == s.tp
    assert d_json["micro"] == d_json["modes"][mode]["micro"]
    sections = _markdown_cells(md)
    cells = sections["Per type"]
    for t, s in lib.per_type.items():
        assert cells[t][:5] == [f"{s.precision:.4f}", f"{s.recall:.4f}", f"{s.f1:.4f}",
                                str(s.gold), str(s.pred)]  # fmt: skip
    mi = lib.micro
    assert cells["micro avg"] == [f"{mi.precision:.4f}", f"{mi.recall:.4f}", f"{mi.f1:.4f}",
                                  str(mi.gold), str(mi.pred)]  # fmt: skip
    strict = lib.scores["strict"]
    cells = sections["Entity-level scores"]
    for m, name in (("strict", "strict (IOB2, repaired)"), ("default", "default (conlleval)")):
        sc = lib.scores[m]
        assert cells[name] == [f"{v:.4f}" for v in (
            sc.micro.precision, sc.micro.recall, sc.micro.f1,
            sc.macro.precision, sc.macro.recall, sc.macro.f1,
        )]  # fmt: skip
    b = lib.breakdown
    cells = sections["Errors"]
    assert cells["total"] == [str(strict.micro.gold), str(strict.micro.pred)]
    assert cells["correct"] == [str(b.gold["correct"]), str(b.pred["correct"])]
    assert cells["missed"] == [str(b.gold["missed"]), "-"]
    assert cells["spurious"] == ["-", str(b.pred["spurious"])]
    cells = sections["Confusion"]
    for g_type, row in b.matrix().items():
        want = [str(n) if (g_type, p_type) != ("O", "O") else "-" for p_type, n in row.items()]
        assert cells[g_type] == want
