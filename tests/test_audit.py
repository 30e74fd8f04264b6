"""serkit audit: ranking of injected errors, --fix round trips, reports of clean corpora."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from _cli import run_cli
from serkit.audit import audit, read_corpus
from serkit.audit.findings import diff_regions, kind_of
from serkit.errors import SerkitError
from serkit.files import read, write
from serkit.tokens import Sentence

NAMES = {
    "Language": ["Java", "Python", "Rust", "Haskell"],
    "Operating_System": ["Linux", "Windows", "macOS", "FreeBSD"],
    "Application": ["Firefox", "Emacs", "Photoshop", "Excel"],
    "Library": ["NumPy", "React", "Django", "jQuery"],
}
TEMPLATES = [
    ("I write {Language} code on {Operating_System} every day .", None),
    ("{Application} crashed again on {Operating_System} after the update .", None),
    ("We call {Library} from {Language} in this project .", None),
    ("She opened {Application} and then imported {Library} .", None),
    ("The weather was nice and nobody wrote any code today .", None),
]


def toy_corpus(n: int = 80, seed: int = 0) -> list[Sentence]:
    """Consistently labelled template sentences: every name occurs many times."""
    rng = random.Random(seed)
    used = {typ: 0 for typ in NAMES}
    out = []
    for i in range(n):
        template = TEMPLATES[(i // 5 + i) % len(TEMPLATES)][0]  # not aligned with folds
        tokens, tags = [], []
        for word in template.split():
            if word.startswith("{"):
                typ = word[1:-1]
                names = NAMES[typ]
                tokens.append(names[(used[typ] + rng.randrange(2)) % len(names)])
                used[typ] += 1
                tags.append(f"B-{typ}")
            else:
                tokens.append(word)
                tags.append("O")
        out.append(Sentence(tokens, tags))
    return out


def inject_wrong_type(sentences: list[Sentence]) -> tuple[int, int]:
    """Retype the language of sentence 10 to Library; returns (sentence, token)."""
    s = sentences[10]
    k = next(i for i, t in enumerate(s.tags) if t == "B-Language")
    s.tags[k] = "B-Library"
    return 10, k


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_diff_regions_and_kinds():
    given = ["B-A", "I-A", "O", "B-B", "O", "O"]
    pred = ["B-A", "O", "O", "B-C", "O", "B-D"]
    assert diff_regions(given, pred) == [(0, 2), (3, 4), (5, 6)]
    assert kind_of(["B-A", "I-A"], ["B-A", "O"]) == "wrong_boundary"
    assert kind_of(["B-B"], ["B-C"]) == "wrong_type"
    assert kind_of(["O"], ["B-D"]) == "missed"
    assert kind_of(["B-B"], ["O"]) == "spurious"


def test_a_mapping_typo_is_a_note_of_the_audit(tmp_path):
    path = write(tmp_path / "toy.txt", toy_corpus(), "wikiser") and tmp_path / "toy.txt"
    (tmp_path / "m.json").write_text('{"Libary": "Library", "Language": "Language"}')
    corpus = read_corpus([path], mapping=str(tmp_path / "m.json"))
    assert corpus.types == ["Language"]
    assert any("Library (listed: 'Libary', a typo?)" in n for n in corpus.notes)
    assert read_corpus([path]).notes == []


def test_injected_error_ranked_first(tmp_path):
    sents = toy_corpus()
    i, k = inject_wrong_type(sents)
    path = write(tmp_path / "toy.txt", sents, "wikiser") and tmp_path / "toy.txt"
    result = audit(read_corpus([path]), folds=5, progress=False)
    top = result.findings[0]
    assert (top.sentence, top.start, top.end) == (i, k, k + 1)
    assert top.kind == "wrong_type"
    assert top.given == ["B-Library"] and top.suggested == ["B-Language"]
    assert set(top.signals) == {"crf-5fold", "consistency", "cleanlab"}
    assert top.score > max((f.score for f in result.findings[1:]), default=0.0)
    # path:line of the finding is the token's own line in the WikiSER file
    line = path.read_text().splitlines()[result.corpus.sentences[i].token_lines[k] - 1]
    assert line == f"{sents[i].tokens[k]}\tB-Library"
    # The report marks the span in bold as Markdown renders it: no space inside the marks.
    from serkit.audit.report import markdown

    assert f" **{sents[i].tokens[k]}** " in markdown(result, top=1)


def test_error_free_and_empty_corpus_reports_say_so(tmp_path, capsys):
    clean = write(tmp_path / "clean.txt", toy_corpus(), "wikiser") and tmp_path / "clean.txt"
    code, output = run_cli(
        capsys, "audit", str(clean), "-o", str(tmp_path / "rep"), "--no-progress"
    )
    assert code == 0, output
    assert (
        "No suspected label issues found in 80 sentences"
        in (tmp_path / "rep/report.md").read_text()
    )
    assert "No suspected label issues" in (tmp_path / "rep/report.html").read_text()
    assert (tmp_path / "rep/findings.jsonl").read_text() == ""

    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, output = run_cli(
        capsys, "audit", str(empty), "-o", str(tmp_path / "rep2"), "--no-progress"
    )
    assert code == 0, output
    assert "holds no labelled sentence" in (tmp_path / "rep2/report.md").read_text()


def _write_format(path: Path, sents: list[Sentence], fmt: str) -> Path:
    if fmt == "conll-4":  # StackOverflow NER layout: 4 columns, lone-tab separators, CRLF
        lines = []
        for s in sents:
            lines += [f"{t}\t{g}\t{t}\tO" for t, g in zip(s.tokens, s.tags, strict=True)]
            lines.append("\t")
        path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    elif fmt == "jsonl-doccano":
        with path.open("w") as f:
            for n, s in enumerate(sents):
                text = " ".join(s.tokens)
                starts = [sum(len(t) + 1 for t in s.tokens[:i]) for i in range(len(s.tokens))]
                ents = [[starts[i], starts[i] + len(s.tokens[i]), g[2:]]
                        for i, g in enumerate(s.tags) if g != "O"]  # fmt: skip
                f.write(json.dumps({"id": n, "text": text, "label": ents, "meta": "x"}) + "\n")
    else:
        write(path, sents, fmt)
    return path


@pytest.mark.parametrize("fmt", ["wikiser", "conll", "conll-4", "jsonl", "jsonl-doccano"])
def test_fix_round_trips_and_changes_only_flagged_lines(tmp_path, capsys, fmt):
    clean = toy_corpus()
    noisy = toy_corpus()
    i, k = inject_wrong_type(noisy)
    src = _write_format(tmp_path / f"toy.{fmt.split('-')[0]}", noisy, fmt)
    before = sha(src)
    out = tmp_path / "cleaned"
    code, output = run_cli(
        capsys, "audit", str(src), "-o", str(out), "--fix", "--min-score", "0.5", "--no-progress"
    )
    assert code == 0, output
    assert sha(src) == before  # the input is never touched
    fixed = out / src.name
    log = [json.loads(x) for x in (out / "changes.jsonl").read_text().splitlines()]
    assert log and all(rec["score"] >= 0.5 for rec in log)
    changed = {c["line"]: c for rec in log for c in rec["changes"]}
    old_lines = src.read_bytes().split(b"\n")
    new_lines = fixed.read_bytes().split(b"\n")
    assert len(old_lines) == len(new_lines)
    for n, (a, b) in enumerate(zip(old_lines, new_lines, strict=True), 1):
        if n in changed:
            assert a.decode().rstrip("\r") == changed[n]["before"]
            assert b.decode().rstrip("\r") == changed[n]["after"]
            assert a.endswith(b"\r") == b.endswith(b"\r")
        else:
            assert a == b, f"unflagged line {n} changed"
    # the fixed copy reads back in its format with the injected error undone
    got = [s.tags for s in read(fixed) if s.tokens]
    assert got[i] == clean[i].tags
    assert sum(g != c.tags for g, c in zip(got, clean, strict=True)) == 0


def test_crf_probs_are_every_label_marginal_in_one_pass(tmp_path):
    """The audit's CRF probabilities (one forward-backward for all labels) equal the
    tagger's per-label confidences and sum to 1 at every token."""
    import numpy as np

    from serkit.audit.probs import crf_probs
    from serkit.models.crf import MODEL_FILE
    from serkit.models.crf_numpy import CrfWeights, FastCrf
    from serkit.models.viterbi import Packing
    from serkit.training.crf import train_crf

    sents = toy_corpus(40)
    tagger = train_crf(sents, None, tmp_path / "crf")
    fast = FastCrf(CrfWeights((tmp_path / "crf" / MODEL_FILE).read_bytes()), tagger.features)
    words = [s.tokens for s in sents[:7]]
    probs, pred = crf_probs(fast, words, fast.labels)
    for w, p, tags in zip(words, probs, pred, strict=True):
        assert p.shape == (len(w), len(fast.labels))
        np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-9)
        E = fast.emissions([w])
        P = np.ascontiguousarray(E.T)
        pack = Packing.of(np.array([len(w)]))
        for j in range(len(fast.labels)):
            one = fast.confidences(P, np.full(len(w), j), pack)
            np.testing.assert_allclose(p[:, j], one, rtol=1e-9, atol=1e-12)
        assert tags == tagger.predict_words([w])[0][0]


def test_cache_reuses_the_folds_and_refuses_another_corpus(tmp_path, capsys, monkeypatch):
    """A second run with --cache reads the folds (no cross-fitting) and finds the same;
    after one label changes, the cache no longer matches: one line, exit 2."""
    import serkit.audit.crossfit as crossfit

    sents = toy_corpus()
    inject_wrong_type(sents)
    src = write(tmp_path / "toy.txt", sents, "wikiser") and tmp_path / "toy.txt"
    cache = tmp_path / "folds.npz"
    code, output = run_cli(capsys, "audit", str(src), "-o", str(tmp_path / "a"), "--cache",
                           str(cache), "--no-progress")  # fmt: skip
    assert code == 0, output
    assert cache.is_file()

    def no_crossfit(*a, **k):
        raise AssertionError("cross-fitted again despite the cache")

    monkeypatch.setattr(crossfit, "crossfit_crf", no_crossfit)
    code, output = run_cli(capsys, "audit", str(src), "-o", str(tmp_path / "b"), "--cache",
                           str(cache), "--fix", "--min-score", "0.5", "--no-progress")  # fmt: skip
    assert code == 0, output
    first = (tmp_path / "a" / "findings.jsonl").read_text()
    assert first and (tmp_path / "b" / "findings.jsonl").read_text() == first
    assert (tmp_path / "b" / "changes.jsonl").read_text()

    sents[20].tags[0] = "O" if sents[20].tags[0] != "O" else "B-Library"
    write(src, sents, "wikiser")
    code, output = run_cli(capsys, "audit", str(src), "-o", str(tmp_path / "c"), "--cache",
                           str(cache), "--no-progress")  # fmt: skip
    assert code == 2
    assert f"{cache}: cached folds of another corpus" in output


def test_output_inside_input_and_bad_input_exit_2(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    write(data / "a.txt", toy_corpus(10), "wikiser")
    code, output = run_cli(capsys, "audit", str(data), "-o", str(data / "out"), "--no-progress")
    assert code == 2 and "input" in output
    bad = tmp_path / "bad.txt"
    bad.write_text("<s>\nJava\tB-Language\nLinux\tX-OS\n</s>\n")
    code, output = run_cli(capsys, "audit", str(bad), "-o", str(tmp_path / "o"), "--no-progress")
    assert code == 2
    assert f"{bad}:3:" in output
    assert not (tmp_path / "o").exists()


def test_model_and_dropout_signals_flag_in_sample(tmp_path):
    """A given transformer adds its probabilities and its dropout disagreement; a card that
    names the audited file as training data marks the view in-sample, and the report says so."""
    from _runtime_model import build_tiny_model
    from serkit.audit.report import markdown
    from serkit.card import read_card, write_card

    sents = [
        Sentence(["i", "installed", "tensorflow", "on", "ubuntu"], ["O", "O", "B-Library", "O",
                 "B-Operating_System"]),
        Sentence(["windows", "runs", "java", "code"], ["B-Operating_System", "O", "O", "O"]),
    ] * 3  # fmt: skip
    path = tmp_path / "corpus.txt"
    write(path, sents, "wikiser")
    model = build_tiny_model(tmp_path / "tiny")
    card = read_card(model)
    write_card(model, {**card, "train_data": {"files": [str(path)]}})
    result = audit(read_corpus([path]), folds=0, model=model, use_model=True, dropout=3,
                   progress=False, threshold=0.0)  # fmt: skip
    assert result.signals == ["model:tiny", "dropout-3", "dropout-3-disagreement",
                              "consistency", "cleanlab"]  # fmt: skip
    scored = [f for f in result.candidates if "dropout-3-disagreement" in f.signals]
    assert scored and any(f.signals["dropout-3-disagreement"] > 0 for f in scored)
    assert all(0.0 <= f.score <= 1.0 for f in result.candidates)
    assert any("in-sample" in n for n in result.notes)
    assert "in-sample" in markdown(result)


def test_no_crossfit_note_names_folds_0(tmp_path):
    """With --folds 0 and no model the report says why there is no model signal."""
    path = write(tmp_path / "toy.txt", toy_corpus(20), "wikiser") and tmp_path / "toy.txt"
    result = audit(read_corpus([path]), folds=0, progress=False)
    assert result.signals == ["consistency"]
    assert any("--folds 0" in n for n in result.notes)


def test_a_finding_listed_at_min_score_is_fixed(tmp_path):
    """--fix compares the score as findings.jsonl lists it: one shown as 0.9 is fixed at
    --min-score 0.9 (9 such findings on WikiSER dev were left out when the raw score was
    compared)."""
    from serkit.audit.fix import apply_fixes
    from serkit.audit.report import record

    sents = toy_corpus()
    inject_wrong_type(sents)
    path = write(tmp_path / "toy.txt", sents, "wikiser") and tmp_path / "toy.txt"
    result = audit(read_corpus([path]), folds=0, progress=False)
    top = result.findings[0]
    top.score = 0.89996
    assert record(result, top, 1)["score"] == 0.9
    assert [rec["rank"] for rec in apply_fixes(result, 0.9, tmp_path / "a")] == [1]
    top.score = 0.89994  # listed as 0.8999: not fixed
    assert apply_fixes(result, 0.9, tmp_path / "b") == []


@pytest.mark.parametrize(
    "content",
    [b"", b"PK\x03\x04garbage", b"a text file\n", "cut"],
    ids=["empty", "fake-zip", "text", "truncated"],
)
def test_a_bad_cache_file_is_one_line_not_a_crash(content, tmp_path, capsys):
    """An empty cache gave click's "Aborted." and exit 1 (an EOFError), a truncated one a
    BadZipFile traceback, a text file numpy's advice to unpickle it."""
    import numpy as np

    from serkit.audit.probs import TokenProbs, load_probs, save_probs

    cache = tmp_path / "folds.npz"
    if content == "cut":
        view = TokenProbs("crf", ["O", "B-X"], [np.full((2, 2), 0.5)], [["O", "B-X"]])
        save_probs(cache, view, "key")
        cache.write_bytes(cache.read_bytes()[:200])
    else:
        cache.write_bytes(content)
    with pytest.raises(SerkitError, match="not a cache of cross-fitted folds") as e:
        load_probs(cache, "key")
    assert "pickle" not in str(e.value)
    src = tmp_path / "c.wikiser"
    src.write_text("<s>\nPython\tB-Language\n</s>\n", encoding="utf-8")
    code, out = run_cli(capsys, "audit", str(src), "-o", str(tmp_path / "a"), "--cache",
                        str(cache), "--folds", "2", "--no-progress")  # fmt: skip
    assert code == 2 and out.startswith(f"serkit: error: {cache}: not a cache")
    assert out.count("\n") == 1 and "Traceback" not in out


def test_audit_refuses_one_fold(tmp_path, capsys):
    """--folds 1 cross-fits nothing: it was silently the same as --folds 0."""
    src = tmp_path / "c.wikiser"
    src.write_text("<s>\nPython\tB-Language\n</s>\n", encoding="utf-8")
    code, out = run_cli(capsys, "audit", str(src), "-o", str(tmp_path / "a"), "--folds", "1")
    assert code == 2 and "--folds 1: cross-fitting needs 2 folds or more" in out
    assert not (tmp_path / "a").exists()


def test_conll2003_docstart_and_space_columns_point_and_fix_at_the_right_line(tmp_path, capsys):
    """A CoNLL-2003 file (space-separated columns, ``-DOCSTART-`` lines): findings name the
    token's own line (a -DOCSTART- line is no token line) and --fix rewrites the tag word of
    that line only, spacing kept (it crashed with an IndexError on the missing tab)."""
    lines = ["-DOCSTART- -X- O O", ""]
    for i in range(12):
        if i == 6:
            lines += ["-DOCSTART- -X- O O", ""]
        tag = "O" if i == 9 else "B-Language"
        lines += ["I PRP B-NP O", "like VB B-VP O", f"Python  NNP B-NP {tag}", "much RB O O", ""]
    src = tmp_path / "c03.txt"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = lines.index("Python  NNP B-NP O") + 1  # 1-based line of the unlabelled Python
    out = tmp_path / "out"
    args = ("--tag-col", "3", "--folds", "0", "--fix", "--min-score", "0.5", "--no-progress")
    code, output = run_cli(capsys, "audit", str(src), "-o", str(out), *args)
    assert code == 0, output
    (finding,) = [json.loads(x) for x in (out / "findings.jsonl").read_text().splitlines()]
    assert (finding["line"], finding["text"]) == (target, "Python")
    old, new = src.read_text().split("\n"), (out / "c03.txt").read_text().split("\n")
    assert [n for n, (a, b) in enumerate(zip(old, new, strict=True), 1) if a != b] == [target]
    assert new[target - 1] == "Python  NNP B-NP B-Language"
    assert "1 findings with score >= 0.5 fixed (1 lines changed)" in output


def test_label_studio_findings_name_the_task_line_and_fix_is_refused_first(tmp_path, capsys):
    """A Label Studio export is audited with each finding at its task's line; --fix, which
    copies files line for line, refuses it in one line before any work (it crashed with an
    IndexError after the audit, and findings named lines of the JSON counted as tokens)."""
    tasks = []
    for i in range(6):
        res = [{"id": f"a{i}", "from_name": "label", "to_name": "text", "type": "labels",
                "value": {"start": 6, "end": 12, "labels": ["Language"]}}]  # fmt: skip
        if i != 2:
            res.append({"id": f"b{i}", "from_name": "label", "to_name": "text", "type": "labels",
                        "value": {"start": 17, "end": 21, "labels": ["Language"]}})  # fmt: skip
        tasks.append({"id": i, "data": {"text": "I use Python and Java"},
                      "annotations": [{"id": i, "result": res}]})  # fmt: skip
    src = tmp_path / "export.json"
    src.write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    code, output = run_cli(capsys, "audit", str(src), "--folds", "0", "-o",
                           str(tmp_path / "fixed"), "--fix", "--no-progress")  # fmt: skip
    assert code == 2 and "--fix writes corrected copies" in output and "labelstudio" in output
    assert not (tmp_path / "fixed").exists()
    out = tmp_path / "report"
    code, output = run_cli(capsys, "audit", str(src), "--folds", "0", "-o", str(out),
                           "--no-progress")  # fmt: skip
    assert code == 0, output
    (finding,) = [json.loads(x) for x in (out / "findings.jsonl").read_text().splitlines()]
    lines = src.read_text().split("\n")
    task = next(n for n, x in enumerate(lines, 1) if x.strip() == '"id": 2,') - 1
    assert (finding["text"], finding["line"], lines[task - 1].strip()) == ("Java", task, "{")


def test_fix_counts_a_jsonl_line_changed_by_two_findings_once(tmp_path, capsys):
    """Two findings in one JSONL document change one line: the summary says 1 line."""
    sents = toy_corpus()
    first = sents[0]  # "I write {Language} code on {Operating_System} every day ."
    first.tags = ["O"] * len(first.tags)
    src = write(tmp_path / "toy.jsonl", sents, "jsonl") and tmp_path / "toy.jsonl"
    out = tmp_path / "out"
    code, output = run_cli(capsys, "audit", str(src), "--folds", "0", "-o", str(out),
                           "--fix", "--min-score", "0.5", "--no-progress")  # fmt: skip
    assert code == 0, output
    log = [json.loads(x) for x in (out / "changes.jsonl").read_text().splitlines()]
    assert len(log) == 2 and {c["line"] for r in log for c in r["changes"]} == {1}
    assert "2 findings with score >= 0.5 fixed (1 lines changed)" in output
