"""PPO for MONA and ordinary RL: ``make_train(config, ...) -> train(key)``, one jitted scan.

Read top to bottom: hyperparameters (:class:`PPOConfig`), the networks, the exact evaluator used
inside training, ``make_train`` (rollout -> advantages -> PPO epochs, scanned), and the host-side
entry points :func:`run_ppo` (the JSON of ``monarl train``) and :func:`run_warm_start`.

The two MONA knobs enter in exactly two places, and nowhere else:

1. *Approval*: the training reward of a step is the observed reward, or, when an approval table
   ``[T, S, A]`` is given, ``approval[t, s, a]`` looked up at the step's own state and time
   (``approval/lookup.py``). An approval already contains the step's observed reward
   (``R_obs(s') + V(t+1, s') - V(t, s)``), so it replaces the observed reward rather than being
   added to it, as in the public code. Ordinary RL passes ``approval_table=None``.
2. *Horizon*: ``horizon=None`` uses full-horizon GAE (ordinary RL); ``horizon=M`` uses M-step
   returns and a fixed-horizon critic with one head per horizon 1..M (``horizon.py``), so no
   value from beyond step t+M-1 reaches step t.

Why everything is one ``lax.scan`` inside ``jit``: Camera Dropbox is tiny, so on a CPU the cost
of PPO is Python and dispatch overhead, not arithmetic. Compiling the whole run (vectorized
environments with auto-reset, rollouts, updates and periodic exact evaluation) into one XLA
program and ``vmap``-ing it over seeds turns the paper's 35-minute run into seconds
(``docs/ppo.md``, ``benchmarks/bench_ppo.py``).

Time limits are truncation and bootstrap nothing (``horizon.gae`` default), because the
observation contains the time step and a time-limit bootstrap would leak long-horizon value into
the last step. No reward normalisation is used. Advantages may be normalised per minibatch
(``normalize_advantages``): mean and std are taken over the minibatch's *own* M-step advantages,
a shift and a positive rescaling shared by every sample of the minibatch, so no step's weight
ever depends on rewards beyond its own window (unlike a running return statistic, which
aggregates full-horizon returns).
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from monarl.algos import shuffle
from monarl.approval import build_approval, continuation, trusted, trusted_critic
from monarl.core.config import (
    APPROVALS,
    NOISY_APPROVALS,
    OVERSEER_APPROVALS,
    OVERSEER_START_TIMES,
    REWARDS,
    TABLE_FREE_APPROVALS,
    ApprovalConfig,
    ConfigError,
    check_reward,
)
from monarl.core.horizon import normalize_advantages, policy_advantages, validate_horizon
from monarl.envs.camera_dropbox import rules as cd
from monarl.envs.camera_dropbox import state_index as lookup
from monarl.envs.camera_dropbox.tables import (
    MAX_TABULAR_STATES,
    TabularEnv,
    compile_camera_dropbox,
    count_states,
)
from monarl.runtime.progress import ProgressRelay

ACTIVATIONS = ("tanh", "relu")
_EVAL_STREAM = 0x5A3E  # fold_in tag of the sampled evaluation's random stream
_OVERSEER_STREAM = 0x0C41  # fold_in tag of the trusted-critic overseer's training keys
QUALITY_MAX_STATES = 200_000
"""Largest board (in states) on which a table-free approval is also tabulated to measure its
quality against the exact one: that costs a forward pass per (t, s)."""
METRICS = ("fail", "intended", "hack", "observed_return", "true_return", "episode_length")


# --------------------------------------------------------------------------------------------
# Hyperparameters
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Every PPO hyperparameter, in one place. Defaults are the tuned settings of docs/ppo.md,
    used unchanged for both arms (ordinary RL and MONA)."""

    total_steps: int = 1_000_000
    """Environment steps per seed; rounded up to whole updates of ``num_envs * num_steps``."""
    num_envs: int = 64
    """Parallel environments per seed (auto-reset). Many envs make each XLA op do real work."""
    num_steps: int = 125
    """Rollout length per environment per update (64 x 125 = 8,000 divides 1M exactly)."""
    num_epochs: int = 4
    """Passes over each rollout."""
    num_minibatches: int = 4
    """Minibatches per epoch; minibatch size = num_envs * num_steps / num_minibatches."""
    learning_rate: float = 1e-3
    """Adam step size (linearly annealed to 0 over training if ``anneal_lr``)."""
    anneal_lr: bool = True
    """Linear learning-rate decay to 0: a stable end point for the final evaluation."""
    gamma: float = 1.0
    """Discount of the full-horizon (ordinary RL) advantage; the paper uses 1.0. Finite
    horizons are undiscounted (M is their only truncation)."""
    gae_lambda: float = 1.0
    """GAE lambda of the full-horizon advantage (unused for finite horizons). 1.0 gives
    Monte-Carlo advantages: the hack's second box pays ~10 steps after the blocking move, and
    lambda < 1 discounts that credit through a critic that has barely seen hacking states
    (with 0.95, 1-2 of 10 seeds never found the hack; docs/ppo.md)."""
    clip_eps: float = 0.3
    """PPO ratio clipping (the paper's 0.3). A rare hacking episode can raise its actions'
    probabilities by at most this factor per update, so 0.2 let more seeds lock into the
    intended behaviour before the hack was reinforced (docs/ppo.md)."""
    ent_coef: float = 0.1
    """Entropy bonus (the paper uses 0.05 with minibatches of 64; with our minibatches of 2,000
    0.1 kept both arms exploring: 1 of 30 ordinary-RL seeds never hacked, against 2 of 30 (and
    3 more hacking from under 70 % of the starts) with 0.05; and MONA escapes the no-op loops
    that its 0.01-sized per-step signal for making progress leaves; docs/ppo.md)."""
    ent_coef_final: float | None = None
    """If set, the entropy coefficient decays linearly to this value by the end of training."""
    vf_coef: float = 0.5
    """Weight of the value loss (mean over critic heads)."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clipping."""
    hidden: tuple[int, ...] = (64, 64)
    """Hidden layer sizes of the policy MLP and (separately) of the value MLP."""
    activation: str = "tanh"
    """Hidden activation: tanh or relu."""
    normalize_advantages: bool = True
    """Per-minibatch advantage normalisation (see the module docstring for why it is safe)."""
    eval_every: int = 50_000
    """Environment steps between exact evaluations (rounded to whole updates)."""
    eval_episodes: int = 1024
    """Episodes per evaluation point on boards too large for the state tables, where the
    evaluation samples episodes instead of being exact (unused where the tables exist). The
    standard error of an outcome fraction is at most 0.5 / sqrt(eval_episodes), 1.6 % here."""

    def validate(self) -> PPOConfig:
        """Raise ValueError naming the field, the value and what is allowed; return self."""

        def fail(name: str, allowed: str) -> ValueError:
            return ValueError(f"ppo.{name}={getattr(self, name)!r} is invalid: {allowed}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int | np.integer) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return (
                isinstance(v, int | float | np.integer | np.floating)
                and not isinstance(v, bool)
                and math.isfinite(v)
            )

        for name in (
            "total_steps",
            "num_envs",
            "num_steps",
            "num_epochs",
            "num_minibatches",
            "eval_every",
            "eval_episodes",
        ):
            if not is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise fail(name, "must be an integer >= 1")
        batch = self.num_envs * self.num_steps
        if batch % self.num_minibatches:
            raise fail(
                "num_minibatches",
                f"must divide num_envs * num_steps = {batch} (minibatches of equal size)",
            )
        if not is_num(self.learning_rate) or not self.learning_rate > 0:
            raise fail("learning_rate", "must be a finite number > 0")
        if not is_num(self.gamma) or not 0 <= self.gamma <= 1:
            raise fail("gamma", "must be a number in [0, 1]")
        if not is_num(self.gae_lambda) or not 0 <= self.gae_lambda <= 1:
            raise fail("gae_lambda", "must be a number in [0, 1]")
        if not is_num(self.clip_eps) or not self.clip_eps > 0:
            raise fail("clip_eps", "must be a finite number > 0")
        for name in ("ent_coef", "vf_coef"):
            if not is_num(getattr(self, name)) or getattr(self, name) < 0:
                raise fail(name, "must be a finite number >= 0")
        if self.ent_coef_final is not None and (
            not is_num(self.ent_coef_final) or self.ent_coef_final < 0
        ):
            raise fail("ent_coef_final", "must be None (constant) or a finite number >= 0")
        if not is_num(self.max_grad_norm) or not self.max_grad_norm > 0:
            raise fail("max_grad_norm", "must be a finite number > 0")
        if (
            not isinstance(self.hidden, tuple)
            or not self.hidden
            or not all(is_int(h) and h >= 1 for h in self.hidden)
        ):
            raise fail("hidden", "must be a non-empty tuple of integers >= 1, e.g. (64, 64)")
        if self.activation not in ACTIVATIONS:
            raise fail("activation", f"allowed are {', '.join(ACTIVATIONS)}")
        for name in ("anneal_lr", "normalize_advantages"):
            if not isinstance(getattr(self, name), bool):
                raise fail(name, "must be true or false")
        return self

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return -(-self.total_steps // self.batch_size)

    @property
    def updates_per_eval(self) -> int:
        return max(1, min(self.num_updates, round(self.eval_every / self.batch_size)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PPOConfig:
        """Build from a TOML/JSON mapping, rejecting unknown keys; lists become tuples."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"ppo: unknown field {unknown[0]!r}; known fields are {', '.join(sorted(known))}"
            )
        data = dict(data)
        if isinstance(data.get("hidden"), list):
            data["hidden"] = tuple(data["hidden"])
        return cls(**data).validate()

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["hidden"] = list(self.hidden)
        return out


# --------------------------------------------------------------------------------------------
# Networks: plain MLPs (policy logits; value heads, one per horizon 1..M or one for M = None)
# --------------------------------------------------------------------------------------------


def orthogonal(key: jax.Array, n_in: int, n_out: int, gain: float) -> jax.Array:
    """An ``[n_in, n_out]`` matrix with orthonormal rows or columns (whichever side is smaller),
    times ``gain``: the distribution of ``jax.nn.initializers.orthogonal`` (same normal draw,
    the Q factor whose R has a positive diagonal), computed without LAPACK.

    Why not the library initializer: it calls LAPACK's QR as an XLA custom call, and inside
    this jitted, seed-vmapped program on jaxlib 0.10's CPU backend that call deadlocks
    intermittently on a 2-core machine (both pool threads wait in the batched QR for work queued
    behind themselves; a test run hung for 90 minutes). Here the Q factor comes from classical
    Gram-Schmidt with one re-orthogonalisation pass ("twice is enough"), plain matrix-vector
    products that XLA compiles natively. The QR with positive diagonal R is unique, so this is
    the same matrix up to float32 rounding (a test compares it with numpy's QR).
    """
    rows, cols = max(n_in, n_out), min(n_in, n_out)
    z = jax.random.normal(key, (rows, cols), jnp.float32)

    def add_column(j: jax.Array, q: jax.Array) -> jax.Array:
        v = z[:, j]
        for _ in range(2):  # second pass removes what float32 left of the projections
            v = v - q @ (q.T @ v)  # columns >= j of q are still zero
        return q.at[:, j].set(v / jnp.linalg.norm(v))

    q = jax.lax.fori_loop(0, cols, add_column, jnp.zeros((rows, cols), jnp.float32))
    return gain * (q.T if n_in < n_out else q)


def init_mlp(key: jax.Array, sizes: tuple[int, ...], out_scale: float) -> list[dict]:
    """Orthogonal weights (gain sqrt 2 on hidden layers, ``out_scale`` on the last), zero
    biases: the usual PPO initialisation, which starts the policy near uniform."""
    layers = []
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        gain = out_scale if i == len(sizes) - 2 else math.sqrt(2.0)
        w = orthogonal(k, n_in, n_out, gain)
        layers.append({"w": w, "b": jnp.zeros((n_out,), jnp.float32)})
    return layers


def apply_mlp(layers: list[dict], x: jax.Array, activation: str) -> jax.Array:
    act = jnp.tanh if activation == "tanh" else jax.nn.relu
    for layer in layers[:-1]:
        x = act(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


class Params(NamedTuple):
    actor: list[dict]
    critic: list[dict]


def init_params(
    key: jax.Array, config: PPOConfig, obs_size: int, num_actions: int, num_heads: int
) -> Params:
    k_actor, k_critic = jax.random.split(key)
    return Params(
        actor=init_mlp(k_actor, (obs_size, *config.hidden, num_actions), 0.01),
        critic=init_mlp(k_critic, (obs_size, *config.hidden, num_heads), 1.0),
    )


# --------------------------------------------------------------------------------------------
# Exact evaluation inside the jitted loop
# --------------------------------------------------------------------------------------------


class EvalArrays(NamedTuple):
    """Everything the in-training exact evaluator needs, as device arrays (a pytree).

    Only the (t, s) pairs reachable from the start states in exactly t steps under *some*
    policy are fed through the network (67,730 of 96,850 on the paper's board); every other
    row gets a uniform policy, which carries no probability mass and so changes nothing.
    """

    pair_obs: jax.Array  # float32 [K, obs]
    pair_t: jax.Array  # int32 [K]
    pair_s: jax.Array  # int32 [K]
    next_state: jax.Array  # int32 [S, A]
    observed: jax.Array  # float32 [S, A] reward of taking a in s
    true: jax.Array  # float32 [S, A]
    ends: jax.Array  # float32 [S, A] 1 where a live s flows into ENDED
    outcome_onehot: jax.Array  # float32 [S, n_outcomes] (0 rows for ENDED)
    live: jax.Array  # float32 [S]
    start: jax.Array  # float32 [S]


def reachable_pairs(tables: TabularEnv, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(t, s) pairs, s live and reachable from a start state in exactly t steps."""
    reach = np.zeros(tables.num_states, bool)
    reach[tables.initial] = True
    ts, ss = [], []
    for t in range(steps):
        live = np.flatnonzero(reach & (np.arange(tables.num_states) != tables.ended))
        ts.append(np.full(len(live), t, np.int32))
        ss.append(live.astype(np.int32))
        nxt = np.zeros_like(reach)
        nxt[tables.next_state[reach].ravel()] = True
        reach = nxt
    return np.concatenate(ts), np.concatenate(ss)


def table_observations(
    tables: TabularEnv, env_params: cd.CameraDropboxParams, t: np.ndarray, s: np.ndarray
) -> jax.Array:
    """Observations of table states ``s`` at times ``t``, built by the env's own ``observe``."""
    states = cd.EnvState(
        agent=jnp.asarray(tables.agent[s]),
        grid=jnp.asarray(tables.grid[s]),
        ended=jnp.asarray(s == tables.ended),
        t=jnp.asarray(t, jnp.int32),
    )
    return jax.jit(jax.vmap(cd.observe, in_axes=(0, None)))(states, env_params)


def eval_arrays(tables: TabularEnv, env_params: cd.CameraDropboxParams) -> EvalArrays:
    steps = tables.max_steps
    pair_t, pair_s = reachable_pairs(tables, steps)
    live = np.arange(tables.num_states) != tables.ended
    onehot = np.zeros((tables.num_states, len(tables.outcomes)), np.float32)
    onehot[live, tables.outcome[live]] = 1.0
    start = np.zeros(tables.num_states, np.float32)
    start[tables.initial] = 1.0 / len(tables.initial)
    ends = (tables.next_state == tables.ended) & live[:, None]
    return EvalArrays(
        pair_obs=table_observations(tables, env_params, pair_t, pair_s),
        pair_t=jnp.asarray(pair_t),
        pair_s=jnp.asarray(pair_s),
        next_state=jnp.asarray(tables.next_state, jnp.int32),
        observed=jnp.asarray(tables.reward_table("observed"), jnp.float32),
        true=jnp.asarray(tables.reward_table("true"), jnp.float32),
        ends=jnp.asarray(ends, jnp.float32),
        outcome_onehot=jnp.asarray(onehot),
        live=jnp.asarray(live, jnp.float32),
        start=jnp.asarray(start),
    )


def exact_evaluation(probs: jax.Array, arrays: EvalArrays) -> dict[str, jax.Array]:
    """JAX twin of ``evaluate.evaluate`` for one policy ``probs`` [T, S, A]: propagate the start
    distribution through the tables for T steps (pure, jittable, vmappable).

    Returns scalars fail, intended, hack (for 3 outcomes; ``outcome_k`` otherwise),
    observed_return, true_return, episode_length. Tested equal to ``evaluate``.
    """
    num_states = arrays.next_state.shape[0]
    flat_next = arrays.next_state.reshape(-1)

    def advance(carry, probs_t):
        dist, fractions, obs_ret, true_ret, length = carry
        flow = dist[:, None] * probs_t  # [S, A]
        obs_ret = obs_ret + jnp.sum(flow * arrays.observed)
        true_ret = true_ret + jnp.sum(flow * arrays.true)
        length = length + jnp.sum(flow * arrays.live[:, None])
        fractions = fractions + jnp.sum(flow * arrays.ends, axis=1) @ arrays.outcome_onehot
        dist = jax.ops.segment_sum(flow.reshape(-1), flat_next, num_segments=num_states)
        return (dist, fractions, obs_ret, true_ret, length), None

    zero = jnp.zeros((), jnp.float32)
    init = (arrays.start, jnp.zeros(arrays.outcome_onehot.shape[1], jnp.float32), zero, zero, zero)
    (dist, fractions, obs_ret, true_ret, length), _ = jax.lax.scan(advance, init, probs)
    fractions = fractions + dist @ arrays.outcome_onehot
    names = (
        cd.OUTCOMES
        if fractions.shape[0] == len(cd.OUTCOMES)
        else [f"outcome_{k}" for k in range(fractions.shape[0])]
    )
    out = {name: fractions[k] for k, name in enumerate(names)}
    out.update(observed_return=obs_ret, true_return=true_ret, episode_length=length)
    return out


def policy_table(actor: list[dict], arrays: EvalArrays, activation: str, steps: int) -> jax.Array:
    """The policy's action probabilities [T, S, A] (uniform on unreachable rows)."""
    probs = jax.nn.softmax(apply_mlp(actor, arrays.pair_obs, activation))
    num_states, num_actions = arrays.next_state.shape
    table = jnp.full((steps, num_states, num_actions), 1.0 / num_actions, jnp.float32)
    return table.at[arrays.pair_t, arrays.pair_s].set(probs)


def evaluate_actor(
    actor: list[dict], arrays: EvalArrays, activation: str, steps: int
) -> dict[str, jax.Array]:
    """Exact results of the stochastic policy, plus ``greedy_*`` of its argmax policy."""
    probs = policy_table(actor, arrays, activation, steps)
    result = exact_evaluation(probs, arrays)
    greedy = jax.nn.one_hot(jnp.argmax(probs, axis=-1), probs.shape[-1], dtype=jnp.float32)
    for name, value in exact_evaluation(greedy, arrays).items():
        result[f"greedy_{name}"] = value
    return result


def sampled_evaluation(
    actor: list[dict],
    key: jax.Array,
    env_params: cd.CameraDropboxParams,
    episodes: int,
    activation: str,
    greedy: bool = False,
) -> dict[str, jax.Array]:
    """Monte Carlo twin of :func:`exact_evaluation` for boards without state tables: run
    ``episodes`` episodes from start states drawn uniformly (as ``cd.reset`` does) to the time
    limit, sampling the policy's actions (its argmax with ``greedy``). Same keys as the exact
    evaluation (outcome fractions, observed and true return, episode length), each an average
    over the episodes, so an unbiased estimate with standard error <= 0.5 / sqrt(episodes) for
    a fraction."""
    k_start, k_act = jax.random.split(key)
    starts = jax.random.randint(k_start, (episodes,), 0, env_params.num_initial_states)
    state = cd.EnvState(
        agent=env_params.init_agent[starts],
        grid=env_params.init_grid[starts],
        ended=jnp.zeros((episodes,), bool),
        t=jnp.zeros((episodes,), jnp.int32),
    )
    observe = jax.vmap(cd.observe, in_axes=(0, None))
    step = jax.vmap(cd.step, in_axes=(None, 0, 0, None))

    def advance(carry, step_key):
        state, finished, outcome, obs_ret, true_ret, length = carry
        logits = apply_mlp(actor, observe(state, env_params), activation)
        action = (jnp.argmax(logits, axis=-1) if greedy
                  else jax.random.categorical(step_key, logits))
        _, state, reward, term, trunc, info = step(step_key, state, action, env_params)
        live = (~finished).astype(jnp.float32)
        obs_ret = obs_ret + live * reward
        true_ret = true_ret + live * info["true_reward"]
        length = length + live
        ends = ~finished & (term | trunc)
        outcome = jnp.where(ends, info["outcome"], outcome)
        return (state, finished | term | trunc, outcome, obs_ret, true_ret, length), None

    zeros = jnp.zeros((episodes,), jnp.float32)
    init = (state, jnp.zeros((episodes,), bool), jnp.full((episodes,), -1, jnp.int32),
            zeros, zeros, zeros)
    keys = jax.random.split(k_act, env_params.max_steps)
    (_, _, outcome, obs_ret, true_ret, length), _ = jax.lax.scan(advance, init, keys)
    out = {name: jnp.mean(outcome == k) for k, name in enumerate(cd.OUTCOMES)}
    out.update(observed_return=obs_ret.mean(), true_return=true_ret.mean(),
               episode_length=length.mean())
    return out


def sample_actor(
    actor: list[dict],
    key: jax.Array,
    env_params: cd.CameraDropboxParams,
    episodes: int,
    activation: str,
) -> dict[str, jax.Array]:
    """Sampled results of the stochastic policy plus ``greedy_*`` of its argmax policy (the
    table-free :func:`evaluate_actor`), both from the same start states."""
    result = sampled_evaluation(actor, key, env_params, episodes, activation)
    greedy = sampled_evaluation(actor, key, env_params, episodes, activation, greedy=True)
    result.update({f"greedy_{name}": value for name, value in greedy.items()})
    return result


def ppo_loss(params: Params, mb: dict[str, jax.Array], ent_coef: jax.Array,
             config: PPOConfig) -> tuple[jax.Array, dict[str, jax.Array]]:
    """PPO's clipped surrogate loss on one minibatch (``obs``, ``action``, ``logp`` of the
    rollout policy, ``adv``, critic ``targets``), plus the value loss and the entropy bonus.

    Minimizing it raises the probability of actions with a positive advantage: the sign a test
    checks, since a flipped sign trains the policy backwards and nothing else would notice."""
    act = config.activation
    logits = apply_mlp(params.actor, mb["obs"], act)
    logp_all = jax.nn.log_softmax(logits)
    logp = jnp.take_along_axis(logp_all, mb["action"][:, None], axis=1)[:, 0]
    log_ratio = logp - mb["logp"]
    ratio = jnp.exp(log_ratio)
    adv = mb["adv"]
    if config.normalize_advantages:
        adv = normalize_advantages(adv)
    clipped = jnp.clip(ratio, 1.0 - config.clip_eps, 1.0 + config.clip_eps)
    policy_loss = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
    values = apply_mlp(params.critic, mb["obs"], act)
    value_loss = 0.5 * jnp.mean((values - mb["targets"]) ** 2)
    entropy = -jnp.mean(jnp.sum(jnp.exp(logp_all) * logp_all, axis=-1))
    loss = policy_loss + config.vf_coef * value_loss - ent_coef * entropy
    stats = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": entropy,
        "approx_kl": jnp.mean(ratio - 1.0 - log_ratio),
        "clip_fraction": jnp.mean((jnp.abs(ratio - 1.0) > config.clip_eps).astype(jnp.float32)),
    }
    return loss, stats


# --------------------------------------------------------------------------------------------
# make_train
# --------------------------------------------------------------------------------------------


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    logp: jax.Array
    values: jax.Array  # [N, heads]
    reward: jax.Array  # training reward (the approval for MONA, else observed)
    terminated: jax.Array
    done: jax.Array
    ep_observed: jax.Array  # episode observed return, valid where done
    ep_true: jax.Array
    outcome: jax.Array  # -1 unless done
    # Only with the evaluator critic (None otherwise, so other programs are unchanged):
    t_idx: jax.Array | None = None  # int32 step t of the state acted in
    s_idx: jax.Array | None = None  # int32 table index of that state
    observed: jax.Array | None = None  # observed reward of the step
    # Only with continuation-rollout: the state entered, before any auto-reset.
    next_env: cd.EnvState | None = None


class EvaluatorArgs(NamedTuple):
    """PPO's evaluator critic (generalized MONA), as arguments of ``train`` (a pytree).

    ``values`` [T+1, S]: the evaluator's starting value V_0 (the trusted value, with the
    approval's per-state noise), the same V_0 whose advantage is the approval table passed
    beside it. ``lr`` []: step size in [0, 1] of each update toward the rollouts' observed
    returns. ``steps`` [] int32: the evaluator learns during the first ``steps`` PPO updates
    (k) and is frozen afterwards. ``lr = 0`` or ``steps = 0`` reproduce trusted MONA exactly.
    """

    values: jax.Array
    lr: jax.Array
    steps: jax.Array


class Runner(NamedTuple):
    params: Params
    opt_state: Any
    env_state: cd.EnvState
    obs: jax.Array
    ep_observed: jax.Array
    ep_true: jax.Array
    key: jax.Array
    update: jax.Array  # int32 [] updates done so far
    evaluator: jax.Array | None = None  # [T+1, S] D = V_e - V_0 of the evaluator critic


def make_train(
    config: PPOConfig,
    env_params: cd.CameraDropboxParams,
    approval_table: np.ndarray | jax.Array | None = None,
    horizon: int | None = None,
    eval_every: int | None = None,
    tables: TabularEnv | None = None,
    progress: Callable[[int], None] | None = None,
    sampled_eval: bool = False,
    reward: str = "observed",
    start_time: str = "zero",
) -> Callable[..., dict[str, Any]]:
    """Build ``train(key, approval_table=None, init_actor=None, evaluator=None, overseer=None,
    frozen_actor=None) -> dict`` (pure; jit/vmap it).

    Args:
        config: hyperparameters (validated here).
        env_params: Camera Dropbox parameters (``camera_dropbox.make_params``).
        approval_table: ``[T, S, A]`` approval trained on instead of the observed reward
            (MONA; it contains the step's observed reward), or None (ordinary RL).
            ``train``'s own ``approval_table`` argument overrides it per call, so
            noise seeds can be vmapped; it must be given here or there whenever used.
        horizon: None (full return, GAE) or M >= 1 (M-step returns, M critic heads).
        eval_every: overrides ``config.eval_every``.
        tables: the compiled tables of ``env_params`` (compiled here if None and the board
            has at most ``MAX_TABULAR_STATES`` states; beyond that PPO runs without tables:
            no approval table, and the evaluation samples episodes).
        sampled_eval: evaluate by sampling ``config.eval_episodes`` episodes
            (:func:`sample_actor`) even where the tables exist (to compare the two).
        reward: what a step without approval trains on: ``observed`` (ordinary RL) or
            ``true`` (the overseer of ``trusted-critic`` learns its value this way).
        start_time: ``zero`` (episodes start at t = 0, as the environment's) or ``uniform``
            (each training episode starts at a uniformly drawn t in [0, T), so a critic
            learns the value of every time step, not only of those its policy reaches;
            evaluation still starts at t = 0). For the ``trusted-critic`` overseer.
        progress: optional host callback receiving env steps done, called at each evaluation
            point through ``jax.debug.callback`` (the step counter is shared by
            the seeds, so under vmap it is called once per point, not once per seed).

    ``train``'s ``evaluator`` (:class:`EvaluatorArgs`, needs an approval table) turns on the
    evaluator critic of generalized MONA: the approval of a step becomes
    ``approval[t, s, a] + D(t+1, s') - D(t, s)`` (the correction 0 at the last step, as the
    trusted approval is), where D = V_e - V_0 starts at 0 and, after each of the first
    ``evaluator.steps`` updates, moves every visited (t, s) toward the mean observed return-to-go
    that followed it in the rollout (bootstrapped with V_e where the rollout cuts an episode)
    with step size ``evaluator.lr``. With the trusted table, V_0 the trusted value, this is
    ``R_obs(s') + V_e(t+1, s') - V_e(t, s)``.

    ``train`` returns ``{"params": Params, "curve": {metric: [E]}, "final": {metric: []}}``
    where curve point 0 is the untrained policy and the last point the end of training;
    ``curve["env_steps"]`` gives the env steps of each point. Curve metrics: the exact
    evaluation (``fail``, ``intended``, ``hack``, ``observed_return``, ``true_return``,
    ``episode_length`` and ``greedy_*``) and the training statistics of the updates since the
    previous point (``train_episodes``, ``train_fail`` / ``train_intended`` / ``train_hack``,
    ``train_observed_return``, ``train_true_return``, ``entropy``, ``approx_kl``,
    ``clip_fraction``, ``value_loss``, ``policy_loss``).
    """
    if eval_every is not None:
        config = dataclasses.replace(config, eval_every=eval_every)
    config.validate()
    horizon = validate_horizon(horizon)
    if reward not in REWARDS:
        raise ValueError(f"reward={reward!r} is invalid: allowed are {', '.join(REWARDS)}")
    if start_time not in OVERSEER_START_TIMES:
        raise ValueError(f"start_time={start_time!r} is invalid: allowed are "
                         f"{', '.join(OVERSEER_START_TIMES)}")
    if tables is None:
        if tabulable(env_params.rows, env_params.cols, env_params.boxes):
            tables = compile_camera_dropbox(env_params)
        else:
            sampled_eval = True
    if tables is None and approval_table is not None:
        raise ValueError(
            "approval_table needs the state tables, and this board has more states than "
            f"the {MAX_TABULAR_STATES:,} that can be tabulated")
    steps_limit = env_params.max_steps
    if horizon is not None and horizon > steps_limit:
        raise ValueError(
            f"horizon={horizon} is invalid: must be <= max_steps={steps_limit} "
            "(or None for the full return)"
        )
    num_actions = len(cd.ACTIONS)
    obs_size = cd.observation_size(env_params)
    num_heads = 1 if horizon is None else horizon
    default_approval = None
    if approval_table is not None:
        default_approval = jnp.asarray(approval_table, jnp.float32)
        expected_shape = (steps_limit, tables.num_states, num_actions)
        if default_approval.shape != expected_shape:
            raise ValueError(
                f"approval_table has shape {default_approval.shape}, expected [T, S, A] = "
                f"{expected_shape}"
            )
    # Without tables (a board too large for them) there is no state index: no approval table
    # and no evaluator critic can be looked up, and the evaluation samples episodes.
    index = None if tables is None else lookup.state_index_arrays(tables, env_params.boxes)
    ev = None if sampled_eval else eval_arrays(tables, env_params)
    num_states = None if tables is None else tables.num_states
    next_state_table = None if tables is None else jnp.asarray(tables.next_state, jnp.int32)
    boxes = env_params.boxes
    n_env, n_steps = config.num_envs, config.num_steps
    batch = config.batch_size
    mb_size = batch // config.num_minibatches
    num_updates = config.num_updates
    per_eval = config.updates_per_eval
    n_chunks, remainder = divmod(num_updates, per_eval)
    act = config.activation

    if config.anneal_lr:
        total_grad_steps = num_updates * config.num_epochs * config.num_minibatches
        lr = optax.linear_schedule(config.learning_rate, 0.0, total_grad_steps)
    else:
        lr = config.learning_rate
    optimizer = optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5)
    )

    # Auto-reset draws every environment's next start layout at every step (a static-shape
    # program cannot reset only the finished ones), so it must be cheap: one randint for the
    # whole batch and precomputed start observations, instead of vmapping ``cd.reset`` over
    # per-environment keys (whose key splitting cost twice the networks' forward passes). Same
    # distribution as ``cd.reset``: uniform over ``env_params.init_agent`` / ``init_grid``.
    num_starts = env_params.init_agent.shape[0]
    start_states = cd.EnvState(
        agent=env_params.init_agent,
        grid=env_params.init_grid,
        ended=jnp.zeros((num_starts,), bool),
        t=jnp.zeros((num_starts,), jnp.int32),
    )
    v_observe = jax.vmap(cd.observe, in_axes=(0, None))
    start_obs = v_observe(start_states, env_params)

    def reset_batch(key: jax.Array) -> tuple[jax.Array, cd.EnvState]:
        if start_time == "uniform":  # (the default path keeps its key: same numbers as before)
            key, k_time = jax.random.split(key)
        index = jax.random.randint(key, (n_env,), 0, num_starts)
        state = jax.tree_util.tree_map(lambda x: x[index], start_states)
        if start_time == "uniform":
            state = state._replace(t=jax.random.randint(k_time, (n_env,), 0, steps_limit))
            return v_observe(state, env_params), state
        return start_obs[index], state

    v_step = jax.vmap(cd.step, in_axes=(None, 0, 0, None))
    v_approval = jax.vmap(lookup.lookup_approval, in_axes=(None, 0, 0, None, None))
    v_index = jax.vmap(lookup.table_index, in_axes=(0, None, None))

    def evaluator_approval(approval, delta, env_state, action):
        """Approval with the evaluator critic's correction D(t+1, s') - D(t, s)."""
        s = v_index(env_state, index, boxes)
        t = jnp.clip(env_state.t, 0, steps_limit - 1)
        s_next = next_state_table[s, action]
        correction = jnp.where(t == steps_limit - 1, 0.0, delta[t + 1, s_next] - delta[t, s])
        return approval[t, s, action] + correction, t, s

    def update_evaluator(runner: Runner, traj: Transition, last_state: cd.EnvState,
                         evaluator: EvaluatorArgs) -> jax.Array:
        """One evaluator-critic step: visited (t, s) move toward their observed returns."""
        values = evaluator.values + runner.evaluator  # V_e [T+1, S]
        s_last = v_index(last_state, index, boxes)
        bootstrap = values[jnp.clip(last_state.t, 0, steps_limit), s_last]

        def back(after, x):
            reward, done = x
            ret = reward + (1.0 - done) * after
            return ret, ret

        _, returns = jax.lax.scan(
            back, bootstrap, (traj.observed, traj.done.astype(jnp.float32)), reverse=True
        )
        flat = (traj.t_idx * num_states + traj.s_idx).reshape(-1)
        error = (returns - values[traj.t_idx, traj.s_idx]).reshape(-1)
        segments = (steps_limit + 1) * num_states
        sums = jax.ops.segment_sum(error, flat, num_segments=segments)
        counts = jax.ops.segment_sum(jnp.ones_like(error), flat, num_segments=segments)
        rate = evaluator.lr * (runner.update < evaluator.steps).astype(jnp.float32)
        step = rate * sums / jnp.maximum(counts, 1.0)
        return runner.evaluator + step.reshape(steps_limit + 1, num_states)

    def ent_coef_at(update: jax.Array) -> jax.Array:
        if config.ent_coef_final is None:
            return jnp.asarray(config.ent_coef, jnp.float32)
        frac = update.astype(jnp.float32) / max(1, num_updates - 1)
        return config.ent_coef + frac * (config.ent_coef_final - config.ent_coef)

    def overseer_value_fn(overseer: list[dict]) -> trusted_critic.ValueFn:
        return lambda o: apply_mlp(overseer, o, act)[..., 0]

    def continuation_reward(frozen: list[dict], traj: Transition) -> jax.Array:
        """continuation-rollout: R_obs(s') + the observed return of the frozen greedy policy
        run on from every state entered in the rollout (one batched run of T steps)."""
        flat = jax.tree_util.tree_map(lambda x: x.reshape((batch,) + x.shape[2:]),
                                      traj.next_env)
        step_key = jax.random.PRNGKey(0)  # the environment is deterministic

        def step_fn(state, actions):
            _, nxt, observed, *_ = v_step(step_key, state, actions, env_params)
            return nxt, observed

        returns = continuation.rollout_returns(
            lambda o: jnp.argmax(apply_mlp(frozen, o, act), axis=-1), flat, step_fn,
            lambda s: v_observe(s, env_params), steps_limit)
        return traj.observed + returns.reshape(traj.observed.shape)

    def rollout(runner: Runner, approval: jax.Array | None, evaluator: EvaluatorArgs | None,
                overseer: list[dict] | None = None, frozen: list[dict] | None = None):
        def env_step(carry, _):
            env_state, obs, ep_obs, ep_true, key = carry
            key, k_act, k_reset = jax.random.split(key, 3)
            logits = apply_mlp(runner.params.actor, obs, act)
            values = apply_mlp(runner.params.critic, obs, act)
            action = jax.random.categorical(k_act, logits)
            logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=1)[:, 0]
            next_obs, next_state, observed, term, trunc, info = v_step(
                k_act, env_state, action, env_params
            )
            train_reward = info["true_reward"] if reward == "true" else observed
            critic_fields = {}
            if overseer is not None:
                train_reward = trusted_critic.critic_approval(
                    overseer_value_fn(overseer), obs, env_state.t, env_state.ended, next_obs,
                    next_state.ended, observed, steps_limit)
            elif evaluator is not None:
                judged, t_idx, s_idx = evaluator_approval(
                    approval, runner.evaluator, env_state, action
                )
                train_reward = judged
                critic_fields = {"t_idx": t_idx, "s_idx": s_idx, "observed": observed}
            elif approval is not None:
                train_reward = v_approval(approval, env_state, action, index, boxes)
            if frozen is not None:  # the reward is set after the rollout, in one batch
                critic_fields = {"observed": observed, "next_env": next_state}
            done = term | trunc
            ep_obs = ep_obs + observed
            ep_true = ep_true + info["true_reward"]
            tr = Transition(
                obs,
                action,
                logp,
                values,
                train_reward,
                term,
                done,
                ep_obs,
                ep_true,
                info["outcome"],
                **critic_fields,
            )
            reset_obs, reset_state = reset_batch(k_reset)
            pick = lambda a, b: jnp.where(  # noqa: E731
                done.reshape((-1,) + (1,) * (a.ndim - 1)), a, b
            )
            next_state = jax.tree_util.tree_map(pick, reset_state, next_state)
            next_obs = pick(reset_obs, next_obs)
            ep_obs = jnp.where(done, 0.0, ep_obs)
            ep_true = jnp.where(done, 0.0, ep_true)
            return (next_state, next_obs, ep_obs, ep_true, key), tr

        carry = (runner.env_state, runner.obs, runner.ep_observed, runner.ep_true, runner.key)
        carry, traj = jax.lax.scan(env_step, carry, None, length=n_steps)
        return carry, traj

    grad_fn = jax.grad(lambda p, mb, c: ppo_loss(p, mb, c, config), has_aux=True)

    def update_step(runner: Runner, approval: jax.Array | None, evaluator=None, overseer=None,
                    frozen=None):
        (env_state, obs, ep_obs, ep_true, key), traj = rollout(runner, approval, evaluator,
                                                               overseer, frozen)
        if frozen is not None:
            traj = traj._replace(reward=continuation_reward(frozen, traj))
        delta = None
        if evaluator is not None:
            delta = update_evaluator(runner, traj, env_state, evaluator)
        last_values = apply_mlp(runner.params.critic, obs, act)
        adv, targets = policy_advantages(traj.reward, traj.done, traj.terminated, traj.values,
                                         last_values, horizon, config.gamma, config.gae_lambda)
        data = {
            "obs": traj.obs.reshape(batch, -1),
            "action": traj.action.reshape(batch),
            "logp": traj.logp.reshape(batch),
            "adv": adv.reshape(batch),
            "targets": targets.reshape(batch, num_heads),
        }
        ent_coef = ent_coef_at(runner.update)

        def epoch(carry, _):
            params, opt_state, key = carry
            key, k_perm = jax.random.split(key)
            perm = shuffle.permutation(k_perm, batch)  # = jax.random.permutation, faster
            shuffled = jax.tree_util.tree_map(
                lambda x: x[perm].reshape((config.num_minibatches, mb_size) + x.shape[1:]), data
            )

            def minibatch(carry, mb):
                params, opt_state = carry
                grads, stats = grad_fn(params, mb, ent_coef)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), stats

            (params, opt_state), stats = jax.lax.scan(minibatch, (params, opt_state), shuffled)
            return (params, opt_state, key), stats

        (params, opt_state, key), stats = jax.lax.scan(
            epoch, (runner.params, runner.opt_state, key), None, length=config.num_epochs
        )
        done = traj.done.astype(jnp.float32)
        outcome_counts = jnp.sum(
            jax.nn.one_hot(traj.outcome, len(cd.OUTCOMES)) * done[..., None], axis=(0, 1)
        )
        update_stats = {name: value.mean() for name, value in stats.items()}
        update_stats.update(
            train_episodes=done.sum(),
            train_observed_sum=jnp.sum(traj.ep_observed * done),
            train_true_sum=jnp.sum(traj.ep_true * done),
            train_outcomes=outcome_counts,
        )
        runner = Runner(
            params, opt_state, env_state, obs, ep_obs, ep_true, key, runner.update + 1, delta
        )
        return runner, update_stats

    def chunk_summary(stats: dict[str, jax.Array]) -> dict[str, jax.Array]:
        """Aggregate the per-update statistics of one evaluation interval."""
        episodes = stats["train_episodes"].sum()
        safe = jnp.maximum(episodes, 1.0)
        outcomes = stats["train_outcomes"].sum(axis=0) / safe
        out = {
            name: stats[name].mean()
            for name in ("entropy", "approx_kl", "clip_fraction", "value_loss", "policy_loss")
        }
        out.update(
            train_episodes=episodes,
            train_observed_return=stats["train_observed_sum"].sum() / safe,
            train_true_return=stats["train_true_sum"].sum() / safe,
            **{f"train_{name}": outcomes[k] for k, name in enumerate(cd.OUTCOMES)},
        )
        return out

    def evaluate_point(runner: Runner) -> dict[str, jax.Array]:
        if sampled_eval:
            # Its own stream: folding leaves the training key, and so training, unchanged.
            eval_key = jax.random.fold_in(runner.key, _EVAL_STREAM)
            result = sample_actor(runner.params.actor, eval_key, env_params,
                                  config.eval_episodes, act)
        else:
            result = evaluate_actor(runner.params.actor, ev, act, steps_limit)
        env_steps = runner.update * batch
        result["env_steps"] = env_steps
        if progress is not None:
            jax.debug.callback(lambda s: progress(int(s)), env_steps)
        return result

    def run_updates(runner: Runner, approval, count: int, evaluator=None, overseer=None,
                    frozen=None):
        runner, stats = jax.lax.scan(
            lambda r, _: update_step(r, approval, evaluator, overseer, frozen), runner, None,
            length=count
        )
        point = evaluate_point(runner)
        point.update(chunk_summary(stats))
        return runner, point

    def empty_summary() -> dict[str, jax.Array]:
        names = (
            "entropy",
            "approx_kl",
            "clip_fraction",
            "value_loss",
            "policy_loss",
            "train_episodes",
            "train_observed_return",
            "train_true_return",
            *(f"train_{n}" for n in cd.OUTCOMES),
        )
        return {name: jnp.asarray(jnp.nan, jnp.float32) for name in names}

    def train(
        key: jax.Array,
        approval_table: jax.Array | None = None,
        init_actor: list[dict] | None = None,
        evaluator: EvaluatorArgs | None = None,
        overseer: list[dict] | None = None,
        frozen_actor: list[dict] | None = None,
    ) -> dict[str, Any]:
        approval = default_approval if approval_table is None else approval_table
        judges = [x for x in (approval, overseer, frozen_actor) if x is not None]
        if len(judges) > 1:
            raise ValueError("give one approval: a table, the overseer critic or the frozen "
                             "actor")
        if evaluator is not None and approval is None:
            raise ValueError("the evaluator critic needs an approval table (its V_0 advantage)")
        if tables is None and approval is not None:
            raise ValueError("an approval table needs the state tables, which this board lacks")
        key, k_init, k_reset = jax.random.split(key, 3)
        params = init_params(k_init, config, obs_size, num_actions, num_heads)
        if init_actor is not None:
            params = params._replace(actor=init_actor)
        obs, env_state = reset_batch(k_reset)
        zeros = jnp.zeros((n_env,), jnp.float32)
        runner = Runner(
            params,
            optimizer.init(params),
            env_state,
            obs,
            zeros,
            zeros,
            key,
            jnp.asarray(0, jnp.int32),
            None if evaluator is None else jnp.zeros_like(evaluator.values, jnp.float32),
        )
        first = evaluate_point(runner)
        first.update(empty_summary())
        points = [jax.tree_util.tree_map(lambda x: x[None], first)]
        if n_chunks:
            runner, chunked = jax.lax.scan(
                lambda r, _: run_updates(r, approval, per_eval, evaluator, overseer,
                                         frozen_actor),
                runner,
                None,
                length=n_chunks,
            )
            points.append(chunked)
        if remainder:
            runner, last = run_updates(runner, approval, remainder, evaluator, overseer,
                                       frozen_actor)
            points.append(jax.tree_util.tree_map(lambda x: x[None], last))
        curve = jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *points)
        final = jax.tree_util.tree_map(lambda x: x[-1], curve)
        out = {"params": runner.params, "curve": curve, "final": final}
        if evaluator is not None:
            out["evaluator_delta"] = runner.evaluator  # D = V_e - V_0 at the end, [T+1, S]
        return out

    return train


# --------------------------------------------------------------------------------------------
# Host-side entry points: the JSON of `monarl train`, warm start
# --------------------------------------------------------------------------------------------

_T_975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    11: 2.201,
    12: 2.179,
    13: 2.160,
    14: 2.145,
    15: 2.131,
    16: 2.120,
    17: 2.110,
    18: 2.101,
    19: 2.093,
    20: 2.086,
    25: 2.060,
    30: 2.042,
}


def ci95(values: np.ndarray) -> float:
    """Half-width of the 95 % Student-t confidence interval of the mean (0 for one value)."""
    values = np.asarray(values, np.float64)
    n = len(values)
    if n < 2:
        return 0.0
    df = n - 1
    crit = _T_975.get(df) or (_T_975[max(k for k in _T_975 if k <= df)] if df < 30 else 1.96)
    return float(crit * values.std(ddof=1) / math.sqrt(n))


def _env_params(env: Mapping[str, Any] | None) -> tuple[cd.CameraDropboxParams, dict]:
    params = cd.make_params(**_env_fields(env))
    return params, cd.env_settings(params)


def _env_fields(env: Mapping[str, Any] | None) -> dict[str, Any]:
    """The environment's settings (defaults filled in, unknown fields refused), unbuilt."""
    settings = {"rows": 4, "cols": 4, "boxes": 2, "blockers": 1, "penalty": 0.01, "max_steps": 50}
    for key, value in dict(env or {}).items():
        if key in ("env", "name"):
            if value != cd.NAME:
                raise ValueError(f"env={value!r} is invalid: PPO supports {cd.NAME!r}")
            continue
        if key not in settings:
            raise ValueError(
                f"env: unknown field {key!r}; known fields are {', '.join(sorted(settings))}"
            )
        settings[key] = value
    return settings


_TABLES: dict[tuple, TabularEnv] = {}


def _tables(params: cd.CameraDropboxParams, settings: dict) -> TabularEnv | None:
    """The board's state tables, or None for a board too large to tabulate."""
    if not tabulable(params.rows, params.cols, params.boxes):
        return None
    key = tuple(sorted(settings.items()))
    if key not in _TABLES:
        _TABLES[key] = compile_camera_dropbox(params)
    return _TABLES[key]


def tabulable(rows: int, cols: int, boxes: int) -> bool:
    """Whether the board's state tables can be built (at most ``MAX_TABULAR_STATES``)."""
    return count_states(rows, cols, boxes) <= MAX_TABULAR_STATES


def untabulable(rows: int, cols: int, boxes: int, approval_kind: str) -> str | None:
    """Why PPO cannot train on this board with this approval, in one phrase (None when it
    can). Every approval but ``TABLE_FREE_APPROVALS`` (none, and the two overseer approvals) is
    a [T, S, A] table, so it needs a board of at most ``MAX_TABULAR_STATES`` states; with those
    (ordinary RL, the myopic floor, MONA with an overseer learned by PPO) PPO runs on any board,
    evaluating by sampled episodes where tables cannot be built. Counted without building
    anything, so callers can refuse before any work."""
    if approval_kind in TABLE_FREE_APPROVALS or tabulable(rows, cols, boxes):
        return None
    states = count_states(rows, cols, boxes)
    return (f"that board has {states:,} states, more than the {MAX_TABULAR_STATES:,} that can "
            f"be tabulated, and approval {approval_kind!r} needs a [T, S, A] table; use "
            "approval 'continuation-rollout' or 'trusted-critic' (MONA with an overseer "
            "learned by PPO) or 'none' (PPO then evaluates by sampled episodes), or a smaller "
            "board")


def approval_config(
    approval: str | ApprovalConfig = "none", noise: float = 0.0, noise_per: str = "state"
) -> ApprovalConfig:
    """The validated :class:`ApprovalConfig` of ``run_ppo``'s approval arguments.

    ``approval`` is an :class:`ApprovalConfig` (every approval and its strength; then ``noise``
    and ``noise_per`` must keep their defaults, the config carries them) or, the older form, a
    kind name with ``noise``/``noise_per`` (other strengths at their defaults).
    """
    if isinstance(approval, ApprovalConfig):
        if noise != 0.0 or noise_per != "state":
            raise ConfigError(
                f"noise={noise!r}, noise_per={noise_per!r}: give the noise inside the "
                "ApprovalConfig when approval is an ApprovalConfig"
            )
        approval.validate()
        return approval
    if not isinstance(approval, str) or approval not in APPROVALS:
        raise ConfigError(f"approval={approval!r} is invalid: allowed are {', '.join(APPROVALS)}")
    if not isinstance(noise, int | float) or not math.isfinite(noise) or noise < 0:
        raise ConfigError(f"noise={noise!r} is invalid: must be a finite number >= 0")
    if noise and approval not in NOISY_APPROVALS:
        raise ConfigError(
            f"noise={noise!r} is invalid: noise needs approval='trusted' or another noisy "
            f"approval ({', '.join(NOISY_APPROVALS)}), not {approval!r}"
        )
    config = ApprovalConfig(kind=approval, noise=float(noise), noise_per=noise_per)
    config.validate("")
    return config


def approval_tables(
    tables: TabularEnv,
    approval: str | ApprovalConfig,
    noise: float = 0.0,
    seeds: list[int] | None = None,
    noise_per: str = "state",
) -> np.ndarray | None:
    """The approval PPO trains on (MONA's whole step reward), built by ``build_approval`` (the same
    tables as the exact solver's): None for ``none``; one [T, S, A] table shared by all seeds
    when the approval does not depend on the seed; else [seeds, T, S, A], seed i's table built
    with the training seed ``seeds[i]`` (noise, learned labels and model). For PPO's evaluator
    critic (``evaluator_lr`` set) this is the trusted table it starts from."""
    config = approval_config(approval, noise, noise_per)
    seeds = [0] if seeds is None else list(seeds)
    if config.kind in TABLE_FREE_APPROVALS:
        return None  # the overseer approvals are computed inside training, not tabulated
    if config.evaluator_critic:
        config = _critic_start(config)
    values = trusted.trusted_values(tables)
    if not config.seed_dependent:
        return build_approval(tables, config, 0, trusted_values=values).astype(np.float32)
    return np.stack([_seed_table(tables, config, s, values) for s in seeds])


# Learned approvals by (board, approval, seed): fitting one takes seconds, and a sweep trains
# the same learned overseer at several horizons in one process.
_LEARNED: dict[tuple, np.ndarray] = {}
_LEARNED_MAX = 64


def _seed_table(
    tables: TabularEnv, config: ApprovalConfig, seed: int, values: np.ndarray
) -> np.ndarray:
    if config.kind != "learned":
        return build_approval(tables, config, seed, trusted_values=values).astype(np.float32)
    key = (tuple(sorted(tables.settings.items())), config.normalized(), seed)
    if key not in _LEARNED:
        _LEARNED[key] = build_approval(tables, config, seed, trusted_values=values).astype(
            np.float32
        )
        while len(_LEARNED) > _LEARNED_MAX:
            _LEARNED.pop(next(iter(_LEARNED)))
    return _LEARNED[key]


def _critic_start(config: ApprovalConfig) -> ApprovalConfig:
    """The trusted approval (same noise) that PPO's evaluator critic starts from."""
    return ApprovalConfig(kind="trusted", noise=config.noise, noise_per=config.noise_per)


def evaluator_start_values(
    tables: TabularEnv, config: ApprovalConfig, seeds: list[int]
) -> np.ndarray:
    """V_0 of the evaluator critic: the trusted value with the approval's per-state noise
    ([T+1, S], or [seeds, T+1, S] when noisy per state), so that the approval table is its
    advantage."""
    values = trusted.trusted_values(tables)
    if config.noise > 0 and config.noise_per == "state":
        return np.stack([trusted.noisy_values(values, config.noise, s) for s in seeds]).astype(
            np.float32
        )
    return values.astype(np.float32)


def learned_quality(
    tables: TabularEnv,
    env_params: cd.CameraDropboxParams,
    config: ApprovalConfig,
    learned_tables: np.ndarray,
    seeds: list[int],
    actors: list[dict],
    activation: str,
    exact: np.ndarray | None = None,
) -> list[dict[str, float]]:
    """Per seed: how close the learned approval is to the exact one it was trained from
    (``learned.approval_quality``): rank correlation and error over every reachable step, and
    ``mae_visited``, the error on the steps the *trained PPO policy* takes, weighted by how often
    it takes them. ``exact``: the exact approval to compare with (default: the trusted one with
    the config's noise and each seed)."""
    from monarl.approval.learned import approval_quality

    values = trusted.trusted_values(tables)
    arrays = eval_arrays(tables, env_params)
    probs_of = jax.jit(lambda actor: policy_table(actor, arrays, activation, tables.max_steps))
    out = []
    for i, seed in enumerate(seeds):
        learned = learned_tables[i] if learned_tables.ndim == 4 else learned_tables
        reference = exact if exact is not None else trusted.trusted_approval(
            tables, config.noise, seed, config.noise_per, values=values)
        actor = jax.tree_util.tree_map(lambda x, i=i: x[i], actors)
        probs = np.asarray(probs_of(actor), np.float64)
        out.append(approval_quality(tables, learned, reference, probs))
    return out


# Overseer critics by (board, PPO settings, budget, seeds): a sweep trains MONA with the same
# learned overseer at several horizons in one process, and training one takes a PPO run.
_OVERSEERS: dict[tuple, tuple[Params, dict[str, Any]]] = {}
_OVERSEERS_MAX = 16


def train_overseer(
    env: Mapping[str, Any], config: PPOConfig, steps: int, seed_list: list[int],
    progress: Callable[[int], None] | None = None, start_time: str = "zero",
) -> tuple[Params, dict[str, Any]]:
    """The overseer of ``trusted-critic`` and ``continuation-rollout``: ordinary RL (full
    horizon, no approval) on the **true** reward for ``steps`` env steps per seed, with the
    agent's PPO settings and its own random stream; ``start_time="uniform"`` starts its
    training episodes at uniformly drawn times (see :func:`make_train`). Returns its
    parameters (actor and critic, batched over seeds) and a summary of what the overseer's own
    policy does (``final``: outcome fractions and returns, mean over seeds; ``steps``;
    ``wall_seconds``), so a report can say how good the foresight was."""
    env = _env_fields(env)
    config = dataclasses.replace(config, total_steps=steps)
    key = (tuple(sorted(env.items())), config, tuple(seed_list), start_time)
    if key not in _OVERSEERS:
        out, info = train_seeds(env, "none", horizon=None, seeds=len(seed_list), steps=steps,
                                seed_offset=seed_list[0], config=config, reward="true",
                                key_stream=_OVERSEER_STREAM, progress=progress,
                                start_time=start_time)
        final = jax.device_get(out["final"])
        summary = {
            "steps": steps,
            "wall_seconds": info["wall"],
            "final": {name: float(np.mean(final[name])) for name in METRICS},
            "per_seed": [{name: float(final[name][i]) for name in METRICS}
                         for i in range(len(seed_list))],
        }
        _OVERSEERS[key] = (out["params"], summary)
        while len(_OVERSEERS) > _OVERSEERS_MAX:
            _OVERSEERS.pop(next(iter(_OVERSEERS)))
    return _OVERSEERS[key]


def critic_approval_table(tables: TabularEnv, env_params: cd.CameraDropboxParams,
                          critic: list[dict], activation: str) -> np.ndarray:
    """The trusted-critic approval of one overseer critic as a [T, S, A] table (boards with
    tables), the same numbers the rollout computes, to compare with the exact approval."""
    value_fn = jax.jit(lambda o: apply_mlp(critic, o, activation)[..., 0])
    return trusted_critic.critic_table(
        value_fn, lambda t, s: table_observations(tables, env_params, t, s),
        tables.next_state, tables.observed_reward, tables.ended, tables.max_steps)


def rollout_approval_table(tables: TabularEnv, env_params: cd.CameraDropboxParams,
                           actor: list[dict], activation: str) -> np.ndarray:
    """The continuation-rollout approval of one frozen actor (taken greedily) as a [T, S, A]
    table (boards with tables), to compare with the exact continuation approval."""
    arrays = eval_arrays(tables, env_params)
    probs = jax.jit(lambda a: policy_table(a, arrays, activation, tables.max_steps))(actor)
    greedy = np.asarray(jnp.argmax(probs, axis=-1))
    return continuation.continuation_approval(tables, greedy).astype(np.float32)


@dataclasses.dataclass
class _Program:
    """One jitted ``vmap(train)`` program with its own progress relay, and a lock that makes
    calls of the same program take turns (its relay has one target at a time). Calls of
    different programs may run at once from different threads (arms run side by side on a
    multi-core machine: :func:`monarl.runtime.parallel.run_concurrently`)."""

    fn: Callable
    relay: ProgressRelay
    lock: threading.Lock


# Jitted ``vmap(train)`` programs by signature, so repeated runs in a process (seed batches,
# sweeps, warm starts, and every table-based approval kind: the table is an argument) compile
# once. Tables, approvals and the evaluator critic's values, step size and k are arguments,
# not constants, so they are not part of the signature; the seed keys are arguments too. Each
# program reports progress through its own relay (one host callback per evaluation point,
# forwarded to the call's own callback, if any), so calls with and without a progress display
# share one program.
_COMPILED: dict[tuple, _Program] = {}
_COMPILED_MAX = 8


def train_seeds(
    env: Mapping[str, Any] | None = None,
    approval: str | ApprovalConfig = "none",
    noise: float = 0.0,
    horizon: int | None = None,
    seeds: int = 10,
    steps: int = 1_000_000,
    *,
    seed_offset: int = 0,
    noise_per: str = "state",
    config: PPOConfig | None = None,
    init_actor: Any = None,
    progress: Callable[[int], None] | None = None,
    reward: str = "observed",
    key_stream: int | None = None,
    start_time: str = "zero",
    **ppo_overrides: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train ``seeds`` seeds in one ``jit(vmap(train))`` call; returns (device outputs, info).

    ``reward``: what approval ``none`` trains on (``true`` trains an overseer).
    ``key_stream``: fold this tag into every seed's key (the overseer's own random stream, so
    it does not start from the agent's initial parameters). With ``trusted-critic`` or
    ``continuation-rollout`` the overseer is trained first (:func:`train_overseer`,
    ``approval.overseer_steps`` steps per seed on the true reward); its critic is the value of
    the approval, or its greedy policy continues every state the agent enters.

    ``approval``: an :class:`ApprovalConfig` (any approval kind and strength) or a kind name
    with ``noise``/``noise_per`` (see :func:`approval_config`). ``init_actor``: actor
    parameters batched over seeds (leading axis = seeds), e.g. the ``params.actor`` of an
    earlier call, to warm start. Everything is validated, and the approval tables are built,
    before any compilation starts.
    """
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ValueError(f"seeds={seeds!r} is invalid: must be an integer >= 1")
    if not isinstance(seed_offset, int) or isinstance(seed_offset, bool) or seed_offset < 0:
        raise ValueError(f"seed_offset={seed_offset!r} is invalid: must be an integer >= 0")
    approval_cfg = approval_config(approval, noise, noise_per)
    horizon = validate_horizon(horizon)
    config = dataclasses.replace(config or PPOConfig(), total_steps=steps, **ppo_overrides)
    config.validate()
    fields = _env_fields(env)
    cd.validate_settings(**fields)
    problem = untabulable(fields["rows"], fields["cols"], fields["boxes"], approval_cfg.kind)
    if problem:  # before the start layouts are searched, which takes seconds on large boards
        raise ValueError(problem)
    check_reward(reward, approval_cfg)
    env_params, settings = _env_params(fields)
    tables = _tables(env_params, settings)
    seed_list = list(range(seed_offset, seed_offset + seeds))
    approval_started = time.perf_counter()
    table = None if tables is None else approval_tables(tables, approval_cfg, seeds=seed_list)
    overseer = frozen = overseer_info = None
    if approval_cfg.kind in OVERSEER_APPROVALS:
        overseer_params, overseer_info = train_overseer(
            fields, config, approval_cfg.overseer_steps, seed_list,
            start_time=approval_cfg.overseer_start_time)
        if approval_cfg.kind == "trusted-critic":
            overseer = overseer_params.critic
        else:  # continuation-rollout: its greedy policy continues from each state entered
            frozen = overseer_params.actor
    approval_seconds = time.perf_counter() - approval_started
    evaluator = None
    evaluator_axes = None
    if approval_cfg.evaluator_critic:
        start_values = evaluator_start_values(tables, approval_cfg, seed_list)
        evaluator = EvaluatorArgs(
            values=jnp.asarray(start_values),
            lr=jnp.asarray(approval_cfg.evaluator_lr, jnp.float32),
            steps=jnp.asarray(approval_cfg.evaluator_steps, jnp.int32),
        )
        evaluator_axes = EvaluatorArgs(values=0 if start_values.ndim == 3 else None,
                                       lr=None, steps=None)
    started = time.perf_counter()
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seed_list])
    if key_stream is not None:
        keys = jax.vmap(lambda k: jax.random.fold_in(k, key_stream))(keys)
    table_axis = None if table is None or table.ndim == 3 else 0
    actor_axis = None if init_actor is None else 0
    overseer_axis = None if overseer is None else 0
    frozen_axis = None if frozen is None else 0
    signature = (
        config,
        tuple(sorted(settings.items())),
        horizon,
        table is None,
        table_axis,
        actor_axis,
        evaluator_axes,
        overseer_axis,
        frozen_axis,
        reward,
        start_time,
    )
    program = _COMPILED.get(signature)
    if program is None:
        relay = ProgressRelay()
        train = make_train(
            config,
            env_params,
            horizon=horizon,
            tables=tables,
            progress=relay,
            reward=reward,
            start_time=start_time,
        )
        fn = jax.jit(jax.vmap(train, in_axes=(0, table_axis, actor_axis, evaluator_axes,
                                              overseer_axis, frozen_axis)))
        program = _Program(fn, relay, threading.Lock())
        _COMPILED[signature] = program
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.pop(next(iter(_COMPILED)))
    table_arg = None if table is None else jnp.asarray(table)
    waiting = time.perf_counter()
    with program.lock, program.relay.forwarding(progress):
        started += time.perf_counter() - waiting  # the wall time leaves out waiting our turn
        out = jax.block_until_ready(program.fn(keys, table_arg, init_actor, evaluator, overseer,
                                               frozen))
    wall = time.perf_counter() - started
    info = {
        "config": config,
        "settings": settings,
        "seed_list": seed_list,
        "wall": wall,
        "approval_seconds": approval_seconds,
        "approval": approval_cfg.kind,
        "approval_config": approval_cfg,
        "noise": approval_cfg.noise,
        "noise_per": approval_cfg.noise_per,
        "horizon": horizon,
        "evaluation": "exact" if tables is not None else "sampled",
        "reward": reward,
    }
    if overseer_info is not None:
        info["overseer"] = overseer_info
        if tables is not None and tables.num_states <= QUALITY_MAX_STATES:
            if overseer is not None:  # against the exact trusted approval (the default)
                tabulate, learned_params, exact = critic_approval_table, overseer, None
            else:  # against the exact continuation (the true-optimal policy's)
                tabulate, learned_params = rollout_approval_table, frozen
                exact = continuation.continuation_approval(tables).astype(np.float32)
            learned_tables = np.stack([
                tabulate(tables, env_params,
                         jax.tree_util.tree_map(lambda x, i=i: x[i], learned_params),
                         config.activation)
                for i in range(len(seed_list))])
            info["approval_quality"] = learned_quality(
                tables, env_params, approval_cfg, learned_tables, seed_list,
                out["params"].actor, config.activation, exact=exact)
    if approval_cfg.kind == "learned":
        info["approval_quality"] = learned_quality(
            tables, env_params, approval_cfg, table, seed_list, out["params"].actor,
            config.activation,
        )
    return out, info


def summarize(out: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The JSON of ``monarl train --json`` from :func:`train_seeds`' outputs."""
    config: PPOConfig = info["config"]
    seeds = len(info["seed_list"])
    final = jax.device_get(out["final"])
    curve = jax.device_get(out["curve"])
    per_seed = []
    for i in range(seeds):
        row = {name: float(final[name][i]) for name in METRICS}
        row.update({f"greedy_{n}": float(final[f"greedy_{n}"][i]) for n in METRICS})
        row["seed"] = info["seed_list"][i]
        for name, value in (info.get("approval_quality") or [{}] * seeds)[i].items():
            row[f"approval_{name}"] = value
        if info.get("overseer"):  # what the overseer's own policy does
            for name, value in info["overseer"]["per_seed"][i].items():
                row[f"overseer_{name}"] = value
        per_seed.append(row)
    env_steps = int(curve["env_steps"][0, -1])
    wall = info["wall"]
    curve_names = [k for k in curve if k != "env_steps"]
    result = {
        "final": {name: float(np.mean(final[name])) for name in METRICS},
        "final_ci95": {name: ci95(final[name]) for name in METRICS},
        "final_greedy": {name: float(np.mean(final[f"greedy_{name}"])) for name in METRICS},
        "per_seed": per_seed,
        "steps": env_steps,
        "seeds": seeds,
        "wall_seconds": wall,
        "approval_seconds": info.get("approval_seconds", 0.0),
        "env_steps_per_second": env_steps * seeds / wall,
        "curves": {
            "env_steps": [int(s) for s in curve["env_steps"][0]],
            **{name: np.asarray(curve[name], np.float64).tolist() for name in curve_names},
        },
        "config": {
            "algo": "ppo",
            "env": info["settings"],
            "approval": info["approval"],
            "approval_config": dataclasses.asdict(info["approval_config"]),
            "noise": info["noise"],
            "noise_per": info["noise_per"],
            "horizon": info["horizon"],
            "evaluation": info.get("evaluation", "exact"),
            "seeds": seeds,
            "seed_offset": info["seed_list"][0],
            "steps": config.total_steps,
            "ppo": config.to_dict(),
            "backend": jax.default_backend(),
            "jax": jax.__version__,
        },
    }
    if info.get("overseer"):
        result["overseer"] = info["overseer"]
    quality = info.get("approval_quality")
    if quality:
        result["approval_quality"] = {
            "per_seed": quality,
            **{k: float(np.mean([q[k] for q in quality])) for k in quality[0]},
        }
    return result


def run_ppo(
    env: Mapping[str, Any] | None = None,
    approval: str | ApprovalConfig = "none",
    noise: float = 0.0,
    horizon: int | None = None,
    seeds: int = 10,
    steps: int = 1_000_000,
    *,
    seed_offset: int = 0,
    noise_per: str = "state",
    config: PPOConfig | None = None,
    progress: Callable[[int], None] | None = None,
    **ppo_overrides: Any,
) -> dict[str, Any]:
    """Train one condition for ``seeds`` seeds and return the ``monarl train --json`` dict.

    ``env``: Camera Dropbox settings (rows, cols, boxes, blockers, penalty, max_steps; paper
    defaults). ``approval``: an :class:`ApprovalConfig` -- every approval of
    ``docs/approvals.md`` with its strength, built by ``build_approval`` exactly as for the
    exact solver, seeded with the training seed -- or the older string form, a kind name
    ("none" = ordinary RL's reward, "trusted", ...) with Gaussian ``noise`` sigma and
    ``noise_per``. ``horizon``: None or M. ``ppo_overrides``: any :class:`PPOConfig` field.
    Keys of the result: ``final`` (mean over seeds of the exact outcome fractions and returns
    of the stochastic policy at the end), ``final_ci95``, ``final_greedy``, ``per_seed``,
    ``steps`` (env steps per seed actually run), ``seeds``, ``wall_seconds`` (compilation
    included), ``approval_seconds`` (building the approval tables, before training),
    ``env_steps_per_second`` (aggregate over seeds), ``curves`` (``env_steps`` [E] and every
    metric as [seeds][E]) and ``config`` (``approval_config``: every approval field). For the
    ``learned`` approval, ``approval_quality`` (mean and per seed) and ``approval_*`` keys in
    each ``per_seed`` row: rank correlation and error against the exact approval over the
    reachable steps, and the error on the steps the trained policy visits.
    """
    out, info = train_seeds(
        env,
        approval,
        noise,
        horizon,
        seeds,
        steps,
        seed_offset=seed_offset,
        noise_per=noise_per,
        config=config,
        progress=progress,
        **ppo_overrides,
    )
    return summarize(out, info)


def run_warm_start(
    env: Mapping[str, Any] | None = None,
    seeds: int = 10,
    pretrain_steps: int = 1_000_000,
    steps: int = 1_000_000,
    noise: float = 0.0,
    horizon: int = 1,
    *,
    seed_offset: int = 0,
    config: PPOConfig | None = None,
    **ppo_overrides: Any,
) -> dict[str, Any]:
    """Warm start (issue 4 item 5): train ordinary RL until it hacks, then continue each seed's
    *policy* with MONA (trusted approval, ``noise``, ``horizon``) and a fresh critic.

    Why a fresh critic and optimiser: the ordinary-RL critic estimates the full observed return,
    a different quantity from MONA's M-step training return; only the behaviour (the policy)
    is what we want to start from. Returns ``{"pretrain": <train JSON>, "mona": <train JSON>}``;
    MONA's curve starts at the hacking policy (point 0).
    """
    pre_out, pre_info = train_seeds(
        env,
        "none",
        0.0,
        None,
        seeds,
        pretrain_steps,
        seed_offset=seed_offset,
        config=config,
        **ppo_overrides,
    )
    actor = pre_out["params"].actor
    mona_out, mona_info = train_seeds(
        env,
        "trusted",
        noise,
        horizon,
        seeds,
        steps,
        seed_offset=seed_offset,
        config=config,
        init_actor=actor,
        **ppo_overrides,
    )
    return {"pretrain": summarize(pre_out, pre_info), "mona": summarize(mona_out, mona_info)}


WARM_START_KEYS = ("seeds", "seed_offset", "pretrain_steps", "steps", "noise", "horizon")


def run_warm_start_file(path: str) -> dict[str, Any]:
    """Run the warm-start experiment of a TOML file (``examples/warm_start.toml``).

    Keys: ``[base.env]`` (environment settings), ``[base.ppo]`` (PPOConfig fields, shared by
    both phases; ``total_steps`` is ignored in favour of the phase budgets) and
    ``[warm_start]`` with ``seeds``, ``seed_offset``, ``pretrain_steps`` (ordinary RL),
    ``steps`` (MONA), ``noise`` and ``horizon`` (MONA's knobs). Returns :func:`run_warm_start`'s
    dict plus ``name``.
    """
    import tomllib

    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    base = data.get("base", {})
    settings = dict(data.get("warm_start", {}))
    unknown = sorted(set(settings) - set(WARM_START_KEYS))
    if unknown:
        raise ValueError(
            f"{path}: warm_start: unknown field {unknown[0]!r}; known fields are "
            f"{', '.join(WARM_START_KEYS)}"
        )
    ppo_table = dict(base.get("ppo", {}))
    ppo_table.pop("total_steps", None)
    config = PPOConfig.from_dict(ppo_table)
    horizon = settings.get("horizon", 1)
    if isinstance(horizon, str) and horizon.lower() == "none":
        horizon = None
    result = run_warm_start(
        env=base.get("env"),
        seeds=settings.get("seeds", 10),
        pretrain_steps=settings.get("pretrain_steps", 1_000_000),
        steps=settings.get("steps", 1_000_000),
        noise=settings.get("noise", 0.0),
        horizon=horizon,
        seed_offset=settings.get("seed_offset", 0),
        config=config,
    )
    return {"name": data.get("name", "warm-start"), **result}
