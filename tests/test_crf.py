"""CRF tagger: learns a tiny set, round-trips through its model directory, no pickle."""

from __future__ import annotations

import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _corpus import write_tagged
from serkit.card import read_card
from serkit.errors import ModelLoadError, SerkitError
from serkit.models.crf import CrfTagger
from serkit.models.features import FeatureExtractor, shape, short_shape
from serkit.tokens import Sentence
from serkit.training.crf import train_crf, train_crf_from_config

TINY = [
    ("I use Visual Studio Code on Linux", "O O B-App I-App I-App O B-OS"),
    ("Python runs on Windows", "B-Lang O O B-OS"),
    ("We wrote it in Python and Java", "O O O O B-Lang O B-Lang"),
    ("Linux is a kernel", "B-OS O O O"),
    ("Open Visual Studio Code now", "O B-App I-App I-App O"),
    ("Java is verbose", "B-Lang O O"),
    ("Windows and Linux both run Java", "B-OS O B-OS O O B-Lang"),
    ("the cat sat on the mat", "O O O O O O"),
]


def sents() -> list[Sentence]:
    return [Sentence(t.split(), g.split(), index=i) for i, (t, g) in enumerate(TINY)]


CFG = {"max_iterations": 60, "c1": 0.0, "c2": 0.01, "lexicon_folds": 0}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("crf")
    train_crf(sents(), sents()[:2], d, CFG, card_extra={"protocol": "tiny"})
    return d


def test_predicts_training_sentences(model_dir) -> None:
    tagger = CrfTagger.load(model_dir)
    data = sents()
    preds = tagger.predict_words([s.tokens for s in data])
    for s, (tags, conf) in zip(data, preds, strict=True):
        assert tags == s.tags
        assert len(conf) == len(tags)
        assert all(0.0 <= c <= 1.0 for c in conf)
    assert tagger.tag_sentences(data) == [s.tags for s in data]


def test_model_dir_and_card(model_dir) -> None:
    names = sorted(p.name for p in model_dir.iterdir())
    assert names == ["README.md", "crf.crfsuite", "lexicon.tsv", "serkit.json"]
    card = read_card(model_dir)
    assert card["arch"] == "crf"
    assert card["labels"][0] == "O" and "B-App" in card["labels"] and "I-OS" in card["labels"]
    assert card["config"]["c2"] == 0.01
    assert card["protocol"] == "tiny"
    assert card["metrics"]["dev"]["f1"] == 1.0
    assert not any(p.suffix in (".pkl", ".pickle", ".joblib") for p in model_dir.iterdir())


def test_save_load_round_trip(model_dir, tmp_path) -> None:
    a = CrfTagger.load(model_dir)
    a.save(tmp_path / "copy")
    b = CrfTagger.load(tmp_path / "copy")
    batch = [
        ["Visual", "Studio", "Code", "runs", "on", "Windows"],
        ["Java", "and", "Python"],
        ["nothing", "to", "see", "here"],
        [],
    ]
    assert a.predict_words(batch) == b.predict_words(batch)
    assert (tmp_path / "copy" / "crf.crfsuite").read_bytes() == (
        model_dir / "crf.crfsuite"
    ).read_bytes()


def test_registry_loads_crf(model_dir) -> None:
    from serkit.models.registry import load_tagger

    tagger = load_tagger(model_dir)
    assert isinstance(tagger, CrfTagger)
    assert tagger.tag_tokens(["Linux", "rocks"])[0] == "B-OS"


def test_bad_model_dirs(model_dir, tmp_path) -> None:
    d = tmp_path / "broken"
    d.mkdir()
    (d / "serkit.json").write_text(json.dumps({"arch": "crf", "config": CFG}))
    with pytest.raises(ModelLoadError, match="crf.crfsuite"):
        CrfTagger.load(d)
    (d / "crf.crfsuite").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError):
        CrfTagger.load(d)
    (d / "crf.crfsuite").write_bytes((model_dir / "crf.crfsuite").read_bytes())
    with pytest.raises(ModelLoadError, match="lexicon"):
        CrfTagger.load(d)


def test_jackknife_and_no_lexicon_train(tmp_path) -> None:
    data = sents() * 3
    for cfg in ({"lexicon_folds": 3}, {"lexicon": False}):
        tagger = train_crf(data, None, None, {**CFG, **cfg})
        assert tagger.tag_sentences(data[:3]) == [s.tags for s in data[:3]]
    assert tagger.lexicon is None


def test_bad_training_input() -> None:
    with pytest.raises(SerkitError, match="no tags"):
        train_crf([Sentence(["a"], None)], None, None, CFG)
    with pytest.raises(SerkitError, match="unknown CRF option"):
        train_crf(sents(), None, None, {"c3": 1})
    with pytest.raises(SerkitError, match="no training"):
        train_crf([], None, None, CFG)


def test_train_from_config_val_slice(tmp_path) -> None:
    data = write_tagged(tmp_path / "train.txt", TINY * 2)
    out = tmp_path / "model"
    cfg = {"train": str(data), "val_slice": True, "protocol": "W1-like", **CFG}
    tagger = train_crf_from_config(cfg, out)
    card = read_card(out)
    assert card["protocol"] == "W1-like"
    assert len(card["train_data"]["sha256"]) == 64
    assert card["training"]["sentences"] == 15  # 16 sentences, index 9 validates
    assert "dev" in card["metrics"]
    assert tagger.tag_tokens(["Linux"]) == ["B-OS"]
    with pytest.raises(SerkitError, match="unknown CRF training option"):
        train_crf_from_config({"train": str(data), "epochs": 3}, out)
    with pytest.raises(SerkitError, match="either"):
        train_crf_from_config({"train": str(data), "dev": str(data), "val_slice": True}, out)


def test_shapes_and_features() -> None:
    assert shape("Visual") == "Xxxxx"
    assert shape("C++11") == "X++dd"
    assert short_shape("Visual") == "Xx"
    fx = FeatureExtractor(None, window=2)
    feats = fx(["Use", "C++", "now"])
    assert "w=C++" in feats[1] and "-1:l=use" in feats[1] and "+1:l=now" in feats[1]
    assert "BOS" in feats[0] and "EOS" in feats[2]
    assert "-2:l=use" in feats[2]


def test_train_cli_dispatch(tmp_path) -> None:
    """`serkit train --arch crf` reaches train_from_config with the CLI's TrainConfig."""
    from serkit.cli.main import main

    data = write_tagged(tmp_path / "train.txt", TINY * 2)
    out = tmp_path / "m"
    try:
        main(["train", "--arch", "crf", "--train", str(data), "--val-slice", "-o", str(out)])
    except SystemExit as e:
        assert not e.code
    card = read_card(out)
    assert card["arch"] == "crf" and card["config"]["lexicon"] is True
    assert CrfTagger.load(out).tag_tokens(["Linux"]) == ["B-OS"]


def test_numpy_decoder_matches_crfsuite(model_dir) -> None:
    """The batched numpy path gives crfsuite's own tags and marginals."""
    tagger = CrfTagger.load(model_dir)
    words = [
        "I",
        "use",
        "Visual",
        "Studio",
        "Code",
        "on",
        "Linux",
        "Python",
        "Java",
        "Windows",
        "cat",
        "the",
        ",",
        ".",
        "and",
    ]
    rng = random.Random(0)
    batch = [[rng.choice(words) for _ in range(rng.randint(1, 30))] for _ in range(60)]
    batch += [s.tokens for s in sents()] + [[]]
    fast = tagger.predict_words(batch)
    ref = tagger.predict_words_crfsuite(batch)
    for (ft, fc), (rt, rc) in zip(fast, ref, strict=True):
        assert ft == rt
        assert fc == pytest.approx(rc, abs=1e-9)


def test_corrupt_model_bytes() -> None:
    from serkit.models.crf_numpy import CrfWeights

    with pytest.raises(ModelLoadError):
        CrfWeights(b"lCRF" + b"\0" * 10)
    with pytest.raises(ModelLoadError):
        CrfWeights(b"")


def test_word_cache_reset_keeps_results(model_dir) -> None:
    tagger = CrfTagger.load(model_dir)
    batch = [s.tokens for s in sents()]
    want = tagger.predict_words(batch)
    tagger._fast.cache_size = 5  # force resets on every batch
    for _ in range(3):
        assert tagger.predict_words(batch) == want
        assert tagger.predict_words([["brand", "new", "words", "Linux"]])[0][0][-1] == "B-OS"


def test_decoder_on_very_different_lengths_matches_crfsuite(model_dir) -> None:
    """Runs pack sentences longest first with no padding: long and one-word sentences
    in one batch, and runs cut every few sentences, still give crfsuite's answers."""
    tagger = CrfTagger.load(model_dir)
    rng = random.Random(1)
    vocab = [w for text, _ in TINY for w in text.split()] + [",", ".", "unknown"]
    lengths = [300, 1, 57, 2, 1, 120, 3, 0, 31, 1]
    batch = [[rng.choice(vocab) for _ in range(n)] for n in lengths]
    ref = tagger.predict_words_crfsuite(batch)
    for run_size in (256, 3, 1):
        tagger._fast.run_size = run_size
        for (ft, fc), (rt, rc) in zip(tagger.predict_words(batch), ref, strict=True):
            assert ft == rt
            assert fc == pytest.approx(rc, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from([w for text, _ in TINY for w in text.split()])
            | st.sampled_from([".", ",", "(", ")", "\n\n", "Linux.", "e.g.", "C++"]),
            max_size=40,
        ).map(" ".join),
        max_size=6,
    ),
    st.integers(1, 5),
)
def test_pipe_equals_tagging_sentence_by_sentence(model_dir, texts, batch_size) -> None:
    """``pipe``/``pipe_tagged`` (arrays, pooled batches) give what tagging each
    sentence of ``sentences(text)`` on its own and decoding its tags gives."""
    from serkit.decode import entities_from_tags
    from serkit.tokenize import sentences

    tagger = _tagger(model_dir)
    want_ents, want_tagged = [], []
    for text in texts:
        sents = sentences(text)
        preds = [tagger.predict_words([[t.text for t in s]])[0] for s in sents]
        want_tagged.append(
            [
                ([t.text for t in s], [(t.start, t.end) for t in s], tags)
                for s, (tags, _) in zip(sents, preds, strict=True)
            ]
        )
        want_ents.append(
            [
                e
                for s, (t, c) in zip(sents, preds, strict=True)
                for e in entities_from_tags(text, s, t, c)
            ]
        )
    got = list(tagger.pipe(texts, batch_size=batch_size))
    assert [[(e.start, e.end, e.label, e.text) for e in d] for d in got] == [
        [(e.start, e.end, e.label, e.text) for e in d] for d in want_ents
    ]
    for g, w in zip(got, want_ents, strict=True):
        assert [e.score for e in g] == pytest.approx([e.score for e in w], abs=1e-9)
    tagged = list(tagger.pipe_tagged(texts, batch_size=batch_size))
    assert [doc.text for doc in tagged] == texts
    got_tagged = [[(s.tokens, s.meta["offsets"], s.tags) for s in d.sentences] for d in tagged]
    assert got_tagged == want_tagged
    assert [[(e.start, e.end, e.label) for e in d.entities] for d in tagged] == [
        [(e.start, e.end, e.label) for e in d] for d in want_ents
    ]


_TAGGERS: dict = {}


def _tagger(model_dir) -> CrfTagger:
    """One loaded tagger per model folder (hypothesis examples share it)."""
    if model_dir not in _TAGGERS:
        _TAGGERS[model_dir] = CrfTagger.load(model_dir)
    return _TAGGERS[model_dir]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_feature_groups_are_the_word_and_context_features(word: str) -> None:
    from serkit.models.features import context_features, feature_groups, word_features

    offsets = [-2, -1, 1, 2]
    assert feature_groups(word, offsets) == (
        word_features(word),
        *(context_features(word, o) for o in offsets),
    )
    classes = [
        "X" if c.isupper() else "x" if c.islower() else "d" if c.isdigit() else c for c in word
    ]
    assert shape(word) == re.sub(r"(.)\1{3,}", r"\1\1\1\1", "".join(classes))
    assert short_shape(word) == re.sub(r"(.)\1+", r"\1", shape(word))


def test_the_crf_refuses_a_multi_process_launch(monkeypatch, tmp_path) -> None:
    """Under torchrun every rank would fit the same CRF into the same folder: one clear error."""
    from serkit.errors import SerkitError
    from serkit.training.config import TrainConfig
    from serkit.training.crf import train

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    cfg = TrainConfig(arch="crf", train=str(tmp_path / "x.txt"), output=str(tmp_path / "out"))
    with pytest.raises(SerkitError, match="one process"):
        train(cfg)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("batch", ["Linux", ["TensorFlow", "on", "Ubuntu"], [["on", 3]]])
def test_a_string_where_a_sentence_belongs_is_refused(model_dir, batch) -> None:
    """Was tagged letter by letter (one "sentence" per string)."""
    tagger = CrfTagger.load(model_dir)
    with pytest.raises(TypeError, match="sentence|token"):
        tagger.predict_words(batch)
    with pytest.raises(TypeError, match="sentence|token"):
        tagger.predict_words_crfsuite(batch)


def test_crf_answers_to_its_own_runtime_and_auto_only(model_dir, capsys) -> None:
    """A CRF never runs on torch or ONNX: only ``auto`` and ``crf`` (what its tagger and a
    card's recorded result call its runtime) load it, and the refusal says so."""
    from _cli import run_cli
    from serkit.models.registry import load_tagger

    assert load_tagger(model_dir).runtime == "crf"
    assert load_tagger(model_dir, prefer="crf").runtime == "crf"  # as `serkit eval` records it
    for prefer in ("torch", "onnx", "onnx-int8"):
        message = rf"no '{prefer}' runtime \(its runtimes: auto, crf\)"
        with pytest.raises(ModelLoadError, match=message):
            load_tagger(model_dir, prefer=prefer)
    code, out = run_cli(capsys, "tag", "-m", str(model_dir), "--runtime", "onnx", "--text", "x")
    assert code == 2 and len(out.strip().splitlines()) == 1
    assert "its runtimes: auto, crf" in out and "torch" not in out


def test_training_into_a_used_folder_replaces_the_model_whole(tmp_path, capsys) -> None:
    """An older model's files (another architecture's included) never outlive a CRF run:
    said on stderr, removed, and not listed in the new card; other files stay. A stale
    checkpoint stops a fresh run unless --overwrite, as for a transformer; --resume (no
    CRF checkpoints) is refused before anything is touched."""
    from serkit.architectures import get
    from serkit.models.registry import load_tagger
    from serkit.training.config import TrainConfig

    data = write_tagged(tmp_path / "train.txt", TINY * 2)
    out = tmp_path / "m"
    out.mkdir()
    stale = ["model.onnx", "model.int8.onnx", "model.safetensors", "config.json",
             "tokenizer.json", "lexicon.tsv", "lexicon.wikiser.tsv"]  # fmt: skip
    for name in stale:
        (out / name).write_text("old\n")
    (out / "serkit.json").write_text('{"arch": "transformer"}')
    (out / "notes.txt").write_text("keep me\n")
    (out / "checkpoint").mkdir()
    (out / "checkpoint" / "state.json").write_text('{"step": 3, "config": {}}')
    before = sorted(p.name for p in out.iterdir())

    def cfg(**kw):
        return TrainConfig.from_dict({"train": str(data), "arch": "crf", "max_iterations": 5,
                                      "output": str(out), **kw})  # fmt: skip

    with pytest.raises(SerkitError, match="--resume"):
        get("crf").train(cfg(), resume=True, progress=False)
    with pytest.raises(SerkitError, match="--overwrite discards it"):
        get("crf").train(cfg(), progress=False)
    assert sorted(p.name for p in out.iterdir()) == before  # nothing touched
    capsys.readouterr()
    get("crf").train(cfg(overwrite=True), progress=False)
    assert "holds a model; this run replaces it" in capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "crf.crfsuite", "lexicon.tsv", "notes.txt", "serkit.json"]
    assert (out / "notes.txt").read_text() == "keep me\n"
    card = read_card(out)
    assert card["arch"] == "crf" and sorted(card["files"]) == ["crf.crfsuite", "lexicon.tsv"]
    tagger = load_tagger(out)
    assert tagger.runtime == "crf" and len(tagger.tag_sentences(sents()[:1])[0]) == 7


def test_bad_data_leaves_an_earlier_run_in_place_even_with_overwrite(tmp_path) -> None:
    """The CRF started afresh (deleting the earlier run's checkpoint and log) before it
    read its data, so a run that then failed on a bad file had destroyed them for nothing."""
    from serkit.architectures import get
    from serkit.training.config import TrainConfig

    bad = tmp_path / "bad.txt"
    bad.write_text("Linux\tB-Operating_System\nis\tX-Nope\n", encoding="utf-8")
    out = tmp_path / "m"
    (out / "checkpoint").mkdir(parents=True)
    (out / "checkpoint" / "state.json").write_text('{"step": 3, "config": {}}')
    (out / "metrics.jsonl").write_text('{"step": 3}\n')
    good = tmp_path / "good.txt"
    good.write_text("I\tO\nuse\tO\nLinux\tB-Operating_System\n\n" * 4, encoding="utf-8")
    two = [
        {"name": "a", "declare": "wikiser", "train": str(good), "val_tail": 0.5},
        {"name": "b", "declare": "wikiser", "train": str(bad), "val_tail": 0.5},
    ]
    for extra in ({"train": str(bad)}, {"corpora": two[1:], "mode": "single"},
                  {"corpora": two, "mode": "merge"}):  # fmt: skip
        spec = {"arch": "crf", "max_iterations": 5, "output": str(out), "overwrite": True}
        spec.update(extra)
        with pytest.raises(SerkitError, match="bad.txt:2"):
            get("crf").train(TrainConfig.from_dict(spec), progress=False)
        assert (out / "checkpoint" / "state.json").is_file()
        assert (out / "metrics.jsonl").read_text() == '{"step": 3}\n'


@pytest.mark.parametrize("window", [10**6, -1, 2.5, True])
def test_the_window_is_bounded_through_the_python_api_too(tmp_path, window) -> None:
    """The cap was checked for `serkit train` only: train_crf(window=10**6) went on to ask
    the decoder for about 150 GiB."""
    with pytest.raises(SerkitError, match="window must be between 0 and 10"):
        train_crf(sents(), None, tmp_path / "m", {**CFG, "window": window})
    assert not (tmp_path / "m" / "serkit.json").exists()
