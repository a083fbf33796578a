"""Registries: one per kind of component (environments, approvals, trainers), looked up by name.

A component is found three ways, in this order:

1. a built-in, registered by the path of the object that declares it (``"monarl.envs.
   camera_dropbox:SPEC"``), imported on first use, so listing names imports nothing heavy;
2. a reference ``package.module:ATTR`` to an object in a user's own module on the Python path
   (the convention Gymnasium uses for ``"module:Env"``): nothing to register, the name *is* the
   reference, and a run config that names it works in every process that can import it;
3. an installed package's entry point in the component's group (``monarl.envs``,
   ``monarl.approvals``, ``monarl.trainers``), whose name becomes the component's name.

Whatever the route, :meth:`Registry.get` returns the declared spec with ``name`` set to the
name it was found by, so run configs, reports and listings all say the same thing.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import threading
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from monarl.core.config import ConfigError

T = TypeVar("T")


def load_reference(reference: str) -> Any:
    """The object ``package.module:ATTR`` names (``ATTR`` may be dotted)."""
    module_name, _, attr = reference.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{reference!r} is not of the form package.module:ATTR")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Name -> spec for one kind of component (see the module docstring).

    Args:
        kind: what the specs are, for messages ("environment").
        group: the entry-point group of installed plugins ("monarl.envs").
        spec_type: the class every spec must be an instance of.
        field: how a user names one in messages ("env", "approval", "algo").
    """

    def __init__(self, kind: str, group: str, spec_type: type, field: str) -> None:
        self.kind, self.group, self.spec_type, self.field = kind, group, spec_type, field
        self._builtin: dict[str, str] = {}
        self._loaded: dict[str, T] = {}
        self._entry_points: dict[str, str] | None = None
        self._lock = threading.RLock()

    # -- registration -----------------------------------------------------------------------

    def register_builtin(self, name: str, reference: str) -> None:
        """A built-in declared at ``reference`` (``package.module:ATTR``), imported lazily."""
        self._builtin[name] = reference

    def register(self, spec: T) -> T:
        """Register a spec object under its own name (for code that builds specs at run time;
        such a name is known only in the process that registered it)."""
        self._check_type(spec, getattr(spec, "name", "?"))
        with self._lock:
            self._loaded[spec.name] = spec  # type: ignore[attr-defined]
        return spec

    # -- lookup -----------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Built-in, registered and installed names (references are not listed)."""
        names = list(self._builtin)
        names += [n for n in self._loaded if n not in names and ":" not in n]
        names += [n for n in self._plugins() if n not in names]
        return names

    def __iter__(self) -> Iterator[T]:
        for name in self.names():
            yield self.get(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self.get(name)
        except ConfigError:
            return False
        return True

    def get(self, name: Any, field: str | None = None) -> T:
        """The spec called ``name``; a :class:`ConfigError` naming ``field`` (default: the
        registry's) and the known names when there is none."""
        label = self.field if field is None else field
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{label}={name!r} is invalid: known {self.kind}s are "
                              f"{', '.join(self.names())}")
        with self._lock:
            if name in self._loaded:
                return self._loaded[name]
            if name in self._builtin:
                reference = self._builtin[name]
            elif ":" in name:
                reference = name
            elif name in self._plugins():
                reference = self._plugins()[name]
            else:
                raise ConfigError(
                    f"{label}={name!r} is invalid: known {self.kind}s are "
                    f"{', '.join(self.names())} (or name your own as package.module:ATTR)")
            try:
                obj = load_reference(reference)
            except (ImportError, AttributeError, ValueError) as exc:
                raise ConfigError(f"{label}={name!r} is invalid: cannot load {reference} "
                                  f"({type(exc).__name__}: {exc})") from None
            self._check_type(obj, name, label)
            if getattr(obj, "name", name) != name:
                obj = dataclasses.replace(obj, name=name)
            self._loaded[name] = obj
            return obj

    # -- internals --------------------------------------------------------------------------

    def _check_type(self, obj: Any, name: str, label: str | None = None) -> None:
        if not isinstance(obj, self.spec_type):
            wanted = self.spec_type.__name__
            article = "an" if wanted[0] in "AEIOU" else "a"
            raise ConfigError(
                f"{label or self.field}={name!r} is invalid: it is a {type(obj).__name__}, "
                f"not {article} {wanted} (see docs/extending.md)")

    def _plugins(self) -> dict[str, str]:
        """Entry points of installed packages in this registry's group (read once)."""
        if self._entry_points is None:
            try:
                found = importlib.metadata.entry_points(group=self.group)
            except Exception:  # noqa: BLE001 - a broken installed package must not stop us
                found = ()
            self._entry_points = {ep.name: ep.value for ep in found}
        return self._entry_points
