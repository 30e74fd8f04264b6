"""What a scaled-out run does to each shard: tag it with a model (``serkit tag``) or label
it with a lexicon (``serkit weak-label``).

The engine (``serkit.scale.engine``) plans the shards, keeps the manifest and runs the
actor pool whatever the work; a *job* says the rest: what identifies its run (shards of
two runs are never mixed), what each actor loads once, and how a shard's documents become
its output file. A job is a small frozen value: the driver checks it (``prepare``: a bad
model or lexicon fails once, in one line, before any actor starts) and Ray ships it to
every actor (``start``). Documents reach a job as ``(Source, text)`` pairs read by
``serkit.scale.shards.read_shard``, the reading of a local ``serkit tag``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Protocol

from serkit.devices import check_device, check_dtype
from serkit.errors import SerkitError
from serkit.scale.shards import OUTPUT_SUFFIXES, Item

#: Called once per document after it is written: ``done(entities, words)``.
Done = Callable[[int, int], None]


class Worker(Protocol):
    """A job's per-actor state (a loaded model, a matcher)."""

    def write(self, items: Iterable[Item], f: IO[Any], done: Done) -> None:
        """Write the documents of one shard to ``f``, calling ``done`` after each."""


class Job(Protocol):
    """The per-shard work of a run (see the module docstring)."""

    fmt: str

    @property
    def suffix(self) -> str:
        """The suffix of the output files (``.jsonl``, ``.parquet``, ``.conll``...)."""

    @property
    def binary(self) -> bool:
        """Whether the output files are written in binary mode."""

    def prepare(self) -> tuple[Job, dict[str, Any]]:
        """Check and resolve the job in the driver: the job the actors get (paths made
        absolute) and the identity of its run."""

    def start(self) -> Worker:
        """Load what the job needs, once per actor."""


@dataclass(frozen=True)
class TagJob:
    """``serkit tag``: each document tagged by the model's ``Tagger`` (the code of a local
    run, so entities and offsets are the same), written as ``serkit tag`` records."""

    model: str | None = None
    runtime: str = "auto"
    scheme: str | None = None
    fmt: str = "jsonl"
    threads: int = 1
    batch_size: int = 32
    #: Where each actor runs the model: ``cpu``, or ``cuda`` (the GPU Ray gives it).
    device: str = "cpu"
    #: The torch runtime's precision (:data:`serkit.devices.DTYPES`).
    dtype: str = "fp32"

    def __post_init__(self) -> None:
        if self.fmt not in OUTPUT_SUFFIXES:
            raise SerkitError(
                f"unknown format {self.fmt!r} for a scaled-out run (choose from "
                f"{', '.join(OUTPUT_SUFFIXES)})"
            )
        object.__setattr__(self, "device", check_device(self.device))  # frozen
        object.__setattr__(self, "dtype", check_dtype(self.dtype))
        if self.device not in ("cpu", "cuda"):
            raise SerkitError(
                f"device {self.device!r}: a scaled-out run takes cpu or cuda (each actor "
                "uses the GPU Ray gives it)"
            )

    @property
    def suffix(self) -> str:
        return OUTPUT_SUFFIXES[self.fmt]

    @property
    def binary(self) -> bool:
        return self.fmt == "parquet"

    def prepare(self) -> tuple[TagJob, dict[str, Any]]:
        tagger = self._load("cpu")  # the driver checks the model on its own CPU
        model = str(tagger.model_dir) if tagger.model_dir is not None else self.model
        job = replace(self, model=model)
        if self.device != "cpu":  # fix the GPU actors' runtime here, and check that one
            from serkit.models.registry import runtime_on

            assert tagger.model_dir is not None
            runtime = runtime_on(
                tagger.model_dir, tagger.card, self.runtime, self.device, self.dtype
            )
            job = replace(job, runtime=runtime)
            tagger = job._load("cpu")
        run = run_identity(tagger, self.scheme, self.fmt, self.device)
        if self.dtype != "fp32":
            run["dtype"] = self.dtype
        return job, run

    def _load(self, device: str) -> Any:
        from serkit.models.registry import load_tagger

        return load_tagger(
            self.model, prefer=self.runtime, scheme=self.scheme, threads=self.threads,
            device=device, dtype=self.dtype,
        )  # fmt: skip

    def start(self) -> Worker:
        return _Tagging(self._load(self.device), self.binary, self.batch_size)


def run_identity(tagger: Any, scheme: str | None, fmt: str, device: str = "cpu") -> dict[str, Any]:
    """What makes two tagging runs' shards interchangeable: the model (folder and
    checksums), the runtime actually used, the scheme, the output format and, for GPU
    actors, the device (GPU arithmetic may break a near tie differently)."""
    card = tagger.card or {}
    sums = json.dumps(card.get("checksums") or card.get("files") or {}, sort_keys=True)
    return {
        "model": str(tagger.model_dir) if tagger.model_dir is not None else None,
        "model_sha256": hashlib.sha256(sums.encode()).hexdigest()[:16],
        "runtime": tagger.runtime,
        "scheme": scheme,
        "format": fmt,
        **({"device": device} if device != "cpu" else {}),
    }


class _Tagging:
    def __init__(self, tagger: Any, binary: bool, batch_size: int) -> None:
        self.tagger, self.binary, self.batch_size = tagger, binary, batch_size

    def write(self, items: Iterable[Item], f: IO[Any], done: Done) -> None:
        from serkit.documents import tag_documents
        from serkit.render import DocWriter
        from serkit.scale.shards import ParquetDocWriter

        writer: Any = ParquetDocWriter(f) if self.binary else DocWriter(f, "jsonl")
        for doc in tag_documents(self.tagger, items, self.batch_size):
            writer.write(doc)
            done(len(doc.entities), sum(len(s.tokens) for s in doc.sentences))
        writer.close()


@dataclass(frozen=True)
class WeakLabelJob:
    """``serkit weak-label``: the text of each document labelled with lexicon matches as a
    local ``serkit weak-label`` labels a text file (paragraphs, sentences, offsets), written
    in a corpus format (``jsonl``: one sentence per line). A text file's sentences carry
    its stem as ``doc_id`` (as locally), a record's or a Parquet row's its id."""

    lexicon: str
    case: str = "smart"
    min_ratio: float = 0.0
    min_count: int = 1
    fmt: str = "jsonl"

    def __post_init__(self) -> None:
        from serkit.files.formats import check_format

        check_format(self.fmt)

    @property
    def suffix(self) -> str:
        from serkit.files.formats import get_format

        return get_format(self.fmt).suffixes[0]

    @property
    def binary(self) -> bool:
        return False

    def prepare(self) -> tuple[WeakLabelJob, dict[str, Any]]:
        from serkit.models.folder import sha256_file

        self.start()  # a bad lexicon or option fails here, once
        path = Path(self.lexicon).resolve()
        identity = {
            "job": "weak-label",
            "lexicon": str(path),
            "lexicon_sha256": sha256_file(path)[:16],
            "case": self.case,
            "min_ratio": self.min_ratio,
            "min_count": self.min_count,
            "format": self.fmt,
        }
        return replace(self, lexicon=str(path)), identity

    def start(self) -> Worker:
        from serkit.lexicon import Lexicon

        lexicon = Lexicon.load(self.lexicon)
        matcher = lexicon.matcher(self.case, self.min_ratio, self.min_count)  # type: ignore[arg-type]
        return _Labelling(matcher, self.fmt)


class _Labelling:
    def __init__(self, matcher: Any, fmt: str) -> None:
        self.matcher, self.fmt = matcher, fmt

    def write(self, items: Iterable[Item], f: IO[Any], done: Done) -> None:
        from serkit.files.formats import Columns, get_format
        from serkit.labels import spans
        from serkit.lexicon.weak import label_document

        def sentences() -> Iterator[Any]:
            for src, text in items:
                n_ents = n_words = 0
                for s in label_document(self.matcher, text, doc_id(src)):
                    n_ents += len(spans(s.tags))
                    n_words += len(s.tokens)
                    yield s
                done(n_ents, n_words)  # the writer has written this document's sentences

        get_format(self.fmt).write(f, sentences(), Columns())  # type: ignore[misc]


def doc_id(src: Any) -> str:
    """A text file's stem (what ``serkit weak-label FILE`` names its sentences' document),
    else the record's or row's id."""
    if src.record is None and src.path not in (None, "-"):
        return Path(src.path).stem
    return str(src.id)
