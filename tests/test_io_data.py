"""Acceptance checks on the real corpora in ../shared/data (read-only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import serkit.cli.data  # noqa: F401  (registers `serkit data ...`)
from serkit import files
from serkit.cli._app import app

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FILES = sorted(DATA.glob("*/*.txt"))

pytestmark = pytest.mark.integration


def test_all_nine_corpus_files_are_present():
    assert len(FILES) == 9, FILES


def test_stats_wikiser_small_test_acceptance():
    """7992 sentences, 295013 tokens, 25546 entities (no stray I- in this file, so the
    count is the same whether stray I- opens an entity, is repaired, or is dropped)."""
    r = CliRunner().invoke(app, ["data", "stats", str(DATA / "wikiser-small/test.txt"), "--json"])
    assert r.exit_code == 0, r.output
    st = json.loads(r.stdout)
    got = (st["sentences"], st["tokens"], st["entities"], st["stray_i"])
    assert got == (7992, 295013, 25546, 0)
    assert len(st["entities_per_type"]) == 12


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_jsonl_round_trip_back_to_own_format(path, tmp_path):
    src = files.read(path)
    fmt = src.format
    original = list(src)
    jsonl = tmp_path / "x.jsonl"
    files.write(jsonl, original, "jsonl")
    back = tmp_path / "back.txt"
    files.write(back, files.read(jsonl, "jsonl"), fmt)
    again = files.read(back)
    assert again.format == fmt
    n = 0
    for a, b in zip(original, again, strict=True):
        assert (a.tokens, a.tags) == (b.tokens, b.tags), (path, a.line)
        assert a.meta.get("columns") == b.meta.get("columns")  # CoNLL extra columns survive
        n += 1
    assert n == len(original) > 0
    if fmt == "wikiser":
        assert back.read_bytes() == path.read_bytes()
