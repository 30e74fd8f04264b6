"""Words -> sub-token windows -> word predictions, shared by the torch and ONNX runtimes.

Kept free of torch (numpy and a ``tokenizers`` tokenizer only) so the ONNX runtime
computes exactly the same inputs as training did. Three ideas live here:

* **Feature ids.** The backbone is uncased, so each word's casing class and its
  lexicon-match IOB2 tag are fed through ``token_type_ids``: every sub-token of a word
  gets the id of the word's (case class, lexicon tag) pair. The scheme is stored in the
  model's ``config.json`` (``serkit_features``) so inference recomputes the same ids;
  plain ``transformers`` users who pass no ids get id 0 (lower case, no match).
* **Windows.** A sentence whose sub-tokens do not fit ``max_length`` is cut, at word
  boundaries, into overlapping windows; each word is predicted from the window where it
  has the most context (farthest from a window edge). Nothing is dropped: N words in,
  N predictions out. A word longer than a window keeps only its first sub-tokens (only
  the first one carries the prediction).
* **Decoding.** Per-word logits -> log-softmax -> the best IOB2-valid tag path
  (constrained Viterbi) and each word's probability of its tag as its confidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serkit.errors import SerkitError
from serkit.labels import OUTSIDE, repair_iob
from serkit.models.viterbi import best_paths, iob2_constraints, log_softmax

#: Casing classes of a word (the uncased encoder cannot see them otherwise).
CASE_CLASSES: tuple[str, ...] = ("lower", "title", "upper", "mixed", "noletter")

IGNORE_INDEX = -100


def case_class(word: str) -> int:
    """Index into :data:`CASE_CLASSES`: lower / Title / UPPER / mixed-or-camel / no letters."""
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return 4
    if all(c.islower() for c in letters):
        return 0
    if all(c.isupper() for c in letters):
        return 2 if len(letters) > 1 else 1
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return 1
    return 3


@dataclass
class FeatureScheme:
    """How a word becomes a token-type id: ``case_index * n_lex + lexicon_tag_index``."""

    case: bool = False
    lexicon: bool = False
    #: IOB2 tags the lexicon matcher may emit, ``"O"`` first (index = id component).
    lexicon_tags: list[str] = field(default_factory=lambda: [OUTSIDE])
    #: ``Lexicon.matcher`` settings, so every runtime matches the same way.
    lexicon_case: str = "smart"
    lexicon_min_ratio: float = 0.0

    @property
    def n_case(self) -> int:
        return len(CASE_CLASSES) if self.case else 1

    @property
    def n_lex(self) -> int:
        return len(self.lexicon_tags) if self.lexicon else 1

    @property
    def n_types(self) -> int:
        return self.n_case * self.n_lex

    @property
    def names(self) -> list[str]:
        return [n for n, on in (("case", self.case), ("lexicon", self.lexicon)) if on]

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": self.names,
            "case_classes": list(CASE_CLASSES) if self.case else [],
            "lexicon_tags": list(self.lexicon_tags) if self.lexicon else [],
            "lexicon_case": self.lexicon_case,
            "lexicon_min_ratio": self.lexicon_min_ratio,
            "n_types": self.n_types,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> FeatureScheme:
        if not d:
            return cls()
        feats = d.get("features", [])
        return cls(
            case="case" in feats,
            lexicon="lexicon" in feats,
            lexicon_tags=list(d.get("lexicon_tags") or [OUTSIDE]),
            lexicon_case=str(d.get("lexicon_case", "smart")),
            lexicon_min_ratio=float(d.get("lexicon_min_ratio", 0.0)),
        )

    def matcher_options(self) -> dict[str, Any]:
        return {"case": self.lexicon_case, "min_ratio": self.lexicon_min_ratio}

    def word_type_ids(
        self, words: Sequence[str], lexicon_tags: Sequence[str] | None = None
    ) -> list[int]:
        """One token-type id per word."""
        n = len(words)
        cases = [case_class(w) for w in words] if self.case else [0] * n
        if self.lexicon and lexicon_tags is not None:
            index = {t: i for i, t in enumerate(self.lexicon_tags)}
            lex = [index.get(t, 0) for t in lexicon_tags]
        else:
            lex = [0] * n
        return [c * self.n_lex + x for c, x in zip(cases, lex, strict=True)]


def load_tokenizer(model_dir: str | Path, card: dict[str, Any] | None = None):
    """The fast tokenizer of a model directory (``tokenizer.json``), without transformers:
    read within :data:`~serkit.models.folder.MAX_TOKENIZER_BYTES` and checked against the
    card's checksum (when given) before the tokenizers parser sees it."""
    from tokenizers import Tokenizer

    from serkit.errors import ModelLoadError
    from serkit.models import folder

    data = folder.read_verified(model_dir, folder.TOKENIZER, card, folder.MAX_TOKENIZER_BYTES)
    try:
        return plain(Tokenizer.from_str(data.decode("utf-8")))
    except Exception as e:  # tokenizers raises a bare Exception on a bad file
        where = Path(model_dir) / folder.TOKENIZER
        raise ModelLoadError(f"{where}: not a tokenizer: {str(e)[:200]}") from e


def plain(tokenizer):
    """``tokenizer`` with its own truncation and padding switched off. A ``tokenizer.json``
    may carry them (the packaged MiniLM's truncates at 128 sub-tokens and pads to 128): the
    encoder sees whole sentences and makes its own windows, so a built-in truncation would
    silently turn every word past the 128th sub-token into [UNK]."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@dataclass(frozen=True)
class SpecialIds:
    cls: int
    sep: int
    pad: int
    unk: int

    @classmethod
    def of(cls, tokenizer) -> SpecialIds:
        def first(*names: str) -> int:
            for name in names:
                i = tokenizer.token_to_id(name)
                if i is not None:
                    return int(i)
            raise ValueError(f"tokenizer has none of the special tokens {names}")

        return cls(
            cls=first("[CLS]", "<s>", "<cls>"),
            sep=first("[SEP]", "</s>", "<sep>"),
            pad=first("[PAD]", "<pad>"),
            unk=first("[UNK]", "<unk>"),
        )


def word_pieces(
    tokenizer, sentences: Sequence[Sequence[str]], unk_id: int
) -> list[list[list[int]]]:
    """Sub-token ids of each word of each sentence; a word the tokenizer erases gets [UNK]."""
    out: list[list[list[int]]] = []
    todo = [list(s) for s in sentences]
    encs = (
        tokenizer.encode_batch(todo, is_pretokenized=True, add_special_tokens=False)
        if any(todo)
        else [None] * len(todo)
    )
    for words, enc in zip(todo, encs, strict=True):
        pieces: list[list[int]] = [[] for _ in words]
        if enc is not None:
            for tid, wid in zip(enc.ids, enc.word_ids, strict=True):
                if wid is not None:
                    pieces[wid].append(tid)
        for p in pieces:
            if not p:
                p.append(unk_id)
        out.append(pieces)
    return out


def plan_windows(
    counts: Sequence[int], capacity: int, stride: int
) -> tuple[list[tuple[int, int]], list[int]]:
    """Cut words with ``counts`` sub-tokens into windows of at most ``capacity`` sub-tokens.

    Windows start and end on word boundaries and overlap by about ``stride`` sub-tokens.
    Returns the windows as ``(first_word, end_word)`` and, per word, the window it is
    predicted from (the one where it is farthest from an edge). ``counts`` must already
    be capped at ``capacity``.
    """
    n = len(counts)
    if n == 0:
        return [], []
    cum = np.concatenate([[0], np.cumsum(counts)])
    if cum[-1] <= capacity:
        return [(0, n)], [0] * n
    windows: list[tuple[int, int]] = []
    s = 0
    while True:
        e = int(np.searchsorted(cum, cum[s] + capacity, side="right")) - 1
        e = max(e, s + 1)
        windows.append((s, e))
        if e >= n:
            break
        # Next window starts so that it overlaps the last `stride` sub-tokens of this one.
        s_next = int(np.searchsorted(cum, cum[e] - stride, side="left"))
        s = min(max(s_next, s + 1), e)
    best = [0] * n
    best_ctx = [-1] * n
    for wi, (ws, we) in enumerate(windows):
        for w in range(ws, we):
            ctx = min(cum[w] - cum[ws], cum[we] - cum[w + 1])
            if ctx > best_ctx[w]:
                best_ctx[w], best[w] = int(ctx), wi
    return windows, best


@dataclass
class Window:
    """One model input: a slice of one sentence, with the words it predicts."""

    sentence: int
    input_ids: list[int]
    type_ids: list[int]
    #: (word index in the sentence, sub-token position in this window) of the words
    #: whose prediction comes from this window.
    targets: list[tuple[int, int]]


@dataclass
class Encoder:
    """Turns pre-tokenised sentences into windows and window logits back into words."""

    tokenizer: Any
    max_length: int = 256
    stride: int = 64
    scheme: FeatureScheme = field(default_factory=FeatureScheme)
    #: ``tokens -> IOB2 tags`` of the lexicon matcher when the scheme uses one.
    lexicon_tagger: Callable[[Sequence[str]], list[str]] | None = None

    def __post_init__(self) -> None:
        if self.max_length < 8:
            raise ValueError("max_length must be at least 8")
        plain(self.tokenizer)
        self.special = SpecialIds.of(self.tokenizer)
        self.capacity = self.max_length - 2
        self.stride = max(0, min(self.stride, self.capacity // 2))

    def type_ids(self, words: Sequence[str]) -> list[int]:
        lex = None
        if self.scheme.lexicon and self.lexicon_tagger is not None:
            lex = self.lexicon_tagger(words)
        return self.scheme.word_type_ids(words, lex)

    def encode(
        self,
        sentences: Sequence[Sequence[str]],
        word_type_ids: Sequence[Sequence[int]] | None = None,
    ) -> list[Window]:
        """Windows for a batch of sentences (empty sentences give no window)."""
        pieces = word_pieces(self.tokenizer, sentences, self.special.unk)
        out: list[Window] = []
        for si, words in enumerate(sentences):
            if not words:
                continue
            wp = [p[: self.capacity] for p in pieces[si]]
            tids = list(word_type_ids[si]) if word_type_ids is not None else self.type_ids(words)
            windows, best = plan_windows([len(p) for p in wp], self.capacity, self.stride)
            for wi, (ws, we) in enumerate(windows):
                ids = [self.special.cls]
                types = [0]
                targets = []
                for w in range(ws, we):
                    if best[w] == wi:
                        targets.append((w, len(ids)))
                    ids.extend(wp[w])
                    types.extend([tids[w]] * len(wp[w]))
                ids.append(self.special.sep)
                types.append(0)
                out.append(Window(si, ids, types, targets))
        return out

    def pad(self, windows: Sequence[Window]) -> dict[str, np.ndarray]:
        """Right-padded ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64)."""
        width = max(len(w.input_ids) for w in windows)
        n = len(windows)
        ids = np.full((n, width), self.special.pad, dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.int64)
        types = np.zeros((n, width), dtype=np.int64)
        for i, w in enumerate(windows):
            k = len(w.input_ids)
            ids[i, :k] = w.input_ids
            mask[i, :k] = 1
            types[i, :k] = w.type_ids
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

    @staticmethod
    def labels(windows: Sequence[Window], word_labels: Sequence[Sequence[int]]) -> np.ndarray:
        """Training targets: the word's label on its first sub-token, -100 elsewhere."""
        width = max(len(w.input_ids) for w in windows)
        out = np.full((len(windows), width), IGNORE_INDEX, dtype=np.int64)
        for i, w in enumerate(windows):
            labs = word_labels[w.sentence]
            for word, pos in w.targets:
                out[i, pos] = labs[word]
        return out


#: How word scores become tags: the best IOB2-valid path, or each word's arg max (then
#: repaired: a stray ``I-X`` opens an entity). See :mod:`serkit.models.viterbi`.
DECODINGS = ("viterbi", "argmax")


def check_decoding(decoding: str) -> str:
    """``decoding`` if known; a ``SerkitError`` (one clear line on the CLI) if not."""
    if decoding not in DECODINGS:
        raise SerkitError(f"unknown decoding {decoding!r}: expected one of {', '.join(DECODINGS)}")
    return decoding


def decode(
    word_logits: Sequence[np.ndarray], labels: Sequence[str], decoding: str = "viterbi"
) -> list[tuple[list[str], list[float]]]:
    """Tags and per-word confidences (softmax probability of the chosen tag) per sentence."""
    check_decoding(decoding)
    logp = [log_softmax(wl.astype(np.float64)) for wl in word_logits]
    if decoding == "viterbi":
        trans, start = iob2_constraints(labels)
        paths = best_paths(logp, trans, start)
    else:
        paths = [lp.argmax(axis=-1) for lp in logp]
    out = []
    for lp, path in zip(logp, paths, strict=True):
        tags = [labels[i] for i in path]
        if decoding == "argmax":
            tags, _ = repair_iob(tags)
        conf = np.exp(lp[np.arange(len(path)), path]).tolist()
        out.append((tags, conf))
    return out


def word_logits(
    encoder: Encoder,
    sentences: Sequence[Sequence[str]],
    run: Callable[[dict[str, np.ndarray]], np.ndarray],
    n_labels: int,
    max_tokens: int = 8192,
) -> list[np.ndarray]:
    """One ``(n_words, n_labels)`` array per sentence, in the input order.

    Windows are run grouped by length (``run`` maps padded inputs to logits of shape
    ``(batch, seq, n_labels)``); each word takes the logits of its best window.
    """
    windows = encoder.encode(sentences)
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
    logits_of: list[np.ndarray | None] = [None] * len(windows)
    i = 0
    while i < len(order):
        # Rows are sorted by width, so the last row of a group is its widest.
        j = i + 1
        while j < len(order) and (j - i + 1) * len(windows[order[j]].input_ids) <= max_tokens:
            j += 1
        group = [windows[k] for k in order[i:j]]
        out = run(encoder.pad(group))
        for k, row in zip(order[i:j], out, strict=True):
            logits_of[k] = row
        i = j
    # Rows have different widths; gather works per window.
    out_logits = [np.zeros((len(s), n_labels), dtype=np.float32) for s in sentences]
    for w, lg in zip(windows, logits_of, strict=True):
        if w.targets and lg is not None:
            words, pos = zip(*w.targets, strict=True)
            out_logits[w.sentence][list(words)] = lg[list(pos)]
    return out_logits
