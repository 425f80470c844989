"""Options declared once, as dataclass fields made by `option()`: the field's name, type, default, help text and
allowed values. From that one declaration come the command-line flag (`batch_size` -> `--batch-size`), the YAML
key and the config.json entry (the field's name), and the check of a value (`check_options`), so that a flag, an
experiment file and a stored run cannot disagree on what an option means or allows."""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import field, fields


def option(default, help: str, *, choices: tuple | None = None, minimum: int | None = None, why: str = "",
           unset: str = ""):
    """A dataclass field that is an option. `choices`, or an integer `minimum` (`why`: the reason, said with the
    error), are what `check_options` allows; `unset` says what a default of None means in the help."""
    return field(default=default, metadata={"help": help, "choices": choices, "minimum": minimum, "why": why,
                                            "unset": unset})


def options(cls) -> list:
    """The fields of a dataclass (or an instance) that are options, in declaration order."""
    return [f for f in fields(cls) if "help" in f.metadata]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_options(obj) -> None:
    """Raise ValueError for the first option of `obj` whose value its declaration does not allow. None is "not
    set" for an option whose default is None."""
    for f in options(obj):
        value, choices, minimum = getattr(obj, f.name), f.metadata["choices"], f.metadata["minimum"]
        if value is None and f.default is None:
            continue
        if choices is not None and value not in choices:
            raise ValueError(f"unknown {f.name} {value!r}: choose one of {', '.join(choices)}")
        if minimum is not None and (not isinstance(value, int) or value < minimum):
            why = f" ({f.metadata['why']})" if f.metadata["why"] else ""
            raise ValueError(f"{f.name} must be an integer >= {minimum}{why}, got {value!r}")


def _shown(value) -> str:
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def add_options(parser, cls, notes: dict[str, str] | None = None, defaults: bool = True) -> None:
    """A flag for every option of `cls` on `parser` (or an argument group). Every flag defaults to None, "not
    given", so that an experiment file's value or the field's default stands; a bool option gets --name and
    --no-name. The help ends with the default (unless `defaults` is False) and the option's `notes`."""
    hints = typing.get_type_hints(cls)
    notes = notes or {}
    for f in options(cls):
        kind = hints[f.name]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):  # X | None: a flag of type X
            kind = next(t for t in typing.get_args(kind) if t is not type(None))
        shown = [f.metadata["unset"] if f.default is None else _shown(f.default)] if defaults else []
        shown = "; ".join(s for s in shown + [notes.get(f.name, "")] if s)
        text = f.metadata["help"] + (f" (default {shown})" if shown else "")
        kwargs = {"help": text.replace("%", "%%"), "default": None}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = kind
            if f.metadata["choices"] is not None:
                kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(flag(f.name), **kwargs)


def given(args: argparse.Namespace, cls) -> dict:
    """The options of `cls` given on the command line: name -> value."""
    return {f.name: getattr(args, f.name) for f in options(cls) if getattr(args, f.name, None) is not None}
