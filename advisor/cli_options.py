"""The command line's run options, generated from :class:`advisor.spec.settings.Settings`.

A command lists the Settings fields it takes, by flat name; each becomes an option with the field's type,
default and description, written once in the Settings model, listed under its group (``Goal options``, ...).
Lists are written comma-separated (``1,4,16``), Literal choices as plain strings (the model checks them and the
error names the option). A field whose option is spelled differently is in :data:`FLAGS`. Imports nothing heavy.
"""

from __future__ import annotations

import functools
import inspect
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import typer

from advisor.errors import AdvisorError
from advisor.spec.settings import FLAT, Settings

DEFAULTS = Settings().flat()
"""The defaults every option shows, from the one Settings model, by flat name."""

FLAGS = {"sample_size": "--samples", "isolate": "--in-process"}
"""Settings fields whose option name differs from the field name (the rest: ``--field-name``)."""

BOOL_FLAGS = {"keep_texts": "--keep-texts/--no-keep-texts", "run_ahead": "--run-ahead/--no-run-ahead"}
"""Booleans that can be switched both ways; the others are switches that turn something on."""


def flag(field: str) -> str:
    """The command-line option of a Settings field, e.g. ``sample_size`` -> ``--samples``."""
    return FLAGS.get(field, "--" + field.replace("_", "-"))


def help_of(field: str) -> str:
    return Settings.help(field)


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _ints(value: Optional[str], field: str) -> Optional[list[int]]:
    """A comma-separated list of whole numbers for a Settings field (``1,4,16``)."""
    try:
        return [int(v) for v in _csv(value)] if value else None
    except ValueError:
        raise AdvisorError(f"invalid option {flag(field)}: '{value}' is not a comma-separated list of whole numbers, e.g. 1,4,16") from None


_UNITS = {"j": ("budget_j", 1.0), "kj": ("budget_j", 1e3), "wh": ("budget_j", 3600.0), "s": ("budget_s", 1.0)}
_UNITS |= {"min": ("budget_s", 60.0), "h": ("budget_s", 3600.0)}


def parse_budget(text: Optional[str]) -> dict[str, float]:
    """``--budget`` as Settings fields: ``500J`` -> budget_j=500, ``5min`` -> budget_s=300.

    Raises:
        AdvisorError: no number or no known unit.
    """
    if not text:
        return {}
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]+)\s*", text)
    unit = _UNITS.get(m.group(2).lower()) if m else None
    if unit is None:
        raise AdvisorError(f"invalid option --budget: '{text}' is not an amount of energy or time; write e.g. 500J, 2kJ, 90s or 5min")
    return {unit[0]: float(m.group(1)) * unit[1]}


def _base(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``None`` and Annotated metadata, and whether None was allowed."""
    optional = False
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation, optional


def _cli_type(field: str) -> tuple[type, Callable[[Any], Any]]:
    """The type the option is read as, and how its value becomes the field's."""
    annotation, _ = _base(Settings.field(field).annotation)
    origin = typing.get_origin(annotation)
    if origin is list:
        item, _ = _base(typing.get_args(annotation)[0])
        return (Optional[str], (lambda v: _ints(v, field)) if item is int else _csv)
    if origin is typing.Literal:
        return (str, lambda v: v)
    if annotation in (bool, int, float, Path):
        return (annotation, lambda v: v)
    return (str, lambda v: v)


def _parameter(field: str) -> inspect.Parameter:
    typ, _ = _cli_type(field)
    info = Settings.field(field)
    default = DEFAULTS[field]
    if typ is bool:
        decls = [BOOL_FLAGS.get(field, flag(field))]
    else:
        decls = [flag(field)] if field in FLAGS else []
        default = None if isinstance(default, list) else default
        typ = Optional[typ] if default is None else typ
    option = typer.Option(*decls, help=info.description or "", rich_help_panel=f"{FLAT[field][0].capitalize()} options")
    return inspect.Parameter(field, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=typing.Annotated[typ, option])


def settings_from(**values: Any) -> Settings:
    """The run's Settings from option values; a bad value is one line naming the option."""
    from pydantic import ValidationError

    try:
        return Settings.merged(None, **values)
    except ValidationError as exc:
        e = exc.errors()[0]
        field = Settings.flat_name(e["loc"])
        raise AdvisorError(f"invalid option {flag(field)}: {e['msg']}; see advisor --help") from None


def with_settings(*fields: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command one option per Settings field in ``fields``; it receives them as ``settings=`` (a
    :class:`Settings`), after its own parameters. ``in_process`` and ``budget`` are read as ``isolate`` and
    ``budget_j``/``budget_s``."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for name, p in inspect.signature(command, eval_str=True).parameters.items() if name != "settings"]
        generated = [_parameter(f) for f in fields]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            values = {f: _cli_type(f)[1](kwargs.pop(f)) for f in fields}
            if "in_process" in kwargs:
                values["isolate"] = not kwargs["in_process"]
            if "budget" in kwargs:
                values.update(parse_budget(kwargs["budget"]))
            return command(settings=settings_from(**values), **kwargs)

        params = own + generated
        wrapper.__signature__ = inspect.Signature(params)  # what Typer reads
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate


InProcess = typing.Annotated[bool, typer.Option("--in-process", help="Measure in this process instead of one process per candidate.")]
"""``--in-process``: the one declaration every measuring command shares."""

Budget = typing.Annotated[
    Optional[str],
    typer.Option(
        help="Most to spend on drawing more samples when undecided: joules or seconds, e.g. 500J, 2kJ, 90s, 5min (default: no limit)."
    ),
]
