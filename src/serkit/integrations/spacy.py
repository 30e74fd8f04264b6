"""serkit as a spaCy pipeline component: ``nlp.add_pipe("serkit", config={...})``.

Registered through the ``spacy_factories`` entry point (``pip install serkit[spacy]``), so
no import of serkit is needed. The component tags ``doc.text`` with a serkit ``Tagger``
and turns its character spans into spaCy spans with ``Doc.char_span`` (serkit and spaCy
tokenise differently: ``numpy==1.26`` is three serkit words, one spaCy token). An entity
whose offsets are not on spaCy token boundaries is *misaligned*: it is counted
(``component.misaligned``) and, when the alignment mode leaves no span for it (``strict``,
or ``contract`` with no whole token inside) or it overlaps another entity in
``doc.ents``, counted as *dropped* with a warning; nothing disappears silently.

Config: ``model`` (a model folder, an installed model package's name, or null: the shipped
default), ``scheme`` (label scheme), ``spans_key`` (null: set ``doc.ents``, replacing what
was there; a key: put the spans in ``doc.spans[key]`` and leave ``doc.ents`` alone),
``alignment_mode`` (``expand``, ``contract`` or ``strict``), ``batch_size`` (sentences
per model call, at most: ``nlp.pipe(batch_size=...)`` lowers it), ``runtime``,
``threads``, ``device`` (``cpu``, ``cuda``...) and ``dtype`` (``fp32``, ``fp16``,
``bf16``: :mod:`serkit.devices`); ``runtime``, ``threads``, ``device``, ``dtype``,
``alignment_mode``, ``batch_size`` and ``spans_key`` are checked when the component is
added (the model and its ``scheme`` when it is loaded). Each span's score is
``span._.serkit_score``.

``nlp.to_disk`` copies the model folder into the pipeline (safetensors/ONNX and the
other model files, never pickles), so ``spacy.load`` of it needs nothing else; the model
is loaded on first use, after ``from_disk`` had its say. A pickled component (``nlp.pipe(
n_process=2)`` where processes spawn) loads its model again in the new process.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from serkit.architectures import check_runtime
from serkit.devices import check_device, check_dtype, check_threads
from serkit.errors import SerkitError
from serkit.tagger import check_batch_size

if TYPE_CHECKING:
    from serkit.tagger import Tagger
    from serkit.tokens import Entity

ALIGNMENT_MODES = ("strict", "contract", "expand")
#: The model folder's place inside the component's folder of a saved pipeline.
MODEL_SUBDIR = "model"
SCORE_ATTR = "serkit_score"

if not Span.has_extension(SCORE_ATTR):
    Span.set_extension(SCORE_ATTR, default=None)


class MisalignedEntities(UserWarning):
    """serkit entities that could not become spaCy spans as they are."""


@Language.factory(
    "serkit",
    default_config={
        "model": None,
        "scheme": None,
        "spans_key": None,
        "alignment_mode": "expand",
        "batch_size": 32,
        "runtime": "auto",
        "threads": None,
        "device": "cpu",
        "dtype": "fp32",
    },
)
def make_serkit(
    nlp: Language,
    name: str,
    model: str | None,
    scheme: str | None,
    spans_key: str | None,
    alignment_mode: str,
    batch_size: int,
    runtime: str,
    threads: int | None,
    device: str,
    dtype: str,
) -> SerkitComponent:
    return SerkitComponent(
        nlp,
        name,
        model=model,
        scheme=scheme,
        spans_key=spans_key,
        alignment_mode=alignment_mode,
        batch_size=batch_size,
        runtime=runtime,
        threads=threads,
        device=device,
        dtype=dtype,
    )


def _listing(items: list[str], n: int = 5) -> str:
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return f"{len(items)}: " + ", ".join(items[:n]) + more


class SerkitComponent:
    """Software entities from a serkit model as ``doc.ents`` or ``doc.spans[key]``."""

    def __init__(
        self,
        nlp: Language,
        name: str = "serkit",
        *,
        model: str | None = None,
        scheme: str | None = None,
        spans_key: str | None = None,
        alignment_mode: str = "expand",
        batch_size: int = 32,
        runtime: str = "auto",
        threads: int | None = None,
        device: str = "cpu",
        dtype: str = "fp32",
    ) -> None:
        if alignment_mode not in ALIGNMENT_MODES:
            raise SerkitError(
                f"alignment_mode {alignment_mode!r}: choose one of {', '.join(ALIGNMENT_MODES)}"
            )
        try:
            check_batch_size(batch_size)
        except (TypeError, ValueError) as e:  # a config error, said as the others are
            raise SerkitError(str(e)) from None
        if spans_key is not None and not (isinstance(spans_key, str) and spans_key):
            raise SerkitError(f"spans_key must be a non-empty string or null, got {spans_key!r}")
        self.name = name
        self.model = model or None
        self.scheme = scheme
        self.spans_key = spans_key
        self.alignment_mode = alignment_mode
        self.batch_size = batch_size
        self.runtime = check_runtime(runtime)
        self.threads = check_threads(threads)
        self.device = check_device(device)
        self.dtype = check_dtype(dtype)
        #: Entities whose offsets were not on spaCy token boundaries (adjusted or dropped).
        self.misaligned = 0
        #: Entities that did not become a span (no aligned span, or overlapping in doc.ents).
        self.dropped = 0
        self._tagger: Tagger | None = None
        self._loaded = False  # whether _tagger was loaded here (from the config), not set
        self._model_dir: Path | None = None  # set by from_disk: the pipeline's own copy

    # -- the model ------------------------------------------------------------------------
    @property
    def tagger(self) -> Tagger:
        """The serkit tagger, loaded on first use (after ``from_disk``, from its copy)."""
        if self._tagger is None:
            from serkit.models.registry import load_tagger

            kwargs: dict[str, Any] = {
                "prefer": self.runtime,
                "scheme": self.scheme,
                "device": self.device,
                "dtype": self.dtype,
            }
            if self.threads is not None:
                kwargs["threads"] = self.threads
            self._tagger = load_tagger(self._model_dir or self.model, **kwargs)
            self._loaded = True
        return self._tagger

    @tagger.setter
    def tagger(self, tagger: Tagger) -> None:
        self._tagger = tagger
        self._loaded = False

    def __getstate__(self) -> dict[str, Any]:
        """A pickled component (``nlp.pipe(n_process=2)`` where processes spawn: macOS,
        Windows) leaves the tagger it loaded behind (ONNX sessions and locks do not pickle)
        and loads it again on first use, from the same folder; a tagger set by hand
        travels as it is."""
        state = dict(self.__dict__)
        if state["_loaded"]:
            state["_tagger"] = None
            state["_loaded"] = False
        return state

    def initialize(self, get_examples: Any = None, *, nlp: Language | None = None) -> None:
        """Load the model now (``nlp.initialize()``) rather than on the first text."""
        self.tagger  # noqa: B018

    # -- tagging --------------------------------------------------------------------------
    def __call__(self, doc: Doc) -> Doc:
        return self.set_annotations(doc, self.tagger(doc.text))

    def pipe(self, stream: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        """Docs tagged in batches through ``Tagger.pipe``: sentences of consecutive docs
        share model calls of at most ``min(batch_size, self.batch_size)`` sentences
        (``nlp.pipe`` always passes its own, 1000 by default: texts, not sentences)."""
        size = min(batch_size or self.batch_size, self.batch_size)
        docs, texts = itertools.tee(stream)
        results = self.tagger.pipe((doc.text for doc in texts), batch_size=size)
        for doc, entities in zip(docs, results, strict=True):
            yield self.set_annotations(doc, entities)

    def set_annotations(self, doc: Doc, entities: list[Entity]) -> Doc:
        """Put ``entities`` (character spans of ``doc.text``) on ``doc``."""
        spans: list[Span] = []
        moved: list[str] = []  # misaligned, became a span with other bounds
        lost: list[str] = []  # no span at all, or overlapping in doc.ents
        unaligned = 0
        for ent in entities:
            span = doc.char_span(
                ent.start, ent.end, label=ent.label, alignment_mode=self.alignment_mode
            )
            where = f"{ent.text!r} [{ent.start}:{ent.end}] {ent.label}"
            if span is None:
                lost.append(where)
                unaligned += 1
                continue
            if span.start_char != ent.start or span.end_char != ent.end:
                moved.append(f"{where} -> {span.text!r}")
            span._.set(SCORE_ATTR, ent.score)
            spans.append(span)
        if self.spans_key is None:
            kept = filter_spans(spans)  # doc.ents cannot overlap: the longest stays
            if len(kept) < len(spans):
                ids = {id(s) for s in kept}
                lost += [
                    f"{s.text!r} [{s.start_char}:{s.end_char}] {s.label_} (overlaps)"
                    for s in spans
                    if id(s) not in ids
                ]
            doc.ents = kept
        else:
            doc.spans[self.spans_key] = spans
        self.misaligned += len(moved) + unaligned
        self.dropped += len(lost)
        if moved or lost:
            parts = [
                f"{what}: {_listing(items)}"
                for what, items in (
                    ("adjusted", moved),
                    ("left out", lost),
                )
                if items
            ]
            warnings.warn(
                f"serkit: entities not on spaCy token boundaries (alignment_mode="
                f"{self.alignment_mode!r}); {'; '.join(parts)}",
                MisalignedEntities,
                stacklevel=2,
            )
        return doc

    # -- serialisation --------------------------------------------------------------------
    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Copy the model folder into ``path/model`` (the pipeline then stands alone)."""
        import os
        import shutil

        from serkit.packaging import copy_model

        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        if "model" in exclude:
            return
        src = self.tagger.model_dir
        if src is None:
            raise SerkitError(
                "serkit component: the tagger was built in memory, not loaded "
                "from a model folder: nothing to save"
            )
        dest = out / MODEL_SUBDIR
        if dest.exists() and dest.resolve() == Path(src).resolve():
            return
        tmp = out / f".{MODEL_SUBDIR}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        copy_model(src, tmp)  # a stale file of an older copy must not survive
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> SerkitComponent:
        """Use the model copied by ``to_disk`` (loaded on first use)."""
        d = Path(path) / MODEL_SUBDIR
        if "model" not in exclude and d.is_dir():
            self._model_dir = d
            self._tagger, self._loaded = None, False
        return self
