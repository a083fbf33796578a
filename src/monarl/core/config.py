"""Validated settings: the rules every configuration piece follows, in one place.

Every component a researcher can choose (an environment, an approval, a trainer) has a frozen
settings dataclass whose defaults are the documented ones and whose ``validate(section)``
rejects a bad value with a one-line :class:`ConfigError` naming the field, the value and what
is allowed. Experiment files, CLI options and library calls all build settings through
:func:`from_mapping`, so a bad value fails the same way everywhere, *before any work starts*.

Field help texts live in the dataclass (``setting(default, "help")``), so ``monarl envs`` and
``monarl approvals`` can document every option without a second copy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

REWARDS = ("observed", "true")
"""What a step trains on without an approval: the observed (possibly misspecified) reward, or
the true one (how an overseer learns its foresight)."""


class ConfigError(ValueError):
    """Invalid configuration; the message names the field, the value and what is allowed."""


def fail(section: str, name: str, value: Any, allowed: str) -> ConfigError:
    """``section.name=value is invalid: allowed`` (no section prefix when ``section`` is "")."""
    where = f"{section}.{name}" if section else name
    return ConfigError(f"{where}={value!r} is invalid: {allowed}")


def is_int(value: Any) -> bool:
    """An integer that is not a bool (``True`` is almost always a configuration mistake)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite real number that is not a bool."""
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool) and math.isfinite(float(value)))


def setting(default: Any, help: str, **metadata: Any) -> Any:
    """A settings field with its help text (shown by ``monarl envs`` / ``monarl approvals``).

    ``choices``: the allowed values, when a field is one of a few strings."""
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def _field_kind(field: dataclasses.Field) -> str:
    return str(field.type)


def float_fields(cls: type) -> set[str]:
    """Fields declared as floats: an integer given for one becomes a float, so ``noise = 0``
    and ``noise = 0.0`` are the same setting (and the same run id)."""
    return {f.name for f in dataclasses.fields(cls)
            if "float" in _field_kind(f) and "tuple" not in _field_kind(f)}


def tuple_fields(cls: type) -> set[str]:
    """Fields declared as tuples: TOML and JSON give lists, the frozen settings keep tuples."""
    return {f.name for f in dataclasses.fields(cls) if "tuple" in _field_kind(f)}


def field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def coerce(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping with integers for float fields made floats, lists for tuple fields made
    tuples (of floats where the field holds floats), and booleans for text fields their words
    (a choice named ``true``)."""
    floats, tuples = float_fields(cls), tuple_fields(cls)
    kinds = {f.name: _field_kind(f) for f in dataclasses.fields(cls)}
    out = {}
    for key, value in data.items():
        if key in floats and type(value) is int:
            value = float(value)
        elif isinstance(value, bool) and kinds.get(key) == "str":
            value = "true" if value else "false"  # --set reward=true reads as a TOML boolean
        elif key in tuples and isinstance(value, list | tuple):
            if "float" in kinds[key] and all(is_number(v) for v in value):
                value = tuple(float(v) for v in value)
            else:
                value = tuple(value)
        out[key] = value
    return out


def from_mapping(cls: type, data: Any, section: str) -> Any:
    """Build and validate ``cls`` from a mapping, rejecting unknown keys (with the list of
    known ones); ``section`` prefixes every message (``env.rows=2 is invalid: ...``)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{section} must be a table of settings, got {data!r}")
    known = set(field_names(cls))
    unknown = sorted(set(data) - known)
    if unknown:
        listed = ", ".join(sorted(known)) if known else "none (this component has no settings)"
        raise ConfigError(f"{section}: unknown field {unknown[0]!r}; known fields are {listed}")
    obj = cls(**coerce(cls, data))
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(section)
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    """Settings as JSON-able values (every field, defaults included; tuples as lists)."""
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    out = dataclasses.asdict(obj)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def describe_fields(cls: type) -> list[dict[str, Any]]:
    """Every field of a settings class: name, type, default and help (for listings)."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        rows.append({"name": f.name, "type": str(f.type).replace("typing.", ""),
                     "default": list(default) if isinstance(default, tuple) else default,
                     "help": f.metadata.get("help", ""),
                     **({"choices": list(f.metadata["choices"])}
                        if "choices" in f.metadata else {})})
    return rows


def check_choice(section: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise fail(section, name, value, f"allowed are {', '.join(choices)}")


def parse_horizon(value: Any, field: str = "horizon") -> int | None:
    """``None``/'none'/'full' -> None (ordinary RL); an int >= 1 -> M."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "full")):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not is_int(value) or value < 1:
        raise ConfigError(f"{field}={value!r} is invalid: must be an integer >= 1 or 'none' "
                          "(full horizon, ordinary RL)")
    return int(value)


def parse_horizons(text: str, max_steps: int) -> list[int | None]:
    """'1-50', '1,2,4,8', 'none', '1-8,none' -> list of horizons (None = full)."""
    result: list[int | None] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part and part.lower() not in ("none", "full"):
            lo, _, hi = part.partition("-")
            lo_h, hi_h = parse_horizon(lo.strip()), parse_horizon(hi.strip())
            if lo_h is None or hi_h is None or hi_h < lo_h:
                raise ConfigError(f"horizons={text!r} is invalid: a range is LOW-HIGH with "
                                  "1 <= LOW <= HIGH, e.g. 1-50")
            result.extend(range(lo_h, hi_h + 1))
        else:
            result.append(parse_horizon(part, "horizons"))
    if not result:
        raise ConfigError(f"horizons={text!r} is invalid: give e.g. 1-50, 1,2,4,8 or none")
    too_long = [h for h in result if h is not None and h > max_steps]
    if too_long:
        raise ConfigError(f"horizons={text!r} is invalid: {too_long[0]} exceeds the step limit "
                          f"max_steps={max_steps} (use 'none' for the full horizon)")
    return list(dict.fromkeys(result))


def check_reward(reward: str, approval_kind: str) -> None:
    """``reward`` names what ordinary RL / ``none`` trains on; an approval brings its own."""
    if reward not in REWARDS:
        raise ConfigError(f"reward={reward!r} is invalid: allowed are {', '.join(REWARDS)}")
    if approval_kind != "none" and reward != "observed":
        raise ConfigError(
            f"reward={reward!r} is invalid with approval {approval_kind!r}: an approval is the "
            "whole training reward of a step (it contains the observed reward of the step); "
            "reward='true' needs approval 'none'")
