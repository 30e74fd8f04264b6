"""Hugging Face shapes: ``Entity.to_hf`` / ``serkit tag -f hf`` give the token-classification
pipeline's dicts, and every saved or exported model folder has a Hub model card README."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from typer.testing import CliRunner

import serkit.cli.main  # noqa: F401  (registers the commands)
from serkit.cli._app import app
from serkit.models import folder, hub_card
from serkit.models.folder import README, read_card, record_result, verify_all, write_card
from serkit.models.registry import default_model_dir, load_tagger
from serkit.tokens import Entity

TEXT = "I installed TensorFlow on Ubuntu 22.04 with pip and ran it on an NVIDIA A100."


def test_to_hf_has_the_pipeline_keys_order_and_types(tiny_dirs):
    """The same tiny model through transformers' own pipeline: same keys, same order,
    the same Python types once numpy's float32 is a float."""
    from transformers import pipeline

    pipe = pipeline(
        "token-classification",
        model=str(tiny_dirs["torch"]),
        aggregation_strategy="simple",
        device="cpu",
    )
    theirs = pipe(TEXT)
    assert theirs, "the tiny model tags plenty; the pipeline found nothing"
    ours = Entity(12, 22, "Library", "TensorFlow", 0.875).to_hf()
    assert list(ours) == list(theirs[0])
    for key, value in theirs[0].items():
        cast = float(value) if key == "score" else value
        assert type(ours[key]) is type(cast), key
    assert ours == {
        "entity_group": "Library",
        "score": 0.875,
        "word": "TensorFlow",
        "start": 12,
        "end": 22,
    }


def test_tag_format_hf_gives_one_pipeline_list_per_document(tiny_dirs, onnx_tagger):
    res = CliRunner().invoke(
        app,
        ["tag", TEXT, "Linux and Windows", "-f", "hf", "-m", str(tiny_dirs["onnx"])],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in res.stdout.splitlines()]
    assert lines == [
        [e.to_hf() for e in onnx_tagger(TEXT)],
        [e.to_hf() for e in onnx_tagger("Linux and Windows")],
    ]
    assert any(lines[0]) and all(TEXT[d["start"] : d["end"]] == d["word"] for d in lines[0])


def _card(d: Path) -> ModelCard:
    return ModelCard((d / README).read_text(encoding="utf-8"))


@pytest.mark.parametrize("which", ["torch", "onnx", "int8"])
def test_saved_and_exported_folders_have_a_hub_model_card(tiny_dirs, which):
    d = tiny_dirs[which]
    card = _card(d)  # huggingface_hub parses the front matter
    meta = card.data.to_dict()
    assert meta["pipeline_tag"] == "token-classification"
    assert meta["library_name"] == "serkit"
    assert meta["language"] == ["en"] and "serkit" in meta["tags"]
    assert hub_card.GENERATED in card.text
    for section in ("## Training data", "## Licence", "## Intended use", "## Limitations"):
        assert section in card.text
    assert README not in read_card(d)["files"]  # not a weight file: never checksummed


def test_model_index_follows_the_recorded_results(tiny_dirs, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(tiny_dirs["onnx"], d)
    assert "model-index" not in _card(d).data.to_dict()  # nothing evaluated yet
    result = {"precision": 0.5, "recall": 0.25, "f1": 0.3333, "test": "data/x/test.txt"}
    record_result(d, "T1", result)
    record_result(d, "T1-dev", {**result, "f1": 0.4, "scheme": "dev-scheme"})
    evals = _card(d).data.eval_results
    got = {(e.dataset_config, e.metric_type): e.metric_value for e in evals}
    assert got[(None, "f1")] == 0.3333 and got[(None, "recall")] == 0.25
    assert got[("dev-scheme", "f1")] == 0.4
    assert {e.dataset_split for e in evals} == {"test"}
    assert all(e.task_type == "token-classification" for e in evals)
    assert "| T1 | x/test.txt |" in _card(d).text


def test_a_hand_written_readme_is_kept_and_never_breaks_loading(tiny_dirs, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(tiny_dirs["onnx"], d)
    (d / README).write_text("# my model\n\nmy words\n", encoding="utf-8")
    record_result(d, "T1", {"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert (d / README).read_text(encoding="utf-8") == "# my model\n\nmy words\n"
    verify_all(d, read_card(d))
    assert load_tagger(d, threads=1)(TEXT) == load_tagger(tiny_dirs["onnx"], threads=1)(TEXT)


def test_licence_comes_from_the_card_else_the_base_model(tmp_path):
    def licence(card):
        write_card(tmp_path, card)
        return _card(tmp_path).data.to_dict().get("license")

    assert licence({"arch": "crf", "labels": ["O", "B-X", "I-X"]}) is None
    assert "not recorded" in (tmp_path / README).read_text(encoding="utf-8")
    assert licence({"arch": "transformer", "backbone": "minilm"}) == "apache-2.0"
    assert licence({"arch": "crf", "license": "mit", "backbone": "minilm"}) == "mit"


def test_a_damaged_card_value_does_not_stop_a_save(tmp_path):
    """Hand-edited cards hold odd values; the README skips what it cannot read."""
    card = {
        "arch": "crf",
        "labels": ["O", 3, "B-X"],
        "results": {"a": "x", "b": {"f1": "high"}, "c": {"precision": 1, "recall": 1, "f1": 1}},
        "corpora": ["x", {"name": "n", "train": 5}],
        "dev": {"corpora": []},
        "schemes": [None, "s"],
    }
    write_card(tmp_path, card)
    evals = _card(tmp_path).data.eval_results
    assert [e.metric_value for e in evals] == [1.0, 1.0, 1.0]


def test_the_shipped_default_readme_is_current():
    """Regenerated with the writer whenever the default's card changes (export does it)."""
    d = default_model_dir()
    card = read_card(d)
    text = (d / README).read_text(encoding="utf-8")
    assert text == hub_card.render_readme(card, card["name"])
    evals = ModelCard(text).data.eval_results
    f1 = {(e.dataset_name, e.dataset_config, e.dataset_split): e.metric_value
          for e in evals if e.metric_type == "f1"}  # fmt: skip
    n_dev = len(card["dev"]["corpora"])
    assert len(f1) == len(card["results"]) + n_dev  # no two entries merged
    assert sorted(v for k, v in f1.items() if k[2] == "test") == sorted(
        r["f1"] for r in card["results"].values()
    )
    assert ModelCard(text).data.datasets == ["taidng/WikiSER"]
    assert folder.README == "README.md"
