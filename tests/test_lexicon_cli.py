"""`serkit lexicon build|stats` and `serkit weak-label` end to end on small files."""

from __future__ import annotations

import json

import pytest

from _corpus import write_tagged
from serkit.cli.main import main
from serkit.files import read_all
from serkit.lexicon import Lexicon

CORPUS = [
    ("I use Visual Studio Code on Linux", "O O B-Application I-Application I-Application O B-OS"),
    ("Visual Studio is an IDE", "B-Application I-Application O O O"),
    ("Python runs on Linux", "B-Language O O B-OS"),
    ("We like Python", "O O B-Language"),
]

RAW = (
    "Yesterday I opened Visual Studio Code on Linux.  Then I wrote\n"
    "some Python in Visual Studio!\n"
    "\n"
    "Unicode first: naïve café users run Linux too.\n"
)


def run(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as e:
        return int(e.code or 0)
    return 0


@pytest.fixture()
def lexicon_file(tmp_path):
    data = write_tagged(tmp_path / "corpus.txt", CORPUS)
    out = tmp_path / "lex.tsv"
    assert run("lexicon", "build", str(data), "-o", str(out)) == 0
    return out


def test_build_and_stats(lexicon_file, capsys) -> None:
    lex = Lexicon.load(lexicon_file)
    assert lex["Visual Studio Code"].counts == {"Application": 1}
    assert lex["Linux"].counts == {"OS": 2}
    assert lex["Python"].docs == 1  # one file = one document
    capsys.readouterr()
    assert run("lexicon", "stats", str(lexicon_file), "--json") == 0
    st = json.loads(capsys.readouterr().out)
    assert st["entries"] == 4
    assert st["types"]["Application"] == {"entries": 2, "labelled": 2}
    assert run("lexicon", "stats", str(lexicon_file)) == 0
    assert "Application" in capsys.readouterr().out


def test_weak_label_raw_text_offsets(lexicon_file, tmp_path) -> None:
    raw = tmp_path / "notes.txt"
    raw.write_text(RAW, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert run("weak-label", "--lexicon", str(lexicon_file), str(raw), "-o", str(out)) == 0
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    found = []
    for doc in docs:
        text = doc["text"]
        assert text in RAW
        for tok in doc["tokens"]:
            assert text[tok["start"] : tok["end"]] == tok["text"]
        for ent in doc["entities"]:
            found.append((text[ent["start"] : ent["end"]], ent["label"]))
    assert found == [
        ("Visual Studio Code", "Application"),
        ("Linux", "OS"),
        ("Python", "Language"),
        ("Visual Studio", "Application"),
        ("Linux", "OS"),
    ]


def test_weak_label_token_file_to_conll(lexicon_file, tmp_path) -> None:
    src = tmp_path / "in.conll"
    src.write_text("Linux\tO\nand\tO\nPython\tO\n\nnothing\tO\n", encoding="utf-8")
    out = tmp_path / "out.conll"
    args = ("weak-label", "-l", str(lexicon_file), str(src), "-o", str(out), "--case", "sensitive")
    assert run(*args) == 0
    sents = read_all(out, "conll")
    assert [s.tags for s in sents] == [["B-OS", "O", "B-Language"], ["O"]]


def test_weak_label_min_ratio_and_errors(lexicon_file, tmp_path) -> None:
    raw = tmp_path / "t.txt"
    raw.write_text("Linux and Python here.\n")
    out = tmp_path / "o.jsonl"
    assert (
        run("weak-label", "-l", str(lexicon_file), str(raw), "-o", str(out), "--min-ratio", "1")
        == 0
    )
    assert len(json.loads(out.read_text())["entities"]) == 2
    assert run("weak-label", "-l", str(tmp_path / "missing.tsv"), str(raw), "-o", str(out)) == 2
    assert (
        run("weak-label", "-l", str(lexicon_file), str(tmp_path / "none.txt"), "-o", str(out)) == 2
    )
    assert run("weak-label", "-l", str(lexicon_file), str(raw), "-o", str(out), "--case", "x") == 2
    bad = tmp_path / "bad.tsv"
    bad.write_text("surface\ttypes\nLinux\tOS:many\n")
    assert run("weak-label", "-l", str(bad), str(raw), "-o", str(tmp_path / "n.jsonl")) == 2
    assert not (tmp_path / "n.jsonl").exists()


def test_build_with_a_mapping_typo_says_which_type_it_dropped(tmp_path, capsys):
    data = write_tagged(tmp_path / "corpus.txt", CORPUS)
    (tmp_path / "m.json").write_text(json.dumps({"Aplication": "Application", "OS": "OS"}))
    out, table = tmp_path / "lex.tsv", str(tmp_path / "m.json")
    assert run("lexicon", "build", str(data), "-o", str(out), "--map", table) == 0
    err = capsys.readouterr().err
    assert "Application (listed: 'Aplication', a typo?)" in err and "Language" in err
    assert set(Lexicon.load(out).stats()["types"]) == {"OS"}


def test_weak_label_conll2003_file_keeps_its_tokens_and_columns(lexicon_file, tmp_path) -> None:
    """A CoNLL-2003 file (space-separated columns, -DOCSTART-) was taken for prose, or with
    --from conll each whole line for one token; now its tokens are its first column and the
    weak labels replace its tag column (--tag-col 3), the other columns kept."""
    src = tmp_path / "eng.txt"
    src.write_text(
        "-DOCSTART- -X- O O\n\nI PRP B-NP O\nrun VBP B-VP O\nLinux NNP B-NP O\n\n"
        "Python NNP B-NP B-MISC\nrocks VBZ B-VP O\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.conll"
    args = ("weak-label", "-l", str(lexicon_file), str(src), "--min-ratio", "0")
    assert run(*args, "-o", str(out), "--tag-col", "3") == 0
    assert out.read_text().split("\n") == [
        "I\tPRP\tB-NP\tO", "run\tVBP\tB-VP\tO", "Linux\tNNP\tB-NP\tB-OS", "",
        "Python\tNNP\tB-NP\tB-Language", "rocks\tVBZ\tB-VP\tO", "",
    ]  # fmt: skip
    # the default tag column holds part-of-speech tags: one error line, nothing written
    assert run(*args, "--from", "conll", "-o", str(tmp_path / "pos.conll")) == 2
    assert not (tmp_path / "pos.conll").exists()
