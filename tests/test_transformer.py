"""Transformer tagger: encoding/windows, save/load, long inputs, HF compatibility.

A tiny randomly initialised 2-layer BERT with its own WordPiece vocabulary is built in
the test (no download); one integration test runs the real packaged MiniLM.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from _runtime_model import BACKBONE_WORDS as WORDS
from serkit.labels import bio_labels
from serkit.models.encoding import (
    CASE_CLASSES,
    Encoder,
    FeatureScheme,
    case_class,
    load_tokenizer,
    plan_windows,
)
from serkit.models.transformer import TransformerTagger, build_model, save_tokenizer

LABELS = bio_labels(["Language", "Operating_System", "Library"])


def make_tagger(backbone: Path, scheme: FeatureScheme | None = None, max_length: int = 32):
    scheme = scheme or FeatureScheme(case=True)
    torch.manual_seed(1)
    model = build_model(str(backbone), LABELS, scheme, max_length=max_length, stride=8)
    return TransformerTagger(model, load_tokenizer(backbone))


def test_case_classes():
    assert [CASE_CLASSES[case_class(w)] for w in ("java", "Java", "JVM", "iPhone", "42", "A")] == [
        "lower", "title", "upper", "mixed", "noletter", "title",
    ]  # fmt: skip


@given(st.lists(st.integers(1, 30), min_size=1, max_size=200), st.integers(8, 64))
@settings(max_examples=200, deadline=None)
def test_windows_cover_every_word_once(counts, capacity):
    counts = [min(c, capacity) for c in counts]
    stride = capacity // 4
    windows, best = plan_windows(counts, capacity, stride)
    assert len(best) == len(counts)
    assert windows[0][0] == 0 and windows[-1][1] == len(counts)
    for ws, we in windows:
        assert we > ws
        assert sum(counts[ws:we]) <= capacity
    for w, wi in enumerate(best):
        ws, we = windows[wi]
        assert ws <= w < we
    for (a0, a1), (b0, _b1) in zip(windows, windows[1:], strict=False):
        assert b0 > a0 and b0 <= a1  # progress, no gap


def test_window_choice_prefers_context():
    windows, best = plan_windows([1] * 20, 10, 4)
    assert len(windows) > 1
    # A word in the overlap goes to the window where it is farther from an edge.
    for w, wi in enumerate(best):
        ws, we = windows[wi]
        ctx = min(w - ws, we - w - 1)
        for ws2, we2 in windows:
            if ws2 <= w < we2:
                assert ctx >= min(w - ws2, we2 - w - 1)


def test_3000_word_sentence_gets_3000_predictions(backbone):
    tagger = make_tagger(backbone, max_length=32)
    words = [WORDS[i % len(WORDS)] for i in range(3000)]
    tags, scores = tagger.predict_words([words])[0]
    assert len(tags) == 3000 and len(scores) == 3000
    assert all(t in LABELS for t in tags)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_giant_word_and_odd_tokens(backbone):
    tagger = make_tagger(backbone, max_length=16)
    words = ["python" * 200, "\u200b", "", "linux", "é" * 50]
    out = tagger.predict_words([words, [], ["java"]])
    assert [len(t) for t, _ in out] == [5, 0, 1]


def test_features_become_token_types(backbone):
    from serkit.lexicon import Lexicon
    from serkit.tokens import Sentence

    scheme = FeatureScheme(case=True, lexicon=True, lexicon_tags=LABELS)
    lexicon = Lexicon.build([Sentence(["Python", "rocks"], ["B-Language", "O"])])
    torch.manual_seed(1)
    model = build_model(str(backbone), LABELS, scheme, max_length=32, stride=8)
    tagger = TransformerTagger(model, load_tokenizer(backbone), lexicon=lexicon)
    (win,) = tagger.encoder.encode([["Python", "on", "LINUX"]])
    n_lex = len(LABELS)
    expected = [
        CASE_CLASSES.index("title") * n_lex + LABELS.index("B-Language"),
        0,
        CASE_CLASSES.index("upper") * n_lex,
    ]
    got = [win.type_ids[pos] for _, pos in win.targets]
    assert got == expected
    assert tagger.model.config.type_vocab_size == scheme.n_types == 5 * n_lex
    emb = tagger.model.base_model.embeddings.token_type_embeddings.weight
    assert torch.equal(emb[0], emb[-1])  # new rows start as the pretrained row 0


def test_save_load_identical_predictions(backbone, tmp_path):
    from transformers import AutoModelForTokenClassification

    tagger = make_tagger(backbone)
    with torch.no_grad():  # make the head non-trivial so predictions vary
        tagger.model.classifier.weight.normal_(0, 1.0)
    batch = [WORDS[:12], ["Java", "on", "Linux", "."], WORDS[5:40]]
    before = tagger.predict_words(batch)
    out = tmp_path / "model"
    tagger.save(out, tokenizer_src=backbone)
    loaded = TransformerTagger.load(out)
    after = loaded.predict_words(batch)
    assert [t for t, _ in before] == [t for t, _ in after]
    for (_, a), (_, b) in zip(before, after, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)
    hf = AutoModelForTokenClassification.from_pretrained(out)
    assert hf.config.id2label[1] == LABELS[1]
    assert hf.config.serkit_features["features"] == ["case"]


def test_plain_transformers_user_can_run_it(backbone, tmp_path):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tagger = make_tagger(backbone)
    out = tmp_path / "m"
    tagger.save(out)
    save_tokenizer(str(backbone), out)
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForTokenClassification.from_pretrained(out)
    enc = tok("i use python", return_tensors="pt")
    logits = model(**enc).logits
    assert logits.shape[-1] == len(LABELS)


def test_encoder_labels_only_on_first_subtoken(backbone):
    enc = Encoder(load_tokenizer(backbone), max_length=32, stride=8)
    windows = enc.encode([["pythonx", "linux"]])
    labels = enc.labels(windows, [[1, 3]])
    row = labels[0]
    assert list(row[row != -100]) == [1, 3]
    assert len(windows[0].input_ids) > 4  # "pythonx" is split into several pieces


@pytest.mark.integration
def test_packaged_minilm_loads_and_predicts(tmp_path):
    from serkit.models.backbone import resolve_backbone

    bb = resolve_backbone(None)
    scheme = FeatureScheme(case=True)
    model = build_model(bb, LABELS, scheme, max_length=64)
    tagger = TransformerTagger(model, load_tokenizer(bb))
    tags, scores = tagger.predict_words([["I", "use", "NumPy", "on", "Linux", "."]])[0]
    assert len(tags) == 6 and len(scores) == 6
    ents = tagger("I use NumPy on Linux.")
    assert all(0 <= e.start < e.end <= 21 for e in ents)


@pytest.mark.parametrize("source", ["tokenizer.json", "transformers"])
def test_tokenizer_truncation_and_padding_never_reach_the_encoder(tmp_path, source):
    """The packaged MiniLM's tokenizer.json truncates at 128 sub-tokens and pads to 128:
    words past that point once became [UNK] in every long sentence (train and predict)."""
    from serkit.models.backbone import resolve_backbone
    from serkit.models.encoding import Encoder, SpecialIds, word_pieces

    bb = resolve_backbone(None)
    if source == "tokenizer.json":
        tok = load_tokenizer(bb)
    else:  # what the trainer uses for a hub backbone without tokenizer.json
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(bb).backend_tokenizer
        tok.enable_truncation(16)
        tok.enable_padding(length=32)
    enc = Encoder(tok, max_length=64, stride=8)
    words = ["Kubernetes", "runs", "on", "Linux"] * 75  # 300 words, > 400 sub-tokens
    unk = SpecialIds.of(enc.tokenizer).unk
    pieces = word_pieces(enc.tokenizer, [words], unk)[0]
    assert unk not in {i for p in pieces for i in p}
    assert pieces[-1] == pieces[3] and pieces[-4] == pieces[0]
    windows = enc.encode([words])
    assert len(windows) > 4 and all(len(w.input_ids) <= 64 for w in windows)
    covered = sorted(word for w in windows for word, _ in w.targets)
    assert covered == list(range(300))


def test_predict_cli_keeps_tokens_and_format(backbone, tmp_path):
    from typer.testing import CliRunner

    from serkit.card import write_card
    from serkit.cli.main import app
    from serkit.files import read_all

    tagger = make_tagger(backbone)
    model_dir = tmp_path / "model"
    tagger.save(model_dir, tokenizer_src=backbone)
    write_card(model_dir, {"arch": "transformer", "labels": LABELS})
    src = tmp_path / "in.txt"
    src.write_text("<s>\nI\tO\nuse\tO\nJava\tB-Language\n</s>\n<s>\nLinux\tO\n</s>\n")
    out = tmp_path / "out.txt"
    res = CliRunner().invoke(
        app, ["predict", "--model", str(model_dir), str(src), "-o", str(out), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    got = read_all(out, "wikiser")
    assert [s.tokens for s in got] == [["I", "use", "Java"], ["Linux"]]
    assert all(t in LABELS for s in got for t in s.tags)
    res = CliRunner().invoke(
        app, ["predict", "--model", str(model_dir), str(src), "--to", "jsonl", "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines() if x.strip()]
    assert len(lines) == 2
