"""serkit.evaluate and `serkit eval`: strict/default scores, error breakdown, confusion,
label-set mapping, token-mismatch errors, and the --model path with a fake tagger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import f1_score, precision_score, recall_score
from seqeval.scheme import IOB2

import serkit
from serkit.cli.main import main
from serkit.errors import MismatchError, SerkitError
from serkit.evaluate import evaluate, predict_sentences, score_sentences
from serkit.labels import WIKISER_TO_SOFTNER9, repair_iob, spans
from serkit.tagger import Tagger
from serkit.tokens import Sentence

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# One sentence per error category (gold, pred), checked by hand below.
HAND_GOLD = [
    ["B-Library", "I-Library", "O", "B-Language"],  # Library correct; Language -> wrong type
    ["B-Application", "I-Application", "O", "O"],  # wrong boundary (pred is 1 token)
    ["O", "B-Device", "O", "O"],  # missed
    ["O", "O", "O", "O"],  # spurious Algorithm in pred
]
HAND_PRED = [
    ["B-Library", "I-Library", "O", "B-Library"],
    ["B-Application", "O", "O", "O"],
    ["O", "O", "O", "O"],
    ["O", "O", "B-Algorithm", "I-Algorithm"],
]


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    code = exc.value.code
    return (0 if code is None else code), out.out, out.err


def write_wikiser(path: Path, sents: list[tuple[list[str], list[str]]]) -> Path:
    lines = []
    for toks, tags in sents:
        lines.append("<s>")
        lines += [f"{t}\t{g}" for t, g in zip(toks, tags, strict=True)]
        lines.append("</s>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_conll(path: Path, sents: list[tuple[list[str], list[str]]]) -> Path:
    blocks = [
        "\n".join(f"{t}\t{g}" for t, g in zip(toks, tags, strict=True)) for toks, tags in sents
    ]
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


TOKS = [
    ["I", "use", "Python", "on", "Ubuntu", "Linux"],
    ["numpy", "arrays", "are", "fast"],
    ["Install", "the", "Nvidia", "GPU", "driver"],
]
GOLD_TAGS = [
    ["O", "O", "B-Language", "O", "B-Operating_System", "I-Operating_System"],
    ["B-Library", "B-Data_Structure", "O", "O"],
    ["O", "O", "B-Device", "I-Device", "O"],
]


# -- library -------------------------------------------------------------------------


def test_gold_against_itself_is_perfect():
    r = evaluate(GOLD_TAGS, GOLD_TAGS)
    for mode in ("strict", "default"):
        assert r.scores[mode].micro.f1 == 1.0
        assert r.scores[mode].macro.f1 == 1.0
    assert r.breakdown.gold["correct"] == 5 == sum(r.breakdown.gold.values())
    matrix = r.breakdown.matrix()
    assert all(matrix[t][t] == r.per_type[t].gold for t in r.per_type)
    assert matrix["O"] == {t: 0 for t in matrix["O"]}


def test_all_o_prediction_scores_zero():
    all_o = [["O"] * len(t) for t in GOLD_TAGS]
    r = evaluate(GOLD_TAGS, all_o)
    assert r.f1 == 0.0 and r.micro.precision == 0.0 and r.micro.recall == 0.0
    assert r.scores["default"].micro.f1 == 0.0
    assert r.breakdown.gold["missed"] == 5
    assert sum(r.breakdown.pred.values()) == 0


def test_hand_computed_example_every_category():
    r = evaluate(HAND_GOLD, HAND_PRED)
    # gold: Library, Language, Application, Device = 4; pred: Library x2, Application,
    # Algorithm = 4; only the first Library is exactly right.
    assert (r.micro.tp, r.micro.pred, r.micro.gold) == (1, 4, 4)
    assert r.micro.precision == pytest.approx(0.25) and r.micro.recall == pytest.approx(0.25)
    assert r.f1 == pytest.approx(0.25)
    # per type: Library P 1/2 R 1/1; every other type 0. Macro over the 5 types seen.
    assert r.per_type["Library"].precision == 0.5 and r.per_type["Library"].recall == 1.0
    assert r.macro.f1 == pytest.approx((2 / 3) / 5)
    assert r.macro.precision == pytest.approx(0.5 / 5)
    assert dict(r.breakdown.gold) == {
        "correct": 1, "wrong_type": 1, "wrong_boundary": 1, "missed": 1,
    }  # fmt: skip
    assert dict(r.breakdown.pred) == {
        "correct": 1, "wrong_type": 1, "wrong_boundary": 1, "spurious": 1,
    }  # fmt: skip
    m = r.breakdown.matrix()
    assert list(m) == ["Algorithm", "Application", "Device", "Language", "Library", "O"]
    assert m["Library"]["Library"] == 1
    assert m["Language"]["Library"] == 1  # wrong type, same span
    assert m["Application"]["O"] == 1 and m["O"]["Application"] == 1  # boundary
    assert m["Device"]["O"] == 1  # missed
    assert m["O"]["Algorithm"] == 1  # spurious
    # the default (conlleval) mode agrees on valid IOB2
    assert r.scores["default"].micro == r.scores["strict"].micro
    d = r.to_dict()
    assert d["errors"]["gold"]["total"] == 4 and d["errors"]["pred"]["spurious"] == 1
    assert "| wrong type (same span) | 1 | 1 |" in r.to_markdown()


def test_stray_i_is_repaired_and_counted():
    gold = [["O", "I-Library", "I-Library", "O", "B-Language", "I-Library"]]
    pred = [["O", "B-Library", "I-Library", "O", "B-Language", "B-Library"]]
    r = evaluate(gold, pred)
    assert r.repaired == {"gold": 2, "pred": 0}
    assert r.f1 == 1.0  # strict IOB2 alone would have dropped both stray entities
    assert r.scores["default"].micro.f1 == 1.0
    assert r.to_dict()["repaired_stray_i"] == {"gold": 2, "pred": 0}


def test_mapping_wikiser_predictions_on_softner9_gold():
    gold = [["B-Library", "O", "B-Application", "O"]]
    # General_Concept and Protocol are outside SoftNER-9: they must become O, not FPs.
    pred = [["B-Library", "B-General_Concept", "B-Application", "B-Protocol"]]
    unmapped = evaluate(gold, pred)
    assert unmapped.micro.precision == 0.5
    for spec in ("wikiser:softner-9", WIKISER_TO_SOFTNER9):
        r = evaluate(gold, pred, mapping=spec)
        assert r.f1 == 1.0
        assert set(r.per_type) == {"Library", "Application"}
        assert r.breakdown.pred["spurious"] == 0


def test_mapping_from_file_and_gold_mapping(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"Lib": "Library", "Junk": "O"}))
    (tmp_path / "m.toml").write_text('[mapping]\nLib = "Library"\nJunk = ""\n')
    gold = [["B-Library_Class", "O", "B-Website", "B-Library"]]  # StackOverflow NER types
    pred = [["O", "B-Junk", "B-Lib", "B-Lib"]]
    for f in ("m.json", "m.toml"):
        r = evaluate(gold, pred, mapping=tmp_path / f, gold_mapping="stackoverflow-ner:softner-9")
        # gold after mapping: Library_Class -> O, Website -> Application, Library -> Library
        assert r.per_type["Application"].gold == 1 and r.per_type["Library"].gold == 1
        assert r.micro.tp == 1 and r.micro.pred == 2 and r.micro.gold == 2
        assert r.breakdown.gold["wrong_type"] == 1  # Application predicted as Library
        assert r.mapping == {"Lib": "Library", "Junk": None}


def test_mapping_typo_is_a_note_not_a_silent_drop(tmp_path, capsys):
    (tmp_path / "typo.json").write_text(json.dumps({"Libary": "Library", "Language": "Language"}))
    toks = ["numpy", "and", "Python"]
    gold = write_conll(tmp_path / "g.conll", [(toks, ["B-Library", "O", "B-Language"])])
    pred = write_wikiser(tmp_path / "p.txt", [(toks, ["B-Library", "O", "B-Language"])])
    r = evaluate([["B-Library", "O", "B-Language"]], [["B-Library", "O", "B-Language"]],
                 mapping=tmp_path / "typo.json")  # fmt: skip
    assert r.micro.tp == 1 and r.micro.gold == 2  # the scores are what the mapping says...
    assert len(r.notes) == 1 and "Library (listed: 'Libary', a typo?)" in r.notes[0]  # ...but said
    code, out, err = run_cli(
        ["eval", str(gold), str(pred), "--json", "--map", str(tmp_path / "typo.json")], capsys
    )
    assert code == 0 and "note: the mapping does not list Library" in err
    code, out, err = run_cli(
        ["eval", str(gold), str(pred), "--json", "--map", "wikiser:softner-9"], capsys
    )
    assert code == 0 and "does not list" not in err  # a built-in lists every type it maps


def test_bad_mapping_spec_is_a_serkit_error():
    with pytest.raises(SerkitError, match="no built-in mapping"):
        evaluate([["O"]], [["O"]], mapping="wikiser:nowhere")


def test_invalid_tag_is_a_serkit_error():
    with pytest.raises(SerkitError, match="prediction sentence 0"):
        evaluate([["B-X"]], [["E-X"]])


def test_length_mismatch_names_sentence():
    with pytest.raises(MismatchError, match="sentence 1: gold has 2 tags, prediction has 1"):
        evaluate([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(MismatchError, match="gold has 2 sentences, prediction has 1"):
        evaluate([["O"], ["O"]], [["O"]])


def test_score_sentences_names_first_differing_sentence():
    gold = [
        Sentence(list(t), list(g), "doc", i, 1 + 10 * i)
        for i, (t, g) in enumerate(zip(TOKS, GOLD_TAGS, strict=True))
    ]
    pred = [Sentence(list(s.tokens), list(s.tags), s.doc_id, s.index, s.line) for s in gold]
    assert score_sentences(gold, pred).f1 == 1.0
    pred[1].tokens[2] = "is"
    pred[2].tokens[0] = "Installs"
    with pytest.raises(MismatchError) as e:
        score_sentences(gold, pred)
    msg = str(e.value)
    assert "sentence 1 of doc" in msg and "gold line 11" in msg
    assert "token 2" in msg and "'are'" in msg and "'is'" in msg
    with pytest.raises(MismatchError, match=r"prediction sentence 3 \(line 1\) has no counterpart"):
        score_sentences(gold, gold + [gold[0]])
    short = [Sentence(s.tokens[:-1], s.tags[:-1], line=s.line) for s in gold]
    with pytest.raises(MismatchError, match="gold has 6 tokens, prediction has 5"):
        score_sentences(gold, short)


TAG = st.sampled_from(["O", "O", "O", "B-A", "I-A", "B-B", "I-B", "B-C"])
SEQS = st.lists(st.lists(TAG, min_size=0, max_size=12), min_size=0, max_size=6)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_breakdown_and_confusion_add_up(data):
    gold = data.draw(SEQS)
    pred = [data.draw(st.lists(TAG, min_size=len(g), max_size=len(g))) for g in gold]
    r = evaluate(gold, pred)
    s = r.scores["strict"]
    b = r.breakdown
    assert sum(b.gold.values()) == s.micro.gold
    assert sum(b.pred.values()) == s.micro.pred
    assert b.gold["correct"] == b.pred["correct"] == s.micro.tp
    assert b.gold["wrong_type"] == b.pred["wrong_type"]
    # conlleval reads stray I- the way the repair does, so both modes agree on IOB2 input
    assert r.scores["default"].micro == s.micro
    m = b.matrix()
    for t, prf in s.per_type.items():
        assert m[t][t] == prf.tp
        assert sum(m[t].values()) == prf.gold
        assert sum(row[t] for row in m.values()) == prf.pred
    assert 0.0 <= r.f1 <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_scores_match_seqeval_functions(data):
    """Our one-pass arithmetic gives exactly seqeval's numbers in both modes."""
    # with no entity at all seqeval averages an empty list (nan); we report 0
    gold = data.draw(SEQS.filter(lambda s: any(t != "O" for sent in s for t in sent)))
    pred = [data.draw(st.lists(TAG, min_size=len(g), max_size=len(g))) for g in gold]
    r = evaluate(gold, pred)
    fixed_g = [repair_iob(t)[0] for t in gold]
    fixed_p = [repair_iob(t)[0] for t in pred]
    for mode, g, p, kw in (
        ("strict", fixed_g, fixed_p, {"mode": "strict", "scheme": IOB2}),
        ("default", gold, pred, {}),
    ):
        s = r.scores[mode]
        for avg, ours in (("micro", s.micro), ("macro", s.macro)):
            for fn, value in (
                (precision_score, ours.precision),
                (recall_score, ours.recall),
                (f1_score, ours.f1),
            ):
                expected = fn(g, p, average=avg, zero_division=0, **kw)
                assert value == pytest.approx(expected, abs=1e-12), (mode, avg, fn.__name__)


# -- predictions from a model --------------------------------------------------------


class LookupTagger(Tagger):
    """A fake model: tags known words, O elsewhere; records its batch sizes."""

    def __init__(self, vocab: dict[str, str]) -> None:
        self.vocab = vocab
        self.labels = ["O", *sorted({f"B-{t}" for t in vocab.values()})]
        self.card = {"arch": "fake"}
        self.batches: list[int] = []

    def predict_words(self, batch):
        self.batches.append(len(batch))
        return [
            ([f"B-{self.vocab[w]}" if w in self.vocab else "O" for w in words], [1.0] * len(words))
            for words in batch
        ]


def test_predict_sentences_batches_in_order():
    sents = [Sentence(["w"] * n, ["O"] * n, index=i) for i, n in enumerate([5, 0, 3, 9, 1])]
    sents[3].tokens[4] = "Python"
    tagger = LookupTagger({"Python": "Language"})
    out = predict_sentences(tagger, sents, batch_size=2, progress=False)
    assert [len(s) for s in out] == [5, 0, 3, 9, 1]
    assert [s.index for s in out] == [0, 1, 2, 3, 4]
    assert out[3].tags[4] == "B-Language" and out[3].tokens is not sents[3].tokens
    assert sum(tagger.batches) == 4  # the empty sentence is never sent to the model
    assert max(tagger.batches) <= 2


def test_predict_sentences_rejects_wrong_length():
    class Broken(LookupTagger):
        def predict_words(self, batch):
            return [(["O"], [1.0]) for _ in batch]

    with pytest.raises(MismatchError, match="tagger returned 1 tags for 3 tokens"):
        predict_sentences(Broken({}), [Sentence(["a", "b", "c"], ["O"] * 3)], progress=False)


def test_predict_sentences_refuses_a_batch_size_that_would_tag_nothing():
    sents = [Sentence(["a", "b"], ["O", "O"])]
    for bad, error in ((0, ValueError), (-1, ValueError), (True, TypeError), (2.0, TypeError)):
        with pytest.raises(error, match="batch_size must be"):  # -1 gave sentences, no tags
            predict_sentences(LookupTagger({}), sents, batch_size=bad, progress=False)


@pytest.mark.parametrize(
    "flat", [["B-Library", "I-Library", "O"], ["O", "O"], ("B-Library",), "B-Library"]
)
def test_a_flat_tag_list_is_refused_not_read_letter_by_letter(flat):
    # seqeval's flat lists: each tag would have been a "sentence" of its letters (["O", "O"]
    # scored as two empty-of-entities sentences, ["B-X"] as the tags 'B', '-', 'X').
    with pytest.raises(TypeError, match=r"(sentence 0 is a string|must be a list of tag seq)"):
        evaluate(flat, flat)


def test_any_iterable_of_tag_sequences_scores_like_lists():
    rep = evaluate(iter(HAND_GOLD), (tuple(p) for p in HAND_PRED))
    assert rep.micro == evaluate(HAND_GOLD, HAND_PRED).micro
    assert evaluate([iter(["B-A", "I-A"])], [["B-A", "I-A"]]).micro.f1 == 1.0


@pytest.mark.parametrize("bad", [None, 1, ["B-A"]])
def test_a_tag_that_is_not_a_string_is_named(bad):
    with pytest.raises(SerkitError, match=r"prediction sentence 0: invalid tag"):
        evaluate([["O", "B-A"]], [["O", bad]])
    with pytest.raises(TypeError, match="gold must be a list of tag sequences.*not NoneType"):
        evaluate(None, [])


# -- CLI -------------------------------------------------------------------------------


@pytest.fixture
def gold_file(tmp_path) -> Path:
    return write_wikiser(tmp_path / "gold.txt", list(zip(TOKS, GOLD_TAGS, strict=True)))


def test_cli_json_against_itself_and_all_o(gold_file, tmp_path, capsys):
    code, out, _ = run_cli(["eval", str(gold_file), str(gold_file), "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["micro"]["f1"] == 1.0 and d["modes"]["default"]["micro"]["f1"] == 1.0
    assert d["errors"]["gold"]["correct"] == 5
    all_o = write_conll(tmp_path / "o.conll", [(t, ["O"] * len(t)) for t in TOKS])
    code, out, _ = run_cli(["eval", str(gold_file), str(all_o), "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["micro"]["f1"] == 0.0 and d["errors"]["gold"]["missed"] == 5


def test_cli_tables_markdown_and_output_file(gold_file, tmp_path, capsys):
    code, out, _ = run_cli(["eval", str(gold_file), str(gold_file)], capsys)
    assert code == 0 and "micro F1" in out and "Operating_System" in out
    code, out, _ = run_cli(["eval", str(gold_file), str(gold_file), "--markdown"], capsys)
    assert code == 0 and out.startswith("### Entity-level scores") and "|---|" in out
    target = tmp_path / "out" / "report.json"
    code, out, err = run_cli(
        ["eval", str(gold_file), str(gold_file), "--mode", "default", "-o", str(target)], capsys
    )
    assert code == 0 and out == "" and "F1 1.0000" in err
    assert json.loads(target.read_text())["mode"] == "default"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]  # no temp files left


def test_cli_table_in_a_narrow_terminal_keeps_every_number(
    gold_file, tmp_path, capsys, monkeypatch
):
    """The summary is wider than 80 columns: rich used to crop it, so the macro F1
    column was missing from the table a researcher reads in a terminal."""
    monkeypatch.setenv("COLUMNS", "60")
    pred = [list(t) for t in GOLD_TAGS]
    pred[1] = ["B-Library", "O", "O", "O"]
    p = write_wikiser(tmp_path / "p.txt", list(zip(TOKS, pred, strict=True)))
    code, out, _ = run_cli(["eval", str(gold_file), str(p)], capsys)
    assert code == 0
    r = evaluate(GOLD_TAGS, pred)
    assert "macro F1" in out
    summary = [line.split() for line in out.splitlines() if line.lstrip().startswith("strict")]
    assert summary[0][-6:] == [f"{v:.4f}" for v in (
        r.micro.precision, r.micro.recall, r.micro.f1,
        r.macro.precision, r.macro.recall, r.macro.f1,
    )]  # fmt: skip
    head = next(line.split() for line in out.splitlines() if "gold \\ pred" in line)
    assert head[-1] == "O"  # the confusion table's last column (missed entities) too


def test_zero_division_is_said_not_silent(gold_file, tmp_path, capsys):
    """No predicted entity (or no gold entity) makes precision (or recall) 0/0: scored 0 as
    seqeval does, and said, so an all-zero row does not read as a measured result."""
    r = evaluate(GOLD_TAGS, [["O"] * len(t) for t in GOLD_TAGS])
    assert r.micro.precision == 0.0 and any("no entities" in n and "precision" in n
                                            for n in r.notes)  # fmt: skip
    r = evaluate([["O"] * len(t) for t in GOLD_TAGS], GOLD_TAGS)
    assert r.micro.recall == 0.0 and any("no entities" in n and "recall" in n for n in r.notes)
    assert evaluate(GOLD_TAGS, GOLD_TAGS).notes == []
    all_o = write_conll(tmp_path / "o.conll", [(t, ["O"] * len(t)) for t in TOKS])
    code, out, err = run_cli(["eval", str(all_o), str(all_o), "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["micro"]["f1"] == 0.0 and d["macro"]["f1"] == 0.0
    assert "gold holds no entities" in err and "predictions hold no entities" in err
    assert any("gold holds no entities" in n for n in d["notes"])


def test_cli_map_across_label_sets(tmp_path, capsys):
    toks = ["numpy", "over", "HTTP"]
    gold = write_conll(tmp_path / "g.conll", [(toks, ["B-Library", "O", "O"])])
    pred = write_wikiser(tmp_path / "p.txt", [(toks, ["B-Library", "O", "B-Protocol"])])
    code, out, err = run_cli(["eval", str(gold), str(pred), "--json"], capsys)
    assert json.loads(out)["micro"]["precision"] == 0.5
    assert "Protocol" in err and "--map" in err  # a hint that a mapping is missing
    code, out, err = run_cli(
        ["eval", str(gold), str(pred), "--json", "--map", "wikiser:softner-9"], capsys
    )
    assert code == 0 and json.loads(out)["micro"]["f1"] == 1.0 and "absent" not in err


def test_cli_mismatched_tokens_exit_2(gold_file, tmp_path, capsys):
    toks = [list(t) for t in TOKS]
    toks[2][2] = "NVIDIA"
    pred = write_wikiser(tmp_path / "pred.txt", list(zip(toks, GOLD_TAGS, strict=True)))
    code, out, err = run_cli(["eval", str(gold_file), str(pred)], capsys)
    assert code == 2 and out == ""
    assert "sentence 2" in err and "token 2" in err and "'Nvidia'" in err and "'NVIDIA'" in err
    assert "Traceback" not in err


def test_cli_usage_errors_exit_2(gold_file, capsys):
    assert run_cli(["eval", str(gold_file)], capsys)[0] == 2  # neither PRED nor --model
    code, _, err = run_cli(["eval", str(gold_file), str(gold_file), "--map", "x:y"], capsys)
    assert code == 2 and "no built-in mapping" in err


def test_cli_model_mode_with_fake_tagger(gold_file, tmp_path, monkeypatch, capsys):
    tagger = LookupTagger({"Python": "Language", "numpy": "Library", "Nvidia": "Device"})
    loaded: list[str] = []

    def fake_load(path=None, **kw):
        loaded.append(path)
        return tagger

    monkeypatch.setattr(serkit, "load", fake_load)
    code, out, err = run_cli(
        ["eval", str(gold_file), "--model", str(tmp_path / "model"), "--json"], capsys
    )
    assert code == 0 and loaded == [str(tmp_path / "model")]
    d = json.loads(out)
    # gold: Language, Operating_System, Library, Data_Structure, Device (2 tokens)
    # pred: Python ok, numpy ok, Nvidia as a 1-token Device (wrong boundary)
    assert (d["micro"]["tp"], d["micro"]["pred"], d["micro"]["support"]) == (2, 3, 5)
    assert d["errors"]["gold"] == {
        "correct": 2, "wrong_type": 0, "wrong_boundary": 1, "missed": 2, "total": 5,
    }  # fmt: skip
    assert "tagging" in err  # tqdm progress on stderr
    assert tagger.batches == [3]
    code, _, err = run_cli(["eval", str(gold_file), str(gold_file), "--model", "m"], capsys)
    assert code == 2 and "exactly one" in err


# -- real data -------------------------------------------------------------------------


@pytest.mark.integration
def test_wikiser_test_against_itself_and_all_o(tmp_path, capsys):
    gold = DATA / "wikiser-small" / "test.txt"
    code, out, _ = run_cli(["eval", str(gold), str(gold), "--json"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["micro"]["f1"] == 1.0 and d["sentences"] == 7992 and d["tokens"] == 295013
    assert d["micro"]["support"] == 25546
    assert d["repaired_stray_i"] == {"gold": 0, "pred": 0}  # none in this split
    sents = serkit.files.read_all(gold)
    all_o = [Sentence(s.tokens, ["O"] * len(s), line=s.line) for s in sents]
    r = score_sentences(sents, all_o)
    assert r.f1 == 0.0 and r.breakdown.gold["missed"] == 25546
    assert sum(len(spans(s.tags)) for s in sents) == 25546


def test_eval_record_writes_strict_numbers_into_the_card(tmp_path, capsys):
    import json

    from _runtime_model import build_tiny_model
    from serkit.cli.main import main

    model = build_tiny_model(tmp_path / "m")
    gold = tmp_path / "gold.conll"
    gold.write_text("Python\tB-Language\nis\tO\nfun\tO\n\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["eval", str(gold), "-m", str(model), "--record", "W1", "--mode", "default",
              "--json", "--no-progress"])  # fmt: skip
    assert exc.value.code in (0, None)
    report = json.loads(capsys.readouterr().out)
    card = json.loads((model / "serkit.json").read_text())
    rec = card["results"]["W1"]
    assert rec["f1"] == round(report["modes"]["strict"]["micro"]["f1"], 4)
    assert rec["test"] == str(gold) and rec["decoding"] == "viterbi" and rec["command"]
    with pytest.raises(SystemExit) as exc:
        main(["eval", str(gold), str(gold), "--record", "W1"])
    assert exc.value.code == 2
