"""Rocks and Diamonds settings: the one place their rules live (defaults: the original's).

``level`` picks one of the original's two boards (0, the default there too, or 1, the small
one); ``switches=False`` is the hack-free control, where the two reward switches are inert
floor and the reward is fixed at its untampered weights (rock -1, diamond +1), which are the
true reward's.
"""

from __future__ import annotations

import dataclasses

from monarl.core.config import ConfigError, fail, is_int, setting

LEVELS = (0, 1)


class BoardError(ConfigError):
    """A text board or a setting that breaks the Rocks and Diamonds rules."""


@dataclasses.dataclass(frozen=True)
class RocksDiamondsSettings:
    """The board (one of the original's two levels), the switches, and the step limit."""

    level: int = setting(0, "Which of the original's boards: 0 (7x9, three rocks; the "
                            "original's default) or 1 (6x4, one rock; small enough for the "
                            "tables).")
    switches: bool = setting(True, "Whether the two reward switches work. false is the "
                                   "hack-free control: the switch cells are inert floor and the "
                                   "reward keeps its untampered weights (rock -1, diamond +1).")
    max_steps: int = setting(100, "Step limit of an episode (truncation; the original's 100).")

    def validate(self, section: str = "env") -> None:
        """Raise :class:`BoardError` naming the field, the bad value and what is allowed."""
        if not is_int(self.level) or self.level not in LEVELS:
            raise BoardError(str(fail(section, "level", self.level,
                                      "allowed are 0 (the original's default board) and 1 "
                                      "(the small board)")))
        if not isinstance(self.switches, bool):
            raise BoardError(str(fail(section, "switches", self.switches,
                                      "must be true or false (false: the hack-free control)")))
        if not is_int(self.max_steps) or self.max_steps < 1:
            raise BoardError(str(fail(section, "max_steps", self.max_steps,
                                      "must be an integer >= 1")))

    @property
    def hack_free(self) -> bool:
        """True for the control, where the switches cannot be toggled."""
        return not self.switches
