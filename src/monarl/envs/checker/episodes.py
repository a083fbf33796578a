"""The random episodes: ``reset`` and ``step`` run as trainers run them (a jitted ``lax.scan``
of vmapped steps, the tables' index inside it where they exist), then what the episodes did
checked against the protocol: observations, ``t``, the flags and the time limit, rewards,
outcomes, the time slot, the start states.

A mixin over :class:`~monarl.envs.checker.core.CheckContext`: ``run_episodes`` builds the
tables first (``_tables_ready``, tables.py) and keeps the episodes' arrays; ``check_episodes``
sets ``live``, ``done``, ``steps`` and ``starts``; ``_kept_states`` gives the tables' and the
boards' checks visited states.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from monarl.core.config import is_int
from monarl.core.protocols import MultiDiscrete
from monarl.envs.checker.core import (
    KEPT_EPISODES,
    OBS_ATOL,
    CheckContext,
    _first,
    _leaf_table,
    _match_rows,
    _pick,
    _short,
)


class EpisodeChecks(CheckContext):
    """Running the episodes and checking what they did."""

    # -- running the episodes ---------------------------------------------------------------

    def _sample_actions(self, rng: np.random.Generator) -> np.ndarray:
        """Uniform random actions ``[T, B]`` (discrete) or ``[T, B, length]``."""
        shape = (self.max_steps, self.episodes)
        if isinstance(self.actions, MultiDiscrete):
            shape += (self.actions.length,)
        return rng.integers(0, self.actions.n, shape).astype(np.int32)

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
