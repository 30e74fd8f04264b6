"""Fixtures shared by several test files (pytest finds them here; no imports needed).

Plain helpers stay importable from their modules: ``_runtime_model`` (the tiny model
builder), ``_serve_helpers`` (dictionary tagger, live server), ``_corpus`` (tiny corpora).
"""

from __future__ import annotations

import os
from pathlib import Path

# The suite runs on the CPU even on a GPU machine: several tests compare runs bit for bit,
# and training defaults to device "auto". GPU paths are tested with torch.cuda patched.
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import pytest

from _runtime_model import build_tiny_model, tiny_backbone


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory) -> dict[str, Path]:
    """``torch``, ``onnx`` (fp32) and ``int8`` directories of one tiny model, built once."""
    from serkit.models.export_onnx import export_onnx

    root = tmp_path_factory.mktemp("tiny")
    torch_dir = build_tiny_model(root / "torch")
    export_onnx(torch_dir, root / "onnx")
    export_onnx(torch_dir, root / "int8", quantize="int8")
    return {"torch": torch_dir, "onnx": root / "onnx", "int8": root / "int8"}


@pytest.fixture(scope="session")
def onnx_tagger(tiny_dirs):
    from serkit.models.registry import load_tagger

    return load_tagger(tiny_dirs["onnx"], threads=1)


@pytest.fixture(scope="session")
def torch_tagger(tiny_dirs):
    from serkit.models.registry import load_tagger

    return load_tagger(tiny_dirs["torch"], prefer="torch", threads=1)


@pytest.fixture(scope="session")
def backbone(tmp_path_factory) -> Path:
    """A tiny random BERT saved like a hub model (the trainers' and encoders' tests)."""
    return tiny_backbone(tmp_path_factory.mktemp("bb"))
