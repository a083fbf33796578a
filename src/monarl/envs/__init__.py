"""Environments: the registry and the built-ins (Camera Dropbox, the loan task).

``ENVS.get(name)`` returns an :class:`~monarl.core.protocols.EnvSpec`; a name may also be a
``package.module:ATTR`` reference to a spec in your own module (docs/extending.md), and
installed packages may register through the entry-point group ``monarl.envs``.
:class:`EnvConfig` is an environment with its validated settings (a run's ``env`` section).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import Any

from monarl.core.components import Chosen, settings_from, split_name
from monarl.core.protocols import EnvSpec
from monarl.core.registry import Registry
from monarl.tabular.tables import MAX_TABULAR_STATES, TooLargeError

ENVS: Registry[EnvSpec] = Registry("environment", "monarl.envs", EnvSpec, "env")
ENVS.register_builtin("camera-dropbox", "monarl.envs.camera_dropbox:SPEC")
ENVS.register_builtin("loan-steganography", "monarl.envs.loan:SPEC")
ENVS.register_builtin("tomato-watering", "monarl.envs.tomato_watering:SPEC")
ENVS.register_builtin("absent-supervisor", "monarl.envs.absent_supervisor:SPEC")
ENVS.register_builtin("rocks-diamonds", "monarl.envs.rocks_diamonds:SPEC")
ENVS.register_builtin("boat-race", "monarl.envs.boat_race:SPEC")
ENVS.register_builtin("loan-text", "monarl.envs.loan_text:SPEC")
ENVS.register_builtin("tdd", "monarl.envs.tdd:SPEC")

_PARAMS: OrderedDict = OrderedDict()
_TABLES: OrderedDict = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _cached(cache: OrderedDict, key: Any, build: Any, size: int) -> Any:
    with _CACHE_LOCK:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
    value = build()
    with _CACHE_LOCK:
        cache[key] = value
        while len(cache) > size:
            cache.popitem(last=False)
    return value


@dataclasses.dataclass(frozen=True)
class EnvConfig(Chosen):
    """An environment and its validated settings: the ``env`` section of a run.

    ``EnvConfig.of("camera-dropbox", rows=5)`` builds one from keyword settings; ``env.rows``
    reads a setting; :meth:`params` and :meth:`tables` are built once per process."""

    name: str = "camera-dropbox"
    settings: Any = None
    key = "name"

    def __post_init__(self) -> None:
        if self.settings is None:
            object.__setattr__(self, "settings", self.spec.settings())

    @property
    def spec(self) -> EnvSpec:
        return ENVS.get(self.name)

    @property
    def max_steps(self) -> int:
        return int(self.spec.max_steps(self.settings))

    @classmethod
    def of(cls, name: str = "camera-dropbox", section: str = "", **fields: Any) -> EnvConfig:
        """Validated config from keyword settings (messages name ``section.field``)."""
        return cls.from_mapping({"name": name, **fields}, section)

    @classmethod
    def from_mapping(cls, data: Any, section: str = "env",
                     default: str = "camera-dropbox") -> EnvConfig:
        """Validate a config table: the environment (``name``, default ``default``) and its
        settings."""
        name, fields = split_name(data, "name", default, section)
        spec = ENVS.get(name, f"{section}.name" if section else "env")
        return cls(name, settings_from(spec.settings, fields, section))

    def params(self) -> Any:
        """The environment's parameters (built once per process per config)."""
        return _cached(_PARAMS, self, lambda: self.spec.make_params(self.settings), 16)

    def num_states(self) -> int | None:
        """States of the tables at these settings (None: no tables capability)."""
        tables = self.spec.tables
        return None if tables is None else int(tables.count_states(self.settings))

    def tabulable(self) -> bool:
        """Whether the tables exist and are small enough to build at these settings."""
        count = self.num_states()
        return (count is not None and count <= MAX_TABULAR_STATES
                and self.tables_unavailable() is None)

    def tables_unavailable(self) -> tuple[dict[str, Any], str] | None:
        """``(settings, reason)`` when the environment's own rule says its tables cannot be
        built at these settings (``TablesSpec.unavailable``), else None."""
        tables = self.spec.tables
        if tables is None or tables.unavailable is None:
            return None
        return tables.unavailable(self.settings)

    def tables(self) -> Any:
        """The tables (built once per process per config); :class:`TooLargeError` beyond
        ``MAX_TABULAR_STATES`` states or without the capability."""
        spec = self.spec
        if spec.tables is None:
            raise TooLargeError(f"environment {self.name!r} has no tables (it is not finite "
                                "and enumerable)")
        return _cached(_TABLES, self, lambda: spec.tables.compile(self.params()), 8)

    def control(self) -> EnvConfig:
        """The hack-free control of these settings."""
        control = self.spec.control
        if control is None:
            raise ValueError(f"environment {self.name!r} declares no hack-free control")
        return dataclasses.replace(self, settings=control.make(self.settings))

    @property
    def is_control(self) -> bool:
        control = self.spec.control
        return control is not None and bool(control.is_control(self.settings))


__all__ = ["ENVS", "EnvConfig"]
