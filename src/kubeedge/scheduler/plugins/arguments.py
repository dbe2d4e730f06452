"""Plugin arguments (Volcano's `framework.Arguments`): the `arguments` map of a
`tiers[].plugins[]` entry, read with a type and a default. A value of the wrong type
is a configuration error naming the argument, not a silent default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeedge.config.apiserver import ConfigError

__all__ = ["Arguments"]


class Arguments:
    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self.values = dict(values or {})

    def get_bool(self, name: str, default: bool) -> bool:
        value = self.values.get(name, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"plugin argument {name}: {value!r} is not true or false")

    def get_float(self, name: str, default: float) -> float:
        value = self.values.get(name, default)
        if isinstance(value, bool):
            raise ConfigError(f"plugin argument {name}: {value!r} is not a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"plugin argument {name}: {value!r} is not a number") from None

    def get_list(self, name: str) -> list[str]:
        value = self.values.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            return [str(v) for v in value]
        raise ConfigError(f"plugin argument {name}: {value!r} is not a list")
