"""Text boards: ``render`` gives text for visited states, and ``parse(render(s))`` gives back
the start states (or reset states) and renders the same.

A mixin over :class:`~monarl.envs.checker.core.CheckContext`: it reads the visited states the
episodes kept (``_kept_states``, episodes.py) and the declared start states.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from monarl.core.config import ConfigError
from monarl.envs.checker.core import (
    PARSE_SAMPLES,
    RENDER_SAMPLES,
    CheckContext,
    _distinct_rows,
    _pick,
    _short,
)


class BoardChecks(CheckContext):
    """``render`` and the ``parse`` round trip."""

    def check_render_and_parse(self) -> None:
        spec = self.spec
        if not self.wanted("render", spec.render is not None):
            return
        for i, b, state in self._kept_states(RENDER_SAMPLES):
            try:
                text = spec.render(state, self.params)
            except Exception as exc:
                raise self.fail("render", f"render fails on the state after "
                                f"{'reset' if i < 0 else f'step {i + 1}'} of episode {b}: "
                                f"{_short(exc)}") from None
            if not isinstance(text, str):
                raise self.fail("render", f"render(state, params) must give a str, got "
                                f"{type(text).__name__}")
        self.checked.append("render")
        if not self.wanted("parse", spec.parse is not None):
            return
        if self.starts is not None:  # the declared start boards, each a full round trip
            boards, where = self.starts, "start state"
        else:  # reset draws its states otherwise: they need not be start boards
            boards, where = self.reset_state, "reset state"
        for b in _distinct_rows(boards, PARSE_SAMPLES):
            self._round_trip(b, _pick(boards, b), where, strict=self.starts is not None)
        self.checked.append("parse")

    def _round_trip(self, b: int, state: Any, where: str, strict: bool) -> None:
        """``parse(render(s))`` gives ``s`` back, every array of it, and renders as ``s``
        does. ``fields`` are the settings in use, less those ``parse`` refuses by name (a start
        board decides some settings itself: its size, its layout).

        ``strict`` (``s`` is a declared start state): every array must come back. Otherwise
        (a state reset drew, e.g. after a first random event) a difference that renders the
        same is history the board cannot show (what ``parse``, which reads start boards,
        cannot express), and is let pass."""
        spec = self.spec
        text = spec.render(state, self.params)
        fields = dict(self.settings_dict)
        while True:
            try:
                parsed, params = spec.parse(text, dict(fields))
                break
            except ConfigError as exc:
                head = str(exc).split("=", 1)[0].strip().rpartition(".")[2]
                if head in fields:
                    del fields[head]
                    continue
                raise self.fail("parse", f"parse refuses the rendering of {where} {b}: "
                                f"{exc}\n{text}") from None
            except Exception as exc:
                raise self.fail("parse", f"parse fails on the rendering of {where} {b}: "
                                f"{_short(exc)}\n{text}") from None
        if type(parsed) is not type(state):
            raise self.fail("parse", f"parse gives a {type(parsed).__name__}, reset a "
                            f"{type(state).__name__}")
        try:
            again = spec.render(parsed, params)
        except Exception as exc:
            raise self.fail("parse", f"render fails on the state parse gives for {where} {b}: "
                            f"{_short(exc)}") from None
        if again != text:
            raise self.fail("parse", f"render(parse(text)) differs from the text of {where} "
                            f"{b}:\n{text}\n---\n{again}")
        for field in state._fields:
            want, got = np.asarray(getattr(state, field)), np.asarray(getattr(parsed, field))
            if want.shape != got.shape or not np.array_equal(want, got):
                if not strict and field != "t":
                    return  # renders the same: history the board cannot show
                raise self.fail("parse", f"parse(render(s)) of {where} {b} has {field}="
                                f"{got.tolist()}, the state has {want.tolist()}:\n{text}")
