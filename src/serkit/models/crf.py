"""A fast CRF tagger (crfsuite) with lexicon-match features.

The model directory holds ``crf.crfsuite`` (crfsuite's own binary format, opened
in memory with ``pycrfsuite.Tagger``: nothing is unpickled), ``lexicon.tsv`` (the
lexicon its features were trained with) and the ``serkit.json`` card.

Lexicon features on the training data can be computed *jackknifed* (``jackknife=k``: the
sentences of fold i see a lexicon built from the other folds only), so the CRF does not
learn to trust the lexicon more than it deserves on unseen text. On the W1 validation
slice this lost (0.639 vs 0.649 F1 at 50 iterations): WikiSER's own labels come from a
lexicon, so trusting one pays. The default is therefore off.

Inference runs in ``serkit.models.crf_numpy`` (batched numpy over per-word weight vectors
read from the model file, identical tags to pycrfsuite); ``predict_words_crfsuite`` keeps
the pycrfsuite path as the reference.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pycrfsuite

from serkit.errors import ModelLoadError, SerkitError
from serkit.labels import OUTSIDE, bio_labels
from serkit.lexicon import Lexicon
from serkit.models import folder
from serkit.models.crf_numpy import CrfWeights, FastCrf
from serkit.models.features import FeatureExtractor
from serkit.models.folder import read_card, write_card
from serkit.tagger import Tagger
from serkit.types import Sentence

MODEL_FILE = folder.CRF_MODEL
LEXICON_FILE = folder.LEXICON

#: Defaults selected on the W1 validation slice only (its strict micro F1 below):
#: c1/c2 0.02/0.005: 0.647, 0.05/0.01: 0.649, 0.1/0.05: 0.656, 0.2/0.1: 0.659, 0.4/0.2: 0.658
#: at 50 L-BFGS iterations; 100 iterations: 0.652 (0.05/0.01), 0.654 (0.1/0.05), and twice
#: the training time. Case policy sensitive: 0.646 vs smart 0.649 (0.05/0.01); lexicon
#: min_ratio 0.3: 0.6586 vs 0.0: 0.6589 (0.2/0.1); jackknife 5: 0.639 vs off 0.649 (0.05/0.01).
DEFAULTS: dict[str, Any] = {
    "c1": 0.2,
    "c2": 0.1,
    "max_iterations": 50,
    "min_freq": 1,
    "window": 2,
    "lexicon": True,
    "lexicon_case": "smart",
    "lexicon_min_ratio": 0.0,
    "lexicon_min_count": 1,
    "jackknife": 0,
    "seed": 0,
}


def resolve_config(config: dict[str, Any] | None) -> dict[str, Any]:
    cfg = dict(DEFAULTS)
    for k, v in (config or {}).items():
        if v is not None:
            cfg[k] = v
    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise SerkitError(f"unknown CRF option(s): {', '.join(sorted(unknown))}")
    if cfg["lexicon_case"] not in ("smart", "sensitive", "insensitive"):
        raise SerkitError(f"unknown lexicon case policy {cfg['lexicon_case']!r}")
    return cfg


def _matcher(lexicon: Lexicon | None, cfg: dict[str, Any]):
    if lexicon is None:
        return None
    return lexicon.matcher(
        case=cfg["lexicon_case"],
        min_ratio=float(cfg["lexicon_min_ratio"]),
        min_count=int(cfg["lexicon_min_count"]),
    )


class CrfTagger(Tagger):
    """``Tagger`` over a crfsuite model; confidence = marginal probability of the chosen tag."""

    batches_itself = True

    def __init__(
        self,
        model_bytes: bytes,
        lexicon: Lexicon | None,
        card: dict[str, Any],
    ) -> None:
        self.card = card
        self.config = resolve_config(card.get("config"))
        self.lexicon = lexicon
        self._model_bytes = model_bytes
        # Parsed in Python (bounds-checked) before crfsuite's C parser, which crashes the
        # process on a truncated file that no checksum covers (cards from before them).
        weights = CrfWeights(model_bytes)
        self._tagger = pycrfsuite.Tagger()
        try:
            self._tagger.open_inmemory(model_bytes)
        except (ValueError, OSError) as e:
            raise ModelLoadError(f"not a valid crfsuite model: {e}") from e
        types = sorted({lab[2:] for lab in self._tagger.labels() if lab != OUTSIDE})
        self.labels = card.get("labels") or bio_labels(types)
        self.features = FeatureExtractor(_matcher(lexicon, self.config), self.config["window"])
        self._fast = FastCrf(weights, self.features)
        if self._fast.labels != list(self._tagger.labels()):
            raise ModelLoadError("crfsuite model labels could not be read back")
        self._lock = threading.Lock()  # caches grow, and a crfsuite tagger holds state

    # -- persistence --------------------------------------------------------------------
    @classmethod
    def load(cls, model_dir: str | Path, card: dict[str, Any] | None = None, **_: Any) -> CrfTagger:
        """Load ``crf.crfsuite`` + ``lexicon.tsv`` + ``serkit.json`` (``card``: already
        read by the caller); extra options are ignored. The model file's bytes are checked
        against the card's sha256 before crfsuite parses them: it crashes the process on a
        damaged file."""
        d = Path(model_dir)
        if card is None:
            card = read_card(d)
        if card.get("arch") != "crf":
            raise ModelLoadError(f"{d}: not a CRF model (arch {card.get('arch')!r})")
        path = d / MODEL_FILE
        try:
            data = folder.read_verified(d, MODEL_FILE, card, folder.MAX_GRAPH_BYTES)
        except ModelLoadError as e:
            raise ModelLoadError(f"{d}: missing or unreadable {MODEL_FILE}: {e}") from e
        lexicon = None
        if resolve_config(card.get("config"))["lexicon"]:
            if not (d / LEXICON_FILE).is_file():
                raise ModelLoadError(
                    f"{d}: the model uses lexicon features but has no {LEXICON_FILE}"
                )
            lex_path = folder.checked_path(d, LEXICON_FILE, card, folder.MAX_LEXICON_BYTES)
            try:
                lexicon = Lexicon.load(lex_path)
            except SerkitError as e:
                raise ModelLoadError(f"{d}: bad {LEXICON_FILE}: {e}") from e
        try:
            return cls(data, lexicon, card)
        except ModelLoadError as e:
            raise ModelLoadError(f"{path}: {e}") from e

    def save(self, out_dir: str | Path, card: dict[str, Any] | None = None) -> Path:
        """Write model file, lexicon and card (each atomically); the card goes last."""
        from serkit.io.atomic import atomic_write

        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        with atomic_write(d / MODEL_FILE, "wb") as f:
            f.write(self._model_bytes)
        if self.lexicon is not None:
            self.lexicon.save(d / LEXICON_FILE)
        if card is not None:
            self.card = card
        write_card(d, self.card)
        return d

    # -- inference ----------------------------------------------------------------------
    def predict_words(self, batch: Sequence[Sequence[str]]) -> list[tuple[list[str], list[float]]]:
        """Viterbi tags and the marginal probability of each chosen tag (batched numpy)."""
        with self._lock:
            return self._fast.predict(batch)

    def predict_words_crfsuite(
        self, batch: Sequence[Sequence[str]]
    ) -> list[tuple[list[str], list[float]]]:
        """The same through pycrfsuite, one sentence at a time: the reference (slower)."""
        out: list[tuple[list[str], list[float]]] = []
        tagger = self._tagger
        with self._lock:
            for tokens in batch:
                if not tokens:
                    out.append(([], []))
                    continue
                tags = tagger.tag(self.features(tokens))
                marginal = tagger.marginal
                out.append((tags, [marginal(t, i) for i, t in enumerate(tags)]))
        return out

    def tag_sentences(
        self, sentences: Sequence[Sentence], batch_size: int = 128
    ) -> list[list[str]]:
        """Tags only (no marginals), in batches of similar length: for evaluation."""
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i].tokens))
        tags: list[list[str]] = [[] for _ in sentences]
        with self._lock:
            for lo in range(0, len(order), batch_size):
                chunk = order[lo : lo + batch_size]
                preds = self._fast.predict([sentences[i].tokens for i in chunk], False)
                for i, (t, _) in zip(chunk, preds, strict=True):
                    tags[i] = t
        return tags
