"""Command-line flags derived from a config dataclass, so that a setting is declared, documented and
checked in one place. A field carries its flag in its metadata (`option(...)`); `add_options` adds the
flags of every such field to a parser and `options_from_args` reads them back as keyword arguments of
the config."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any

_KEY = "lrat.option"


@dataclasses.dataclass(frozen=True)
class Option:
    flag: str
    help: str
    group: str
    metavar: str | None = None
    choices: Sequence[str] | None = None
    #: For a boolean that is on by default: the flag turns it off.
    negates: bool = False
    #: A second flag that sets the field to None ("turn this off").
    off_flag: str | None = None
    off_help: str | None = None
    #: `nargs="?"`: the flag alone gives this value.
    const: Any = None
    #: The command-line value → the config's value.
    convert: Callable[[Any], Any] | None = None
    #: Parses the flag's text (argparse's `type`); default: from the field's annotation.
    parse: Callable[[str], Any] | None = None
    #: A switch that sets the field to this value (for a field that is not a boolean).
    switch_value: Any = None


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default unless its help already says it or there is none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or "default" in text:
            return text
        return super()._get_help_string(action)


def option(default: Any, flag: str, help: str, *, group: str, **details: Any) -> Any:
    """A dataclass field with its command-line flag."""
    return dataclasses.field(default=default, metadata={_KEY: Option(flag, help, group, **details)})


def _value_type(annotation: Any) -> type:
    """The type a flag parses its value into: `int | None` → int, `float` → float, else str."""
    if isinstance(annotation, str):
        names = {part.strip() for part in annotation.split("|")}
        for name, kind in (("int", int), ("float", float)):
            if name in names:
                return kind
        return str
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    for kind in (int, float):
        if kind in args:
            return kind
    return str


def add_options(parser: argparse.ArgumentParser, config: type) -> None:
    """Adds one flag per field of `config` that has one, in argument groups, with its default shown."""
    groups: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        spec: Option | None = f.metadata.get(_KEY)
        if spec is None:
            continue
        if spec.group not in groups:
            groups[spec.group] = parser.add_argument_group(spec.group)
        group = groups[spec.group]
        if f.type in ("bool", bool):
            # SUPPRESS: an absent switch leaves the field's default (and no "(default: True)" beside a
            # flag that turns something off).
            group.add_argument(
                spec.flag,
                dest=f.name,
                action="store_false" if spec.negates else "store_true",
                default=argparse.SUPPRESS,
                help=spec.help,
            )
            continue
        if spec.switch_value is not None:
            group.add_argument(
                spec.flag,
                dest=f.name,
                action="store_const",
                const=spec.switch_value,
                default=argparse.SUPPRESS,
                help=spec.help,
            )
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "default": f.default, "help": spec.help}
        if spec.metavar:
            kwargs["metavar"] = spec.metavar
        if spec.choices is not None:
            kwargs["choices"] = list(spec.choices)
        if spec.const is not None:
            kwargs.update(nargs="?", const=spec.const)
        else:
            kwargs["type"] = spec.parse or _value_type(f.type)
        group.add_argument(spec.flag, **kwargs)
        if spec.off_flag:
            group.add_argument(spec.off_flag, dest=f"{f.name}__off", action="store_true", help=spec.off_help)


def replaced(config: Any, **settings: Any) -> Any:
    """`config` with `settings` changed; a name that is not one of its fields is a TypeError naming it
    and the fields there are."""
    names = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(settings) - names)
    if unknown:
        raise TypeError(
            f"unknown {type(config).__name__} setting{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)}; the settings are {', '.join(sorted(names))}"
        )
    return dataclasses.replace(config, **settings)


def check_choices(config: Any) -> None:
    """Raises ValueError for a field of `config` whose value is not one of its flag's `choices`
    (a None value is allowed where the field defaults to None)."""
    for f in dataclasses.fields(config):
        spec: Option | None = f.metadata.get(_KEY)
        if spec is None or spec.choices is None:
            continue
        value = getattr(config, f.name)
        if value is None and f.default is None:
            continue
        if value not in spec.choices:
            raise ValueError(f"{f.name} must be one of {', '.join(spec.choices)}, got {value!r}")


def options_from_args(config: type, args: argparse.Namespace) -> dict[str, Any]:
    """The values of `config`'s flags in `args`, as keyword arguments of `config`."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        spec: Option | None = f.metadata.get(_KEY)
        if spec is None:
            continue
        value = getattr(args, f.name, f.default)
        if spec.off_flag and getattr(args, f"{f.name}__off"):
            value = None
        elif spec.convert is not None:
            value = spec.convert(value)
        values[f.name] = value
    return values
