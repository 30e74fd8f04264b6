"""The manifest of a scaled-out run: which shards are finished, where, with what.

``OUT_DIR/manifest.json`` is rewritten atomically after every finished shard, and only by
the driver, so it is never half-written and never lists a shard whose output file is not
complete (workers write their files atomically before they report). A re-run reads it and
skips the shards it lists with the same key whose file is still there at the recorded
size; anything else (a shard that was running at the crash, a deleted or truncated file,
a changed input) is tagged again and its file replaced, so nothing is lost or doubled.
A folder holding the shards of another run (model, runtime, scheme, format, device) is
refused; one whose manifest lists no finished shard (a run that failed before its first)
holds nothing to protect, and any run takes it over.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePath
from typing import Any

from serkit.errors import SerkitError
from serkit.scale.shards import Shard, output_name, read_output

MANIFEST = "manifest.json"
#: What the manifest says it is (and its version).
KIND = "serkit-shards/1"


class Manifest:
    """Finished shards of one run in ``out_dir``; ``run`` says what produced them (model,
    runtime, scheme, output format): shards of another run are never mixed in."""

    def __init__(self, out_dir: str | Path, run: dict[str, Any]) -> None:
        self.dir = Path(out_dir)
        self.path = self.dir / MANIFEST
        self.run = run
        self.shards: dict[int, dict[str, Any]] = {}
        self.planned = 0
        self.complete = False
        if self.dir.exists() and not self.dir.is_dir():
            raise SerkitError(f"{self.dir}: is a file; give a folder for the output shards")
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            ok = isinstance(doc, dict) and doc.get("kind") == KIND
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise SerkitError(f"{self.path}: not a readable serkit manifest ({e})") from None
        if not ok:
            raise SerkitError(f"{self.path}: not a serkit manifest ({KIND})")
        if doc.get("run") != self.run:
            if doc.get("shards") == []:
                # Another run that failed before its first shard (no GPU in the cluster,
                # no cluster): nothing of it to keep apart, so this run takes the folder.
                return
            old = doc.get("run") or {}
            diff = ", ".join(
                f"{k} {old.get(k)!r} -> {self.run.get(k)!r}"
                for k in sorted(set(old) | set(self.run))
                if old.get(k) != self.run.get(k)
            )
            raise SerkitError(
                f"{self.dir}: holds the shards of another run ({diff}); "
                "write to another folder, or remove this one"
            )
        shards = doc.get("shards", [])
        if not isinstance(shards, list):
            raise SerkitError(f"{self.path}: not a serkit manifest ('shards' is not a list)")
        for n, entry in enumerate(shards, 1):
            problem = _entry_problem(entry)
            if problem:
                raise SerkitError(
                    f"{self.path}: shard entry {n}: {problem}; not a manifest serkit wrote "
                    "(remove the folder, or write to another one)"
                )
        self.shards = {s["index"]: s for s in shards}

    def done(self, shard: Shard) -> bool:
        """Finished in an earlier run: same key, file present at its recorded size."""
        entry = self.shards.get(shard.index)
        if entry is None or entry.get("key") != shard.key:
            return False
        try:
            return (self.dir / entry["file"]).stat().st_size == entry["bytes"]
        except (OSError, KeyError, TypeError):
            return False

    def plan(self, shards: list[Shard]) -> list[Shard]:
        """Forget entries that are not finished shards of this plan (their files are
        removed when they lie beyond it); return the shards still to do."""
        keys = {s.index: s.key for s in shards}
        for index in list(self.shards):
            if index not in keys:
                entry = self.shards.pop(index)
                (self.dir / entry["file"]).unlink(missing_ok=True)
            elif self.shards[index].get("key") != keys[index]:
                del self.shards[index]
        todo = [s for s in shards if not self.done(s)]
        for s in todo:
            self.shards.pop(s.index, None)
        self.planned = len(shards)
        self.complete = not todo
        return todo

    def record(self, entry: dict[str, Any]) -> None:
        self.shards[int(entry["index"])] = entry

    def save(self) -> None:
        from serkit.files.atomic import atomic_write

        doc = {
            "kind": KIND,
            "run": self.run,
            "planned": self.planned,
            "complete": self.complete,
            "shards": [self.shards[i] for i in sorted(self.shards)],
        }
        with atomic_write(self.path) as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
            f.write("\n")

    def files(self) -> list[Path]:
        """Output files in input order."""
        return [self.dir / self.shards[i]["file"] for i in sorted(self.shards)]

    def records(self) -> Iterator[dict]:
        """Every output record in input order (what ``serkit tag -f jsonl`` would print)."""
        for path in self.files():
            yield from read_output(path)

    def skipped(self) -> Iterable[str]:
        for i in sorted(self.shards):
            yield from self.shards[i].get("skipped", [])


#: What every entry holds, and of which type (``ShardWorker.do_shard`` writes them).
_ENTRY_FIELDS = {"key": str, "bytes": int, "docs": int, "entities": int}


def _entry_problem(entry: Any) -> str | None:
    """Why a manifest entry cannot be one ``ShardWorker.do_shard`` wrote, or None. The
    file name is checked above all: a re-run removes and reads the files entries name."""
    if not isinstance(entry, dict):
        return "not an object"
    index = entry.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return f"index {index!r} is not a shard number"
    name = entry.get("file")
    suffix = PurePath(name).suffix if isinstance(name, str) else ""
    if not suffix or name != output_name(index, suffix):
        return f"file {name!r} is not the name of a shard's output file"
    for field, kind in _ENTRY_FIELDS.items():
        if not isinstance(entry.get(field), kind):
            return f"no {field!r} ({kind.__name__})"
    if not isinstance(entry.get("skipped", []), list):
        return "'skipped' is not a list"
    return None


def read_manifest(out_dir: str | Path) -> Manifest:
    """The manifest of a finished or partial run, whatever produced it."""
    path = Path(out_dir) / MANIFEST
    try:
        run = json.loads(path.read_text(encoding="utf-8")).get("run")
    except (OSError, UnicodeDecodeError, ValueError, AttributeError) as e:
        raise SerkitError(f"{path}: not a readable serkit manifest ({e})") from None
    return Manifest(out_dir, run)
