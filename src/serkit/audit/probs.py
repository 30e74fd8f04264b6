"""Per-token label probabilities from a model: what the model-based signals are made of.

Every signal that reads a model sees the same thing, a :class:`TokenProbs`: for each
sentence a ``(tokens, labels)`` array of probabilities in the corpus's label order and
the model's own decoded tags. CRF probabilities are the forward-backward marginals of
``serkit.models.crf_numpy`` (``FastCrf.marginals``); transformer probabilities are the softmax of
``word_logits``, decoded as the tagger decodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from serkit.labels import OUTSIDE


@dataclass(slots=True)
class TokenProbs:
    """One model's view of the corpus: probabilities, decoded tags and how it was obtained.

    ``in_sample`` is True when the model saw these labels in training: its probabilities
    then agree with the given labels more than they deserve and understate errors.
    """

    name: str
    labels: list[str]
    probs: list[np.ndarray]
    pred: list[list[str]]
    in_sample: bool = False
    notes: list[str] = field(default_factory=list)


def save_probs(path: str | Path, view: TokenProbs, key: str, made: str = "") -> None:
    """Write ``view`` to an ``.npz`` (atomically) under ``key``, what it was computed from."""
    from serkit.files.atomic import atomic_write

    with atomic_write(path, "wb") as f:
        np.savez_compressed(
            f, probs=np.concatenate(view.probs) if view.probs else np.zeros((0, len(view.labels))),
            lengths=np.array([len(p) for p in view.probs], dtype=np.int64),
            pred=np.array([t for tags in view.pred for t in tags], dtype=str),
            labels=np.array(view.labels, dtype=str), name=np.array(view.name),
            key=np.array(key), made=np.array(made),
        )  # fmt: skip


def load_probs(path: str | Path, key: str) -> TokenProbs:
    """A view saved by :func:`save_probs` under the same ``key`` (else a ``SerkitError``);
    nothing is unpickled. ``notes`` holds when it was made."""
    import zipfile

    from serkit.errors import SerkitError

    if not zipfile.is_zipfile(path):  # np.load would take it for a pickle, or an EOFError
        why = "a folder" if Path(path).is_dir() else "not an .npz file, or a damaged one"
        raise SerkitError(f"{path}: not a cache of cross-fitted folds ({why})")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "key" not in z or str(z["key"]) != key:
                raise SerkitError(
                    f"{path}: cached folds of another corpus or other options; delete it"
                )
            lengths = z["lengths"].astype(np.int64)
            cut = np.cumsum(lengths)[:-1]
            probs = list(np.split(z["probs"], cut)) if len(lengths) else []
            tags = z["pred"].astype(str)
            pred = [list(p) for p in np.split(tags, cut)] if len(lengths) else []
            view = TokenProbs(str(z["name"]), [str(x) for x in z["labels"]], probs, pred)
            view.notes.append(str(z["made"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise SerkitError(f"{path}: not a cache of cross-fitted folds ({e})") from None
    if int(lengths.sum()) != len(tags) or len(tags) != sum(len(p) for p in probs):
        raise SerkitError(f"{path}: a damaged cache of cross-fitted folds; delete it")
    return view


def to_corpus_labels(
    probs: np.ndarray, model_labels: Sequence[str], labels: Sequence[str]
) -> np.ndarray:
    """Reorder columns into the corpus's label order; labels the model lacks get 0 and
    probability of labels the corpus lacks moves to ``O`` (a type it cannot express)."""
    out = np.zeros((probs.shape[0], len(labels)))
    index = {lab: i for i, lab in enumerate(labels)}
    for j, lab in enumerate(model_labels):
        out[:, index.get(lab, index[OUTSIDE])] += probs[:, j]
    return out


def crf_probs(
    fast, sentences: Sequence[Sequence[str]], labels: Sequence[str]
) -> tuple[list[np.ndarray], list[list[str]]]:
    """Marginals and Viterbi tags of a CRF's numpy decoder (``FastCrf``)."""
    from serkit.models.viterbi import Packing, viterbi_packed

    probs: list[np.ndarray] = [np.zeros((0, len(labels)))] * len(sentences)
    pred: list[list[str]] = [[] for _ in sentences]
    order = sorted((i for i, s in enumerate(sentences) if len(s)), key=lambda i: -len(sentences[i]))
    n_lab = len(fast.labels)
    for lo in range(0, len(order), fast.run_size):
        ids = order[lo : lo + fast.run_size]
        batch = [sentences[i] for i in ids]
        E = fast.emissions(batch)
        lens = np.fromiter(map(len, batch), np.intp, len(batch))
        pack = Packing.of(lens)
        P = np.ascontiguousarray(E[pack.src].T)
        best = viterbi_packed(P, fast.w.T, pack)
        m = np.empty((len(pack.src), n_lab))
        m[pack.src] = fast.marginals(P, pack).T  # one forward-backward for every label
        y = np.empty_like(pack.src)
        y[pack.src] = best
        starts = np.cumsum(lens) - lens
        for i, s, n in zip(ids, starts.tolist(), lens.tolist(), strict=True):
            probs[i] = to_corpus_labels(m[s : s + n], fast.labels, labels)
            pred[i] = [fast.labels[k] for k in y[s : s + n]]
    return probs, pred


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def windowed_probs(
    tagger, sentences: Sequence[Sequence[str]], labels: Sequence[str], batch_size: int = 64
) -> tuple[list[np.ndarray], list[list[str]]]:
    """Softmax of a transformer's per-word logits, and its tags decoded from the same logits."""
    from serkit.models.encoding import decode

    probs: list[np.ndarray] = []
    pred: list[list[str]] = []
    for lo in range(0, len(sentences), batch_size):
        batch = [list(s) for s in sentences[lo : lo + batch_size]]
        logits = tagger.word_logits(batch)
        for lg, (tags, _) in zip(
            logits, decode(logits, tagger.labels, tagger.decoding), strict=True
        ):
            probs.append(to_corpus_labels(softmax(lg.astype(np.float64)), tagger.labels, labels))
            pred.append(tags)
    return probs, pred
