"""A registered component chosen by name, with its validated settings: what a run config's
``env`` and ``approval`` sections hold.

Both sections are one flat table in experiment files and ``config.json``: the name (``name``
for an environment, ``kind`` for an approval) beside the component's own settings, every field
included. A run's *identity* (what its id hashes) leaves out the name when it is the default
and every setting equal to the component's default, so adding a setting with a default later
keeps old run ids valid.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from monarl.core.config import ConfigError, field_names, from_mapping, to_dict


class Chosen:
    """Mixin for ``(name, settings)`` dataclasses: settings read as attributes
    (``run.env.rows``), a flat dump and the identity rule of the module docstring."""

    key: str = "name"
    """The field that names the component in a config table."""

    def __getattr__(self, item: str) -> Any:
        if item.startswith("__") or item == "settings":
            raise AttributeError(item)
        settings = self.__dict__.get("settings")
        if settings is None or item not in field_names(type(settings)):
            raise AttributeError(
                f"{type(self).__name__} {self.__dict__.get(self.key)!r} has no setting {item!r}")
        return getattr(settings, item)

    @property
    def chosen(self) -> str:
        return getattr(self, self.key)

    def to_dict(self) -> dict[str, Any]:
        """``{key: name, **settings}`` with every field."""
        return {self.key: self.chosen, **to_dict(self.settings)}

    def identity(self, default: str) -> dict[str, Any]:
        """What the run id hashes: the name unless it is ``default``, and the settings that
        differ from the component's own defaults."""
        out: dict[str, Any] = {} if self.chosen == default else {self.key: self.chosen}
        defaults = to_dict(type(self.settings)())
        out.update({k: v for k, v in to_dict(self.settings).items()
                    if k not in defaults or defaults[k] != v})
        return out


def split_name(data: Any, key: str, default: str, section: str) -> tuple[str, dict[str, Any]]:
    """``(name, the other fields)`` of a config table."""
    if not isinstance(data, dict):
        raise ConfigError(f"{section} must be a table of settings, got {data!r}")
    fields = dict(data)
    name = fields.pop(key, default)
    return name, fields


def settings_from(cls: type, fields: dict[str, Any], section: str) -> Any:
    """Validated settings of ``cls`` (see :func:`monarl.core.config.from_mapping`)."""
    return from_mapping(cls, fields, section)


def replace_settings(chosen: Any, **changes: Any) -> Any:
    """A copy with some settings changed (validated)."""
    settings = dataclasses.replace(chosen.settings, **changes)
    validate = getattr(settings, "validate", None)
    if validate is not None:
        validate("")
    return dataclasses.replace(chosen, settings=settings)
