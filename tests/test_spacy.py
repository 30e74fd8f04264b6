"""The spaCy component: ``spacy.blank("en").add_pipe("serkit")`` (no spaCy model download)."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import warnings
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import spacy
from spacy import displacy

from _runtime_model import build_tiny_model
from serkit.errors import SerkitError
from serkit.integrations.spacy import MisalignedEntities, SerkitComponent, make_serkit
from serkit.models.registry import load_tagger
from serkit.tagger import Tagger

# Words the tiny model knows, and spaCy tokenises as serkit does: every span aligns.
TEXTS = [
    "I installed tensorflow on ubuntu with pip.",
    "The python library runs on linux and windows.",
    "Java code uses an nvidia a100.",
    "I ran it on windows.",
    "Linux is the code of ubuntu.",
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("spacy") / "tiny")


@pytest.fixture(scope="module")
def tiny_tagger(tiny_model):
    return load_tagger(tiny_model, prefer="torch", threads=1)


def _nlp(model: Path | str | None, **config):
    nlp = spacy.blank("en")
    nlp.add_pipe("serkit", config={"model": None if model is None else str(model), **config})
    return nlp


def _spans(spans) -> list[tuple[int, int, str]]:
    return [(s.start_char, s.end_char, s.label_) for s in spans]


def _entities(tagger, text) -> list[tuple[int, int, str]]:
    return [(e.start, e.end, e.label) for e in tagger(text)]


class WordTagger(Tagger):
    """Tags the given words as one-word entities: alignment cases made to order."""

    def __init__(self, words: dict[str, str]) -> None:
        self.words = words
        self.labels = ["O", *sorted({f"B-{t}" for t in words.values()})]
        self.card = {}

    def predict_words(self, batch):
        return [
            ([f"B-{self.words[w]}" if w in self.words else "O" for w in s], [0.9] * len(s))
            for s in batch
        ]


def test_factory_comes_from_the_spacy_factories_entry_point():
    (ep,) = entry_points(group="spacy_factories", name="serkit")
    assert ep.load() is make_serkit
    # A fresh interpreter that never imports serkit itself still finds the factory.
    code = (
        "import sys, spacy; nlp = spacy.blank('en'); p = nlp.add_pipe('serkit'); "
        "print(nlp.pipe_names, type(p).__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["['serkit']", "serkit.integrations.spacy"]


def test_doc_ents_are_the_taggers_entities(tiny_model, tiny_tagger):
    nlp = _nlp(tiny_model, runtime="torch", threads=1)
    pipe = nlp.get_pipe("serkit")
    found = 0
    for text in TEXTS:
        doc = nlp(text)
        want = _entities(tiny_tagger, text)
        assert _spans(doc.ents) == want
        assert [s._.serkit_score for s in doc.ents] == [e.score for e in tiny_tagger(text)]
        found += len(want)
    assert found >= 3  # the tiny random model tags plenty: the comparison is not vacuous
    assert pipe.misaligned == 0 and pipe.dropped == 0


def test_pipe_batches_through_tagger_pipe(tiny_model, tiny_tagger):
    nlp = _nlp(tiny_model, runtime="torch", threads=1, batch_size=4)
    pipe = nlp.get_pipe("serkit")
    calls: list[int] = []
    inner = pipe.tagger.predict_words

    def counting(batch):
        calls.append(len(batch))
        return inner(batch)

    pipe.tagger.predict_words = counting
    docs = list(nlp.pipe(TEXTS, batch_size=2))
    assert [_spans(d.ents) for d in docs] == [_entities(tiny_tagger, t) for t in TEXTS]
    assert sum(calls) == len(TEXTS) and max(calls) == 2  # several docs per call, at most 2
    calls.clear()
    list(nlp.pipe(TEXTS))  # spaCy passes batch_size=1000: capped by the config's 4
    assert sum(calls) == len(TEXTS) and max(calls) == 4


def test_misaligned_entities_are_adjusted_or_counted_and_reported():
    text = "pip install numpy==1.26 and scipy now"  # spaCy: one token "numpy==1.26"
    tagger = WordTagger({"numpy": "Library", "scipy": "Library"})

    def run(mode):
        nlp = spacy.blank("en")
        pipe = nlp.add_pipe("serkit", config={"alignment_mode": mode})
        pipe.tagger = tagger
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            doc = nlp(text)
        return doc, pipe, [str(w.message) for w in caught if w.category is MisalignedEntities]

    doc, pipe, said = run("expand")
    assert [(s.text, s.label_) for s in doc.ents] == [
        ("numpy==1.26", "Library"),
        ("scipy", "Library"),
    ]
    assert (pipe.misaligned, pipe.dropped) == (1, 0)
    assert len(said) == 1 and "'numpy' [12:17] Library -> 'numpy==1.26'" in said[0]
    for mode in ("strict", "contract"):
        doc, pipe, said = run(mode)
        assert [s.text for s in doc.ents] == ["scipy"]
        assert (pipe.misaligned, pipe.dropped) == (1, 1)
        assert len(said) == 1 and "left out: 1: 'numpy' [12:17] Library" in said[0]


def test_entities_sharing_a_spacy_token_overlap_in_ents_not_in_spans():
    text = "use numpy==scipy here"  # serkit: numpy, ==, scipy; spaCy: one token
    tagger = WordTagger({"numpy": "Library", "scipy": "Library"})
    for key, kept, dropped in ((None, 1, 1), ("sw", 2, 0)):
        nlp = spacy.blank("en")
        pipe = nlp.add_pipe("serkit", config={"spans_key": key})
        pipe.tagger = tagger
        with pytest.warns(MisalignedEntities, match="overlaps" if dropped else "adjusted"):
            doc = nlp(text)
        spans = doc.ents if key is None else doc.spans[key]
        assert [s.text for s in spans] == ["numpy==scipy"] * kept
        assert (pipe.misaligned, pipe.dropped) == (2, dropped)


def test_spans_key_leaves_existing_entities_alone(tiny_model, tiny_tagger):
    text = TEXTS[0]
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "ORG", "pattern": "I"}])
    nlp.add_pipe("serkit", config={"model": str(tiny_model), "runtime": "torch", "spans_key": "sw"})
    doc = nlp(text)
    assert _spans(doc.ents) == [(0, 1, "ORG")]
    assert _spans(doc.spans["sw"]) == _entities(tiny_tagger, text) != []
    # Without a key, serkit's entities replace the ruler's.
    nlp.remove_pipe("serkit")
    nlp.add_pipe("serkit", config={"model": str(tiny_model), "runtime": "torch"})
    assert _spans(nlp(text).ents) == _entities(tiny_tagger, text)


def test_to_disk_copies_the_model_and_from_disk_uses_it(tmp_path, tiny_model, tiny_tagger):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    (model / "pytorch_model.bin").write_bytes(b"a pickle never travels")
    (model / "checkpoint").mkdir()  # training state: not part of the model
    (model / "metrics.jsonl").write_text('{"step": 1}\n')  # the run's log: not either
    nlp = _nlp(model, runtime="torch", threads=1)
    want = [_spans(nlp(t).ents) for t in TEXTS]
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(model)  # the saved pipeline stands alone

    copied = tmp_path / "pipeline" / "serkit" / "model"
    names = sorted(p.name for p in copied.iterdir())
    assert "serkit.json" in names and "model.safetensors" in names
    assert "pytorch_model.bin" not in names and "checkpoint" not in names
    assert "metrics.jsonl" not in names
    nlp2 = spacy.load(tmp_path / "pipeline")
    pipe = nlp2.get_pipe("serkit")
    assert [_spans(nlp2(t).ents) for t in TEXTS] == want
    assert pipe.tagger.model_dir == copied
    # Saving a loaded pipeline again (over its own copy, or elsewhere) keeps the model.
    nlp2.to_disk(tmp_path / "pipeline")
    nlp2.to_disk(tmp_path / "again")
    assert [_spans(spacy.load(tmp_path / "again")(t).ents) for t in TEXTS] == want


def test_a_pickled_pipeline_loads_its_model_again(tmp_path):
    """``nlp.pipe(n_process=2)`` pickles ``nlp`` where processes spawn (macOS, Windows):
    a loaded tagger holding a lock (the lexicon feature) or an ONNX session must not
    travel; the copy loads the same folder on first use and tags the same."""
    model = build_tiny_model(tmp_path / "lex", lexicon=True)
    nlp = _nlp(model, runtime="torch", threads=1)
    want = [_spans(nlp(t).ents) for t in TEXTS]
    assert any(want)
    copy = pickle.loads(pickle.dumps(nlp))
    assert [_spans(copy(t).ents) for t in TEXTS] == want
    assert copy.get_pipe("serkit").tagger.model_dir == model
    # A tagger set by hand travels as it is (nothing to load it from).
    pipe = nlp.get_pipe("serkit")
    pipe.tagger = WordTagger({"numpy": "Library"})
    copy = pickle.loads(pickle.dumps(nlp))
    assert [s.text for s in copy("use numpy").ents] == ["numpy"]


def test_displacy_renders_the_entities(tiny_model):
    doc = _nlp(tiny_model, runtime="torch")(TEXTS[1])
    html = displacy.render(doc, style="ent")
    assert doc.ents
    for ent in doc.ents:
        assert f"{ent.text}\n" in html and ent.label_ in html


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"alignment_mode": "fuzzy"}, "alignment_mode 'fuzzy'"),
        ({"batch_size": 0}, "batch_size"),
        ({"spans_key": ""}, "spans_key"),
        # Refused when the component is added, as device and dtype are, not at the first
        # text (an unknown runtime) nor as torch's RuntimeError there (a negative count).
        ({"runtime": "fast"}, "unknown runtime 'fast'"),
        ({"threads": -1}, "threads must be an int >= 0"),
    ],
)
def test_bad_config_is_one_clear_error(config, message):
    with pytest.raises(SerkitError, match=message):
        spacy.blank("en").add_pipe("serkit", config=config)


def test_bad_model_is_a_model_load_error_on_first_use(tmp_path):
    nlp = _nlp(tmp_path / "missing")
    with pytest.raises(SerkitError, match="no such model directory"):
        nlp("text")


def test_component_is_a_plain_class_too(tiny_tagger):
    pipe = SerkitComponent(spacy.blank("en"), spans_key="x")
    pipe.tagger = tiny_tagger
    doc = pipe(spacy.blank("en")(TEXTS[0]))
    assert _spans(doc.spans["x"]) == _entities(tiny_tagger, TEXTS[0])


@pytest.mark.integration
def test_shipped_default_model_in_spacy():
    import serkit

    text = "I installed TensorFlow on Ubuntu 22.04 and wrote it in Python."
    nlp = _nlp(None, scheme="wikiser")
    doc = nlp(text)
    want = [(e.start, e.end, e.label) for e in serkit.load(scheme="wikiser")(text)]
    assert _spans(doc.ents) == want
    got = {(s.text, s.label_) for s in doc.ents}
    assert ("Ubuntu", "Operating_System") in got or ("Ubuntu 22.04", "Operating_System") in got
    assert json.dumps(displacy.render(doc, style="ent")).count("Operating_System") >= 1
