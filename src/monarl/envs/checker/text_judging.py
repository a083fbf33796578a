"""The text capability (``TextSpec``, monarl.core.protocols), second half: what judges the
replies: ``judge``'s per-turn rewards, the rule-based ``overseer``, and ``evaluate`` run with
stub policies.

Why: the trainer stacks ``judge``'s rewards of a batch into a ``[turns, episodes]`` matrix
(one reward too few breaks it, a NaN poisons every advantage of the group), the overseer's
approval is added to them, and ``evaluate``'s metrics are what a run reports; each is handed
whatever a model wrote, so each is tried on the demonstrations' replies and on junk.

A mixin over :class:`~monarl.envs.checker.core.CheckContext`: it reads the cases, the reply
sets and the demonstrations' replies the first half (text.py) set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from monarl.core.config import is_int, is_number
from monarl.envs.checker.core import (
    EVAL_CASES,
    CheckContext,
    _brief,
    _chat_problem,
    _chat_text,
    _short,
)
from monarl.envs.checker.report import EnvCheckError


class _StubPolicy:
    """A policy for ``evaluate``: ``generate(chats, turn)`` answers every chat of turn
    ``turn`` with the replies of ``pool[turn]`` in turn. It checks what it is given, as the
    trainer's greedy policy would receive it (a list of chats, a valid turn, no inoculation
    prompt at test time), and keeps the first problem in ``problem``, raising it too, so an
    ``evaluate`` that catches exceptions cannot hide it."""

    def __init__(self, pool: Sequence[Sequence[str]], instruction: str,
                 fail: Callable[[str, str], EnvCheckError]) -> None:
        self.pool, self.instruction, self.fail = pool, instruction, fail
        self.calls = 0
        self.problem: EnvCheckError | None = None

    def __call__(self, chats: Any, turn: Any) -> list[str]:
        problem = self._problem(chats, turn)
        if problem is not None:
            self.problem = self.problem or self.fail("text-evaluate", problem)
            raise self.problem
        self.calls += 1
        replies = self.pool[int(turn)]
        return [replies[j % len(replies)] for j in range(len(chats))]

    def _problem(self, chats: Any, turn: Any) -> str | None:
        turns = len(self.pool)
        if not is_int(turn) or not 0 <= turn < turns:
            return f"evaluate calls generate(chats, turn={turn!r}): turn must be in [0, {turns})"
        if not isinstance(chats, list | tuple):
            return f"evaluate calls generate with {_brief(chats)}: give a list of chats"
        for j, chat in enumerate(chats):
            problem = _chat_problem(chat)
            if problem is not None:
                return f"evaluate gives generate a chat (turn {turn}, chat {j}) that {problem}"
            if self.instruction and self.instruction in _chat_text(chat):
                return (f"evaluate shows the inoculation prompt {self.instruction!r} (turn "
                        f"{turn}, chat {j}): it is train-time only, never shown at test time")
        return None


class TextJudgingChecks(CheckContext):
    """``judge``, ``overseer`` and ``evaluate`` of the text capability."""

    # -- judge -------------------------------------------------------------------------------

    def check_judge(self) -> None:
        """``judge`` on every case after every reply set gives ``turns`` finite observed and
        true rewards and a JSON-able info dict (the run record keeps it)."""
        judge = self.spec.text.judge
        for i, case in enumerate(self.cases):
            for label, replies in self.reply_sets[i]:
                where = f"judge(case {i}, {label} replies, params)"
                rewards = self.call("text-judge", where, judge, case, list(replies),
                                    self.params)
                self._check_turn_rewards(where, rewards)
        self.checked.append("judge")

    def _check_turn_rewards(self, where: str, rewards: Any) -> None:
        turns = self.turns
        for field in ("observed", "true"):
            values = getattr(rewards, field, None)
            if (not isinstance(values, list | tuple) or len(values) != turns
                    or not all(is_number(v) for v in values)):
                raise self.fail("text-judge", f"{where} must give a TurnRewards whose {field} "
                                f"is {turns} finite numbers (one per turn), got "
                                f"{_brief(values if hasattr(rewards, field) else rewards)}")
        info = getattr(rewards, "info", None)
        if not isinstance(info, dict):
            raise self.fail("text-judge", f"{where} must give a TurnRewards whose info is a "
                            f"dict, got {_brief(info)}")
        try:
            json.dumps(info)
        except (TypeError, ValueError) as exc:
            raise self.fail("text-judge", f"{where} gives an info that is not JSON-able "
                            f"({_short(exc)}): {_brief(info)}") from None

    # -- overseer ----------------------------------------------------------------------------

    def check_overseer(self) -> None:
        """The overseer's approval of every turn after every reply set: None (it does not
        judge that turn) or a finite number (an approval is added to the turn's reward)."""
        overseer = self.spec.text.overseer
        if overseer is None:
            return
        for i, case in enumerate(self.cases):
            for label, replies in self.reply_sets[i]:
                for k in range(self.turns):
                    where = f"overseer(case {i}, {k}, {label} reply, params)"
                    value = self.call("text-overseer", where, overseer, case, k, replies[k],
                                      self.params)
                    if value is not None and not is_number(value):
                        raise self.fail("text-overseer", f"{where} must give a finite number "
                                        f"or None, got {_brief(value)}")
        self.checked.append("overseer")

    # -- evaluate ----------------------------------------------------------------------------

    def check_evaluate(self) -> None:
        """``evaluate`` of a policy that writes demonstration replies (random ones without
        demonstrations) and of one that writes nothing: a dict of finite numbers with every
        declared metric, the same again from a generator seeded alike."""
        n = max(2, min(self.episodes, EVAL_CASES))
        empty = [[""] for _ in range(self.turns)]
        metrics = self._evaluate("empty", empty, n)
        if self.demo_replies is not None:
            label, source = "demonstration-like", self.demo_replies
        else:
            label = "random"
            source = [replies for sets in self.reply_sets for name, replies in sets
                      if name == "random"]
        self._evaluate(label, [[replies[k] for replies in source]
                               for k in range(self.turns)], n)
        again = self._evaluate("empty", empty, n)
        if again != metrics:
            changed = sorted(k for k in metrics if again.get(k) != metrics[k])
            raise self.fail("text-evaluate", f"evaluate(generate, params, rng, {n}) is not "
                            f"deterministic: {changed} differ between two generators seeded "
                            "alike and the same policy")
        self.checked.append("evaluate")

    def _evaluate(self, label: str, pool: list[list[str]], n: int) -> dict[str, float]:
        """``evaluate`` with a stub policy answering from ``pool``, its result checked."""
        text = self.spec.text
        where = f"evaluate(generate, params, rng, {n}) with a {label} policy"
        policy = _StubPolicy(pool, text.inoculation, self.fail)
        try:
            metrics = text.evaluate(policy, self.params, self.rng(3), n)
        except Exception as exc:
            if policy.problem is not None:
                raise policy.problem from None
            raise self.fail("text-evaluate", f"{where} fails: {_short(exc)}") from None
        if policy.problem is not None:
            raise policy.problem
        if policy.calls == 0:
            raise self.fail("text-evaluate", f"{where} never calls generate: its metrics "
                            "cannot be the policy's")
        if not isinstance(metrics, dict) or not all(isinstance(k, str) for k in metrics):
            raise self.fail("text-evaluate", f"{where} must give a dict of metric names to "
                            f"numbers, got {_brief(metrics)}")
        bad = {k: v for k, v in metrics.items() if not is_number(v)}
        if bad:
            raise self.fail("text-evaluate", f"{where} gives metrics that are not finite "
                            f"numbers: {_brief(bad)}")
        declared = list(dict.fromkeys((*text.metrics, *text.headline)))
        missing = [m for m in declared if m not in metrics]
        if missing:
            raise self.fail("text-evaluate", f"{where} lacks the declared metrics {missing} "
                            f"(metrics {tuple(text.metrics)}, headline {tuple(text.headline)}); "
                            f"it gives {sorted(metrics)}")
        return {k: float(v) for k, v in metrics.items()}
