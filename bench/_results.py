"""Shared by the bench scripts: where things are, the WikiSER test text they time, worker
processes, and the machine/date stamps and section updates of RESULTS.md.

Each script owns one section between ``<!-- begin NAME -->`` and ``<!-- end NAME -->``
markers and rewrites only that section (atomically), so scripts can run in any order.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from serkit.files.atomic import atomic_write

if TYPE_CHECKING:
    from serkit.tokens import Sentence

ROOT = Path(__file__).resolve().parents[1]
#: The shared data sets (read-only), beside the repository.
DATA = ROOT.parent / "shared" / "data"
#: What the speed benchmarks tag: the WikiSER test split.
WIKISER_TEST = DATA / "wikiser-small" / "test.txt"
RESULTS = ROOT / "bench" / "RESULTS.md"
#: Rows cached by ``bench/quality.py`` and ``bench/speed.py``, read by errors.py and figures.py.
QUALITY_ROWS = ROOT / "bench" / "quality_rows.json"
SPEED_ROWS = ROOT / "bench" / "speed_rows.json"
HEADER = (
    "# serkit benchmark results\n\nEvery number below was measured by the command shown with it.\n"
)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}), no GPU, Python {platform.python_version()}"


def today() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def update_section(
    name: str, markdown: str, path: Path = RESULTS, *, inside: str | None = None
) -> None:
    """Replace section ``name`` in place; a new one goes at the end of the file or, with
    ``inside``, at the end of that enclosing section (which must be there)."""
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{markdown.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    outer = f"<!-- end {inside} -->"
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    elif inside is None:
        text = text.rstrip() + "\n\n" + block + "\n"
    elif outer in text:
        text = text.replace(outer, f"{block}\n{outer}", 1)
    else:
        raise SystemExit(f"{path}: no '{outer}' marker to put the {name} section before")
    with atomic_write(path) as f:
        f.write(text)


def rel(p: Path) -> str:
    """A path as configs and commands spell it: relative to the repository root."""
    return os.path.relpath(p, ROOT)


def command() -> str:
    """This run's command line, as RESULTS shows it: ``python bench/<script>.py ARGS``."""
    return "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])


def wikiser_test(limit: int = 0) -> list[Sentence]:
    """The first ``limit`` sentences of the WikiSER test split (0: all of it)."""
    from itertools import islice

    from serkit.files import read

    return list(islice(read(WIKISER_TEST, "wikiser"), limit or None))


def documents(corpus: Sequence[Sequence[str]], per_doc: int = 50) -> list[str]:
    """Raw text from tokens: each sentence detokenised, ``per_doc`` sentences a document."""
    from serkit.tokenize import detokenize

    texts = [detokenize(s) for s in corpus]
    return [" ".join(texts[i : i + per_doc]) for i in range(0, len(texts), per_doc)]


def worker_env(threads: int = 1) -> dict[str, str]:
    """This environment for a timed worker process: ``threads`` threads for the numeric
    libraries, no tokenizer thread pool, no hub."""
    n = str(threads)
    return dict(os.environ, OMP_NUM_THREADS=n, OPENBLAS_NUM_THREADS=n, MKL_NUM_THREADS=n,
                HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")  # fmt: skip


def run_worker(cmd: Sequence[str], **kwargs: Any) -> dict[str, Any]:
    """Run a worker process; what it measured is the JSON object on its last stdout line.
    A worker that fails ends this script in one line (its own last stderr line, when
    the caller captured its stderr), not in a ``CalledProcessError`` traceback."""
    try:
        res = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, **kwargs)
    except subprocess.CalledProcessError as e:
        why = (e.stderr or "").strip().splitlines()[-1:]
        raise SystemExit(
            f"worker failed (exit {e.returncode}): {' '.join(map(str, cmd))}"
            + (f": {why[0]}" if why else "")
        ) from None
    return json.loads(res.stdout.strip().splitlines()[-1])


def main_guard(main: Callable[[], object]) -> None:
    """Run a script's ``main``: a serkit error (a model folder that is not there, as every
    ``runs/`` folder on a fresh checkout; a runtime the model lacks) is one line, not a
    traceback through the library."""
    from serkit.errors import SerkitError

    try:
        main()
    except SerkitError as e:
        raise SystemExit(f"{Path(sys.argv[0]).name}: {e}") from None
