"""A protocol checker for environment authors: does an :class:`EnvSpec` keep the contracts that
monarl's trainers, solvers, approvals and adapters rely on?

    from monarl.envs.checker import check_env
    report = check_env("tampered_corridor:SPEC", {"slip": 0.25})   # or a spec object
    print(report.line())        # tampered-corridor: ok (64 episodes, ...; tables, gymnasium)

or ``monarl envs NAME --check [--set FIELD=VALUE ...]``. It raises :class:`EnvCheckError` on
the first broken contract, naming the environment, the contract and the offending values, and
returns an :class:`EnvCheckReport` otherwise.

Why a checker. The contracts live in docstrings (``monarl.core.protocols``,
``monarl.tabular.tables``) and every consumer assumes them without re-checking: PPO scans a
vmapped ``step`` and looks approvals up with ``TablesSpec.index`` inside jit; the exact solver
trusts that the tables are the environment's own rules; the Gymnasium adapter steps the tables
instead of JAX and fills in ``t / max_steps``. A broken contract there does not crash, it
quietly changes what a result means (a time limit reported as termination makes a critic
bootstrap wrongly; a table reward that drifted from the rules makes the exact solver solve
another environment). So the checker runs the environment the way they do and compares.

What it checks, each only where the capability exists (see :func:`check_env`): the settings,
``reset`` / ``step`` under jit and vmap, random episodes to their end, the tables against the
steps taken, ``render`` / ``parse``, the hack-free control, and Gymnasium's own checker on the
adapter. It is generic code: it knows no concrete environment.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from monarl.core.config import ConfigError, field_names, from_mapping, is_int
from monarl.core.protocols import Discrete, EnvSpec, MultiDiscrete
from monarl.tabular.tables import MAX_TABULAR_STATES

REWARD_ATOL = 1e-5
"""Float32 tolerance of reward comparisons (the tables hold float64 copies of float32
rewards, computed by the same rules)."""
OBS_ATOL = 1e-6
"""Tolerance of observation comparisons (``observe`` against ``step``, the time slot)."""
HOST_SAMPLES = 32
"""Visited states looked up with ``Tables.host_index`` (a host-side call per state: slow)."""
RENDER_SAMPLES = 64
"""Visited states rendered."""
PARSE_SAMPLES = 8
"""Distinct reset states whose rendering is parsed back."""
INDEX_SAMPLES = 200_000
"""Table states whose in-jit index is checked against their position (all of them below)."""
KEPT_EPISODES = 2
"""Episodes whose every state is kept on the host (for host_index and render)."""


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


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


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
        episodes: random episodes to run (uniform random actions, all in one vmapped batch).
        seed: seeds the actions and the environment's keys (the check is deterministic).
        skip: groups of checks to leave out, of :data:`SKIPPABLE` (e.g. ``("gymnasium",)``
            while a known adapter problem is being fixed); the report lists them as skipped.

    Checks, in order:

    - settings: the defaults validate; ``make_params`` works; ``describe(params)`` is
      JSON-serialisable; ``max_steps >= 1``; the outcomes, actions and observation size are
      well formed.
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
      exactly when entering ENDED; the end's outcome is ``outcome`` of the last state before
      ENDED (or of the state at the limit); reset states are among ``initial`` (in the order
      of ``start_states``); branch frequencies roughly match the probabilities.
    - render / parse: ``render`` gives text; ``parse(render(s))`` gives back every array of
      reset states ``s`` (start boards: what ``parse`` is for) and renders the same.
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


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------


def _short(exc: BaseException) -> str:
    """An exception in one line (JAX tracing errors run to pages)."""
    text = str(exc).strip().split("\n")[0]
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}"


def _first(mask: np.ndarray) -> tuple[int, ...] | None:
    """The first index where ``mask`` holds, or None."""
    hits = np.argwhere(mask)
    return None if len(hits) == 0 else tuple(int(i) for i in hits[0])


def _leaf_table(tree: Any) -> list[tuple[str, tuple[int, ...], str]]:
    """``(path, shape, dtype)`` of every leaf: what ``step`` must keep of a state."""
    import jax

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [(jax.tree_util.keystr(path), tuple(leaf.shape), str(leaf.dtype))
            for path, leaf in leaves]


def _pick(tree: Any, *index: int) -> Any:
    """One state of a batch (or of a [T, B] trajectory) as JAX arrays."""
    import jax
    import jax.numpy as jnp

    return jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)[index]), tree)


class _Checker:
    """One check of one environment at one set of settings (see :func:`check_env`)."""

    def __init__(self, spec: EnvSpec, reference: str | None, overrides: Any, episodes: int,
                 seed: int, skip: tuple[str, ...] = ()) -> None:
        self.spec, self.reference = spec, reference
        self.skip = skip
        self.name = spec.name
        self.overrides = overrides
        self.episodes, self.seed = episodes, seed
        self.checked: list[str] = []
        self.skipped: dict[str, str] = {}

    def fail(self, contract: str, detail: str) -> EnvCheckError:
        return EnvCheckError(self.name, contract, detail)

    def wanted(self, group: str, present: bool) -> bool:
        """Whether to run a group of checks: the capability exists and the caller did not
        leave it out (which the report then says)."""
        if present and group in self.skip:
            self.skipped[group] = "left out by the caller"
            return False
        return present

    def run(self) -> EnvCheckReport:
        self.check_settings()
        self.check_declarations()
        self.run_episodes()
        self.check_episodes()
        self.check_tables()
        self.check_render_and_parse()
        self.check_control()
        self.check_gymnasium()
        return EnvCheckReport(self.name, self.settings_dict, self.episodes, self.steps,
                              tuple(self.checked), dict(self.skipped))

    # -- settings and declarations ----------------------------------------------------------

    def check_settings(self) -> None:
        spec = self.spec
        try:
            defaults = spec.settings()
        except Exception as exc:
            raise self.fail("settings", f"the settings class cannot be built with its "
                            f"defaults ({_short(exc)})") from None
        validate = getattr(defaults, "validate", None)
        if validate is not None:
            try:
                validate("env")
            except ConfigError as exc:
                raise self.fail("settings", f"the default settings do not validate: "
                                f"{exc}") from None
        overrides = self.overrides
        if overrides is None:
            self.settings = defaults
        elif isinstance(overrides, spec.settings):
            self.settings = from_mapping(spec.settings, _fields_of(overrides), "env")
        elif isinstance(overrides, Mapping):
            self.settings = from_mapping(spec.settings, dict(overrides), "env")
        else:
            raise ConfigError(f"settings={overrides!r} is invalid: give a mapping of settings "
                              f"of {self.name} or a {spec.settings.__name__}")
        self.settings_dict = _fields_of(self.settings)
        try:
            self.params = spec.make_params(self.settings)
        except Exception as exc:
            raise self.fail("make_params", f"make_params fails on validated settings "
                            f"{self.settings_dict}: {_short(exc)}") from None
        try:
            described = spec.describe(self.params)
            json.dumps(described)
        except Exception as exc:
            raise self.fail("describe", f"describe(params) must give JSON-serialisable "
                            f"settings: {_short(exc)}") from None
        if not isinstance(described, dict):
            raise self.fail("describe", f"describe(params) must give a dict, got "
                            f"{type(described).__name__}")
        max_steps = spec.max_steps(self.settings)
        if not is_int(max_steps) or max_steps < 1:
            raise self.fail("max_steps", f"max_steps(settings) must be an integer >= 1, got "
                            f"{max_steps!r}")
        self.max_steps = int(max_steps)
        self.checked.append("settings")

    def check_declarations(self) -> None:
        spec = self.spec
        outcomes = spec.outcomes
        if (not isinstance(outcomes, tuple) or not outcomes
                or not all(isinstance(o, str) for o in outcomes)
                or len(set(outcomes)) != len(outcomes)):
            raise self.fail("outcomes", f"outcomes must be a non-empty tuple of distinct "
                            f"labels, got {outcomes!r}")
        for field in ("hack", "intended"):
            value = getattr(spec, field)
            if value is not None and value not in outcomes:
                raise self.fail("outcomes", f"{field}={value!r} is not one of the outcomes "
                                f"{outcomes}")
        actions = spec.actions(self.params)
        if isinstance(actions, Discrete):
            kind, ok = "discrete", is_int(actions.n) and actions.n >= 1
            for field in ("letters", "names"):
                listed = getattr(actions, field)
                if listed and len(listed) != actions.n:
                    raise self.fail("actions", f"Discrete({actions.n}) has {len(listed)} "
                                    f"{field}: one per action, or none")
            if actions.letters and any(len(x) != 1 for x in actions.letters):
                raise self.fail("actions", f"letters must be one character each, got "
                                f"{actions.letters}")
        elif isinstance(actions, MultiDiscrete):
            kind = "multi-discrete"
            ok = (is_int(actions.n) and actions.n >= 1 and is_int(actions.length)
                  and actions.length >= 1)
        else:
            raise self.fail("actions", f"actions(params) must be a Discrete or a "
                            f"MultiDiscrete, got {actions!r}")
        if not ok:
            raise self.fail("actions", f"{actions!r} must have n >= 1 (and length >= 1)")
        if spec.action_kind != kind:
            raise self.fail("actions", f"action_kind={spec.action_kind!r} but actions(params) "
                            f"is {type(actions).__name__} ({kind!r})")
        self.actions = actions
        size = spec.observation_size(self.params)
        if not is_int(size) or size < 1:
            raise self.fail("observation_size", f"observation_size(params) must be an integer "
                            f">= 1, got {size!r}")
        self.obs_size = int(size)

    # -- running the episodes ---------------------------------------------------------------

    def _sample_actions(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform random actions ``[T, B]`` (discrete) or ``[T, B, length]``."""
        shape = (self.max_steps, self.episodes)
        if isinstance(self.actions, MultiDiscrete):
            shape += (self.actions.length,)
        return rng.integers(0, self.actions.n, shape).astype(np.int32)

    def _tables_ready(self) -> bool:
        """Build the tables before the episodes, so their index runs inside the same jitted
        scan (the path PPO uses); record why not when they cannot be built."""
        tables_spec = self.spec.tables
        self.tables = None
        if not self.wanted("tables", tables_spec is not None):
            return False
        why = None
        if not isinstance(self.actions, Discrete):
            why = "tables need discrete actions"
        else:
            count = int(tables_spec.count_states(self.settings))
            if count > MAX_TABULAR_STATES:
                why = (f"{count:,} states at these settings, beyond the "
                       f"{MAX_TABULAR_STATES:,} the tables are built for")
            elif tables_spec.unavailable is not None:
                refusal = tables_spec.unavailable(self.settings)
                if refusal is not None:
                    fields, reason = refusal
                    shown = ", ".join(f"{k}={v!r}" for k, v in fields.items())
                    why = f"{shown}: {reason}" if shown else reason
        if why is not None:
            self.skipped["tables"] = why
            return False
        try:
            if self.reference is not None:  # the registry's cached tables, as trainers get
                from monarl.envs import EnvConfig

                self.tables = EnvConfig(self.reference, self.settings).tables()
            else:
                self.tables = tables_spec.compile(self.params)
        except Exception as exc:
            raise self.fail("tables", f"compile(params) fails: {_short(exc)}") from None
        try:
            self.index_arrays = tables_spec.index_arrays(self.tables)
        except Exception as exc:
            raise self.fail("tables-index", f"index_arrays(tables) fails: "
                            f"{_short(exc)}") from None
        self.check_table_arrays()
        return True

    def run_episodes(self) -> None:
        import jax
        import jax.numpy as jnp

        spec, params, size = self.spec, self.params, self.obs_size
        use_tables = self._tables_ready()
        key = jax.random.PRNGKey(self.seed)
        reset_key, step_key = jax.random.split(key)
        keys = jax.random.split(reset_key, self.episodes)
        try:
            obs, state = jax.jit(jax.vmap(spec.reset, in_axes=(0, None)))(keys, params)
        except Exception as exc:
            raise self.fail("reset", f"reset(key, params) is not jittable and vmappable over a "
                            f"batch of {self.episodes} keys: {_short(exc)}") from None
        self._check_observation("reset", obs)
        if not hasattr(state, "_fields") or "t" not in state._fields:
            raise self.fail("state", f"the state must be a NamedTuple with an int32 field t "
                            f"(steps taken), got {type(state).__name__}")
        t0 = np.asarray(state.t)
        if t0.dtype != np.int32 or t0.shape != (self.episodes,):
            raise self.fail("state", f"state.t must be an int32 scalar per environment, got "
                            f"dtype {t0.dtype}, shape {t0.shape[1:]}")
        if (t0 != 0).any():
            b = _first(t0 != 0)[0]
            raise self.fail("state", f"reset must start at t=0, got t={int(t0[b])} "
                            f"(episode {b})")
        actions = jnp.asarray(self._sample_actions(np.random.default_rng(self.seed)))
        step_keys = jax.random.split(step_key, self.max_steps * self.episodes).reshape(
            self.max_steps, self.episodes, -1)
        self._check_step_signature(step_keys[0], state, actions[0])

        vstep = jax.vmap(spec.step, in_axes=(0, 0, 0, None))
        vobserve = jax.vmap(spec.observe, in_axes=(0, None))
        tables_spec = spec.tables
        vindex = (jax.vmap(tables_spec.index, in_axes=(0, None)) if use_tables else None)
        slot = tables_spec.time_slot if tables_spec is not None else None
        keep = min(KEPT_EPISODES, self.episodes)

        def summary(obs, state, arrays):
            out = {"finite": jnp.all(jnp.isfinite(obs), axis=-1),
                   "observe_gap": jnp.max(jnp.abs(obs - vobserve(state, params)), axis=-1),
                   "t": state.t}
            if slot is not None:
                out["slot"] = obs[:, slot]
            if vindex is not None:
                out["index"] = vindex(state, arrays)
            return out

        def body(carry, xs):
            state, arrays = carry
            key, action = xs
            obs, state, reward, terminated, truncated, info = vstep(key, state, action, params)
            out = summary(obs, state, arrays)
            out.update(reward=reward, true_reward=info["true_reward"],
                       outcome=info["outcome"], terminated=terminated, truncated=truncated,
                       kept=jax.tree_util.tree_map(lambda x: x[:keep], state))
            return (state, arrays), out

        @jax.jit
        def episodes(obs, state, arrays, step_keys, actions):
            first = summary(obs, state, arrays)
            _, steps = jax.lax.scan(body, (state, arrays), (step_keys, actions))
            return first, steps

        arrays = self.index_arrays if use_tables else jnp.zeros(())
        if slot is not None and not (is_int(slot) and 0 <= slot < size):
            raise self.fail("time-slot", f"time_slot={slot!r} is not an index into the "
                            f"observation of size {size}")
        try:
            first, steps = jax.device_get(episodes(obs, state, arrays, step_keys, actions))
        except Exception as exc:
            raise self.fail("step", f"step, observe{' and index' if use_tables else ''} "
                            f"cannot run inside a jitted lax.scan of vmapped steps (as "
                            f"trainers run them): {_short(exc)}") from None
        self.reset_state = jax.device_get(state)
        self.actions_taken = np.asarray(actions)
        self.first, self.steps_out = first, steps

    def _check_observation(self, where: str, obs: Any) -> None:
        shape, dtype = tuple(obs.shape), str(obs.dtype)
        if dtype != "float32" or shape[1:] != (self.obs_size,):
            raise self.fail("observation", f"{where} must give a float32 observation of shape "
                            f"[observation_size(params)] = [{self.obs_size}], got {dtype} of "
                            f"shape {list(shape[1:])}")

    def _check_step_signature(self, keys: Any, state: Any, actions: Any) -> None:
        """Trace one vmapped step (no compilation) and compare what it returns with the
        contract: a mismatch then reads as one line, not as a scan's type error."""
        import jax

        vstep = jax.vmap(self.spec.step, in_axes=(0, 0, 0, None))
        try:
            out = jax.eval_shape(vstep, keys, state, actions, self.params)
        except Exception as exc:
            raise self.fail("step", f"step(key, state, action, params) is not jittable and "
                            f"vmappable over a batch: {_short(exc)}") from None
        if not isinstance(out, tuple) or len(out) != 6:
            raise self.fail("step", "step must return (obs, state, reward, terminated, "
                            "truncated, info)")
        obs, nxt, reward, terminated, truncated, info = out
        self._check_observation("step", obs)
        try:
            seen = jax.eval_shape(jax.vmap(self.spec.observe, in_axes=(0, None)), state,
                                  self.params)
        except Exception as exc:
            raise self.fail("observe", f"observe(state, params) is not jittable and vmappable: "
                            f"{_short(exc)}") from None
        self._check_observation("observe", seen)
        before, after = _leaf_table(state), _leaf_table(nxt)
        if jax.tree_util.tree_structure(state) != jax.tree_util.tree_structure(nxt):
            raise self.fail("state", f"step must return a state of the same structure as it "
                            f"takes: {[p for p, *_ in before]} -> {[p for p, *_ in after]}")
        for (path, shape, dtype), (_, shape2, dtype2) in zip(before, after, strict=True):
            if (shape, dtype) != (shape2, dtype2):
                raise self.fail("state", f"step changes state{path} from "
                                f"{dtype}{list(shape[1:])} to {dtype2}{list(shape2[1:])} per "
                                "environment (a scan's carry must keep its shapes and dtypes)")
        batch = (self.episodes,)
        if not isinstance(info, dict) or not {"true_reward", "outcome"} <= set(info):
            raise self.fail("info", f"info must be a dict with true_reward and outcome, got "
                            f"{sorted(info) if isinstance(info, dict) else type(info)}")
        for label, value, kinds in (("reward", reward, "f"),
                                    ('info["true_reward"]', info["true_reward"], "f"),
                                    ('info["outcome"]', info["outcome"], "iu"),
                                    ("terminated", terminated, "b"),
                                    ("truncated", truncated, "b")):
            dtype = np.dtype(value.dtype)
            if tuple(value.shape) != batch or dtype.kind not in kinds:
                wanted = {"f": "a float", "iu": "an integer", "b": "a bool"}[kinds]
                raise self.fail("step-types", f"{label} must be {wanted} scalar per "
                                f"environment, got {dtype}{list(value.shape[1:])}")

    # -- what the episodes did --------------------------------------------------------------

    def check_episodes(self) -> None:
        first, out = self.first, self.steps_out
        limit = self.max_steps
        terminated, truncated = out["terminated"], out["truncated"]
        done = terminated | truncated
        # live[i, b]: episode b had not ended before step i
        ended_before = np.zeros_like(done)
        ended_before[1:] = np.cumsum(done, axis=0)[:-1] > 0
        live = ~ended_before
        self.live, self.done = live, done
        t_prev = np.concatenate([first["t"][None], out["t"][:-1]], axis=0)
        t_new = out["t"]
        hit = _first(live & (t_new != t_prev + 1))
        if hit:
            i, b = hit
            raise self.fail("state", f"t must grow by 1 per step: episode {b}, step {i + 1} "
                            f"went from t={int(t_prev[i, b])} to t={int(t_new[i, b])}")
        self._check_finite_and_observe(first, out)
        hit = _first(live & terminated & truncated)
        if hit:
            i, b = hit
            raise self.fail("flags", f"terminated and truncated are both true (episode {b}, "
                            f"t={int(t_new[i, b])}): an episode ends one way")
        hit = _first(live & truncated & (t_new < limit))
        if hit:
            i, b = hit
            raise self.fail("time-limit", f"truncated at t={int(t_new[i, b])} before the step "
                            f"limit max_steps={limit} (episode {b}): truncation is the time "
                            "limit only")
        hit = _first(live & (t_new >= limit) & ~done)
        if hit:
            i, b = hit
            raise self.fail("time-limit", f"the episode reached t={int(t_new[i, b])} = "
                            f"max_steps without ending (episode {b}): the step at the limit "
                            "must report truncated (or terminated, if its rules end it)")
        for label, values in (("reward", out["reward"]),
                              ('info["true_reward"]', out["true_reward"])):
            hit = _first(live & ~np.isfinite(values))
            if hit:
                i, b = hit
                raise self.fail("reward", f"{label} is {values[i, b]} at t={int(t_new[i, b])} "
                                f"(episode {b}): rewards must be finite")
        outcome, n = out["outcome"], len(self.spec.outcomes)
        hit = _first(live & ~done & (outcome != -1))
        if hit:
            i, b = hit
            raise self.fail("outcome", f'info["outcome"]={int(outcome[i, b])} on a step that '
                            f"does not end the episode (episode {b}, t={int(t_new[i, b])}): "
                            "it must be -1 until the end")
        hit = _first(live & done & ((outcome < 0) | (outcome >= n)))
        if hit:
            i, b = hit
            raise self.fail("outcome", f'info["outcome"]={int(outcome[i, b])} at the end of '
                            f"episode {b} (t={int(t_new[i, b])}) is not an index into outcomes "
                            f"{self.spec.outcomes}")
        hit = _first(live[-1] & ~done[-1])
        if hit:
            raise self.fail("episodes", f"episode {hit[0]} did not end within max_steps="
                            f"{limit} steps")
        self.steps = int(live.sum())
        self.checked.append("reset-step")
        self._check_time_slot(first, out, live)
        self._check_start_states()
        self.checked.append("episodes")

    def _check_finite_and_observe(self, first: dict, out: dict) -> None:
        if not first["finite"].all():
            b = _first(~first["finite"])[0]
            raise self.fail("observation", f"reset gives a non-finite observation (episode "
                            f"{b})")
        if (first["observe_gap"] > OBS_ATOL).any():
            b = _first(first["observe_gap"] > OBS_ATOL)[0]
            raise self.fail("observe", f"reset's observation differs from observe(state) by "
                            f"{float(first['observe_gap'][b]):.3g} (episode {b})")
        done = out["terminated"] | out["truncated"]
        live = np.ones_like(done)
        live[1:] = np.cumsum(done, axis=0)[:-1] == 0
        hit = _first(live & ~out["finite"])
        if hit:
            i, b = hit
            raise self.fail("observation", f"step gives a non-finite observation at step "
                            f"{i + 1} of episode {b}")
        hit = _first(live & (out["observe_gap"] > OBS_ATOL))
        if hit:
            i, b = hit
            raise self.fail("observe", f"step's observation differs from observe(next state) "
                            f"by {float(out['observe_gap'][i, b]):.3g} at step {i + 1} of "
                            f"episode {b}")

    def _check_time_slot(self, first: dict, out: dict, live: np.ndarray) -> None:
        if "slot" not in first:
            return
        slot, limit = self.spec.tables.time_slot, self.max_steps
        expected0 = np.float32(0.0)
        if (np.abs(first["slot"] - expected0) > OBS_ATOL).any():
            b = _first(np.abs(first["slot"] - expected0) > OBS_ATOL)[0]
            raise self.fail("time-slot", f"obs[{slot}] after reset is {first['slot'][b]}, not "
                            f"t / max_steps = 0 (episode {b})")
        expected = out["t"].astype(np.float32) / np.float32(limit)
        hit = _first(live & (np.abs(out["slot"] - expected) > OBS_ATOL))
        if hit:
            i, b = hit
            raise self.fail("time-slot", f"obs[{slot}] is {out['slot'][i, b]} at "
                            f"t={int(out['t'][i, b])}, not t / max_steps = {expected[i, b]} "
                            f"(episode {b})")
        self.checked.append("time-slot")

    def _check_start_states(self) -> None:
        """Reset draws from ``start_states`` when declared (trainers reset a batch with one
        draw from them, so a reset that leaves them trains on other starts). ``None`` from
        ``start_states(params)`` says reset draws otherwise at these settings."""
        self.starts = None
        if self.spec.start_states is None:
            return
        import jax

        try:
            starts = jax.device_get(self.spec.start_states(self.params))
        except Exception as exc:
            raise self.fail("start-states", f"start_states(params) fails: "
                            f"{_short(exc)}") from None
        if starts is None:
            return
        self.starts = starts
        count = {np.shape(x)[0] for x in jax.tree_util.tree_leaves(starts)}
        if len(count) != 1:
            raise self.fail("start-states", f"start_states(params) must be a batch of states "
                            f"(one leading axis), got leading sizes {sorted(count)}")
        for field in self.reset_state._fields:
            want, got = np.asarray(getattr(self.reset_state, field)), np.asarray(
                getattr(starts, field, np.zeros(0)))
            if (got.dtype, got.shape[1:]) != (want.dtype, want.shape[1:]):
                raise self.fail("start-states", f"start_states(params).{field} is "
                                f"{got.dtype}{list(got.shape[1:])} per state, reset's "
                                f"{want.dtype}{list(want.shape[1:])}: trainers reset from them")
        found = _match_rows(self.reset_state, starts, skip=("t",))
        if (found < 0).any():
            b = int(np.flatnonzero(found < 0)[0])
            raise self.fail("start-states", f"reset's state of episode {b} is none of "
                            "start_states(params): reset must draw from them")

    # -- tables -----------------------------------------------------------------------------

    def check_table_arrays(self) -> None:
        """The tables' own conventions (monarl.tabular.tables), before any step."""
        t = self.tables
        S = t.num_states if t.next_state.ndim == 3 else -1
        n = self.actions.n
        if t.next_state.ndim != 3 or t.next_state.shape[1] != n:
            raise self.fail("tables", f"next_state must be [S, A={n}, K], got shape "
                            f"{list(t.next_state.shape)}")
        for label in ("probability", "observed", "true"):
            if getattr(t, label).shape != t.next_state.shape:
                raise self.fail("tables", f"{label} must have next_state's shape "
                                f"{list(t.next_state.shape)}, got "
                                f"{list(getattr(t, label).shape)}")
        if np.shape(t.outcome) != (S,):
            raise self.fail("tables", f"outcome must be [S={S}], got {list(np.shape(t.outcome))}")
        if not (is_int(t.ended) and 0 <= t.ended < S):
            raise self.fail("tables", f"ended={t.ended!r} is not a state index (S={S})")
        bad = _first((t.next_state < 0) | (t.next_state >= S))
        if bad:
            raise self.fail("tables", f"next_state{list(bad)}={int(t.next_state[bad])} is not a "
                            f"state index (S={S})")
        if (t.probability < 0).any() or not np.isfinite(t.probability).all():
            bad = _first((t.probability < 0) | ~np.isfinite(t.probability))
            raise self.fail("tables-probability", f"probability{list(bad)}="
                            f"{t.probability[bad]} is not a probability")
        sums = t.probability.sum(axis=-1)
        bad = _first(np.abs(sums - 1.0) > 1e-6)
        if bad:
            s, a = bad
            raise self.fail("tables-probability", f"probabilities of state {s}, action {a} "
                            f"sum to {float(sums[s, a])}, not 1: {t.probability[s, a].tolist()}")
        for label in ("observed", "true"):
            values = getattr(t, label)
            if not np.isfinite(values).all():
                bad = _first(~np.isfinite(values))
                raise self.fail("tables-reward", f"{label}{list(bad)} is {values[bad]}")
        ended = t.ended
        reach = t.probability[ended] > 0
        if ((t.next_state[ended] != ended) & reach).any() or (
                ((t.observed[ended] != 0) | (t.true[ended] != 0)) & reach).any():
            raise self.fail("tables-ended", f"ENDED (state {ended}) must stay ENDED and pay "
                            f"nothing: next_state {t.next_state[ended].tolist()}, observed "
                            f"{t.observed[ended].tolist()}, true {t.true[ended].tolist()}")
        outcomes = len(self.spec.outcomes)
        bad = _first((t.outcome < -1) | (t.outcome >= outcomes))
        if bad:
            raise self.fail("tables-outcome", f"outcome[{bad[0]}]={int(t.outcome[bad])} is not "
                            f"an index into outcomes {self.spec.outcomes} (nor -1)")
        if int(t.outcome[ended]) != -1:
            raise self.fail("tables-outcome", f"outcome[ENDED={ended}] must be -1, got "
                            f"{int(t.outcome[ended])}")
        if int(t.max_steps) != self.max_steps:
            raise self.fail("tables", f"tables.max_steps={t.max_steps} but max_steps(settings)"
                            f"={self.max_steps}")
        if tuple(t.outcomes) != tuple(self.spec.outcomes):
            raise self.fail("tables", f"tables.outcomes={tuple(t.outcomes)} but the spec's are "
                            f"{self.spec.outcomes}")
        initial = np.asarray(t.initial)
        if initial.ndim != 1 or not len(initial) or ((initial < 0) | (initial >= S)).any() \
                or (initial == ended).any():
            raise self.fail("tables-initial", f"initial must be live state indices, got "
                            f"{initial.tolist()[:10]}")

    def check_tables(self) -> None:
        if self.tables is None:
            return
        import jax
        import jax.numpy as jnp

        t, index = self.tables, self.spec.tables.index
        S = t.num_states
        if t.states is not None:  # every table state indexes to its own position
            rows = (np.arange(S) if S <= INDEX_SAMPLES else
                    np.sort(np.random.default_rng(self.seed).choice(S, INDEX_SAMPLES, False)))
            states = jax.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)[rows]),
                                            t.states)
            try:
                found = np.asarray(jax.jit(jax.vmap(index, in_axes=(0, None)))(
                    states, self.index_arrays))
            except Exception as exc:
                raise self.fail("tables-index", f"index(state, arrays) fails on the tables' "
                                f"states: {_short(exc)}") from None
            bad = _first(found != rows)
            if bad:
                s = int(rows[bad[0]])
                raise self.fail("tables-index", f"index(tables.states[{s}]) = "
                                f"{int(found[bad[0]])}, not {s}: the index must invert the "
                                "tables' states")
        self._check_steps_against_tables()
        self._check_host_index()
        self.checked.append("tables")

    def _check_steps_against_tables(self) -> None:
        t, out, live, done = self.tables, self.steps_out, self.live, self.done
        S, ended = t.num_states, t.ended
        reset_index = self.first["index"]
        bad = ~np.isin(reset_index, t.initial)
        if bad.any():
            b = int(np.flatnonzero(bad)[0])
            raise self.fail("tables-initial", f"reset's state of episode {b} has index "
                            f"{int(reset_index[b])}, which is not among tables.initial "
                            f"{np.asarray(t.initial).tolist()[:10]}")
        if self.starts is not None:
            starts = self.starts
            rows = _match_rows(self.reset_state, starts, skip=("t",))
            expected = np.asarray(t.initial)[rows] if len(t.initial) == _batch(starts) else None
            if expected is None or (expected != reset_index).any():
                b = 0 if expected is None else int(np.flatnonzero(expected != reset_index)[0])
                raise self.fail("tables-initial", f"tables.initial must list the index of "
                                f"each of start_states(params), in order ({_batch(starts)} "
                                f"starts, {len(t.initial)} initial states; reset's start "
                                f"{int(rows[b])} has index {int(reset_index[b])}): the "
                                "Gymnasium adapter's reset(options={'start': i}) relies on it")
        prev = np.concatenate([reset_index[None], out["index"][:-1]], axis=0)
        nxt = out["index"]
        t_new = out["t"]
        hit = _first(live & ((prev < 0) | (prev >= S) | (prev == ended)))
        if hit:
            i, b = hit
            raise self.fail("tables-index", f"the live state before step {i + 1} of episode "
                            f"{b} has index {int(prev[i, b])} (ENDED={ended}, S={S}): a live "
                            "state must index a live table state")
        hit = _first(live & ((nxt < 0) | (nxt >= S)))
        if hit:
            i, b = hit
            raise self.fail("tables-index", f"the state after step {i + 1} of episode {b} "
                            f"has index {int(nxt[i, b])}, not a state index (S={S})")
        steps = np.argwhere(live)
        i, b = steps[:, 0], steps[:, 1]
        s, a, s2 = prev[i, b], self.actions_taken[i, b], nxt[i, b]
        branches = (t.next_state[s, a] == s2[:, None]) & (t.probability[s, a] > 0)
        missing = ~branches.any(axis=1)
        if missing.any():
            j = int(np.flatnonzero(missing)[0])
            raise self.fail("tables-successor", f"step {int(i[j]) + 1} of episode {int(b[j])} "
                            f"took state {int(s[j])} with action {int(a[j])} to state "
                            f"{int(s2[j])}, but next_state[{int(s[j])}, {int(a[j])}] = "
                            f"{t.next_state[s[j], a[j]].tolist()} with probabilities "
                            f"{t.probability[s[j], a[j]].tolist()}")
        reward, true = out["reward"][i, b], out["true_reward"][i, b]
        for label, table, got in (("observed", t.observed, reward), ("true", t.true, true)):
            close = np.abs(table[s, a] - got[:, None].astype(np.float64)) <= (
                REWARD_ATOL + 1e-6 * np.abs(table[s, a]))
            wrong = ~(branches & close).any(axis=1)
            if wrong.any():
                j = int(np.flatnonzero(wrong)[0])
                k = np.flatnonzero(branches[j])
                raise self.fail("tables-reward", f"step {int(i[j]) + 1} of episode {int(b[j])} "
                                f"(state {int(s[j])}, action {int(a[j])} -> {int(s2[j])}) "
                                f"paid {label} reward {float(got[j])!r}, but "
                                f"tables.{label}[{int(s[j])}, {int(a[j])}, {k.tolist()}] = "
                                f"{table[s[j], a[j], k].tolist()}")
        terminated = out["terminated"][i, b]
        enters = s2 == ended
        wrong = terminated & ~enters
        if wrong.any():
            j = int(np.flatnonzero(wrong)[0])
            at_limit = int(t_new[i[j], b[j]]) >= self.max_steps
            why = (f"terminated at the time limit (t={int(t_new[i[j], b[j]])} = max_steps) "
                   "although the tables' successor "
                   if at_limit else "terminated although the tables' successor ")
            raise self.fail("time-limit" if at_limit else "tables-ended",
                            f"step {int(i[j]) + 1} of episode {int(b[j])} {why}is state "
                            f"{int(s2[j])}, not ENDED ({ended})"
                            + (": a time limit is truncation, never termination"
                               if at_limit else ": termination is entering ENDED"))
        wrong = enters & ~terminated
        if wrong.any():
            j = int(np.flatnonzero(wrong)[0])
            raise self.fail("tables-ended", f"step {int(i[j]) + 1} of episode {int(b[j])} "
                            f"entered ENDED ({ended}) from state {int(s[j])} without "
                            "reporting terminated")
        ends = done[i, b]
        last = np.where(enters, s, s2)[ends]
        expected = t.outcome[last]
        got = out["outcome"][i, b][ends]
        wrong = got != expected
        if wrong.any():
            j = int(np.flatnonzero(wrong)[0])
            e = int(b[ends][j])
            how = "terminated" if bool(enters[ends][j]) else "truncated"
            labels = self.spec.outcomes
            raise self.fail("tables-outcome", f"episode {e} {how} with outcome {int(got[j])} "
                            f"({_label(labels, got[j])}), but tables.outcome[{int(last[j])}] "
                            f"(the last state before ENDED, or the state at the limit) is "
                            f"{int(expected[j])} ({_label(labels, expected[j])})")
        self._check_frequencies(s, a, s2)

    def _check_frequencies(self, s: np.ndarray, a: np.ndarray, s2: np.ndarray) -> None:
        """Loosely: the successors' frequencies against the probabilities, for (state, action)
        pairs visited often enough (a wrong probability, not sampling noise)."""
        t = self.tables
        if t.deterministic:
            return
        pairs, inverse, visits = np.unique(s.astype(np.int64) * t.num_actions + a,
                                           return_inverse=True, return_counts=True)
        for p, n in zip(pairs[visits >= 50], visits[visits >= 50], strict=True):
            state, action = divmod(int(p), t.num_actions)
            taken = s2[inverse == np.flatnonzero(pairs == p)[0]]
            for target in np.unique(t.next_state[state, action]):
                prob = float(t.probability[state, action][
                    t.next_state[state, action] == target].sum())
                freq = float((taken == target).mean())
                tolerance = 5 * np.sqrt(prob * (1 - prob) / n) + 2 / n
                if abs(freq - prob) > tolerance:
                    raise self.fail("tables-probability", f"state {state}, action {action} "
                                    f"went to state {int(target)} in {freq:.3f} of {int(n)} "
                                    f"steps, but the tables give it probability {prob:.3f}")

    def _check_host_index(self) -> None:
        t = self.tables
        if t.host_index is None:
            return
        for i, b, state in self._kept_states(HOST_SAMPLES):
            expected = int(self.first["index"][b] if i < 0 else self.steps_out["index"][i, b])
            try:
                found = int(t.host_index(state))
            except Exception as exc:
                raise self.fail("tables-index", f"host_index fails on a visited state: "
                                f"{_short(exc)}") from None
            if found != expected:
                where = "reset" if i < 0 else f"step {i + 1}"
                raise self.fail("tables-index", f"host_index gives {found} for the state after "
                                f"{where} of episode {b}, index (in jit) gives {expected}")

    def _kept_states(self, limit: int) -> list[tuple[int, int, Any]]:
        """Up to ``limit`` visited states ``(step or -1 for reset, episode, state)``: the
        reset states of the kept episodes, then their live steps."""
        out = []
        keep = min(KEPT_EPISODES, self.episodes)
        for b in range(keep):
            out.append((-1, b, _pick(self.reset_state, b)))
        steps = np.argwhere(self.live[:, :keep])
        for i, b in steps[np.argsort(steps[:, 1], kind="stable")]:
            out.append((int(i), int(b), _pick(self.steps_out["kept"], int(i), int(b))))
        if len(out) > limit:
            chosen = np.linspace(0, len(out) - 1, limit).round().astype(int)
            out = [out[j] for j in np.unique(chosen)]
        return out

    # -- render / parse ---------------------------------------------------------------------

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

    # -- control ----------------------------------------------------------------------------

    def check_control(self) -> None:
        control = self.spec.control
        if not self.wanted("control", control is not None):
            return
        known = field_names(self.spec.settings)
        unknown = [f for f in control.fields if f not in known]
        if not control.fields or unknown:
            raise self.fail("control", f"control.fields={control.fields} must name settings "
                            f"of {self.spec.settings.__name__} (known: {', '.join(known)})")
        try:
            made = control.make(self.settings)
        except Exception as exc:
            raise self.fail("control", f"control.make(settings) fails: {_short(exc)}") from None
        if not isinstance(made, self.spec.settings):
            raise self.fail("control", f"control.make(settings) must give a "
                            f"{self.spec.settings.__name__}, got {type(made).__name__}")
        made_fields = _fields_of(made)
        try:
            from_mapping(self.spec.settings, made_fields, "env")
        except ConfigError as exc:
            raise self.fail("control", f"control.make(settings) gives invalid settings: "
                            f"{exc}") from None
        if not control.is_control(made):
            raise self.fail("control", f"is_control(make(settings)) is false for {made_fields}")
        changed = {k: (self.settings_dict[k], v) for k, v in made_fields.items()
                   if v != self.settings_dict[k] and k not in control.fields}
        if changed:
            shown = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
            raise self.fail("control", f"make(settings) changes settings outside "
                            f"control.fields {control.fields}: {shown}")
        try:
            self.spec.make_params(made)
        except Exception as exc:
            raise self.fail("control", f"make_params fails on the control's settings: "
                            f"{_short(exc)}") from None
        self.checked.append("control")

    # -- gymnasium --------------------------------------------------------------------------

    def check_gymnasium(self) -> None:
        if not self.wanted("gymnasium", isinstance(self.actions, Discrete)):
            return
        try:
            from gymnasium.utils.env_checker import check_env as gym_check_env
        except ImportError:
            self.skipped["gymnasium"] = "gymnasium is not installed"
            return
        if self.reference is None:
            self.skipped["gymnasium"] = ("the adapter builds environments by name, and this "
                                         "spec is not the registry's")
            return
        from monarl.envs.gymnasium import MonarlGymEnv

        try:
            env = MonarlGymEnv(self.reference, **self.settings_dict)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*not having a spec")
                gym_check_env(env, skip_render_check=True)
        except Exception as exc:
            raise self.fail("gymnasium", f"gymnasium's check_env fails on MonarlGymEnv: "
                            f"{_short(exc)}") from None
        self.checked.append("gymnasium")


# --------------------------------------------------------------------------------------------
# Helpers on batches of states
# --------------------------------------------------------------------------------------------


def _fields_of(settings: Any) -> dict[str, Any]:
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}


def _label(labels: tuple[str, ...], index: Any) -> str:
    i = int(index)
    return labels[i] if 0 <= i < len(labels) else "?"


def _batch(tree: Any) -> int:
    import jax

    return int(np.shape(jax.tree_util.tree_leaves(tree)[0])[0])


def _row_keys(tree: Any, skip: tuple[str, ...] = ()) -> list[bytes]:
    """One bytes key per state of a batch (every field but ``skip``), to compare states."""
    fields = [np.asarray(getattr(tree, f)) for f in tree._fields if f not in skip]
    n = fields[0].shape[0]
    return [b"|".join(x[i].tobytes() for x in fields) for i in range(n)]


def _match_rows(batch: Any, candidates: Any, skip: tuple[str, ...] = ()) -> np.ndarray:
    """For each state of ``batch``, the position of an equal state in ``candidates`` (-1:
    none)."""
    where = {}
    for j, key in enumerate(_row_keys(candidates, skip)):
        where.setdefault(key, j)
    return np.asarray([where.get(key, -1) for key in _row_keys(batch, skip)])


def _distinct_rows(batch: Any, limit: int) -> list[int]:
    seen: dict[bytes, int] = {}
    for i, key in enumerate(_row_keys(batch)):
        if key not in seen:
            seen[key] = i
        if len(seen) >= limit:
            break
    return list(seen.values())


__all__ = ["EnvCheckError", "EnvCheckReport", "check_env", "resolve"]
