"""What a check gives back: :class:`EnvCheckError` on the first broken contract, an
:class:`EnvCheckReport` when every contract holds."""

from __future__ import annotations

import dataclasses
from typing import Any


class EnvCheckError(ValueError):
    """A broken environment contract. ``env``: the environment; ``contract``: which one (a
    short key, e.g. ``time-limit``, ``tables-reward``); the message says both and shows the
    offending values.

    A ValueError, not a :class:`~monarl.core.config.ConfigError`: bad input (an unknown
    setting) is the caller's mistake, a broken contract is the environment's, and code that
    turns ConfigErrors into usage errors must not mistake one for the other."""

    def __init__(self, env: str, contract: str, detail: str) -> None:
        self.env, self.contract, self.detail = env, contract, detail
        super().__init__(f"{env}: {contract}: {detail}")


@dataclasses.dataclass(frozen=True)
class EnvCheckReport:
    """What :func:`check_env` checked on an environment that kept every contract.

    ``checked``: the groups of checks that ran (``settings``, ``reset-step``, ``episodes``
    always; ``time-slot``, ``tables``, ``render``, ``parse``, ``control``, ``gymnasium`` where
    the capability exists); ``skipped``: capabilities declared but not checkable here, with
    the reason (tables too large at these settings, gymnasium not installed)."""

    env: str
    settings: dict[str, Any]
    episodes: int
    steps: int
    checked: tuple[str, ...]
    skipped: dict[str, str]

    OPTIONAL = ("tables", "control", "parse", "gymnasium")

    @property
    def tables(self) -> bool:
        return "tables" in self.checked

    @property
    def control(self) -> bool:
        return "control" in self.checked

    @property
    def parse(self) -> bool:
        return "parse" in self.checked

    @property
    def gymnasium(self) -> bool:
        return "gymnasium" in self.checked

    def line(self) -> str:
        """``name: ok (64 episodes, 6,400 steps; tables, control, parse, gymnasium)``."""
        parts = [f"{self.episodes} episodes, {self.steps:,} steps"]
        optional = [c for c in self.OPTIONAL if c in self.checked]
        if "render" in self.checked and "parse" not in self.checked:
            optional.append("render")
        if optional:
            parts.append(", ".join(optional))
        parts += [f"{name} skipped: {why}" for name, why in self.skipped.items()]
        return f"{self.env}: ok ({'; '.join(parts)})"
