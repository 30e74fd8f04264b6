"""Model folders that travel: installable wheels (``serkit package``) and copies.

A model package is a plain wheel (built with the standard library, offline, as
``spacy package`` builds one): a top-level Python package holding the model folder under
``model/``, a README, and an entry point in the ``serkit_models`` group, so that
``serkit.load("NAME")``, ``serkit tag --model NAME`` and the spaCy component find it
(:func:`serkit.models.registry.installed_model`) without importing it.

What travels is chosen once (:func:`model_files`): the model folder's top-level regular
files that make the model (:func:`serkit.models.folder.is_model_file`: the card, weights,
config, tokenizer, lexicons, the Hub README), never a run's files (``metrics.jsonl``),
pickles, Python files, hidden files, links or sub-folders (a training ``checkpoint/``);
the card's checksums are verified before anything is copied.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import re
import shutil
import stat
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serkit.errors import ModelLoadError, SerkitError
from serkit.models.folder import (
    CARD_NAME,
    PICKLE_WEIGHTS,
    is_model_file,
    read_card,
    verify_all,
)
from serkit.models.registry import MODEL_ENTRY_POINTS, PACKAGE_MODEL_DIR

#: The model card in the Hub's format, when the folder has one (else one is written).
README = "README.md"
#: A package name: what ``serkit.load(NAME)`` takes; it also names the wheel and module.
#: A letter first and a letter or digit last (pip refuses a name ending in '.', '-', '_').
NAME_RE = re.compile(r"^[A-Za-z]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
#: Zip entries get this time stamp: the same folder always builds the same wheel.
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


@dataclass
class Selection:
    """The files of a model folder that travel, and what was left behind (and why)."""

    files: list[Path]
    skipped: list[str] = field(default_factory=list)


def model_files(model_dir: str | Path) -> Selection:
    """The files of ``model_dir`` that make the model, after checking its card.

    Every file the card checksums must be among them (and match): a model that would not
    load where it lands is refused here, not after it was shipped.
    """
    d = Path(model_dir)
    if not d.is_dir():
        raise ModelLoadError(f"{d}: no such model directory")
    card = read_card(d)
    verify_all(d, card)
    sel = Selection([])
    for p in sorted(d.iterdir()):
        name = p.name
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            why = "a link"
        elif stat.S_ISDIR(st.st_mode):
            why = "a folder"
        elif not stat.S_ISREG(st.st_mode):
            why = "not a regular file"
        elif name.startswith("."):
            why = "hidden"
        elif any(fnmatch.fnmatch(name, pat) for pat in PICKLE_WEIGHTS):
            why = "a pickle: never shipped"
        elif name.endswith((".py", ".pyc")):
            why = "code: never shipped"
        elif not is_model_file(name):
            why = "not a model file"
        else:
            sel.files.append(p)
            continue
        sel.skipped.append(f"{name} ({why})")
    listed = card.get("files") or {}
    kept = {p.name for p in sel.files}
    missing = [n for n in listed if (d / n).exists() and n not in kept]
    if missing:
        raise ModelLoadError(
            f"{d}: {CARD_NAME} lists {', '.join(missing)}, which cannot travel "
            "(a link, a folder or not a regular file): put the real file in the folder"
        )
    return sel


def copy_model(model_dir: str | Path, dest: str | Path) -> Selection:
    """Copy the model of ``model_dir`` into ``dest`` (created; files there are replaced)."""
    sel = model_files(model_dir)
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    for p in sel.files:
        shutil.copyfile(p, out / p.name)
    return sel


def module_name(name: str) -> str:
    """The import name of package ``name`` (``my-model.v2`` -> ``my_model_v2``)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def check_name(name: str) -> str:
    """``name`` if it can name a model package; a one-line refusal otherwise."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SerkitError(
            f"bad package name {name!r}: a letter, then letters, digits, '.', '-' or '_', "
            "ending in a letter or digit (at most 100)"
        )
    module = module_name(name)
    if (
        module in sys.stdlib_module_names
        or module in ("serkit", "spacy", "torch")
        or (_importable(module) and module not in _model_modules())
    ):
        raise SerkitError(f"bad package name {name!r}: its module {module!r} would shadow another")
    if _installed_other(name):
        raise SerkitError(
            f"bad package name {name!r}: an installed package of that name, not a serkit "
            "model, would be replaced by pip"
        )
    return name


def _installed_other(name: str) -> bool:
    """Whether a distribution named ``name`` (as pip compares names) is installed and is
    not a serkit model package."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution(name)
    except (PackageNotFoundError, ValueError):
        return False
    return not any(ep.group == MODEL_ENTRY_POINTS for ep in dist.entry_points)


def _importable(module: str) -> bool:
    """Whether top-level ``module`` is installed here (found, not imported)."""
    from importlib.util import find_spec

    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _model_modules() -> set[str]:
    """The modules of the installed model packages: a new version may replace one."""
    from importlib.metadata import entry_points

    return {ep.value.split(":")[0].strip() for ep in entry_points(group=MODEL_ENTRY_POINTS)}


def check_version(version: str) -> str:
    """The normalised PEP 440 form of ``version``."""
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(version))
    except (InvalidVersion, TypeError):
        raise SerkitError(f"bad version {version!r}: a PEP 440 version such as 1.0.0") from None


def _readme(name: str, version: str, card: dict[str, Any], model_dir: Path) -> str:
    """The folder's own model card, else a short one from ``serkit.json``."""
    own = model_dir / README
    if own.is_file() and not own.is_symlink():
        return own.read_text(encoding="utf-8", errors="replace")
    labels = card.get("labels") or []
    types = sorted({str(x).rpartition(":")[2][2:] for x in labels if str(x)[:2] in ("B-", "I-")})
    lines = [
        f"# {name} {version}",
        "",
        "A serkit model package (software entity recognition).",
        "",
        f"- architecture: {card.get('arch', '?')}",
        f"- entity types: {', '.join(types) or '?'}",
    ]
    if card.get("schemes"):
        lines.append(f"- label schemes: {', '.join(map(str, card['schemes']))}")
    for key, result in (card.get("results") or {}).items():
        if isinstance(result, dict) and "f1" in result:
            lines.append(f"- {key}: F1 {result['f1']}")
    lines += [
        "",
        "```bash",
        f"pip install {name}-{version}-py3-none-any.whl",
        f'python -c \'import serkit; print(serkit.load("{name}")("I use numpy on Linux."))\'',
        f"serkit tag --model {name} 'I use numpy on Linux.'",
        "```",
        "",
        f"The model folder (card `{CARD_NAME}`) is `{module_name(name)}/{PACKAGE_MODEL_DIR}`.",
        "",
    ]
    return "\n".join(lines)


def _init_py(name: str, version: str) -> str:
    return (
        f'"""serkit model package {name} {version}: ``serkit.load("{name}")`` finds it."""\n\n'
        "from pathlib import Path\n\n"
        f"__version__ = {version!r}\n"
        f"MODEL_DIR = Path(__file__).resolve().parent / {PACKAGE_MODEL_DIR!r}\n\n\n"
        "def load(**kwargs):\n"
        '    """The model as a serkit ``Tagger`` (keywords go to ``serkit.load``)."""\n'
        "    import serkit\n\n"
        "    return serkit.load(str(MODEL_DIR), **kwargs)\n"
    )


def _metadata(name: str, version: str, card: dict[str, Any], readme: str) -> str:
    from serkit import __version__

    head = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: serkit model {name} ({card.get('arch', 'model')})",
        "Requires-Python: >=3.11",
        f"Requires-Dist: serkit>={__version__}",
        "Description-Content-Type: text/markdown",
    ]
    if card.get("license"):
        head.append(f"License: {card['license']}")
    return "\n".join(head) + "\n\n" + readme


def _add(zf: zipfile.ZipFile, arcname: str, src: bytes | Path) -> str:
    """Write one entry (a file streamed in chunks) and return its RECORD line."""
    zi = zipfile.ZipInfo(arcname, _ZIP_TIME)
    zi.external_attr = 0o644 << 16
    zi.compress_type = zipfile.ZIP_DEFLATED
    h, size = hashlib.sha256(), 0
    with zf.open(zi, "w", force_zip64=True) as out:
        chunks = [src] if isinstance(src, bytes) else _chunks(src)
        for chunk in chunks:
            h.update(chunk)
            size += len(chunk)
            out.write(chunk)
    digest = base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{size}"


def _chunks(path: Path, n: int = 1 << 20):
    with open(path, "rb") as f:
        yield from iter(lambda: f.read(n), b"")


@dataclass
class Built:
    """A wheel ``serkit package`` wrote, with the folder's files it left out."""

    wheel: Path
    files: int
    size: int
    skipped: list[str]


def build_wheel(
    model_dir: str | Path, out_dir: str | Path, name: str, version: str = "0.1.0"
) -> Built:
    """Build ``<out_dir>/<name>-<version>-py3-none-any.whl`` from ``model_dir``.

    The wheel holds ``<module>/__init__.py`` (``MODEL_DIR``, ``load()``),
    ``<module>/README.md``, ``<module>/model/`` (the model folder, card included) and the
    ``.dist-info`` (METADATA with the README, WHEEL, entry_points.txt, RECORD). Written
    atomically; the same inputs give the same bytes.
    """
    from serkit import __version__
    from serkit.files.atomic import atomic_write

    name = check_name(name)
    version = check_version(version)
    d = Path(model_dir)
    sel = model_files(d)
    card = read_card(d)
    module = module_name(name)
    dist = re.sub(r"[-_.]+", "_", name).lower()
    info = f"{dist}-{version}.dist-info"
    readme = _readme(name, version, card, d)
    entries: list[tuple[str, bytes | Path]] = [
        (f"{module}/__init__.py", _init_py(name, version).encode()),
        (f"{module}/{README}", readme.encode()),
    ]
    entries += [(f"{module}/{PACKAGE_MODEL_DIR}/{p.name}", p) for p in sel.files]
    entries += [
        (f"{info}/METADATA", _metadata(name, version, card, readme).encode()),
        (
            f"{info}/WHEEL",
            f"Wheel-Version: 1.0\nGenerator: serkit {__version__}\n"
            "Root-Is-Purelib: true\nTag: py3-none-any\n".encode(),
        ),
        (f"{info}/entry_points.txt", f"[{MODEL_ENTRY_POINTS}]\n{name} = {module}\n".encode()),
        (f"{info}/top_level.txt", f"{module}\n".encode()),
    ]
    wheel = Path(out_dir) / f"{dist}-{version}-py3-none-any.whl"
    with atomic_write(wheel, "wb") as f, zipfile.ZipFile(f, "w") as zf:
        record = [_add(zf, arcname, src) for arcname, src in entries]
        record.append(f"{info}/RECORD,,")
        _add(zf, f"{info}/RECORD", ("\n".join(record) + "\n").encode())
    return Built(wheel, len(sel.files), wheel.stat().st_size, sel.skipped)
