"""Lexicon counts, TSV round trip, longest match and case policies on hand-made corpora."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serkit.errors import DataFormatError, SerkitError
from serkit.labels import spans
from serkit.lexicon import Entry, Lexicon, ratio_bucket
from serkit.tokens import Sentence


def S(text: str, tags: str, doc: str | None = None) -> Sentence:
    return Sentence(text.split(), tags.split(), doc_id=doc)


CORPUS = [
    S("I use Visual Studio Code daily", "O O B-Application I-Application I-Application O", "a"),
    S("Visual Studio is big", "B-Application I-Application O O", "a"),
    S("Java and Python", "B-Language O B-Language", "b"),
    S("Java is an island", "B-Location O O O", "b"),
    S("I drink java Java", "O O O O", "c"),
    S("Python rocks", "B-Language O", "c"),
    S("Visual Studio Code again", "B-Application I-Application I-Application O", "d"),
]


def test_build_counts() -> None:
    lex = Lexicon.build(CORPUS)
    vsc = lex["Visual Studio Code"]
    assert vsc.counts == {"Application": 2}
    assert vsc.untagged == 0
    assert vsc.docs == 2
    java = lex["Java"]
    assert java.counts == {"Language": 1, "Location": 1}
    assert java.labelled == 2
    assert java.untagged == 1  # "java" (lower case) is a different token sequence
    assert java.ratio == pytest.approx(2 / 3)
    assert java.type == "Language"  # tie 1:1 -> alphabetical
    # "Visual Studio" inside the labelled "Visual Studio Code" is not an untagged occurrence
    assert lex["Visual Studio"].untagged == 0
    assert lex["Python"].docs == 2
    assert len(lex) == 4
    assert lex.types == ["Application", "Language", "Location"]


def test_build_from_generator_and_min_count() -> None:
    lex = Lexicon.build((s for s in CORPUS), min_count=2)
    assert set(lex.entries) == {"Visual Studio Code", "Java", "Python"}


def test_untagged_counted_only_when_all_tokens_outside() -> None:
    corpus = [
        S("Visual Studio", "B-Application I-Application"),
        S("Visual Studio", "O O"),
        S("the Visual Studio thing", "B-X I-X I-X O"),  # overlaps another entity: neither
    ]
    lex = Lexicon.build(corpus)
    assert lex["Visual Studio"].untagged == 1
    assert lex["Visual Studio"].labelled == 1


def test_tsv_round_trip(tmp_path) -> None:
    lex = Lexicon.build(CORPUS)
    path = tmp_path / "lex.tsv"
    lex.save(path)
    lines = path.read_text().splitlines()
    assert lines[0].split("\t") == ["surface", "types", "labelled", "untagged", "ratio", "docs"]
    assert "Java\tLanguage:1,Location:1\t2\t1\t0.6667\t1" in lines
    back = Lexicon.load(path)
    assert {e.surface: (e.counts, e.untagged, e.docs) for e in back} == {
        e.surface: (e.counts, e.untagged, e.docs) for e in lex
    }


def test_hand_edited_tsv(tmp_path) -> None:
    path = tmp_path / "lex.tsv"
    path.write_text(
        "surface\ttypes\n# my own names\nMyLib\tLibrary\nfoo  bar\tLibrary:3,Application:1\t\t1\n"
    )
    lex = Lexicon.load(path)
    assert lex["MyLib"].counts == {"Library": 1}
    assert lex["MyLib"].ratio == 1.0
    assert lex["foo bar"].type == "Library"
    assert lex["foo bar"].untagged == 1
    assert lex.matcher().tags(["use", "MyLib", "with", "foo", "bar"]) == [
        "O", "B-Library", "O", "B-Library", "I-Library",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "content,reason",
    [
        ("surface\ttypes\nJava\n", "at least 2"),
        ("surface\ttypes\nJava\tLanguage:x\n", "bad count"),
        ("surface\ttypes\nJava\tLanguage\t1\tmany\n", "not an integer"),
        ("surface\ttypes\nJava\tO\n", "bad type"),
    ],
)
def test_bad_tsv_lines(tmp_path, content: str, reason: str) -> None:
    path = tmp_path / "lex.tsv"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=reason) as e:
        Lexicon.load(path)
    assert e.value.line == 2


def test_surfaces_starting_with_hash_survive_the_tsv(tmp_path) -> None:
    """``#include`` (StackOverflow NER labels 21 such forms) is saved escaped, not as a
    comment line that loading skipped: every entry comes back."""
    sents = [
        Sentence(["#include", "x"], ["B-Code", "O"]),
        Sentence(["#", "==", "and", "\\#raw"], ["B-Function", "I-Function", "O", "B-Code"]),
        Sentence(["C#", "\\n"], ["B-Language", "B-Value"]),
    ]
    lex = Lexicon.build(sents)
    path = tmp_path / "lex.tsv"
    lex.save(path)
    assert "\\#include\tCode:1" in path.read_text()
    back = Lexicon.load(path)
    assert (
        sorted(back.entries)
        == sorted(lex.entries)
        == sorted(["#include", "# ==", "\\#raw", "C#", "\\n"])
    )
    assert back.matcher().tags(["#", "=="]) == ["B-Function", "I-Function"]


@pytest.mark.parametrize(
    "content",
    [
        "Java\tLanguage\nRust\tLanguage\n",  # header deleted: Java would be read as one
        "# mine\ntypes\tsurface\nLanguage\tJava\n",  # reordered: Language would be a surface
        "surface\ttypes\tuntagged\tdocs\nJava\tLanguage\t1\t2\n",  # labelled, ratio deleted
    ],
)
def test_a_missing_or_reordered_header_is_an_error_at_its_line(tmp_path, content) -> None:
    path = tmp_path / "lex.tsv"
    path.write_text(content)
    with pytest.raises(DataFormatError, match="expected the header line") as e:
        Lexicon.load(path)
    assert e.value.line == content.count("# mine") + 1


def test_spreadsheet_tsv_crlf_bom_extra_columns_and_duplicates(tmp_path) -> None:
    path = tmp_path / "lex.tsv"
    path.write_bytes(
        b"\xef\xbb\xbfSurface\tTypes\tlabelled\tuntagged\tratio\tdocs\tnote\r\n"
        b"Java\tLanguage:3\t3\t1\t0.75\t2\tmy note\r\n"
        b"Java\tLibrary:1\t\t0\t\t1\t\r\n"
    )
    (e,) = Lexicon.load(path)
    assert (e.surface, e.counts) == ("Java", {"Language": 3, "Library": 1})
    assert (e.untagged, e.docs) == (1, 3)


def test_missing_file_is_a_user_error(tmp_path) -> None:
    with pytest.raises(SerkitError):
        Lexicon.load(tmp_path / "nope.tsv")


def test_longest_match_prefers_longer_entry() -> None:
    lex = Lexicon.build(CORPUS)
    m = lex.matcher(case="sensitive")
    toks = ["open", "Visual", "Studio", "Code", "or", "Visual", "Studio", "now"]
    assert m.tags(toks) == [
        "O", "B-Application", "I-Application", "I-Application",
        "O", "B-Application", "I-Application", "O",
    ]  # fmt: skip
    assert [(x.start, x.end) for x in m.matches(toks)] == [(1, 4), (5, 7)]


def test_leftmost_wins_over_later_overlap() -> None:
    lex = Lexicon([Entry("a b", {"X": 1}), Entry("b c d", {"Y": 1})])
    assert lex.matcher().tags(["a", "b", "c", "d"]) == ["B-X", "I-X", "O", "O"]


def test_match_only_at_token_boundaries() -> None:
    lex = Lexicon([Entry("Java", {"Language": 1}), Entry("C", {"Language": 1})])
    m = lex.matcher(case="sensitive")
    assert m.tags(["JavaScript", "C++", "Java", "C"]) == ["O", "O", "B-Language", "B-Language"]


def test_case_policies() -> None:
    lex = Lexicon([Entry("Go", {"Language": 3}), Entry("python", {"Language": 2})])
    toks = ["go", "Go", "python", "Python", "PYTHON"]
    assert lex.matcher(case="sensitive").tags(toks) == ["O", "B-Language", "B-Language", "O", "O"]
    assert lex.matcher(case="insensitive").tags(toks) == ["B-Language"] * 5
    # smart: forms with an upper-case letter match exactly, lower-case forms match any casing
    assert lex.matcher(case="smart").tags(toks) == ["O"] + ["B-Language"] * 4
    with pytest.raises(SerkitError):
        lex.matcher(case="loud")  # type: ignore[arg-type]


def test_exact_form_wins_a_tie_in_both_paths() -> None:
    """``Java`` (exact) and ``java`` (any casing) both cover the token ``Java``: the
    exact entry's type wins, per sentence and in a batch (where no hit may cross the
    empty sentence or the sentence end between ``Java`` and ``java``)."""
    lex = Lexicon([Entry("Java", {"Language": 3}), Entry("java", {"Location": 2})])
    m = lex.matcher(case="smart")
    assert m.tags(["Java", "java", "JAVA"]) == ["B-Language", "B-Location", "B-Location"]
    first, stop, value = m.spans(["Java", "java", "JAVA"], [1, 1, 3])
    assert (first.tolist(), stop.tolist()) == ([0, 1, 2], [1, 2, 3])
    assert [m.values[v][1] for v in value] == ["Language", "Location", "Location"]
    two = Lexicon([Entry("Java java", {"X": 1})]).matcher()
    assert two.spans(["Java", "java"], [1, 2])[0].tolist() == []
    assert two.spans(["Java", "java"])[0].tolist() == [0]
    assert two.spans([], [])[0].tolist() == []


def test_insensitive_merges_forms() -> None:
    lex = Lexicon([Entry("Java", {"Language": 3}), Entry("JAVA", {"Library": 2}, untagged=5)])
    # merged: labelled 5, untagged 5 -> ratio 0.5, kept at min_ratio 0.5
    assert lex.matcher(case="insensitive", min_ratio=0.5).tags(["java"]) == ["B-Language"]
    assert lex.matcher(case="insensitive", min_ratio=0.51).tags(["java"]) == ["O"]


def test_filters() -> None:
    lex = Lexicon([Entry("file", {"Application": 2}, untagged=8), Entry("Qt", {"Library": 1})])
    toks = ["file", "Qt"]
    assert lex.matcher().tags(toks) == ["B-Application", "B-Library"]
    assert lex.matcher(min_ratio=0.5).tags(toks) == ["O", "B-Library"]
    assert lex.matcher(min_count=2).tags(toks) == ["B-Application", "O"]


def test_features() -> None:
    lex = Lexicon([Entry("Visual Studio Code", {"Application": 9}, untagged=1)])
    feats = lex.matcher().features(["in", "Visual", "Studio", "Code"])
    assert feats[0] == ["lex=O"]
    assert feats[1][0] == "lex=B-Application" and "lex.t=Application" in feats[1]
    assert feats[2][0] == "lex=I-Application" and "lex.last" in feats[3]
    assert f"lex.r={ratio_bucket(0.9)}" in feats[1]
    assert ratio_bucket(0.0) == 0 and ratio_bucket(1.0) == 5


def test_empty_inputs() -> None:
    lex = Lexicon()
    assert lex.matcher().tags(["a"]) == ["O"]
    assert Lexicon.build([]).matcher().tags([]) == []


words = st.sampled_from(["a", "b", "c", "A", "ab", "x\x1fy"])


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(st.lists(words, min_size=1, max_size=3), min_size=0, max_size=6),
    tokens=st.lists(words, max_size=12),
    case=st.sampled_from(["smart", "sensitive", "insensitive"]),
)
def test_matches_are_valid_and_non_overlapping(entries, tokens, case) -> None:
    lex = Lexicon([Entry(" ".join(e), {"T": 1}) for e in entries])
    m = lex.matcher(case=case)
    found = m.matches(tokens)
    pos = 0
    for x in found:
        assert pos <= x.start < x.end <= len(tokens)
        pos = x.end
        span = tokens[x.start : x.end]
        forms = {tuple(e) for e in entries}
        if case == "sensitive":
            assert tuple(span) in forms
        else:
            assert tuple(t.lower() for t in span) in {tuple(t.lower() for t in f) for f in forms}
    assert [(s, e) for s, e, _ in spans(m.tags(tokens))] == [(x.start, x.end) for x in found]


def brute_force_matches(entries, tokens, case):
    """Leftmost-longest matches by trying every span: the definition the matcher's
    automata, hit selection and batching must reproduce (an exact form wins a tie)."""
    exact, lower = {}, {}
    for e in entries:
        surface = " ".join(e)
        if case == "sensitive" or (case == "smart" and surface != surface.lower()):
            exact[tuple(surface.split(" "))] = True
        else:
            lower[tuple(surface.lower().split(" "))] = True
    out, i = [], 0
    while i < len(tokens):
        best = 0
        for k in range(len(tokens) - i, 0, -1):
            span = tuple(tokens[i : i + k])
            if span in exact or tuple("\x1f".join(span).lower().split("\x1f")) in lower:
                best = k
                break
        if best:
            out.append((i, i + best))
        i += best or 1
    return out


tricky = st.sampled_from(["a", "b", "A", "ab", "AB", "Σ", "ς", "σ", "İ", "i̇", "", "Go", "go"])


@settings(max_examples=300, deadline=None)
@given(
    entries=st.lists(st.lists(tricky, min_size=1, max_size=3), max_size=8),
    sents=st.lists(st.lists(tricky, max_size=8), max_size=5),
    case=st.sampled_from(["smart", "sensitive", "insensitive"]),
)
def test_batched_spans_are_leftmost_longest_per_sentence(entries, sents, case) -> None:
    """One ``spans`` call over sentences laid end to end finds, in each sentence, what
    matching it alone finds, and that is what trying every span finds."""
    from itertools import accumulate

    m = Lexicon([Entry(" ".join(e), {"T": 1}) for e in entries]).matcher(case=case)
    flat = [t for s in sents for t in s]
    ends = list(accumulate(map(len, sents)))
    want, offset = [], 0
    for s in sents:
        alone = [(a, b) for a, b, _ in m._best(s)]
        assert alone == brute_force_matches(entries, s, case)
        want += [(offset + a, offset + b) for a, b in alone]
        offset += len(s)
    first, stop, value = m.spans(flat, ends)
    assert list(zip(first.tolist(), stop.tolist(), strict=True)) == want
    assert all(m.values[v][0] == b - a for a, b, v in zip(first, stop, value, strict=True))


def test_jackknife_never_shows_a_fold_its_own_labels() -> None:
    """One jackknife for every architecture: each fold is matched with a lexicon built
    only from the other folds, and every sentence is in exactly one fold."""
    from serkit.lexicon import fold_of, jackknife

    sents = [Sentence([f"Tool{i}", "runs"], ["B-Application", "O"]) for i in range(40)]
    seen: list[int] = []
    for lex, members in jackknife(sents, 4, seed=3):
        seen += members.tolist()
        for i in members:
            assert f"Tool{i}" not in lex  # its own label is not in its lexicon
        others = [i for i in range(40) if i not in set(members.tolist())]
        assert all(f"Tool{i}" in lex for i in others)
    assert sorted(seen) == list(range(40))
    assert (fold_of(40, 4, 3) == fold_of(40, 4, 3)).all()
    assert list(jackknife(sents, 1, seed=3)) == []


def test_the_old_jackknife_option_name_still_reads() -> None:
    """Configs, checkpoints and CRF cards saved with ``jackknife`` load as ``lexicon_folds``."""
    from serkit.models.crf import resolve_config
    from serkit.training.config import TrainConfig

    assert TrainConfig.from_dict({"jackknife": None}).lexicon_folds is None
    assert TrainConfig.from_dict({"jackknife": 3}).lexicon_folds == 3
    assert resolve_config({"jackknife": 4})["lexicon_folds"] == 4
