"""Entry point: import every command module (one file per command), run, map errors.

User errors (``SerkitError``: bad data, bad model path, limits) and file-system refusals
(``OSError``: read-only folder, full disk) print one line on stderr and exit with code 2,
never a traceback. The line is clipped to ``_app.MAX_MESSAGE`` characters (a message may
quote a 10 MB input line) and never holds a raw newline.
"""

from __future__ import annotations

import importlib
import os
import sys

# transformers draws its own "Loading weights" / "Writing model shards" bars on stderr,
# terminal or not; the commands show their own progress. Set before anything imports
# huggingface_hub (it reads this once); a user's own setting wins.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from serkit.cli._app import app, one_line  # noqa: E402
from serkit.errors import SerkitError  # noqa: E402

COMMANDS = (
    "data",
    "tokenize",
    "eval",
    "train",
    "average",
    "predict",
    "lexicon",
    "weak_label",
    "tag",
    "export",
    "package",
    "serve",
    "audit",
)

for _name in COMMANDS:
    importlib.import_module(f"serkit.cli.{_name}")


def _fail(msg: str) -> None:
    print(f"serkit: error: {one_line(msg)}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=True)
    except SerkitError as e:
        _fail(str(e))
    except BrokenPipeError:  # `serkit tag ... | head`
        sys.exit(0)
    except OSError as e:  # the file system said no (read-only, full disk, a file as folder)
        where = f"{e.filename}: " if e.filename else ""
        _fail(f"{where}{e.strerror or e}")


if __name__ == "__main__":
    main()
