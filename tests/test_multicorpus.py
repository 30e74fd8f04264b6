"""Multi-corpus training: declarations, allowed sets, the partial-label loss, heads and
schemes, and a toy run where two corpora label one word differently on purpose."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import serkit
from _corpus import CONVENTION_A, CONVENTION_B, write_tagged
from _runtime_model import tiny_backbone
from serkit.corpora import BUILTIN, CorpusSpec, LabelSpace
from serkit.errors import DataFormatError, SerkitError
from serkit.labels import bio_labels
from serkit.models.heads import Heads
from serkit.training.config import TrainConfig
from serkit.training.losses import partial_selfreg_loss
from serkit.training.selfreg import selfreg_loss
from serkit.training.trainer import Trainer


# -- the loss -------------------------------------------------------------------------
@pytest.mark.parametrize("k,alpha", [(1, 0.0), (2, 0.0), (2, 3.0), (3, 1.5)])
def test_partial_loss_equals_cross_entropy_for_one_tag_sets(k, alpha):
    torch.manual_seed(0)
    b, t, c = 3, 5, 7
    logits = torch.randn(k * b, t, c)
    labels = torch.randint(0, c, (b, t))
    labels[0, 1] = labels[2, 4] = -100
    allowed = F.one_hot(labels.clamp(min=0), c).bool() & (labels >= 0).unsqueeze(-1)
    head = torch.ones(b, c, dtype=torch.bool)
    got, parts = partial_selfreg_loss(logits, allowed, head, k, alpha)
    want, want_parts = selfreg_loss(logits, labels, k, alpha)
    assert torch.allclose(got, want, atol=1e-5)
    assert parts["ce"] == pytest.approx(want_parts["ce"], abs=1e-5)


def test_partial_loss_gives_no_gradient_where_every_tag_is_allowed():
    torch.manual_seed(1)
    logits = torch.randn(2, 4, 5, requires_grad=True)
    allowed = torch.zeros(2, 4, 5, dtype=torch.bool)
    allowed[0, 0] = True  # every tag allowed: -log(1) = 0
    allowed[1, 2, 3] = True  # a single tag: ordinary cross-entropy
    head = torch.ones(2, 5, dtype=torch.bool)
    loss, _ = partial_selfreg_loss(logits, allowed, head, 1, 0.0)
    loss.backward()
    assert torch.all(logits.grad[0, 0] == 0)
    assert torch.any(logits.grad[1, 2] != 0)


def test_partial_loss_prefers_nothing_inside_the_allowed_set():
    """-log(p(A) + p(B)) is the same whichever of A and B holds the mass."""
    head = torch.ones(1, 3, dtype=torch.bool)
    allowed = torch.tensor([[[True, True, False]]])
    a = torch.tensor([[[5.0, 0.0, 0.0]]])
    b = torch.tensor([[[0.0, 5.0, 0.0]]])
    la, _ = partial_selfreg_loss(a, allowed, head, 1, 0.0)
    lb, _ = partial_selfreg_loss(b, allowed, head, 1, 0.0)
    assert float(la) == pytest.approx(float(lb))


def test_heads_never_compete_in_the_softmax():
    """Outputs outside a row's head do not change its loss."""
    head = torch.tensor([[True, True, False, False]])
    allowed = torch.tensor([[[True, False, False, False]]])
    x = torch.tensor([[[1.0, 2.0, -3.0, 9.0]]])
    y = x.clone()
    y[..., 2:] = torch.tensor([40.0, -40.0])
    lx, _ = partial_selfreg_loss(x, allowed, head, 1, 0.0)
    ly, _ = partial_selfreg_loss(y, allowed, head, 1, 0.0)
    assert float(lx) == pytest.approx(float(ly))
    assert float(lx) == pytest.approx(float(-F.log_softmax(x[0, 0, :2], -1)[0]))


# -- declarations and allowed sets ---------------------------------------------------
def spec(name: str, declare: str, path: str = "x.txt", **kw) -> CorpusSpec:
    return CorpusSpec.from_dict({"name": name, "train": path, "declare": declare, **kw})


def test_partial_sets_follow_the_declared_relation():
    so, sner = spec("so", "softner-9"), spec("sner", "sner")
    space = LabelSpace("partial", [so, sner])
    labels = space.flat_labels()

    def allowed(corpus, tag):
        (sid,) = space.allowed_ids(corpus, [tag])
        return {labels[i] for i in np.flatnonzero(space.set_table()[sid])}

    assert allowed(so, "B-Library") == {"B-Library"}
    # StackOverflow NER never annotates Protocol, Architecture, General_Concept: its O
    # may hide them.
    assert allowed(so, "O") == {"O"} | {
        f"{p}-{t}" for t in ("Protocol", "Architecture", "General_Concept") for p in "BI"
    }
    assert allowed(sner, "B-Fram") == {"B-Library", "B-Application"}
    assert allowed(sner, "I-Plat") == {"I-Operating_System", "I-Device", "I-Architecture"}
    assert allowed(sner, "B-API") == {"O"}  # no serkit type stands for API


def test_merge_maps_each_type_to_its_first_serkit_type():
    sner = spec("sner", "sner")
    space = LabelSpace("merge", [sner, spec("w", "wikiser")])
    labels = space.flat_labels()
    (sid,) = space.allowed_ids(sner, ["B-Fram"])
    assert [labels[i] for i in np.flatnonzero(space.set_table()[sid])] == ["B-Library"]


def test_multihead_gives_each_corpus_its_own_head_and_labels():
    w, so = spec("wiki", "wikiser"), spec("so", "softner-9")
    space = LabelSpace("multihead", [w, so])
    assert space.total == len(bio_labels(BUILTIN["wikiser"].types)) + len(
        bio_labels(BUILTIN["softner-9"].types)
    )
    (sid,) = space.allowed_ids(so, ["B-Library"])
    (idx,) = np.flatnonzero(space.set_table()[sid])
    assert space.flat_labels()[idx] == "so:B-Library"
    assert space.head_mask()[1, idx] and not space.head_mask()[0, idx]


def test_a_tag_outside_the_declaration_is_an_error_naming_file_and_type(tmp_path):
    bad = write_tagged(tmp_path / "so.txt", [("use http now", "O B-Protocol O")] * 3)
    cfg = TrainConfig.from_dict(
        dict(mode="merge", corpora=[
            {"name": "so", "declare": "softner-9", "train": str(bad)},
            {"name": "w", "declare": "wikiser", "train": str(bad)},
        ], output=str(tmp_path / "out"))
    )  # fmt: skip
    with pytest.raises(DataFormatError) as e:
        Trainer(cfg, progress=False)._read_data()
    assert str(bad) in str(e.value) and "'Protocol'" in str(e.value)
    assert "softner-9" in str(e.value)


@pytest.mark.parametrize(
    "decl,msg",
    [
        ({"types": ["A"], "relation": {}}, "no relation"),
        ({"types": ["A"], "relation": {"A": ["Libary"]}}, "unknown serkit type"),
        ({"types": ["A"], "relation": {"A": ["Library"]}, "unannotated": ["Library"]}, "both"),
        ({"types": ["A"], "relation": {"A": [], "B": []}}, "not in its types"),
    ],
)
def test_contradictory_declarations_are_clear_errors(tmp_path, decl, msg):
    path = tmp_path / "mine.toml"
    lines = [f"types = {decl['types']!r}".replace("'", '"'), "[relation]"]
    lines[1:1] = [f"unannotated = {decl.get('unannotated', [])!r}".replace("'", '"')]
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in decl["relation"].items()]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SerkitError, match=msg) as e:
        CorpusSpec.from_dict({"name": "c", "train": "t.txt", "declare": str(path)})
    assert str(path) in str(e.value)


def test_corpus_keys_are_checked():
    with pytest.raises(SerkitError, match="unknown corpus key"):
        CorpusSpec.from_dict({"name": "c", "train": "t", "wieght": 2})
    with pytest.raises(SerkitError, match="weight"):
        CorpusSpec.from_dict({"name": "c", "train": "t", "declare": "sner", "weight": 0})
    for weight in (float("nan"), float("inf")):  # TOML has both; nan > 0 is False, not True
        with pytest.raises(SerkitError, match="weight must be a finite number > 0"):
            CorpusSpec.from_dict({"name": "c", "train": "t", "declare": "sner", "weight": weight})
    with pytest.raises(SerkitError, match="one of dev"):
        CorpusSpec.from_dict(
            {"name": "c", "train": "t", "declare": "sner", "dev": "d", "val_slice": True}
        )
    with pytest.raises(SerkitError, match="needs several corpora"):
        TrainConfig.from_dict({"train": "t.txt", "mode": "partial"})


def test_projection_is_a_function_into_the_corpus_types():
    proj = BUILTIN["sner"].projection()
    assert proj["Library"] == proj["Application"] == "Fram"
    assert proj["Language"] == "PL" and proj["Algorithm"] is None


# -- heads and schemes at inference ---------------------------------------------------
def test_developer_scheme_splits_the_primary_o_by_the_fill_head():
    wl = ["O", "B-Protocol", "I-Protocol", "B-Library", "I-Library"]
    sl = ["O", "B-Library", "I-Library"]
    config = {
        "serkit_heads": [{"name": "w", "labels": wl}, {"name": "s", "labels": sl}],
        "serkit_schemes": {
            "dev": {
                "head": "s",
                "fill": {"head": "w", "types": ["Protocol"]},
                "types": ["Library", "Protocol"],
            },
            "wikiser": {"head": "w"},
        },  # fmt: skip
        "serkit_default_scheme": "dev",
    }
    heads = Heads(config, [f"w:{t}" for t in wl] + [f"s:{t}" for t in sl])
    view = heads.view()
    assert view.labels == ["O", "B-Library", "I-Library", "B-Protocol", "I-Protocol"]
    # one word: the s head says O 0.8 / B-Library 0.2; the w head says B-Protocol 3:1 over O
    w = np.log(np.array([0.2, 0.6, 0.0001, 0.1, 0.0999]))
    s = np.log(np.array([0.8, 0.2, 1e-9]))
    p = np.exp(view.apply(np.concatenate([w, s])[None, :]))[0]
    assert p.sum() == pytest.approx(1.0)
    assert p[1] == pytest.approx(0.2, abs=1e-6)  # Library: the primary head's own
    assert p[3] == pytest.approx(0.8 * 0.6 / (0.2 + 0.6 + 0.0001), rel=1e-3)
    assert heads.view("wikiser").labels == bio_labels(["Protocol", "Library"])
    with pytest.raises(SerkitError, match="unknown scheme"):
        heads.view("nope")


def test_one_head_model_maps_to_known_schemes():
    labels = bio_labels(BUILTIN["wikiser"].types)
    heads = Heads({}, labels)
    assert heads.view() is None and heads.view("wikiser") is None
    v = heads.view("softner-9")
    assert v is not None and "B-Protocol" not in v.labels and "B-Library" in v.labels
    sner = heads.view("sner")  # through the S-NER declaration's projection
    assert sner is not None and set(sner.labels) == set(bio_labels(["Fram", "Plat", "PL", "Stan"]))
    with pytest.raises(SerkitError, match="unknown scheme"):
        heads.view("nope")


# -- a toy run: one word, two conventions --------------------------------------------
A, B = CONVENTION_A, CONVENTION_B


def _toy_run(tmp: Path, **overrides) -> Path:
    """One multi-head model on the two conventions (corpora ``wiki`` and ``so``)."""
    bb = tiny_backbone(tmp / "bb")
    fa, fb = write_tagged(tmp / "a.txt", A), write_tagged(tmp / "b.txt", B)
    cfg = TrainConfig.from_dict({**dict(
        mode="multihead",
        corpora=[{"name": "wiki", "declare": "wikiser", "train": str(fa), "val_slice": True},
                 {"name": "so", "declare": "softner-9", "train": str(fb), "val_slice": True}],
        backbone=str(bb), features=["case"], epochs=12, lr=5e-3, head_lr=3e-2, warmup=0.0,
        batch_tokens=128, max_length=16, stride=4, k=2, alpha=1.0, seed=3,
        output=str(tmp / "out"), eval_every=0, checkpoint_every=50, log_every=5, threads=1,
        keep_best=False,
    ), **overrides})  # fmt: skip
    return Trainer(cfg, progress=False).run()


@pytest.fixture(scope="module")
def toy_multihead(tmp_path_factory) -> Path:
    return _toy_run(tmp_path_factory.mktemp("mc"))


def test_toy_two_conventions_in_one_model(toy_multihead):
    text = "i use tensorflow on linux ."
    wiki = serkit.load(str(toy_multihead), scheme="wikiser", prefer="torch")
    so = serkit.load(str(toy_multihead), scheme="softner-9", prefer="torch")
    assert [(e.text, e.label) for e in wiki(text)] == [
        ("tensorflow", "Language"), ("linux", "Operating_System")]  # fmt: skip
    assert [(e.text, e.label) for e in so(text)] == [
        ("tensorflow", "Library"), ("linux", "Operating_System")]  # fmt: skip
    # The default scheme (developer text): StackOverflow's convention where it has a type,
    # WikiSER's for the types it never annotates (Protocol).
    dev = serkit.load(str(toy_multihead), prefer="torch")
    assert sorted(dev.schemes) == ["developer", "softner-9", "wikiser"]
    assert ("tensorflow", "Library") in [(e.text, e.label) for e in dev(text)]
    assert [(e.text, e.label) for e in dev("http is a protocol")] == [("http", "Protocol")]
    assert [(e.text, e.label) for e in so("http is a protocol")] == []


def test_a_multi_head_student_distils_each_head_from_its_teacher(toy_multihead, tmp_path):
    student = _toy_run(tmp_path, teacher=str(toy_multihead), distill=1.0, epochs=6)
    recs = [json.loads(x) for x in (student / "metrics.jsonl").read_text().splitlines()]
    assert all(r["kd"] >= 0.0 for r in recs if "kd" in r) and any("kd" in r for r in recs)
    text = "i use tensorflow on linux ."
    for scheme, tf in (("wikiser", "Language"), ("softner-9", "Library")):
        tagger = serkit.load(str(student), scheme=scheme, prefer="torch")
        assert ("tensorflow", tf) in [(e.text, e.label) for e in tagger(text)]


def test_card_lists_schemes_and_corpora(toy_multihead):

    card = json.loads((toy_multihead / "serkit.json").read_text())
    assert card["mode"] == "multihead" and card["default_scheme"] == "developer"
    assert [c["name"] for c in card["corpora"]] == ["wiki", "so"]
    assert set(card["dev"]["corpora"]) == {"wiki", "so"}
    with pytest.raises(SerkitError, match="unknown scheme"):
        serkit.load(str(toy_multihead), scheme="sner", prefer="torch")


def test_server_answers_in_the_requested_scheme(toy_multihead):
    from fastapi.testclient import TestClient

    from serkit.serve.app import create_app

    tagger = serkit.load(str(toy_multihead), prefer="torch")
    text = "i use tensorflow on linux ."
    with TestClient(create_app(tagger)) as c:

        def labels(**kw):
            r = c.post("/v1/entities", json={"text": text, **kw})
            assert r.status_code == 200, r.text
            return {e["text"]: e["label"] for e in r.json()["entities"]}

        assert labels(scheme="wikiser")["tensorflow"] == "Language"
        assert labels(scheme="softner-9")["tensorflow"] == "Library"
        assert labels()["tensorflow"] == "Library"  # the default: developer
        r = c.post("/v1/entities", json={"text": text, "scheme": "klingon"})
        assert r.status_code == 400 and "known:" in r.json()["error"]["message"]
    # with_scheme never changed the served tagger itself
    assert tagger.view is not None and tagger.view.name == "developer"


def test_tag_cli_answers_in_the_requested_scheme(toy_multihead, capsys):

    from serkit.cli.main import main

    text = "i use tensorflow on linux ."
    for scheme, want in (("wikiser", "Language"), ("softner-9", "Library")):
        with pytest.raises(SystemExit) as done:
            main(["tag", "--model", str(toy_multihead), "--runtime", "torch", "--scheme", scheme,
                  "--text", text])  # fmt: skip
        assert done.value.code in (0, None)
        rec = json.loads(capsys.readouterr().out)
        assert {e["text"]: e["label"] for e in rec["entities"]}["tensorflow"] == want
    with pytest.raises(SystemExit) as e:
        main(["tag", "--model", str(toy_multihead), "--scheme", "nope", "--text", text])
    assert e.value.code == 2
    assert "unknown scheme 'nope'" in capsys.readouterr().err


# -- the lexicon feature in each head's convention --------------------------------------
def test_in_convention_retypes_only_what_the_corpus_labels():
    from serkit.lexicon import Lexicon
    from serkit.lexicon.core import Entry

    merged = Lexicon([Entry("TensorFlow", {"Language": 5, "Library": 2}, 1, 3),
                      Entry("Linux", {"Operating_System": 9}, 0, 4),
                      Entry("HTTP", {"Protocol": 7}, 2, 5)])  # fmt: skip
    own = Lexicon([Entry("tensorflow", {"Library": 2}), Entry("Linux", {"Application": 1}),
                   Entry("TENSORFLOW", {"Library": 1, "Language": 1})])  # fmt: skip
    conv = merged.in_convention(own)
    tf = conv["TensorFlow"]  # all casings of the surface vote: Library 3, Language 1
    assert (tf.type, tf.labelled, tf.untagged, tf.docs) == ("Library", 7, 1, 3)
    assert tf.ratio == merged["TensorFlow"].ratio  # the ratio features do not move
    assert conv["Linux"].type == "Application"
    assert conv["HTTP"].counts == {"Protocol": 7}  # not labelled by the corpus: as merged
    assert merged["TensorFlow"].type == "Language"  # the merged lexicon is left alone


@pytest.fixture(scope="module")
def toy_multihead_lex(tmp_path_factory) -> Path:
    """The toy run with the lexicon feature (no jackknife: two distinct sentences)."""
    return _toy_run(
        tmp_path_factory.mktemp("mclex"), features=["case", "lexicon"], lexicon_folds=0,
        epochs=2, k=1, alpha=0.0,
    )  # fmt: skip


def _lexicon_tags(tagger, text: str) -> list[str]:
    words = text.split()
    return tagger.encoder.lexicon_tagger(words)


def test_each_scheme_reads_the_lexicon_in_its_corpus_convention(toy_multihead_lex):

    d = toy_multihead_lex
    files = json.loads((d / "serkit.json").read_text())["files"]
    assert {"lexicon.tsv", "lexicon.wiki.tsv", "lexicon.so.tsv"} <= set(files)  # checksummed
    text = "i use tensorflow on linux ."
    tagger = serkit.load(str(d), prefer="torch")  # default scheme: developer (primary: so)
    wiki = tagger.with_scheme("wikiser")
    so = tagger.with_scheme("softner-9")
    assert _lexicon_tags(wiki, text)[2] == "B-Language"
    assert _lexicon_tags(so, text)[2] == "B-Library"
    assert _lexicon_tags(tagger, text)[2] == "B-Library"  # with_scheme left it as it was
    tagger.use_scheme("wikiser")
    assert _lexicon_tags(tagger, text)[2] == "B-Language"
    # The merged lexicon (what training read) ties 16:16 -> the alphabetically first type.
    from serkit.lexicon import Lexicon

    assert Lexicon.load(d / "lexicon.tsv")["tensorflow"].type == "Language"


def test_head_lexicons_travel_with_an_export_and_are_checked(toy_multihead_lex, tmp_path):
    import shutil

    from serkit.errors import ModelLoadError
    from serkit.models.export_onnx import export_onnx

    out = tmp_path / "onnx"
    export_onnx(toy_multihead_lex, out)
    assert (out / "lexicon.so.tsv").read_bytes() == (
        toy_multihead_lex / "lexicon.so.tsv"
    ).read_bytes()
    onnx = serkit.load(str(out), scheme="softner-9")
    assert onnx.runtime == "onnx" and _lexicon_tags(onnx, "tensorflow is fast")[0] == "B-Library"
    bad = tmp_path / "bad"
    shutil.copytree(toy_multihead_lex, bad)
    with open(bad / "lexicon.so.tsv", "a") as f:
        f.write("pytorch\tLibrary:1\t1\t0\t1.0000\t1\n")
    with pytest.raises(ModelLoadError, match="lexicon.so.tsv: damaged or changed"):
        serkit.load(str(bad), prefer="torch")


def test_training_features_follow_each_corpus_convention():
    """lexicon_conventions: a training sentence's (jackknifed) lexicon feature is typed as
    its own corpus types the surface, as the head of that corpus reads it at inference."""
    from serkit.corpora.declare import SERKIT_TYPES
    from serkit.tokens import Sentence
    from serkit.training.trainer import build_features

    sents = [Sentence(t.split(), g.split()) for t, g in A + B]
    corpus_of = ["wiki"] * len(A) + ["so"] * len(B)
    cfg = TrainConfig.from_dict({"features": ["lexicon"], "lexicon_folds": 2, "seed": 0})
    labels = bio_labels(SERKIT_TYPES)
    scheme, _, merged = build_features(cfg, sents, labels)
    _, _, conv = build_features(cfg, sents, labels, corpus_of)
    tf = [
        (i, s.tokens.index("tensorflow")) for i, s in enumerate(sents) if "tensorflow" in s.tokens
    ]
    lex_tag = {i: scheme.lexicon_tags[ids[k] % scheme.n_lex] for i, k in tf for ids in [conv[i]]}
    assert {lex_tag[i] for i, _ in tf if corpus_of[i] == "wiki"} == {"B-Language"}
    assert {lex_tag[i] for i, _ in tf if corpus_of[i] == "so"} == {"B-Library"}
    # Without conventions a sentence reads the merged majority of the other folds, which
    # for some sentences is the other corpus's type.
    merged_tag = {i: scheme.lexicon_tags[merged[i][k] % scheme.n_lex] for i, k in tf}
    assert any(merged_tag[i] != lex_tag[i] for i, _ in tf)


def test_validation_reads_each_corpus_lexicon_in_its_convention(tmp_path):
    """Checkpoint selection scores each corpus as the saved model will answer it: while a
    corpus is validated, the lexicon feature is typed in its head's convention."""
    bb = tiny_backbone(tmp_path / "bb")
    fa, fb = write_tagged(tmp_path / "a.txt", A), write_tagged(tmp_path / "b.txt", B)
    cfg = TrainConfig.from_dict(dict(
        mode="multihead",
        corpora=[{"name": "wiki", "declare": "wikiser", "train": str(fa), "val_slice": True},
                 {"name": "so", "declare": "softner-9", "train": str(fb), "val_slice": True}],
        backbone=str(bb), features=["case", "lexicon"], lexicon_folds=0, max_length=16,
        stride=4, output=str(tmp_path / "out"), threads=1,
    ))  # fmt: skip
    trainer = Trainer(cfg, progress=False)
    trainer._setup()
    seen: dict[str, str] = {}
    predict = trainer.tagger.predict_words

    def spy(batch):
        view = trainer.tagger.view
        seen[view.head] = _lexicon_tags(trainer.tagger, "i use tensorflow on linux .")[2]
        return predict(batch)

    trainer.tagger.predict_words = spy
    dev = trainer.evaluate_dev()
    assert set(dev["corpora"]) == {"wiki", "so"}
    assert seen == {"wiki": "B-Language", "so": "B-Library"}


def test_an_inline_declaration_mistake_names_the_config_file_and_corpus(tmp_path):
    """A declaration written in the config (README's format) is checked when the config
    is read, and its error says which file and corpus, not just 'config'."""
    data = write_tagged(tmp_path / "a.txt", CONVENTION_A[:3])
    path = tmp_path / "run.toml"
    path.write_text(
        f'[train]\nmode = "merge"\n[[train.corpora]]\nname = "w"\ndeclare = "wikiser"\n'
        f'train = "{data}"\n'
        f'[[train.corpora]]\nname = "mine"\ntrain = "{data}"\n'
        'types = ["Lib"]\n[train.corpora.relation]\nLib = ["Libary"]\n'
    )
    from serkit.training.config import load_config

    with pytest.raises(SerkitError) as e:
        load_config(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: corpora[1]: declaration 'mine'") and "'Libary'" in msg


def test_resume_refuses_a_corpus_declaration_changed_since_the_start(backbone, tmp_path):
    """A declaration file is re-read on --resume; one edited after a kill (same types, so
    the same label set) would train the rest of the run on other allowed sets."""
    decl = tmp_path / "mine.toml"
    decl.write_text(
        'types = ["Language", "Library", "Operating_System"]\nunannotated = ["Protocol"]\n'
        '[relation]\nLanguage = ["Language"]\nLibrary = ["Library"]\n'
        'Operating_System = ["Operating_System"]\n'
    )
    fa = write_tagged(tmp_path / "a.txt", CONVENTION_A)
    fb = write_tagged(tmp_path / "b.txt", CONVENTION_B)
    cfg = TrainConfig.from_dict(dict(
        mode="partial",
        corpora=[{"name": "wiki", "declare": "wikiser", "train": str(fa)},
                 {"name": "mine", "declare": str(decl), "train": str(fb)}],
        backbone=str(backbone), features=["case"], max_steps=4, batch_tokens=64,
        max_length=16, stride=4, output=str(tmp_path / "out"), checkpoint_every=2, threads=1,
    ))  # fmt: skip
    Trainer(cfg, progress=False).run(stop_at=3)
    decl.write_text(decl.read_text().replace('"Protocol"', '"Protocol", "Device"'))
    with pytest.raises(SerkitError) as e:
        Trainer(cfg, progress=False).run(resume=True)
    assert f"the declaration of corpus 'mine' ({decl}) changed" in str(e.value)
    decl.write_text(decl.read_text().replace(', "Device"', ""))  # restored: it goes on
    Trainer(cfg, progress=False).run(resume=True)
    assert json.loads((tmp_path / "out" / "serkit.json").read_text())["training"]["finished"]


def test_a_dev_type_outside_the_declaration_names_the_dev_file_not_a_mapping(tmp_path):
    """A corpus's mapping renames its training file only, so the dev file's error must not
    send the user to the mapping they already gave."""
    fb = write_tagged(tmp_path / "b.txt", CONVENTION_B[:3])
    dev = write_tagged(tmp_path / "dev.txt", [("use http", "O B-Protocol")])
    sp = spec("so", "softner-9", str(fb), dev=str(dev), mapping="stackoverflow-ner:softner-9")
    from serkit.training.data import read_corpus

    with pytest.raises(DataFormatError) as e:
        read_corpus(sp)
    msg = str(e.value)
    assert msg.startswith(f"{dev}:") and "'Protocol'" in msg
    assert "give a mapping" not in msg and "renames the train file only" in msg


def test_an_export_answers_in_every_scheme_as_the_torch_model(toy_multihead_lex, tmp_path):
    from serkit.models.export_onnx import export_onnx

    export_onnx(toy_multihead_lex, tmp_path / "onnx")
    card = json.loads((tmp_path / "onnx" / "serkit.json").read_text())
    assert card["schemes"] == json.loads((toy_multihead_lex / "serkit.json").read_text())["schemes"]
    words = [s.split() for s, _ in A + B][:6]
    for scheme in card["schemes"]:
        torch_t = serkit.load(str(toy_multihead_lex), scheme=scheme, prefer="torch")
        onnx_t = serkit.load(str(tmp_path / "onnx"), scheme=scheme)
        assert onnx_t.runtime == "onnx" and onnx_t.labels == torch_t.labels
        got, want = onnx_t.predict_words(words), torch_t.predict_words(words)
        assert [t for t, _ in got] == [t for t, _ in want], scheme
        for (_, a), (_, b) in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-4)
