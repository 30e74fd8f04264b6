"""The model folder: its file names, its card, its ``config.json``, and what may be read.

One owner for everything a saved model directory holds, so every architecture and
runtime reads it the same guarded way:

* **Names.** Every file name of a model folder is spelled here and nowhere else.
* **Card.** ``serkit.json`` is read and written here, one layout for every architecture.
  :func:`write_card` records the sha256 of each weight file under ``files`` (every saver
  gets it), and loaders verify a file against it before any parser (crfsuite, ONNX
  Runtime, tokenizers, safetensors) sees it: a truncated or bit-flipped file is one
  error line, not a crash. A card without ``files`` (models saved before) still loads;
  with ``files``, a weight file it does not list is refused rather than read unchecked.
* **Nothing runs.** ``config.json`` (and ``tokenizer_config.json``) with an ``auto_map``
  would make transformers import Python from the folder: refused before transformers sees
  it. Torch weights are safetensors only; a folder with only pickles, or an index whose
  shards are not safetensors, is refused.
* **Names stay inside.** A file name read from a card, config or index is relative,
  without ``..``: it never leaves the folder.
* **Whole models.** A saver writes into :func:`staged`'s staging folder; :func:`publish`
  then replaces the folder's model whole: every model file of an older one (of any
  architecture: ONNX graphs, torch weights, tokenizer, lexicons, ``crf.crfsuite``) that
  the new one lacks goes, and ``serkit.json`` moves in last.
* **Bounded reads.** Every file read whole is a regular file checked against a size limit
  before it is read (a ``tokenizer.json`` linked to ``/dev/zero`` is refused, not read).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shlex
import shutil
import stat
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from serkit.errors import ModelLoadError
from serkit.files.atomic import new_file_mode
from serkit.lexicon.core import MAX_TSV_BYTES

# -- file names ------------------------------------------------------------------------
CARD_NAME = "serkit.json"
#: The Hugging Face Hub model card, generated from the card (:mod:`serkit.models.hub_card`).
README = "README.md"
CONFIG = "config.json"
SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
ONNX_FP32 = "model.onnx"
ONNX_INT8 = "model.int8.onnx"
#: The runtime that runs each ONNX graph (``serkit.load(..., prefer=...)``).
ONNX_GRAPHS = {"onnx-fp32": ONNX_FP32, "onnx-int8": ONNX_INT8}
CRF_MODEL = "crf.crfsuite"
LEXICON = "lexicon.tsv"
#: One corpus's own lexicon beside the merged one, named after the head it trained
#: (``lexicon.stackoverflow.tsv``): a scheme of that head reads the lexicon in its corpus's
#: convention (:meth:`serkit.lexicon.Lexicon.in_convention`).
HEAD_LEXICON = "lexicon.{}.tsv"
TOKENIZER = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
VOCAB = "vocab.txt"
#: The tokenizer as transformers saves it; copied together into a model folder.
TOKENIZER_FILES = (
    TOKENIZER,
    TOKENIZER_CONFIG,
    "special_tokens_map.json",
    "added_tokens.json",
    VOCAB,
)
#: Everything but the weights that inference of a transformer needs.
SIDE_FILES = (CONFIG, *TOKENIZER_FILES, LEXICON)
#: The weight files of the torch runtime; without one of them serkit refuses.
SAFETENSORS_WEIGHTS = (SAFETENSORS, SAFETENSORS_INDEX)
#: Weight files that load by unpickling (running code): never loaded.
PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.pickle")

#: The staging folder a model is written into before :func:`publish` moves it in.
STAGE_DIR = ".model.tmp"

# -- documented limits (bytes) -----------------------------------------------------------
#: A card, ``config.json``, a safetensors index or ``tokenizer_config.json``.
MAX_JSON_BYTES = 16 << 20
#: ``tokenizer.json`` (the largest common ones, of multilingual LLMs, are ~35 MB).
MAX_TOKENIZER_BYTES = 128 << 20
#: ``lexicon.tsv``: the lexicon reader's own bound.
MAX_LEXICON_BYTES = MAX_TSV_BYTES
#: ``crf.crfsuite`` and an ONNX graph (protobuf caps a graph at 2 GiB).
MAX_GRAPH_BYTES = 2 << 30


def _plain_word(text: str) -> bool:
    return bool(text) and all(c.isalnum() or c in "-_" for c in text)


def head_lexicon(head: str) -> str:
    """The file name of head ``head``'s own lexicon (a head name is a plain word)."""
    if not _plain_word(head):
        raise ModelLoadError(f"head name {_short(head)} is not a plain word (letters, digits, - _)")
    return HEAD_LEXICON.format(head)


def _is_head_lexicon(name: str) -> bool:
    pre, _, post = HEAD_LEXICON.partition("{}")
    return (
        name.startswith(pre)
        and name.endswith(post)
        and _plain_word(name[len(pre) : len(name) - len(post)])
    )


def head_lexicons(folder: str | Path) -> list[str]:
    """The names of the head lexicons present in ``folder`` (``lexicon.<head>.tsv``)."""
    return sorted(
        p.name for p in Path(folder).iterdir() if p.is_file() and _is_head_lexicon(p.name)
    )


def side_files(folder: str | Path) -> list[str]:
    """:data:`SIDE_FILES` plus the head lexicons present in ``folder``: what inference
    needs besides the weights, copied together by an export."""
    return [*SIDE_FILES, *head_lexicons(folder)]


def read_limit(name: str) -> int:
    """The size bound of a model-folder file read whole."""
    if name in (TOKENIZER, VOCAB):
        return MAX_TOKENIZER_BYTES
    if name == LEXICON or _is_head_lexicon(name):
        return MAX_LEXICON_BYTES
    if name.endswith(".json"):
        return MAX_JSON_BYTES
    return MAX_GRAPH_BYTES


# -- names stay inside ---------------------------------------------------------------------
def inside(folder: str | Path, name: object, what: str = "file name") -> Path:
    """``folder / name`` for a relative ``name`` that cannot leave ``folder`` (no absolute
    path, drive or ``..``); anything else is refused with one line."""
    ok = isinstance(name, str) and name.strip() != "" and "\x00" not in name
    if ok:
        posix, windows = PurePosixPath(name), PureWindowsPath(name)
        ok = not (
            posix.is_absolute()
            or windows.is_absolute()
            or windows.drive
            or ".." in posix.parts
            or ".." in windows.parts
        )
    if not ok:
        raise ModelLoadError(
            f"{folder}: {what} {_short(name)} leaves the model folder (a file name there is "
            "relative, without '..')"
        )
    return Path(folder) / str(name)


# -- bounded reads ---------------------------------------------------------------------------
def read_bytes(path: str | Path, limit: int) -> bytes:
    """The whole of ``path``, a regular file of at most ``limit`` bytes (checked before
    reading, and again while reading in case it grows)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ModelLoadError(f"{path}: missing") from None
    except OSError as e:
        raise ModelLoadError(f"{path}: cannot read: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelLoadError(f"{path}: not a regular file (a device, FIFO or folder)")
    if st.st_size > limit:
        raise ModelLoadError(f"{path}: {st.st_size:,} bytes, over the limit of {limit:,}")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise ModelLoadError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(data) > limit:
        raise ModelLoadError(f"{path}: over the limit of {limit:,} bytes")
    return data


def read_json(path: str | Path, what: str, limit: int = MAX_JSON_BYTES) -> Any:
    """A JSON file of a model folder, bounded; any defect is one :class:`ModelLoadError`
    (``path: unreadable WHAT: reason``)."""
    try:
        data = read_bytes(path, limit)
    except ModelLoadError as e:
        raise ModelLoadError(f"unreadable {what}: {e}") from None
    try:
        return json.loads(data.decode("utf-8"))
    except RecursionError:
        raise ModelLoadError(f"{path}: unreadable {what}: JSON nested too deeply") from None
    except ValueError as e:  # bad UTF-8, bad JSON, an integer past Python's digit limit
        why = _short(str(e)).strip("'\"")
        raise ModelLoadError(f"{path}: unreadable {what}: not valid JSON: {why}") from None


def read_object(path: str | Path, what: str) -> dict[str, Any]:
    doc = read_json(path, what)
    if not isinstance(doc, dict):
        raise ModelLoadError(f"{path}: a {what} is a JSON object, not {type(doc).__name__}")
    return doc


# -- checksums ---------------------------------------------------------------------------
def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_files(paths: Iterable[str | Path]) -> str:
    """One checksum over several files (training data, sharded weights), in name order."""
    h = hashlib.sha256()
    for p in sorted(str(p) for p in paths):
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _is_weight(name: str) -> bool:
    return (
        name.endswith((".safetensors", ".onnx"))
        or name in (SAFETENSORS_INDEX, CRF_MODEL, LEXICON, TOKENIZER)
        or _is_head_lexicon(name)
    )


def weight_files(folder: str | Path) -> list[str]:
    """Names of the files a card checksums: safetensors (and shards, and their index),
    ONNX graphs, the CRF model, the lexicons and ``tokenizer.json``."""
    d = Path(folder)
    names = {p.name for p in d.iterdir() if p.is_file() and _is_weight(p.name)}
    if SAFETENSORS_INDEX in names:
        names.update(str(n) for n in _index_shards(d) if (d / n).is_file())
    return sorted(names)


def is_model_file(name: str) -> bool:
    """Whether a file named ``name`` in a model folder belongs to the model (of any
    architecture): the card, the Hub card, ``config.json``, tokenizer files and every
    weight file. Run files (``metrics.jsonl``, ``checkpoint/``) and others do not."""
    return _is_weight(name) or name in (CARD_NAME, README, CONFIG, *TOKENIZER_FILES)


def publish(stage: str | Path, out_dir: str | Path) -> None:
    """Move the model fully written in ``stage`` into ``out_dir``, replacing an older model
    whole: the older card goes first (a kill while moving leaves a folder without a card,
    which loads as nothing, never the older card over some of the new files: only the
    weights are checksummed, so it would read a new ``config.json`` beside old weights),
    then its model files that the new one lacks (a stale ONNX graph, lexicon or CRF file
    would otherwise be read beside the new card), then every file by rename,
    ``serkit.json`` last; other files of ``out_dir`` stay, and so does a ``README.md``
    written by hand (the generated one is not moved over it, as :func:`write_card` never
    rewrites one)."""
    from serkit.models.hub_card import hand_written

    stage, out = Path(stage), Path(out_dir)
    keep_readme = hand_written(out / README)
    if keep_readme:
        (stage / README).unlink(missing_ok=True)
    names = {p.name for p in stage.iterdir()}
    stays = names | {README} if keep_readme else names
    (out / CARD_NAME).unlink(missing_ok=True)
    for p in out.iterdir():
        if p.name not in stays and is_model_file(p.name) and not p.is_dir():
            p.unlink()
    for name in sorted(names - {CARD_NAME}) + [CARD_NAME]:
        if (stage / name).is_file():  # readable as any new file: a model is shared data
            os.chmod(stage / name, new_file_mode())
        os.replace(stage / name, out / name)
    stage.rmdir()


@contextmanager
def staged(out_dir: str | Path) -> Iterator[Path]:
    """Save a model into ``out_dir`` whole or not at all: write every file (the card last,
    :func:`write_card`) into the yielded staging folder; on success it is
    :func:`publish`-ed, on an error (a full disk, a kill's exception) it is removed and the
    previous model stays as it was."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage = out / STAGE_DIR
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    publish(stage, out)


def checksums(folder: str | Path) -> dict[str, str]:
    """``{name: sha256}`` of :func:`weight_files`: what a card's ``files`` entry holds."""
    d = Path(folder)
    return {name: sha256_file(d / name) for name in weight_files(d)}


def _listed(folder: Path, card: Mapping[str, Any] | None, name: str) -> str | None:
    """The sha256 the card lists for ``name``; None for a card without ``files`` (saved
    before checksums). A weight file left out of a card that has ``files`` is refused:
    every saver lists them all, so a missing entry means an edited card or a file added
    later, and loading it would skip the check."""
    files = (card or {}).get("files")
    if not isinstance(files, dict) or not files:  # no checksums recorded at all
        return None
    want = files.get(name)
    if want is None and _is_weight(name):
        raise ModelLoadError(
            f"{Path(folder) / name}: a weight file that {CARD_NAME} does not list under "
            "'files', so its checksum cannot be verified; save or export the model with serkit "
            "(the card lists every weight file), or remove the file"
        )
    return want


def _mismatch(path: Path, got: str, want: str) -> ModelLoadError:
    return ModelLoadError(
        f"{path}: damaged or changed since the model was saved (sha256 {got[:12]}..., "
        f"{CARD_NAME} lists {want[:12]}...)"
    )


def verify(folder: str | Path, card: Mapping[str, Any] | None, names: Iterable[str]) -> None:
    """Check each of ``names`` against the sha256 the card lists (a card without ``files``:
    unchecked; an unlisted weight file: refused, see :func:`_listed`)."""
    d = Path(folder)
    for name in names:
        want = _listed(d, card, name)
        if want is None:
            continue
        path = inside(d, name)
        if not path.is_file():
            raise ModelLoadError(f"{path}: missing ({CARD_NAME} lists it)")
        got = sha256_file(path)
        if got != want:
            raise _mismatch(path, got, want)


def verify_all(folder: str | Path, card: Mapping[str, Any] | None) -> None:
    """Every file the card lists that is present (a runtime may not ship all of them), and
    every weight file present that it does not list (refused: a rewritten card or a package
    would otherwise give it a checksum it never passed)."""
    d = Path(folder)
    files = (card or {}).get("files")
    if isinstance(files, dict):
        listed = [n for n in files if inside(d, n).exists()]
        verify(d, card, sorted({*listed, *weight_files(d)}))


def read_verified(
    folder: str | Path, name: str, card: Mapping[str, Any] | None, limit: int
) -> bytes:
    """The bytes of ``folder/name``, bounded, checked against the card before a parser
    sees them (the parser gets these very bytes, not a second read)."""
    path = inside(folder, name)
    data = read_bytes(path, limit)
    want = _listed(Path(folder), card, name)
    if want is not None:
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            raise _mismatch(path, got, want)
    return data


def checked_path(folder: str | Path, name: str, card: Mapping[str, Any] | None, limit: int) -> Path:
    """``folder/name`` as a regular file within ``limit`` bytes whose checksum matches the
    card; for parsers that want a path (the lexicon reader, transformers)."""
    path = inside(folder, name)
    try:
        st = os.stat(path)
    except OSError:
        raise ModelLoadError(f"{path}: missing or unreadable") from None
    if not stat.S_ISREG(st.st_mode):
        raise ModelLoadError(f"{path}: not a regular file (a device, FIFO or folder)")
    if st.st_size > limit:
        raise ModelLoadError(f"{path}: {st.st_size:,} bytes, over the limit of {limit:,}")
    verify(folder, card, [name])
    return path


# -- the card --------------------------------------------------------------------------------
def shareable_path(path: str) -> str:
    """``path`` as a card that travels records it: an absolute path inside the working
    directory becomes relative to it, one under the home folder ``~/...`` (no user name, no
    machine's layout); anything else is returned as it is."""
    if not (isinstance(path, str) and os.path.isabs(path)):
        return path
    p = Path(os.path.normpath(path))
    for root, show in ((Path.cwd(), None), (Path.home(), "~")):
        if root == Path(root.anchor):  # a working directory or home of `/` says nothing private
            continue
        if p == root or p.is_relative_to(root):
            rest = p.relative_to(root).as_posix()
            if show is None:
                return rest
            return show if rest == "." else f"{show}/{rest}"
    return path


def _quote(path: str) -> str:
    """A shell word for ``path``; a leading ``~/`` stays unquoted (the shell expands it)."""
    if path == "~":
        return path
    if path.startswith("~/"):
        return "~/" + shlex.quote(path[2:]) if path[2:] else path
    return shlex.quote(path)


def _shareable_arg(arg: str) -> str:
    """One argument as a shell word (or two: ``--opt=~/x`` becomes ``--opt ~/x``, as the
    shell expands ``~`` only at the start of a word)."""
    key, eq, value = arg.partition("=")
    if eq and key.startswith("-"):
        shown = shareable_path(value)
        sep = " " if shown.startswith("~") else "="
        return f"{shlex.quote(key)}{sep}{_quote(shown)}"
    return _quote(shareable_path(arg))


def command_line() -> str:
    """How this model was made, as the user typed it (``serkit ...`` for the CLI), its
    absolute paths made shareable (:func:`shareable_path`: a notebook's or script's
    ``/home/<user>/...`` is not recorded)."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("serkit", "serkit/__main__.py")):
        argv[0] = "serkit"
    return " ".join(_shareable_arg(a) for a in argv)


def _shareable(value: Any) -> Any:
    """Every absolute path in a card value made shareable (:func:`shareable_path`)."""
    if isinstance(value, str):
        return shareable_path(value)
    if isinstance(value, dict):
        return {k: _shareable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shareable(v) for v in value]
    return value


def write_card(model_dir: str | Path, card: dict[str, Any]) -> Path:
    """Write ``serkit.json`` atomically, filling in version and creation time, and the
    sha256 of every weight file now in the folder (``files``). Write it last. Absolute
    paths in it are written as :func:`shareable_path` makes them (``~/...``, relative to
    the working directory), as is the command that made the model. The Hub model
    card ``README.md`` is written from it just before (:mod:`serkit.models.hub_card`)."""
    from serkit import __version__
    from serkit.files.atomic import atomic_write
    from serkit.models.hub_card import write_readme

    d = Path(model_dir)
    card = _shareable(dict(card))  # a card travels (wheels, the Hub): no private folder
    card.setdefault("serkit_version", __version__)
    card.setdefault("command", command_line())
    card.setdefault("created", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    card.pop("files", None)  # another folder's (a copied card): recomputed for this one
    card["files"] = checksums(d)
    write_readme(d, card)
    path = d / CARD_NAME
    with atomic_write(path) as f:
        json.dump(card, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")
    return path


def read_card(model_dir: str | Path) -> dict[str, Any]:
    """The card of a model folder; read it once per load and pass it on."""
    path = Path(model_dir) / CARD_NAME
    if not path.is_file():
        if (Path(model_dir) / STAGE_DIR).is_dir():
            raise ModelLoadError(
                f"{model_dir}: no model (no {CARD_NAME}): saving one here was interrupted "
                f"({STAGE_DIR} is left); save or train it again"
            )
        raise ModelLoadError(f"{model_dir}: not a serkit model directory (no {CARD_NAME})")
    card = read_object(path, "model card")
    files = card.get("files")
    if files is not None:
        if not isinstance(files, dict) or not all(
            isinstance(v, str) and len(v) == 64 for v in files.values()
        ):
            raise ModelLoadError(f"{path}: 'files' is not a {{name: sha256}} object")
        for name in files:
            inside(model_dir, name, f"{CARD_NAME} file")
    return card


def record_result(model_dir: str | Path, name: str, result: dict[str, Any]) -> Path:
    """Put a measured result under ``results[name]`` of a model's card (a protocol name:
    ``W1``, ``X1``...), replacing an older one, so the card carries the model's numbers.
    The listed files are verified first: rewriting the card must not bless a damaged one."""
    card = read_card(model_dir)
    verify_all(model_dir, card)
    results = card.get("results")
    card["results"] = {**(results if isinstance(results, dict) else {}), name: result}
    return write_card(model_dir, card)


# -- config.json and torch weights -----------------------------------------------------------
def _refuse_remote_code(path: Path, doc: Mapping[str, Any]) -> None:
    if "auto_map" in doc:
        raise ModelLoadError(
            f"{path}: has an auto_map (code in the model folder); serkit never runs code "
            "from a model folder"
        )


def read_config(model_dir: str | Path) -> dict[str, Any]:
    """The HF ``config.json`` of a folder; one with an ``auto_map`` is refused."""
    path = Path(model_dir) / CONFIG
    if not path.is_file():
        raise ModelLoadError(f"{model_dir}: no {CONFIG}")
    config = read_json(path, CONFIG)
    if not isinstance(config, dict):
        raise ModelLoadError(
            f"{path}: bad or missing {CONFIG}: a JSON object, not {type(config).__name__}"
        )
    _refuse_remote_code(path, config)
    return config


def check_transformers_folder(model_dir: str | Path) -> dict[str, Any]:
    """Before transformers reads a local folder: no ``auto_map`` in its config or
    tokenizer config, and a ``model_type`` transformers knows (an unknown one would need
    the folder's code). Returns the config."""
    d = Path(model_dir)
    config = read_config(d)
    tok_config = d / TOKENIZER_CONFIG
    if tok_config.is_file():
        _refuse_remote_code(tok_config, read_object(tok_config, TOKENIZER_CONFIG))
    model_type = config.get("model_type")
    try:
        from transformers import CONFIG_MAPPING
    except ImportError:
        return config
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ModelLoadError(
            f"{d / CONFIG}: unknown model_type {_short(model_type)} (it would need code from "
            "the model folder, which serkit never runs)"
        )
    return config


def _index_shards(d: Path) -> list[str]:
    path = d / SAFETENSORS_INDEX
    index = read_object(path, "safetensors index")
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ModelLoadError(f"{path}: no weight_map")
    shards = sorted(set(weight_map.values()), key=str)
    for name in shards:
        inside(d, name, "shard")
        if not str(name).endswith(".safetensors"):
            raise ModelLoadError(
                f"{path}: shard {_short(name)} is not a .safetensors file (pickled weights "
                "run code when loaded; serkit never loads them)"
            )
    return [str(n) for n in shards]


def torch_weights(model_dir: str | Path) -> list[str]:
    """Names of the safetensors weight files transformers will read from ``model_dir``
    (the single file, or the index and its shards), after refusing a folder that would
    run code (``auto_map``, unknown ``model_type``) or has only pickles."""
    d = Path(model_dir)
    if not any((d / name).is_file() for name in SAFETENSORS_WEIGHTS):
        pickles = sorted({p.name for pattern in PICKLE_WEIGHTS for p in d.glob(pattern)})
        if pickles:
            raise ModelLoadError(
                f"{d}: weights only in pickle files ({', '.join(pickles)}), which serkit never "
                f"loads (unpickling runs code); save them as {SAFETENSORS}"
            )
        raise ModelLoadError(f"{d}: no model weights ({SAFETENSORS} or {SAFETENSORS_INDEX})")
    check_transformers_folder(d)
    if (d / SAFETENSORS).is_file():
        return [SAFETENSORS]
    shards = _index_shards(d)
    missing = [s for s in shards if not (d / s).is_file()]
    if missing:
        raise ModelLoadError(f"{d}: {SAFETENSORS_INDEX} names missing shard(s): {missing[:3]}")
    return [SAFETENSORS_INDEX, *shards]


def checked_torch_weights(model_dir: str | Path, card: Mapping[str, Any] | None) -> list[Path]:
    """:func:`torch_weights`, verified against the card; the weight files (no index)."""
    d = Path(model_dir)
    names = torch_weights(d)
    verify(d, card, names)
    return [d / n for n in names if n != SAFETENSORS_INDEX]


def onnx_names(prefer: str) -> Sequence[str]:
    """The ONNX graph names a runtime choice looks for, best first."""
    graph = ONNX_GRAPHS.get(prefer)
    return (graph,) if graph is not None else (ONNX_INT8, ONNX_FP32)


def _short(value: object, n: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."
