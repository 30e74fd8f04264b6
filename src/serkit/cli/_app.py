"""The typer application every command file registers on, and how its help reads.

The help lists commands in the order a user needs them (tag, train, eval, ...; see
:data:`HELP_ORDER`) and shows plain metavars (``--model PATH``, ``--batch-size INTEGER``,
``INPUTS...``) instead of typer's ``<path>``, ``<bool>``, ``<list[str]>`` and ``{inputs}...``.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

#: Commands in the order the help lists them: what a user does first comes first. Commands
#: not named here follow in the order they were registered.
HELP_ORDER = (
    "tag",
    "train",
    "eval",
    "predict",
    "weak-label",
    "audit",
    "serve",
    "export",
    "package",
    "lexicon",
    "data",
    "tokenize",
)


def _plain_type(param: Any) -> str:
    """A plain metavar from typer's type descriptor: INTEGER, FLOAT, PATH, a|b, TEXT."""
    desc = param.type_descriptor
    if desc.is_choice and desc.choices:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices)
    if desc.is_path or desc.is_file:
        return "PATH"
    annotation = desc.annotation
    if desc.is_list:
        (annotation,) = getattr(annotation, "__args__", (str,))
    if annotation is int:
        return "INTEGER"
    if annotation is float:
        return "FLOAT"
    return "TEXT"


class _PlainOption(TyperOption):
    """An option shown as ``--name TYPE``; a flag shows no type."""

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        return self.metavar if self.metavar is not None else _plain_type(self)


class _PlainArgument(TyperArgument):
    """An argument shown as ``NAME`` (``NAME...`` when it takes several), without a type."""

    def _plain_name(self) -> str:
        name = self.metavar or (self.name or "").upper()
        return name + ("..." if self.nargs != 1 and not name.endswith("...") else "")

    def plain(self) -> None:
        """Name it in capitals in the arguments panel too (typer shows ``inputs...``)."""
        if self.metavar is None:
            self.metavar = self._plain_name()

    def _rich_display_name(self) -> str:
        return self._plain_name()

    def _usage_display_name(self) -> str:
        return self._plain_name() if self.required else f"[{self._plain_name()}]"

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _plain_params(cmd: Any) -> None:
    """Give ``cmd``'s parameters (its ``--help`` included) plain metavars."""
    params = list(cmd.params)
    try:
        help_option = cmd.get_help_option(cmd.context_class(cmd))
    except Exception:  # a typer without a cached help option: its help keeps typer's look
        help_option = None
    if help_option is not None:
        params.append(help_option)
    for p in params:
        if type(p) is TyperOption:
            p.__class__ = _PlainOption
        elif type(p) is TyperArgument:
            p.__class__ = _PlainArgument
            p.plain()  # type: ignore[attr-defined]


class SerkitGroup(TyperGroup):
    """Commands in :data:`HELP_ORDER`, every one with plain metavars."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _plain_params(self)
        for cmd in self.commands.values():
            if not isinstance(cmd, SerkitGroup):  # a group fixed its own on creation
                _plain_params(cmd)

    def list_commands(self, ctx: Any) -> list[str]:
        names = list(self.commands)
        rank = {name: i for i, name in enumerate(HELP_ORDER)}
        return sorted(names, key=lambda n: (rank.get(n, len(rank)), names.index(n)))


app = typer.Typer(
    name="serkit",
    cls=SerkitGroup,
    help="Software entity recognition: tag, train, evaluate and convert SER data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    cls=SerkitGroup, help="Inspect and convert corpus files.", no_args_is_help=True
)
lexicon_app = typer.Typer(
    cls=SerkitGroup, help="Build and inspect software-name lexicons.", no_args_is_help=True
)
export_app = typer.Typer(
    cls=SerkitGroup, help="Export a model to another runtime.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
app.add_typer(lexicon_app, name="lexicon")
app.add_typer(export_app, name="export")

#: Longest error line printed (the rest is counted, not shown).
MAX_MESSAGE = 2000


def one_line(msg: str, limit: int = MAX_MESSAGE) -> str:
    """``msg`` on one line (newlines escaped), clipped to ``limit`` characters: a message
    may quote a 10 MB input line."""
    msg = msg.replace("\r", "\\r").replace("\n", "\\n")
    if len(msg) > limit:
        msg = f"{msg[:limit]}... ({len(msg) - limit:,} more characters)"
    return msg
