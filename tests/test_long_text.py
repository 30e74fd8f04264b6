"""Issue 14 item 11: one long text is tagged piece by piece, with the same result.

``Tagger`` reads a text ``CHUNK_CHARS`` characters at a time and turns each sentence into
its result as soon as it is tagged, so memory does not grow with the text (it did, by
~35 bytes a character, before any model ran); the sentences, hence the entities, are
those of the whole text.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import serkit.tagger as tagger_mod
from _runtime_model import build_tiny_model
from serkit.sentences import sentence_bounds
from serkit.tokenize import tokenize_arrays

# Pieces that exercise tokenisation and sentence splitting at a cut: closers after a
# terminal, abbreviations, enumerations, bullets, CJK stops, clitics, invisible separators.
# Every separator starts with whitespace, so a piece always finds a place to end within
# ``CHUNK_CHARS`` characters (a text with none is cut anyway: see the last test).
FRAGMENTS = [
    "I installed TensorFlow on Ubuntu.", "It said \"done.\"", "(See Node.js.)", "e.g. this",
    "1. Install it", "- a bullet", "Dr. Smith", "Inc. and", "don't", "ROCm's", "x86-64",
    "中文。", "HTTP.", "Then", "end!", "What?", "C++", "time(NULL)", "users'", "etc .",
    "J. Smith", "proxy.\"", ":", "v2.0.1", "…", "a", "http://x.org/a.b", "end.Next",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "\n", "\n\n", "  ", "\t", " \u200b ", "\n \n", "\u2029", " \u200b"]


def whole_text_sentences(text: str) -> list[tuple[list[str], list[int], list[int]]]:
    """The sentences as tokenising and splitting the whole text at once gives them."""
    t = tokenize_arrays(text)
    return [
        (t.words[lo:hi], t.starts[lo:hi], t.ends[lo:hi])
        for lo, hi in sentence_bounds(t.words, t.gaps)
    ]


texts = st.lists(
    st.tuples(st.sampled_from(FRAGMENTS), st.sampled_from(SEPARATORS)), min_size=1, max_size=60
).map(lambda parts: "".join(f + s for f, s in parts))


@settings(max_examples=150, deadline=None)
@given(text=texts, chunk=st.integers(20, 120))
def test_pieces_give_the_sentences_of_the_whole_text(text, chunk):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tagger_mod, "CHUNK_CHARS", chunk)
        mp.setattr(tagger_mod, "MAX_SENTENCE_WORDS", 10**9)
        pieces = list(tagger_mod._text_sentences(text))
    assert pieces == whole_text_sentences(text)


@pytest.mark.parametrize("chunk", [7, 100, 1 << 16])
def test_a_run_without_sentence_end_is_cut_every_max_words(monkeypatch, chunk):
    monkeypatch.setattr(tagger_mod, "CHUNK_CHARS", chunk)
    monkeypatch.setattr(tagger_mod, "MAX_SENTENCE_WORDS", 50)
    text = "Intro here. " + "word C++ " * 120 + "end. Next one."
    sents = list(tagger_mod._text_sentences(text))
    assert [len(w) for w, _, _ in sents] == [50, 50, 50, 50, 45, 3]  # "here. word" goes on
    words = [w for ws, _, _ in sents for w in ws]
    assert words == tokenize_arrays(text).words  # nothing lost or doubled


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from serkit.models.registry import load_tagger

    folder = build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    return load_tagger(folder, prefer="torch", threads=1)


PARAGRAPH = (
    "I installed TensorFlow on Ubuntu with pip and ran it on an NVIDIA A100. The Python "
    'library uses Windows (and Linux) for the code; it runs Java too! Is it "done." now?'
)


def test_entities_of_a_long_text_are_those_of_its_paragraphs(tiny, monkeypatch):
    """Paragraphs (blank-line separated) are independent sentences, so the long text's
    entities are each paragraph's, shifted by its offset: through many small pieces."""
    paras = [PARAGRAPH.replace("Ubuntu", "Ubuntu " * (i % 3)) for i in range(40)]
    text = "\n\n".join(paras)
    monkeypatch.setattr(tagger_mod, "CHUNK_CHARS", 97)
    long = tiny.pipe([text], batch_size=4)
    expected, offset = [], 0
    for para, ents in zip(paras, tiny.pipe(paras, batch_size=4), strict=True):
        expected += [(e.start + offset, e.end + offset, e.label, e.text) for e in ents]
        offset += len(para) + 2
    got = [(e.start, e.end, e.label, e.text) for e in next(long)]
    assert got == expected and len(got) > 40
    # and the tagged-sentence output agrees with it, sentence by sentence
    (doc,) = tiny.pipe_tagged([text], batch_size=4)
    assert sum(len(s.tokens) for s in doc.sentences) == len(tokenize_arrays(text).words)
    assert [(e.start, e.end, e.label) for e in doc.entities] == [g[:3] for g in got]


def test_memory_does_not_grow_with_the_text(tiny, monkeypatch):
    """Working memory beyond the result (peak minus what the entities hold) stays that of
    a piece and a pool; tokenising the whole text first took ~35 bytes a character."""
    monkeypatch.setattr(tagger_mod, "CHUNK_CHARS", 2048, raising=False)
    text = " ".join([PARAGRAPH] * 700)  # ~120,000 characters, ~1,800 sentences
    tiny(PARAGRAPH)  # first-call set-up outside the measurement
    gc.collect()
    tracemalloc.start()
    try:
        ents = tiny.pipe([text], batch_size=4)
        ents = next(ents)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(ents) > 1000
    working = peak - held
    assert working < 1_000_000, f"{working:,} bytes of working memory for {len(text):,} characters"


def test_a_text_without_whitespace_is_cut_anyway(monkeypatch):
    """No place to end a piece within ``2 * CHUNK_CHARS``: the piece ends there anyway
    (memory stays bounded; a token may be split there), and no character is lost."""
    monkeypatch.setattr(tagger_mod, "CHUNK_CHARS", 64)
    text = "中文。" * 200 + "x" * 300 + ".NET" * 50
    words = [w for ws, _, _ in tagger_mod._text_sentences(text) for w in ws]
    assert "".join(words) == text
