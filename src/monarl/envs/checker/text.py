"""The text capability (``TextSpec``, monarl.core.protocols), first half: the turns and metrics
it declares, the cases ``sample`` draws, the demonstrations, and the chats ``prompt`` shows
(with and without the inoculation prompt) after every kind of earlier reply.

Why these checks: the language-model trainer calls ``prompt`` with whatever its model wrote
(an empty reply, gibberish), stacks ``judge``'s rewards into a ``[turns, episodes]`` matrix,
pretrains a tiny model on the demonstrations as if the environment had shown them, and
reproduces its cases from a seed. None of it re-checks the environment: a chat that is a
string goes through a chat template character by character, a demonstration whose chats are
not the environment's prompts teaches a model turns it will never see, and an inoculation
prompt that leaks into the plain chat removes the difference an inoculation run measures.

A mixin over :class:`~monarl.envs.checker.core.CheckContext`: the checks run in the order of
``_Checker._run_text`` (entry.py) and set ``cases``, ``demo_replies`` and ``reply_sets``, which
the judging checks (text_judging.py) read.
"""

from __future__ import annotations

import json
import string
from typing import Any

import numpy as np

from monarl.core.config import is_int
from monarl.envs.checker.core import (
    CheckContext,
    _brief,
    _chat_problem,
    _chat_text,
)

JUNK_ALPHABET = (string.ascii_letters + string.digits + string.punctuation
                 + " \n\t\u00e9\u2014\u4e2d")
"""What random replies are written in (some non-ASCII: a model's tokenizer produces it)."""
JUNK_LENGTH = 120
"""The longest random reply, in characters."""


def random_reply(rng: np.random.Generator) -> str:
    """A random reply: what an untrained model may write, which ``prompt``, ``judge`` and
    ``overseer`` must take without failing."""
    length = int(rng.integers(1, JUNK_LENGTH))
    return "".join(JUNK_ALPHABET[i] for i in rng.integers(0, len(JUNK_ALPHABET), length))


class TextChecks(CheckContext):
    """The declarations, ``sample``, ``demonstrations`` and ``prompt`` of the text
    capability."""

    # -- helpers -----------------------------------------------------------------------------

    def _check_chat(self, contract: str, where: str, chat: Any) -> None:
        """``chat`` is one a chat template takes, else a broken ``contract`` at ``where``."""
        problem = _chat_problem(chat)
        if problem is not None:
            raise self.fail(contract, f"{where} {problem}")

    # -- declarations ------------------------------------------------------------------------

    def check_text_declarations(self) -> None:
        """``turns``, one name and one token budget per turn, and the metrics: what trainers
        size their reward matrices and generation budgets by, and what ``monarl train``
        shows."""
        text = self.spec.text
        turns = text.turns
        if not is_int(turns) or turns < 1:
            raise self.fail("text-turns", f"turns must be an integer >= 1, got {turns!r}")
        names = text.turn_names
        if (not isinstance(names, tuple | list) or len(names) != turns
                or not all(isinstance(n, str) and n.strip() for n in names)
                or len(set(names)) != len(names)):
            raise self.fail("text-turns", f"turn_names must be {turns} distinct non-empty "
                            f"names (one per turn), got {names!r}")
        budgets = text.max_new_tokens
        if (not isinstance(budgets, tuple | list) or len(budgets) != turns
                or not all(is_int(b) and b >= 1 for b in budgets)):
            raise self.fail("text-turns", f"max_new_tokens must be {turns} integers >= 1 (a "
                            f"reply budget per turn), got {budgets!r}")
        if not self.jax and self.max_steps != turns:
            raise self.fail("text-turns", f"max_steps(settings)={self.max_steps} but turns="
                            f"{turns}: for a language model a step is a turn, and horizons "
                            "are checked against max_steps")
        self.turns = int(turns)
        self._check_metric_names()
        if not isinstance(text.inoculation, str):
            raise self.fail("text-inoculation", f"inoculation must be a str (\"\": none), got "
                            f"{text.inoculation!r}")
        self._check_judge_prompt()
        self.checked.append("turns")

    def _check_judge_prompt(self) -> None:
        """A declared judge prompt is one the LLM judge can fill: the judge approval takes it
        unchecked whenever its own prompt is left empty."""
        from monarl.approval.judge import check_prompt
        from monarl.core.config import ConfigError

        prompt = self.spec.text.judge_prompt
        if prompt == "":
            return
        try:
            check_prompt(prompt, "judge_prompt")
        except ConfigError as exc:
            raise self.fail("text-judge-prompt", str(exc).replace("judge_prompt.prompt=",
                                                                  "judge_prompt=")) from None

    def _check_metric_names(self) -> None:
        """Distinct metric names, the headline among them: ``monarl train`` shows the
        headline from what ``evaluate`` returns."""
        text = self.spec.text
        for field in ("metrics", "headline"):
            names = getattr(text, field)
            if (not isinstance(names, tuple | list)
                    or not all(isinstance(n, str) and n for n in names)
                    or len(set(names)) != len(names)):
                raise self.fail("text-metrics", f"{field} must be distinct metric names, got "
                                f"{names!r}")
        stray = [n for n in text.headline if n not in text.metrics]
        if text.metrics and stray:
            raise self.fail("text-metrics", f"headline names {stray}, which are not among "
                            f"metrics {tuple(text.metrics)}")

    # -- cases -------------------------------------------------------------------------------

    def check_sample(self) -> None:
        """``sample(params, rng, n)`` gives ``n`` cases, the same ones from a generator
        seeded alike: trainers and the evaluation reproduce their cases from a seed."""
        text, n = self.spec.text, self.episodes
        what = f"sample(params, rng, {n})"
        cases = self.call("text-sample", what, text.sample, self.params, self.rng(1), n)
        if not isinstance(cases, list | tuple) or len(cases) != n:
            got = len(cases) if isinstance(cases, list | tuple) else _brief(cases)
            raise self.fail("text-sample", f"{what} must give a list of {n} cases, got {got}")
        again = self.call("text-sample", what, text.sample, self.params, self.rng(1), n)
        for i, (a, b) in enumerate(zip(cases, again, strict=True)):
            if not self._same_case(a, b):
                raise self.fail("text-sample", f"{what} is not deterministic: case {i} differs "
                                f"between two generators seeded alike ({_brief(a)} / "
                                f"{_brief(b)}): draw everything from rng")
        self.cases = list(cases)
        self.checked.append("sample")

    def _same_case(self, a: Any, b: Any) -> bool:
        """Equal cases; for a case type without an equality of its own, equal first chats
        (what the model is shown of it)."""
        if type(a) is type(b) and type(a).__eq__ is not object.__eq__:
            try:
                return bool(a == b)
            except Exception:  # e.g. array fields: compare what they show instead
                pass
        first = [self.call("text-prompt", "prompt(case, 0, [], params, False)",
                            self.spec.text.prompt, case, 0, [], self.params, False)
                 for case in (a, b)]
        return first[0] == first[1]

    # -- demonstrations ----------------------------------------------------------------------

    def check_demonstrations(self) -> None:
        """``demonstrations(params, rng, n)`` gives ``n`` episodes of ``turns`` (chat, reply)
        pairs, the same from a generator seeded alike; sets ``demo_replies`` (None without
        demonstrations) and the reply sets the later checks try."""
        text = self.spec.text
        self.demo_replies, demos = None, None
        if text.demonstrations is not None:
            demos = self._demonstrations()
            self.demo_replies = [[reply for _, reply in episode] for episode in demos]
        rng = self.rng(2)
        self.reply_sets = []
        for i in range(len(self.cases)):
            sets = [] if self.demo_replies is None else [("demonstration",
                                                          self.demo_replies[i])]
            sets += [("empty", [""] * self.turns),
                     ("random", [random_reply(rng) for _ in range(self.turns)])]
            self.reply_sets.append(sets)
        self.demos = demos

    def _demonstrations(self) -> list[list[tuple[list[dict[str, str]], str]]]:
        text, n, turns = self.spec.text, self.episodes, self.turns
        what = f"demonstrations(params, rng, {n})"
        demos = self.call("text-demonstrations", what, text.demonstrations, self.params,
                           self.rng(1), n)
        if not isinstance(demos, list | tuple) or len(demos) != n:
            got = len(demos) if isinstance(demos, list | tuple) else _brief(demos)
            raise self.fail("text-demonstrations", f"{what} must give a list of {n} episodes, "
                            f"got {got}")
        for e, episode in enumerate(demos):
            if not isinstance(episode, list | tuple) or len(episode) != turns:
                raise self.fail("text-demonstrations", f"episode {e} must be {turns} (chat, "
                                f"reply) pairs, one per turn, got {_brief(episode)}")
            for k, pair in enumerate(episode):
                if not isinstance(pair, list | tuple) or len(pair) != 2:
                    raise self.fail("text-demonstrations", f"turn {k} of episode {e} must be "
                                    f"a (chat, reply) pair, got {_brief(pair)}")
                self._check_chat("text-demonstrations", f"the chat of turn {k} of episode {e}",
                                 pair[0])
                if not isinstance(pair[1], str):
                    raise self.fail("text-demonstrations", f"the reply of turn {k} of episode "
                                    f"{e} must be a str, got {_brief(pair[1])}")
        again = self.call("text-demonstrations", what, text.demonstrations, self.params,
                           self.rng(1), n)
        if _plain(again) != _plain(demos):
            raise self.fail("text-demonstrations", f"{what} is not deterministic: two "
                            "generators seeded alike give different episodes")
        return [[(list(chat), reply) for chat, reply in episode] for episode in demos]

    def check_demonstration_prompts(self) -> None:
        """A demonstration's chats are ``prompt``'s for its case and earlier replies (a tiny
        model pretrained on other chats learns turns the environment never shows). Its case
        is not given, so it is found by its first chat among the cases ``sample`` draws from
        a generator seeded alike (all of them, where the demonstrations draw their cases with
        ``sample``, first; some, where they draw from a small set of cases otherwise); a
        demonstration whose first chat is no sampled case's is not compared, and where none
        is, the report says so."""
        if self.demos is None:
            return
        by_first: dict[str, list[int]] = {}
        for i in range(len(self.cases)):
            first = self._prompt(i, 0, [], False, "no")
            by_first.setdefault(json.dumps(first, sort_keys=True), []).append(i)
        compared = 0
        for e, episode in enumerate(self.demos):
            candidates = by_first.get(json.dumps(episode[0][0], sort_keys=True), [])
            if candidates:
                compared += 1
                self._check_demonstration(e, episode, candidates)
        if not compared:
            self.skipped["demonstration-prompts"] = (
                "no demonstration's first chat is that of a case sample draws, so their chats "
                "could not be compared with prompt's")
        self.checked.append("demonstrations")

    def _check_demonstration(self, e: int, episode: list[tuple[list[dict[str, str]], str]],
                             candidates: list[int]) -> None:
        """Demonstration ``e``'s later chats are ``prompt``'s for one of ``candidates``, the
        sampled cases with its first chat (cases that show the same may differ later)."""
        replies = [reply for _, reply in episode]
        for k in range(1, self.turns):
            chat = episode[k][0]
            expected = [self._prompt(i, k, replies[:k], False, "demonstration")
                        for i in candidates]
            if chat not in expected:
                raise self.fail("text-demonstrations", f"the chat of turn {k} of "
                                f"demonstration {e} is not prompt(case, {k}, replies, params, "
                                f"False) of its case (sample's case {candidates[0]}, whose "
                                f"first chat is its own): {_brief(chat)} != "
                                f"{_brief(expected[0])}")

    # -- prompts -----------------------------------------------------------------------------

    def _prompt(self, i: int, turn: int, replies: list[str], inoculation: bool,
                label: str) -> list[dict[str, str]]:
        """``prompt`` of case ``i`` before ``turn``, checked to be a chat."""
        where = (f"prompt(case {i}, {turn}, {label} replies, params, "
                 f"inoculation={inoculation})")
        chat = self.call("text-prompt", where, self.spec.text.prompt, self.cases[i], turn,
                          list(replies), self.params, inoculation)
        self._check_chat("text-prompt", where, chat)
        return chat

    def check_prompts(self) -> None:
        """Every turn's chat of every case, after demonstration, empty and random earlier
        replies (what a model may have written), without and with the inoculation prompt:
        the declared prompt (what the run record names) is in some turn's inoculated chat
        and in no plain one (an inoculation run differs from a plain run in that only)."""
        instruction = self.spec.text.inoculation
        for i in range(len(self.cases)):
            shown = False
            for label, replies in self.reply_sets[i]:
                for k in range(self.turns):
                    plain = self._prompt(i, k, replies[:k], False, label)
                    inoculated = self._prompt(i, k, replies[:k], True, label)
                    if instruction and instruction in _chat_text(inoculated):
                        shown = True
                    if instruction and instruction in _chat_text(plain):
                        raise self.fail("text-inoculation", f"the plain chat of turn {k} of "
                                        f"case {i} ({label} replies) contains the inoculation "
                                        f"prompt {instruction!r}: it is train-time only")
            if instruction and not shown:
                raise self.fail("text-inoculation", f"prompt(..., inoculation=True) never "
                                f"shows the inoculation prompt {instruction!r} in any turn of "
                                f"case {i}: the chat must contain the declared text")
        self.checked.append("prompt")
        if instruction:
            self.checked.append("inoculation")


def _plain(value: Any) -> Any:
    """Lists and tuples alike as lists, to compare nested results by value."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
