"""A fast CRF tagger (crfsuite) with lexicon-match features.

The model directory holds ``crf.crfsuite`` (crfsuite's own binary format, opened
in memory with ``pycrfsuite.Tagger``: nothing is unpickled), ``lexicon.tsv`` (the
lexicon its features were trained with) and the ``serkit.json`` card.

Lexicon features on the training data can be computed *jackknifed* (``lexicon_folds=k``,
:func:`serkit.lexicon.jackknife`: the sentences of fold i see a lexicon built from the
other folds only), so the CRF does not
learn to trust the lexicon more than it deserves on unseen text. On the W1 validation
slice this lost (0.639 vs 0.649 F1 at 50 iterations): WikiSER's own labels come from a
lexicon, so trusting one pays. The default is therefore off.

Inference runs in ``serkit.models.crf_numpy`` (batched numpy over per-word weight vectors
read from the model file, identical tags to pycrfsuite); ``predict_words_crfsuite`` keeps
the pycrfsuite path as the reference.

A model trained on several corpora (``serkit.training.crf``) answers in *schemes*, listed
in its card (``scheme_specs``): each names the corpus *style* it answers in (a
feature-augmented model's ``@c|f`` weights, folded into the plain ones once per scheme so
tagging costs what a one-corpus model's does), the projection of serkit's types into the
scheme's label set (``map``), and its output ``types``. ``developer`` may add a ``fill``:
for the types its corpus never annotates, another corpus's odds against O.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pycrfsuite

from serkit.errors import InvalidScheme, ModelLoadError, SerkitError
from serkit.labels import OUTSIDE, bio_labels, map_tags
from serkit.lexicon import Lexicon
from serkit.models import folder
from serkit.models.crf_numpy import CrfWeights, FastCrf
from serkit.models.features import MAX_CRF_WINDOW, FeatureExtractor, style_prefix, with_style
from serkit.models.folder import read_card, write_card
from serkit.tagger import Tagger, check_word_batch
from serkit.tokens import Sentence

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
    "lexicon_folds": 0,
    "seed": 0,
}


def resolve_config(config: dict[str, Any] | None) -> dict[str, Any]:
    cfg = dict(DEFAULTS)
    config = dict(config or {})
    if "jackknife" in config:  # the option's name in cards saved before it was shared
        config.setdefault("lexicon_folds", config.pop("jackknife"))
    for k, v in config.items():
        if v is not None:
            cfg[k] = v
    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise SerkitError(f"unknown CRF option(s): {', '.join(sorted(unknown))}")
    if cfg["lexicon_case"] not in ("smart", "sensitive", "insensitive"):
        raise SerkitError(f"unknown lexicon case policy {cfg['lexicon_case']!r}")
    window = cfg["window"]
    if isinstance(window, bool) or not isinstance(window, int) or not 0 <= window <= MAX_CRF_WINDOW:
        raise SerkitError(f"window must be between 0 and {MAX_CRF_WINDOW}, got {window!r}")
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
    runtime = "crf"  # type: ignore[assignment]  (a class constant over the property)

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
        #: the model's own tags (``labels`` are the current scheme's)
        self.raw_labels = list(self.labels)
        self.features = FeatureExtractor(_matcher(lexicon, self.config), self.config["window"])
        if weights.labels != list(self._tagger.labels()):
            raise ModelLoadError("crfsuite model labels could not be read back")
        self._weights = weights
        self._lock = threading.Lock()  # caches grow, and a crfsuite tagger holds state
        self._specs = _scheme_specs(card, weights)
        #: fast taggers by folded styles, shared by the views of this model (``with_scheme``)
        self._folds: dict[str, FastCrf] = {}
        #: the current scheme (None: the model's own labels) and what answering in it takes
        self.scheme: str | None = None
        self._style: str | None = None  # the corpus whose ``@c|`` features the reference adds
        self._map: dict[str, str] | None = None
        self._reference_ok = True  # False: a scheme crfsuite's tagger cannot compute
        if self._specs:
            self.use_scheme(None)
        else:
            self._fast = self._fold({})

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
        """Write model file, lexicon and card, replacing an older model in ``out_dir``
        whole (:func:`serkit.models.folder.staged`: another architecture's files go too)."""
        if card is not None:
            self.card = card
        d = Path(out_dir)
        with folder.staged(d) as stage:
            (stage / MODEL_FILE).write_bytes(self._model_bytes)
            if self.lexicon is not None:
                self.lexicon.save(stage / LEXICON_FILE)
            write_card(stage, self.card)
        return d

    # -- schemes ------------------------------------------------------------------------
    @property
    def schemes(self) -> list[str]:
        return list(self._specs)

    def use_scheme(self, scheme: str | None) -> None:
        """Answer in ``scheme`` (None: the model's default). Only this tagger's attributes
        are replaced; the folded weights are shared, so ``with_scheme`` views are cheap."""
        if not self._specs:
            super().use_scheme(scheme)
            return
        name = scheme if scheme is not None else self.card.get("default_scheme")
        spec = self._specs.get(name) if isinstance(name, str) else None
        if spec is None:
            known = ", ".join(self._specs)
            raise InvalidScheme(f"unknown scheme {name!r} (this model knows: {known})")
        self._answer(spec)
        self.scheme = name

    def with_spec(self, spec: dict[str, Any]) -> CrfTagger:
        """A view answering as ``spec`` says (a ``scheme_specs`` entry): what training
        scores each corpus's validation set with."""
        import copy

        other = copy.copy(self)
        other._answer(_check_spec("spec", spec, self._weights))
        other.scheme = None
        return other

    def _answer(self, spec: dict[str, Any]) -> None:
        self._fast = self._fold(spec)
        self._style = spec.get("style") if not spec.get("fill") else None
        self._map = spec.get("map")
        self.labels = bio_labels(spec["types"])
        self._reference_ok = not spec.get("fill")

    def _fold(self, spec: dict[str, Any]) -> FastCrf:
        """The fast tagger with ``spec``'s styles folded in, made once per model."""
        key = repr((spec.get("style"), spec.get("fill")))
        with self._lock:
            fast = self._folds.get(key)
            if fast is None:
                parts = _style_parts(spec, self._weights.labels)
                weights = self._weights.folded(parts) if parts else self._weights
                fast = self._folds[key] = FastCrf(weights, self.features)
        return fast

    # -- inference ----------------------------------------------------------------------
    def predict_words(self, batch: Sequence[Sequence[str]]) -> list[tuple[list[str], list[float]]]:
        """Viterbi tags and the marginal probability of each chosen tag (batched numpy)."""
        check_word_batch(batch)
        with self._lock:
            out = self._fast.predict(batch)
        if self._map is not None:
            m = self._map
            out = [(map_tags(tags, m), conf) for tags, conf in out]
        return out

    def predict_words_crfsuite(
        self, batch: Sequence[Sequence[str]]
    ) -> list[tuple[list[str], list[float]]]:
        """The same through pycrfsuite, one sentence at a time: the reference (slower)."""
        check_word_batch(batch)
        if not self._reference_ok:
            raise SerkitError(
                f"scheme {self.scheme!r} mixes two corpus styles, which crfsuite's own tagger "
                "cannot; use predict_words"
            )
        out: list[tuple[list[str], list[float]]] = []
        tagger = self._tagger
        prefix = style_prefix(self._style) if self._style is not None else None
        with self._lock:
            for tokens in batch:
                if not tokens:
                    out.append(([], []))
                    continue
                feats = self.features(tokens)
                tags = tagger.tag(feats if prefix is None else with_style(feats, prefix))
                marginal = tagger.marginal
                out.append((tags, [marginal(t, i) for i, t in enumerate(tags)]))
        if self._map is not None:
            m = self._map
            out = [(map_tags(tags, m), conf) for tags, conf in out]
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
        if self._map is not None:
            tags = [map_tags(t, self._map) for t in tags]
        return tags


# -- schemes of a model trained on several corpora (serkit.training.crf writes them) ------
def _scheme_specs(card: dict[str, Any], weights: CrfWeights) -> dict[str, dict[str, Any]]:
    """The card's ``scheme_specs``, checked (``{}``: a one-corpus model, its own labels)."""
    specs = card.get("scheme_specs")
    if specs is None:
        return {}
    if not isinstance(specs, dict) or not specs:
        raise ModelLoadError("scheme_specs must be a table of schemes")
    out = {
        str(name): _check_spec(f"scheme {name!r}", spec, weights) for name, spec in specs.items()
    }
    default = card.get("default_scheme")
    if default not in out:
        raise ModelLoadError(f"default_scheme {default!r} is not one of {list(out)}")
    return out


def _check_spec(where: str, spec: Any, weights: CrfWeights) -> dict[str, Any]:
    """A scheme spec with the right shape: ``style`` (a corpus of the model or None),
    ``map`` (serkit type -> output type, or None), ``types`` (the output types), ``fill``
    (None or ``{"style", "types"}``: types scored by another corpus's odds against O)."""
    styles = weights.styles()
    types = {lab[2:] for lab in weights.labels if lab != OUTSIDE}

    def bad(why: str) -> ModelLoadError:
        return ModelLoadError(f"{where}: {why}")

    if not isinstance(spec, dict):
        raise bad("not a table")
    style, fill, mapping, out_types = (spec.get(k) for k in ("style", "fill", "map", "types"))
    if style is not None and style not in styles:
        raise bad(f"style {style!r} is not a corpus of the model ({', '.join(styles) or 'none'})")
    if not isinstance(out_types, list) or not all(isinstance(t, str) for t in out_types):
        raise bad("types must be a list of type names")
    if mapping is not None and not (
        isinstance(mapping, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())
    ):
        raise bad("map must be a table of type -> type")
    if fill is not None:
        ok = isinstance(fill, dict) and fill.get("style") in styles and style is not None
        ft = fill.get("types") if isinstance(fill, dict) else None
        ok = ok and isinstance(ft, list) and all(isinstance(t, str) and t in types for t in ft)
        if not ok:
            raise bad("fill must be {style: a corpus of the model, types: the model's types}")
    return {"style": style, "fill": fill, "map": mapping, "types": out_types}


def _style_parts(spec: dict[str, Any], labels: list[str]) -> list[tuple[str, np.ndarray]]:
    """``(corpus, M)`` pairs for :meth:`CrfWeights.folded`. A style adds its weights as
    they are (``M = I``). With a ``fill``, the fill types' columns take the primary
    style's O column plus the fill style's odds of the type against O, so that a fill
    tag's score minus O's is what the fill corpus's style gives it: the partial-label
    reading of a corpus that never annotates those types, at the level of scores."""
    style, fill = spec.get("style"), spec.get("fill")
    if style is None:
        return []
    n = len(labels)
    if not fill:
        return [(style, np.eye(n))]
    o = labels.index(OUTSIDE)
    cols = [i for i, lab in enumerate(labels) if lab != OUTSIDE and lab[2:] in fill["types"]]
    primary, other = np.eye(n), np.zeros((n, n))
    for y in cols:
        primary[y, y], primary[o, y] = 0.0, 1.0
        other[y, y], other[o, y] = 1.0, -1.0
    return [(style, primary), (fill["style"], other)]
