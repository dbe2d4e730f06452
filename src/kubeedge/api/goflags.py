"""Go's `flag` package, as Volcano's job plugins parse their arguments.

Owns `parse_flags`: the one parser for plugin arguments (`--master=task`, `-port 22`),
used by the vcjob controller's plugins and by admission, which must read the same
arguments the same way (Volcano's webhook builds the mpi plugin to find its master task;
`mpi.NewInstance` parses with a `flag.FlagSet` in ContinueOnError mode).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["FlagError", "FlagValue", "go_int", "parse_flags"]

log = logging.getLogger(__name__)

FlagValue = str | int | bool


class FlagError(ValueError):
    """An argument with a value its flag cannot take (`--port=abc`)."""


_OCTAL = re.compile(r"[+-]?0[0-7_]+")
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def go_int(text: str) -> int:
    """strconv.ParseInt(text, 0, 64): decimal, 0x/0o/0b prefixes, a leading 0 for octal."""
    try:
        return int(text, 0)
    except ValueError:
        if _OCTAL.fullmatch(text):
            return int(text.replace("_", ""), 8)
        raise


def parse_flags(plugin: str, args: Sequence[Any], defaults: Mapping[str, FlagValue], *,
                strict: bool = True) -> dict[str, FlagValue]:
    """`args` parsed against the flags `defaults` declares (their types from the
    defaults), the way Go's flag.FlagSet with ContinueOnError does: `-f`/`--f`, `=value`
    or the next argument as the value (not for booleans), parsing stops at the first
    non-flag argument or `--`. Like Volcano, an undefined flag or bad syntax is logged
    and ends parsing (the flags before it keep their values). A value a flag cannot take
    raises FlagError when `strict`; otherwise it is logged and ends parsing too, as Go's
    Parse error does for a caller that only logs it."""
    values = dict(defaults)
    try:
        _parse(plugin, [str(a) for a in args], defaults, values)
    except FlagError as exc:
        if strict:
            raise
        log.warning("%s; keeping the flags parsed before it", exc)
    return values


def _parse(plugin: str, rest: list[str], defaults: Mapping[str, FlagValue],
           values: dict[str, FlagValue]) -> None:
    while rest:
        arg = rest[0]
        if len(arg) < 2 or arg[0] != "-":
            return
        dashes = 2 if arg[1] == "-" else 1
        if arg == "--":
            return
        name = arg[dashes:]
        if not name or name[0] in "-=":
            log.warning("plugin %s: bad flag syntax: %s; ignoring %s", plugin, arg, rest)
            return
        rest = rest[1:]
        name, has_value, value = name.partition("=")
        if name not in defaults:
            log.warning("plugin %s: flag provided but not defined: -%s; ignoring %s",
                        plugin, name, [arg, *rest])
            return
        default = defaults[name]
        if isinstance(default, bool):
            if not has_value:
                values[name] = True
            elif value in _TRUE or value in _FALSE:
                values[name] = value in _TRUE
            else:
                raise FlagError(
                    f"plugin {plugin}: invalid boolean value {value!r} for -{name}: "
                    "parse error")
            continue
        if not has_value:
            if not rest:
                raise FlagError(f"plugin {plugin}: flag needs an argument: -{name}")
            value, rest = rest[0], rest[1:]
        if isinstance(default, int):
            try:
                values[name] = go_int(value)
            except ValueError:
                raise FlagError(
                    f"plugin {plugin}: invalid value {value!r} for flag -{name}: "
                    "parse error") from None
        else:
            values[name] = value
