"""Training data: read (with a label mapping), the validation splits, the label set."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from serkit.errors import DataFormatError, SerkitError
from serkit.labels import SCHEMES, bio_labels, repair_iob, split_tag
from serkit.tokens import Sentence


def val_slice(sentences: Sequence[Sentence]) -> tuple[list[Sentence], list[Sentence]]:
    """W1 split: the sentences at 0-based position % 10 == 9 are dev, the rest train."""
    train = [s for i, s in enumerate(sentences) if i % 10 != 9]
    dev = [s for i, s in enumerate(sentences) if i % 10 == 9]
    return train, dev


def val_tail(
    sentences: Sequence[Sentence], fraction: float
) -> tuple[list[Sentence], list[Sentence]]:
    """S2 split: the last ``fraction`` of the sentences (file order) are dev.

    A tail, not a random sample, so neighbouring sentences of one thread stay on one side.
    """
    if not 0.0 < fraction < 1.0:
        raise SerkitError(f"val_tail must be between 0 and 1, got {fraction}")
    n_dev = max(1, round(len(sentences) * fraction))
    cut = len(sentences) - n_dev
    return list(sentences[:cut]), list(sentences[cut:])


def split_train_dev(
    sentences: Sequence[Sentence], *, slice_: bool = False, tail: float | None = None
) -> tuple[list[Sentence], list[Sentence]]:
    """The one place that turns a training file into train/dev (W1 slice or S2 tail)."""
    if slice_ and tail:
        raise SerkitError("give either val_slice or val_tail, not both")
    if slice_:
        return val_slice(sentences)
    if tail:
        return val_tail(sentences, tail)
    return list(sentences), []


def split_description(*, slice_: bool = False, tail: float | None = None) -> str:
    """How the dev set was cut from the training file, for model cards."""
    if slice_:
        return "sentence index % 10 != 9 trains, == 9 validates"
    if tail:
        return f"first {1 - tail:.0%} of sentences train, last {tail:.0%} validate"
    return "all"


def read_labelled(path: str, fmt: str | None = None, mapping: str | None = None) -> list[Sentence]:
    """Sentences with IOB2 tags (stray ``I-`` repaired, types mapped), empty ones dropped.

    ``mapping`` is ``"src:dst"`` (e.g. ``stackoverflow-ner:softner-9``) or a mapping file.
    """
    from serkit.files import read_all
    from serkit.labels import load_mapping, map_tags

    table = load_mapping(mapping) if mapping else None
    out = []
    for s in read_all(path, fmt):
        if not s.tokens:
            continue
        if s.tags is None:
            from serkit.errors import DataFormatError

            raise DataFormatError(path, s.line, "training data needs a tag column")
        s.tags, _ = repair_iob(s.tags)
        if table is not None:
            s.tags = map_tags(s.tags, table)
        out.append(s)
    return out


def label_set(sentences: Sequence[Sentence]) -> list[str]:
    """``O`` + B/I of each type; a known scheme's full type list when the data fits one."""
    seen = {split_tag(t)[1] for s in sentences for t in (s.tags or ())} - {None}
    fitting = [types for types in SCHEMES.values() if seen <= set(types)]
    if fitting:
        return bio_labels(min(fitting, key=len))
    return bio_labels(sorted(seen))


def data_files(path: str | Path) -> list[Path]:
    """The files a data path stands for (a WikiSER folder: all files under it)."""
    p = Path(path)
    return sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p]


def check_output_dir(output: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """Refuse, before any work, a model folder that is a file or that is (or lies inside,
    or holds) an input: saving would overwrite the data or teacher, and the next run
    would read the model's files as training data."""
    out = Path(output).resolve()
    if out.exists() and not out.is_dir():
        raise SerkitError(f"{output}: is a file; the output must be a folder for the model")
    for given in inputs:
        if not given:
            continue
        p = Path(given).resolve()
        if out == p or out.is_relative_to(p) or (p.is_file() and p.parent == out):
            raise SerkitError(
                f"{output}: the output folder would mix the model with its input {given}; "
                "give another --output"
            )


def read_corpus(spec) -> tuple[list[Sentence], list[Sentence]]:
    """A declared corpus's training and validation sentences, checked against its
    declaration: a type the declaration does not list is an error naming file and type."""
    sentences = read_labelled(spec.train, spec.format, spec.mapping)
    train, dev = split_train_dev(sentences, slice_=spec.val_slice, tail=spec.val_tail)
    if spec.dev:
        dev = read_labelled(spec.dev, spec.format)
    known = set(spec.declaration.types)
    for path, part in ((spec.train, train), (spec.dev or spec.train, dev)):
        # A corpus's mapping renames its training file only: a dev file is in its types.
        fix = "fix the declaration or give a mapping" if path == spec.train else (
            "fix the declaration or the dev file (a mapping renames the train file only)"
        )  # fmt: skip
        for s in part:
            for t in s.tags or ():
                typ = split_tag(t)[1]
                if typ is not None and typ not in known:
                    raise DataFormatError(
                        path,
                        s.line,
                        f"type {typ!r} is not in the declaration {spec.declaration.name!r} of "
                        f"corpus {spec.name!r} (its types: {', '.join(spec.declaration.types)}); "
                        + fix,
                    )
    if not train:
        raise SerkitError(f"{spec.train}: corpus {spec.name!r} has no training sentences")
    return train, dev
