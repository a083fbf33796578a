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

    ``checked``: the groups of checks that ran: ``settings`` always; with the JAX capability
    ``reset-step``, ``episodes``, and ``time-slot``, ``tables``, ``render``, ``parse``,
    ``gymnasium`` where the capability exists; with the text capability ``turns``,
    ``sample``, ``prompt``, ``judge``, ``evaluate`` and ``text`` (all of them passed), and
    ``inoculation``, ``demonstrations``, ``overseer`` where declared; ``control`` where
    declared. ``skipped``: what is declared but not checkable here, with the reason (tables
    too large at these settings, gymnasium not installed).

    ``episodes`` are the random episodes run, and for the text capability the cases sampled;
    ``steps`` the steps they took, or for a text-only environment the turns of its cases
    (``episodes * turns``: for a language model a step is a turn)."""

    env: str
    settings: dict[str, Any]
    episodes: int
    steps: int
    checked: tuple[str, ...]
    skipped: dict[str, str]

    OPTIONAL = ("tables", "control", "parse", "gymnasium", "text", "inoculation",
                "demonstrations", "overseer")

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

    @property
    def jax(self) -> bool:
        return "reset-step" in self.checked

    @property
    def text(self) -> bool:
        return "text" in self.checked

    def line(self) -> str:
        """``name: ok (64 episodes, 6,400 steps; tables, control, parse, gymnasium)``, or for a
        text-only environment ``name: ok (64 cases, 128 turns; text, inoculation, ...)``."""
        if self.jax:
            parts = [f"{self.episodes} episodes, {self.steps:,} steps"]
        else:
            parts = [f"{self.episodes} cases, {self.steps:,} turns"]
        optional = [c for c in self.OPTIONAL if c in self.checked]
        if "render" in self.checked and "parse" not in self.checked:
            optional.append("render")
        if optional:
            parts.append(", ".join(optional))
        parts += [f"{name} skipped: {why}" for name, why in self.skipped.items()]
        return f"{self.env}: ok ({'; '.join(parts)})"
