"""The CRF on several corpora: flat merge and feature augmentation (one style per corpus),
schemes folded into the fast path, the pycrfsuite reference in agreement, and one-corpus
models as before."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import serkit
from _corpus import CONVENTION_A, CONVENTION_B, write_tagged
from serkit.card import read_card
from serkit.errors import InvalidScheme, ModelLoadError, SerkitError
from serkit.models.crf import CrfTagger
from serkit.models.crf_numpy import CrfWeights
from serkit.training.config import TrainConfig, load_config
from serkit.training.crf import train_crf_from_config, train_from_config

A, B = CONVENTION_A, CONVENTION_B
CRF = {"max_iterations": 80, "c1": 0.0, "c2": 0.01}


def _config(tmp: Path, mode: str, out: str, **extra) -> TrainConfig:
    fa, fb = write_tagged(tmp / "a.txt", A), write_tagged(tmp / "b.txt", B)
    corpora = [
        {"name": "wiki", "declare": "wikiser", "train": str(fa), "val_slice": True},
        {"name": "so", "declare": "softner-9", "train": str(fb), "val_slice": True},
    ]
    return TrainConfig.from_dict(
        {"arch": "crf", "mode": mode, "corpora": corpora, "output": str(tmp / out), **CRF, **extra}
    )


@pytest.fixture(scope="module")
def augmented(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("crf-aug")
    return train_from_config(_config(tmp, "multihead", "aug"))


@pytest.fixture(scope="module")
def merged(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("crf-merge")
    return train_from_config(_config(tmp, "merge", "merge"))


def _ents(tagger, text: str) -> list[tuple[str, str]]:
    return [(e.text, e.label) for e in tagger(text)]


def test_one_word_two_conventions_in_one_crf(augmented) -> None:
    text = "i use tensorflow on linux ."
    wiki = serkit.load(str(augmented), scheme="wikiser")
    so = serkit.load(str(augmented), scheme="softner-9")
    assert _ents(wiki, text) == [("tensorflow", "Language"), ("linux", "Operating_System")]
    assert _ents(so, text) == [("tensorflow", "Library"), ("linux", "Operating_System")]
    # developer (the default): Stack Overflow's style where it has a type, WikiSER's odds
    # for the types it never annotates (Protocol).
    dev = serkit.load(str(augmented))
    assert dev.scheme == "developer"
    assert sorted(dev.schemes) == ["developer", "softner-9", "wikiser"]
    assert ("tensorflow", "Library") in _ents(dev, text)
    assert _ents(dev, "http is a protocol") == [("http", "Protocol")]
    assert _ents(so, "http is a protocol") == []
    assert so.entity_types == ["Language", "Library", "Operating_System"]  # no Protocol in it
    assert dev.entity_types == ["Language", "Library", "Operating_System", "Protocol"]


def test_flat_merge_has_one_convention(merged) -> None:
    """The baseline: every scheme answers from one set of weights (what the corpora share)."""
    text = "i use tensorflow on linux ."
    answers = {s: _ents(serkit.load(str(merged), scheme=s), text) for s in ("wikiser", "softner-9")}
    tf = {s: dict(a).get("tensorflow") for s, a in answers.items()}
    assert tf["wikiser"] in ("Language", "Library")  # one of them, whatever the scheme
    assert tf["softner-9"] == tf["wikiser"]
    card = read_card(merged)
    assert card["mode"] == "merge" and card["styles"] == []
    assert card["default_scheme"] == "developer"


def test_card_lists_schemes_styles_and_per_corpus_validation(augmented) -> None:
    card = read_card(augmented)
    assert card["arch"] == "crf" and card["mode"] == "multihead"
    assert card["styles"] == ["wiki", "so"]
    assert card["schemes"] == list(card["scheme_specs"]) and card["default_scheme"] == "developer"
    assert card["scheme_specs"]["developer"]["fill"] == {"style": "wiki", "types": ["Protocol"]}
    assert [c["name"] for c in card["corpora"]] == ["wiki", "so"]
    dev = card["metrics"]["dev"]
    assert set(dev["corpora"]) == {"wiki", "so"}
    assert dev["f1"] == pytest.approx(sum(r["f1"] for r in dev["corpora"].values()) / 2, abs=1e-4)
    # B's validation sentence holds tensorflow as a Library: scored in B's own style
    assert dev["corpora"]["so"]["f1"] == 1.0 and dev["corpora"]["wiki"]["f1"] == 1.0
    assert card["training"]["sentences_by_corpus"] == {"wiki": 22, "so": 22}


def _random_batch(seed: int) -> list[list[str]]:
    vocab = sorted({w for text, _ in A + B for w in text.split()}) + ["unknown", "Linux", ","]
    rng = random.Random(seed)
    return [[rng.choice(vocab) for _ in range(rng.randint(0, 25))] for _ in range(80)]


@pytest.mark.parametrize("model", ["augmented", "merged"])
@pytest.mark.parametrize("scheme", ["wikiser", "softner-9"])
def test_fast_path_equals_crfsuite_with_styles(model, scheme, request) -> None:
    """Folded style weights (numpy) tag as crfsuite does on the augmented features."""
    tagger = CrfTagger.load(request.getfixturevalue(model)).with_scheme(scheme)
    batch = _random_batch(7) + [text.split() for text, _ in A[:3] + B[:3]]
    fast, ref = tagger.predict_words(batch), tagger.predict_words_crfsuite(batch)
    for (ft, fc), (rt, rc) in zip(fast, ref, strict=True):
        assert ft == rt
        assert fc == pytest.approx(rc, abs=1e-9)
    assert tagger.tag_sentences([serkit.Sentence(t) for t in batch]) == [t for t, _ in fast]


def test_developer_fill_is_the_fill_styles_odds_against_o(augmented) -> None:
    """A fill tag's score minus O's is the WikiSER style's; the other tags keep SO's."""
    tagger = CrfTagger.load(augmented)
    raw = tagger._weights
    dev = tagger._fast.w
    labels = raw.labels
    o, bp, blib = labels.index("O"), labels.index("B-Protocol"), labels.index("B-Library")
    from serkit.models.features import style_prefix, with_style

    feats = tagger.features(["http", "is", "a", "protocol"])[0]
    wiki, so = (raw.vector(with_style([feats], style_prefix(c))[0]) for c in ("wiki", "so"))
    d = dev.vector(feats)
    assert d[bp] - d[o] == pytest.approx(wiki[bp] - wiki[o])
    assert d[blib] - d[o] == pytest.approx(so[blib] - so[o])
    with pytest.raises(SerkitError, match="mixes two corpus styles"):
        tagger.predict_words_crfsuite([["http"]])


def test_with_scheme_views_share_the_model_and_leave_it_alone(augmented) -> None:
    tagger = CrfTagger.load(augmented)
    text = "i use tensorflow on linux ."
    before = _ents(tagger, text)
    wiki = tagger.with_scheme("wikiser")
    assert dict(_ents(wiki, text))["tensorflow"] == "Language"
    assert _ents(tagger, text) == before and tagger.scheme == "developer"
    assert wiki._weights is tagger._weights and wiki._folds is tagger._folds
    assert tagger.with_scheme("wikiser")._fast is wiki._fast  # folded once per model
    with pytest.raises(InvalidScheme, match="unknown scheme 'sner'"):
        tagger.use_scheme("sner")


def test_train_cli_with_a_config_file(tmp_path) -> None:
    """`serkit train --config m1-crf-like.toml` reaches the multi-corpus CRF."""
    from serkit.cli.main import main

    cfg = _config(tmp_path, "multihead", "cli")
    toml = tmp_path / "m1.toml"
    lines = ["[train]", 'arch = "crf"', 'mode = "multihead"', f'output = "{cfg.output}"',
             "max_iterations = 80", "c1 = 0.0", "c2 = 0.01"]  # fmt: skip
    for c in cfg.corpora or []:
        lines += ["[[train.corpora]]"] + [f"{k} = {json.dumps(v)}" for k, v in c.items()]
    toml.write_text("\n".join(lines) + "\n")
    assert load_config(toml).corpora == cfg.corpora
    try:
        main(["train", "--config", str(toml)])
    except SystemExit as e:
        assert not e.code
    tagger = serkit.load(cfg.output, scheme="wikiser")
    assert dict(_ents(tagger, "tensorflow is fast"))["tensorflow"] == "Language"


def test_shipped_m1_crf_configs_parse() -> None:
    root = Path(__file__).resolve().parents[1] / "configs"
    for name, mode in (("m1-crf.toml", "multihead"), ("m1-crf-merge.toml", "merge")):
        cfg = load_config(root / name)
        assert (cfg.arch, cfg.mode, cfg.protocol) == ("crf", mode, "M1")
        assert [c.name for c in cfg.corpus_specs()] == ["wikiser", "stackoverflow", "sner"]


def test_weights_repeat_a_corpus(tmp_path) -> None:
    cfg = _config(tmp_path, "merge", "w")
    assert cfg.corpora is not None
    cfg.corpora[1]["weight"] = 2.0
    card = read_card(train_from_config(cfg))
    assert card["training"]["sentences_by_corpus"] == {"wiki": 22, "so": 44}


def test_bad_multi_corpus_crf_configs(tmp_path) -> None:
    with pytest.raises(SerkitError, match="no partial labels"):
        train_from_config(_config(tmp_path, "partial", "p"))
    cfg = _config(tmp_path, "multihead", "bar")
    assert cfg.corpora is not None
    cfg.corpora[0]["name"] = "wi|ki"
    with pytest.raises(SerkitError, match="may not hold"):
        train_from_config(cfg)


def test_a_card_naming_a_style_the_model_lacks_is_refused(augmented, tmp_path) -> None:
    d = tmp_path / "copy"
    CrfTagger.load(augmented).save(d)
    card = read_card(d)
    card["scheme_specs"]["wikiser"]["style"] = "nowhere"
    CrfTagger.load(augmented).save(d, card)
    with pytest.raises(ModelLoadError, match="style 'nowhere'"):
        serkit.load(str(d))


def test_one_corpus_models_are_as_before(tmp_path) -> None:
    """A one-corpus CRF has no styles and no schemes, and mode 'single' on a declared
    corpus trains byte for byte the model a plain ``train`` config does."""
    fa = write_tagged(tmp_path / "a.txt", A)
    plain = train_crf_from_config({"train": str(fa), "val_slice": True, **CRF}, tmp_path / "p")
    single = train_from_config(TrainConfig.from_dict({
        "arch": "crf", "output": str(tmp_path / "s"), **CRF,
        "corpora": [{"name": "wiki", "declare": "wikiser", "train": str(fa), "val_slice": True}],
    }))  # fmt: skip
    data = (tmp_path / "p" / "crf.crfsuite").read_bytes()
    assert data == (single / "crf.crfsuite").read_bytes()
    assert CrfWeights(data).styles() == {}
    assert plain.schemes == [] and plain.scheme is None
    assert not {"scheme_specs", "styles", "default_scheme"} & set(read_card(tmp_path / "p"))
    with pytest.raises(InvalidScheme):
        plain.use_scheme("wikiser")
    batch = _random_batch(3)
    assert plain.predict_words(batch) == CrfTagger.load(tmp_path / "p").predict_words(batch)
