"""The entry point: :func:`check_env` validates its arguments and runs :class:`_Checker`, the
groups of checks (one mixin per module) combined over the shared context, in the order
:meth:`_Checker.run` lists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monarl.core.config import ConfigError, is_int
from monarl.core.protocols import EnvSpec
from monarl.envs.checker.boards import BoardChecks
from monarl.envs.checker.declarations import DeclarationChecks
from monarl.envs.checker.episodes import EpisodeChecks
from monarl.envs.checker.report import EnvCheckReport
from monarl.envs.checker.tables import TableChecks
from monarl.envs.checker.text import TextChecks
from monarl.envs.checker.text_judging import TextJudgingChecks

SKIPPABLE = ("tables", "render", "parse", "control", "gymnasium")
"""Groups of checks a caller may leave out (``skip``): the optional capabilities."""


def check_env(env: EnvSpec | str, settings: Mapping[str, Any] | Any = None, *,
              episodes: int = 64, seed: int = 0,
              skip: tuple[str, ...] | list[str] = ()) -> EnvCheckReport:
    """Check an environment's contracts; raise :class:`EnvCheckError` on the first broken one.

    Args:
        env: an :class:`EnvSpec`, a registered name or a ``package.module:ATTR`` reference.
        settings: overrides of its settings (a mapping, validated by its settings class:
            a bad or unknown field is a ``ConfigError`` naming it), or a settings object.
        episodes: random episodes to run (uniform random actions, all in one vmapped batch);
            for the text capability, the cases to sample.
        seed: seeds the actions, the environment's keys and the text capability's generators
            (the check is deterministic).
        skip: groups of checks to leave out, of :data:`SKIPPABLE` (e.g. ``("gymnasium",)``
            while a known adapter problem is being fixed); the report lists them as skipped.

    Checks, in order (the JAX ones where the environment has the JAX capability: ``reset``,
    ``step``, ``observe``, ``actions`` and ``observation_size`` all declared; the text ones
    where it has a ``TextSpec``; both where it has both):

    - settings: the defaults validate; ``make_params`` works; ``describe(params)`` is
      JSON-serialisable; ``max_steps >= 1``; the outcomes (non-empty with JAX), actions and
      observation size are well formed; the JAX functions all declared or all None, and
      some capability declared.
    - reset / step under ``jit(vmap(...))`` over a batch of keys: float32 finite observations
      of shape ``[observation_size]`` equal to ``observe(state)``; a NamedTuple state with an
      int32 ``t`` that starts at 0 and grows by 1 per step, and keeps its structure, shapes
      and dtypes through ``step``; finite float rewards and ``info["true_reward"]``; bool
      flags, never both true; ``truncated`` exactly when ``t`` reaches ``max_steps`` (unless
      the step terminates); ``info["outcome"]`` -1 before the end and an index into
      ``outcomes`` at it; reset states among ``start_states`` when declared.
    - the time slot (``TablesSpec.time_slot``): that entry is ``t / max_steps``.
    - the episodes all end within ``max_steps`` steps.
    - tables, where they can be built at these settings: well-formed arrays (probabilities
      sum to 1, ENDED absorbing and paying nothing, outcomes in range); ``index`` (in jit) of
      every table state is its position; every visited state's index is valid and live,
      agrees with ``host_index``; each successor is a positive-probability branch of
      ``next_state[s, a]`` whose observed and true rewards are the step's; termination
      exactly when entering ENDED or a terminal state (``tables.terminal``); the end's
      outcome is ``outcome`` of the last state before ENDED, of the terminal state entered,
      or of the state at the limit; reset states are among ``initial`` (in the order
      of ``start_states``); branch frequencies roughly match the probabilities.
    - render / parse: ``render`` gives text; ``parse(render(s))`` gives back every array of
      reset states ``s`` (start boards: what ``parse`` is for) and renders the same.
    - text: ``turns >= 1`` (``max_steps`` for a text-only environment), one distinct name
      and one positive token budget per turn, distinct metric names with the headline among
      them; ``sample(params, rng, n)`` gives ``n`` cases, the same again from a generator
      seeded alike; ``demonstrations`` (where declared) give ``n`` episodes of ``turns``
      (chat, reply) pairs, deterministically, whose chats are ``prompt``'s for their case
      (found by its first chat among the cases ``sample`` draws from the same generator;
      demonstrations of other cases are not compared); ``prompt`` of every turn after
      demonstration, empty and random earlier replies is a chat (a non-empty list of
      ``{"role", "content"}`` with the role system, user or assistant and a str content),
      with ``inoculation`` False and True; a declared inoculation prompt is in some turn's
      inoculated chat and in no plain one; ``judge`` on those replies gives ``turns``
      finite observed and true rewards and a JSON-able ``info`` dict; ``overseer`` (where
      declared) gives None or a finite number per turn; ``evaluate`` on ``EVAL_CASES``
      cases with stub policies (one that writes nothing, one that writes the
      demonstrations' replies) calls ``generate`` with valid chats and no inoculation
      prompt, and gives finite numbers for every name in ``metrics`` and ``headline``, the
      same again from a generator seeded alike.
    - control: ``make(settings)`` validates, ``is_control`` holds of it, and it differs from
      the settings in ``control.fields`` only.
    - gymnasium (installed, discrete actions, the environment reachable by name): Gymnasium's
      ``check_env`` on :class:`monarl.envs.gymnasium.MonarlGymEnv`.
    """
    spec, reference = resolve(env)
    if not is_int(episodes) or episodes < 1:
        raise ConfigError(f"episodes={episodes!r} is invalid: must be an integer >= 1")
    if not is_int(seed):
        raise ConfigError(f"seed={seed!r} is invalid: must be an integer")
    unknown = sorted(set(skip) - set(SKIPPABLE))
    if isinstance(skip, str) or unknown:
        raise ConfigError(f"skip={skip!r} is invalid: allowed are {', '.join(SKIPPABLE)}")
    return _Checker(spec, reference, settings, int(episodes), int(seed), tuple(skip)).run()


def resolve(env: EnvSpec | str) -> tuple[EnvSpec, str | None]:
    """The spec and the name the registry finds it by (None: not reachable by name, e.g. a
    modified copy of a spec; the Gymnasium adapter then cannot be built)."""
    from monarl.envs import ENVS

    if isinstance(env, str):
        return ENVS.get(env, "env"), env
    if not isinstance(env, EnvSpec):
        raise ConfigError(f"env={env!r} is invalid: give an EnvSpec, a registered name or a "
                          "package.module:ATTR reference")
    try:
        found = ENVS.get(env.name)
    except ConfigError:
        return env, None
    return env, (env.name if found == env else None)


class _Checker(DeclarationChecks, EpisodeChecks, TableChecks, BoardChecks, TextChecks,
               TextJudgingChecks):
    """One check of one environment at one set of settings (see :func:`check_env`): every
    group of checks, run in order."""

    def run(self) -> EnvCheckReport:
        self.check_settings()
        self.check_declarations()
        if self.jax:
            self._run_jax()
        if self.spec.text is not None:
            self._run_text()
        self.check_control()
        self.check_gymnasium()
        return EnvCheckReport(self.name, self.settings_dict, self.episodes, self.steps,
                              tuple(self.checked), dict(self.skipped))

    def _run_jax(self) -> None:
        """The JAX capability: random episodes, then the tables and boards along them."""
        self.run_episodes()
        self.check_episodes()
        self.check_tables()
        self.check_render_and_parse()

    def _run_text(self) -> None:
        """The text capability: each check reads what the earlier ones set (the cases, the
        demonstrations, the replies every turn is tried after). For a text-only environment
        the report's steps are the sampled cases' turns."""
        self.check_text_declarations()
        self.check_sample()
        self.check_demonstrations()
        self.check_prompts()
        self.check_demonstration_prompts()
        self.check_judge()
        self.check_overseer()
        self.check_evaluate()
        self.checked.append("text")
        if not self.jax:
            self.steps = self.episodes * self.turns
