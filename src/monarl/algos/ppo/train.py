"""PPO for MONA and ordinary RL: ``make_train(config, env, approval, horizon) -> train(key)``,
one jitted scan.

Read top to bottom: the loss, ``make_train`` (rollout -> training rewards -> advantages -> PPO
epochs, scanned, with periodic evaluation) and the pieces it closes over.

The two MONA knobs enter in exactly two places, and nowhere else:

1. *Approval*: the training reward of a step is the environment's observed reward, or, when an
   approval is given, its judgement of the step (``approval.reward`` on the batch of steps,
   then ``approval.finish`` on the whole rollout; ``monarl.approval.base``). An approval already
   contains the step's observed reward, so it replaces the observed reward rather than being
   added to it, as in the public code. Ordinary RL passes ``approval=None``.
2. *Horizon*: the advantages and critic targets come from ``horizon.policy_advantages``:
   ``horizon=None`` uses full-horizon GAE (ordinary RL); ``horizon=M`` uses M-step returns and a
   fixed-horizon critic with one head per horizon 1..M, so no value from beyond step t+M-1
   reaches step t.

The trainer knows no concrete environment: it takes an ``EnvConfig`` (the spec's functional
``reset``/``step``/``observe``, its start states, step limit, outcome labels and tables) and
evaluates exactly through the tables where they exist, by sampled episodes elsewhere.

Why everything is one ``lax.scan`` inside ``jit``: the gridworlds are tiny, so on a CPU the cost
of PPO is Python and dispatch overhead, not arithmetic. Compiling the whole run (vectorized
environments with auto-reset, rollouts, updates and periodic evaluation) into one XLA program
and ``vmap``-ing it over seeds turns the paper's 35-minute run into seconds (``docs/ppo.md``,
``benchmarks/bench_ppo.py``).

Time limits are truncation and bootstrap nothing (``horizon.gae`` default), because the
observation contains the time step and a time-limit bootstrap would leak long-horizon value into
the last step. No reward normalisation is used; advantages may be normalised per minibatch
(``horizon.normalize_advantages`` says why that cannot pay for a hack).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from monarl.algos import shuffle
from monarl.algos.networks import apply_mlp, init_mlp_orthogonal
from monarl.algos.ppo.config import PPOConfig
from monarl.algos.ppo.evaluation import (
    Sampler,
    eval_arrays,
    evaluate_actor,
    sample_actor,
)
from monarl.approval.base import Approval, Step
from monarl.approval.overseer import START_TIMES
from monarl.core.config import REWARDS
from monarl.core.horizon import normalize_advantages, policy_advantages, validate_horizon
from monarl.core.protocols import Discrete

_EVAL_STREAM = 0x5A3E  # fold_in tag of the sampled evaluation's random stream
_APPROVAL_STREAM = 0x7A11  # fold_in tag of the approval's after-rollout random stream
TRAIN_STATS = ("entropy", "approx_kl", "clip_fraction", "value_loss", "policy_loss")


class Params(NamedTuple):
    actor: list[dict]
    critic: list[dict]


def init_params(
    key: jax.Array, config: PPOConfig, obs_size: int, num_actions: int, num_heads: int
) -> Params:
    k_actor, k_critic = jax.random.split(key)
    return Params(
        actor=init_mlp_orthogonal(k_actor, (obs_size, *config.hidden, num_actions), 0.01),
        critic=init_mlp_orthogonal(k_critic, (obs_size, *config.hidden, num_heads), 1.0),
    )


def eval_arrays_of(env: Any, tables: Any) -> Any:
    """The exact evaluator's arrays of ``env``'s tables (built once per tables)."""
    return tables.cached("ppo_eval_arrays",
                         lambda: eval_arrays(tables, env.spec.observe, env.params()))


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
    extras: dict  # what the approval keeps for its pass over the rollout (often nothing)


class Runner(NamedTuple):
    params: Params
    opt_state: Any
    env_state: Any
    obs: jax.Array
    ep_observed: jax.Array
    ep_true: jax.Array
    key: jax.Array
    update: jax.Array  # int32 [] updates done so far
    approval_state: Any = None  # e.g. the evaluator critic's correction D [T+1, S]


AUTO = "auto"


def _checked(config: PPOConfig, env: Any, horizon: int | None, reward: str,
             start_time: str) -> tuple[int | None, Discrete]:
    """Validate ``make_train``'s arguments before anything is built: the horizon and the
    environment's (discrete) action space."""
    config.validate()
    horizon = validate_horizon(horizon)
    if reward not in REWARDS:
        raise ValueError(f"reward={reward!r} is invalid: allowed are {', '.join(REWARDS)}")
    if start_time not in START_TIMES:
        raise ValueError(f"start_time={start_time!r} is invalid: allowed are "
                         f"{', '.join(START_TIMES)}")
    actions = env.spec.actions(env.params())
    if not isinstance(actions, Discrete):
        raise ValueError(f"env {env.name!r} has {type(actions).__name__} actions: PPO trains "
                         "discrete actions (one categorical)")
    if horizon is not None and horizon > env.max_steps:
        raise ValueError(
            f"horizon={horizon} is invalid: must be <= max_steps={env.max_steps} "
            "(or None for the full return)"
        )
    return horizon, actions


def ppo_epochs(params: Params, opt_state: Any, key: jax.Array, data: dict[str, jax.Array],
               ent_coef: jax.Array, config: PPOConfig, optimizer: Any, grad_fn: Callable
               ) -> tuple[Params, Any, jax.Array, dict[str, jax.Array]]:
    """``config.num_epochs`` passes over one rollout's ``data`` in shuffled minibatches; the
    per-minibatch loss statistics come back stacked [epochs, minibatches]."""
    batch = config.batch_size
    mb_size = batch // config.num_minibatches

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
        epoch, (params, opt_state, key), None, length=config.num_epochs
    )
    return params, opt_state, key, stats


def episode_stats(traj: Transition, outcomes: tuple[str, ...]) -> dict[str, jax.Array]:
    """What the episodes that ended in one rollout achieved (sums, for interval means)."""
    done = traj.done.astype(jnp.float32)
    outcome_counts = jnp.sum(
        jax.nn.one_hot(traj.outcome, len(outcomes)) * done[..., None], axis=(0, 1)
    )
    return {"train_episodes": done.sum(),
            "train_observed_sum": jnp.sum(traj.ep_observed * done),
            "train_true_sum": jnp.sum(traj.ep_true * done),
            "train_outcomes": outcome_counts}


def chunk_summary(stats: dict[str, jax.Array], outcomes: tuple[str, ...]
                  ) -> dict[str, jax.Array]:
    """Aggregate the per-update statistics of one evaluation interval."""
    episodes = stats["train_episodes"].sum()
    safe = jnp.maximum(episodes, 1.0)
    fractions = stats["train_outcomes"].sum(axis=0) / safe
    out = {name: stats[name].mean() for name in TRAIN_STATS}
    out.update(
        train_episodes=episodes,
        train_observed_return=stats["train_observed_sum"].sum() / safe,
        train_true_return=stats["train_true_sum"].sum() / safe,
        **{f"train_{name}": fractions[k] for k, name in enumerate(outcomes)},
    )
    return out


def empty_summary(outcomes: tuple[str, ...]) -> dict[str, jax.Array]:
    """The training statistics of the first point, before any update (NaN)."""
    names = (*TRAIN_STATS, "train_episodes", "train_observed_return", "train_true_return",
             *(f"train_{n}" for n in outcomes))
    return {name: jnp.asarray(jnp.nan, jnp.float32) for name in names}


def make_train(
    config: PPOConfig,
    env: Any,
    approval: Approval | None = None,
    horizon: int | None = None,
    eval_every: int | None = None,
    tables: Any = AUTO,
    progress: Callable[[int], None] | None = None,
    sampled_eval: bool = False,
    reward: str = "observed",
    start_time: str = "zero",
) -> Callable[..., dict[str, Any]]:
    """Build ``train(key, approval_args=None, init_actor=None) -> dict`` (pure; jit/vmap it).

    Args:
        config: hyperparameters (validated here).
        env: the environment (``monarl.envs.EnvConfig``); discrete actions.
        approval: the built approval whose judgement is the training reward (MONA), or None
            (the environment's reward: ordinary RL). Its arrays come per call as
            ``approval_args`` (``approval.arguments()``), so seeds can be vmapped.
        horizon: None (full return, GAE) or M >= 1 (M-step returns, M critic heads).
        eval_every: overrides ``config.eval_every``.
        tables: the environment's tables (default: built when the environment has them at
            these settings; None: none, and the evaluation samples episodes).
        sampled_eval: evaluate by sampling ``config.eval_episodes`` episodes
            (``evaluation.sample_actor``) even where the tables exist (to compare the two).
        reward: what a step without approval trains on: ``observed`` (ordinary RL) or
            ``true`` (an overseer learns its foresight this way).
        start_time: ``zero`` (episodes start at t = 0, as the environment's) or ``uniform``
            (each training episode starts at a uniformly drawn t in [0, T), so a critic
            learns the value of every time step, not only of those its policy reaches;
            evaluation still starts at t = 0). For overseers.
        progress: optional host callback receiving env steps done, called at each evaluation
            point through ``jax.debug.callback`` (the step counter is shared by the seeds, so
            under vmap it is called once per point, not once per seed).

    ``train`` returns ``{"params": Params, "curve": {metric: [E]}, "final": {metric: []}}``
    (plus ``approval_state`` when the approval carries one, e.g. the evaluator critic's D at
    the end) where curve point 0 is the untrained policy and the last point the end of
    training; ``curve["env_steps"]`` gives the env steps of each point. Curve metrics: the
    evaluation (one fraction per outcome label, ``observed_return``, ``true_return``,
    ``episode_length`` and ``greedy_*``) and the training statistics of the updates since the
    previous point (``train_episodes``, ``train_<outcome>``, ``train_observed_return``,
    ``train_true_return``, ``entropy``, ``approx_kl``, ``clip_fraction``, ``value_loss``,
    ``policy_loss``).
    """
    if eval_every is not None:
        config = dataclasses.replace(config, eval_every=eval_every)
    horizon, actions = _checked(config, env, horizon, reward, start_time)
    spec, env_params = env.spec, env.params()
    if tables is AUTO:
        tables = env.tables() if env.tabulable() else None
    if tables is None:
        sampled_eval = True
    steps_limit = env.max_steps
    outcomes = tuple(spec.outcomes)
    num_actions = actions.n
    obs_size = spec.observation_size(env_params)
    num_heads = 1 if horizon is None else horizon
    ev = None if sampled_eval else eval_arrays_of(env, tables)
    starts = None if spec.start_states is None else spec.start_states(env_params)
    sampler = Sampler(spec.reset, spec.step, spec.observe, env_params, starts, steps_limit,
                      outcomes)
    n_env, n_steps = config.num_envs, config.num_steps
    batch = config.batch_size
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

    v_observe = jax.vmap(spec.observe, in_axes=(0, None))
    v_step = jax.vmap(spec.step, in_axes=(0, 0, 0, None))

    # Auto-reset draws every environment's next start state at every step (a static-shape
    # program cannot reset only the finished ones), so it must be cheap: with a finite start
    # set, one randint for the whole batch and precomputed start observations, instead of
    # vmapping ``reset`` over per-environment keys (whose key splitting cost twice the
    # networks' forward passes). Same distribution as ``reset``: uniform over the start set.
    if starts is not None:
        num_starts = jax.tree_util.tree_leaves(starts)[0].shape[0]
        start_obs = v_observe(starts, env_params)

    def reset_batch(key: jax.Array) -> tuple[jax.Array, Any]:
        if start_time == "uniform":  # (the default path keeps its key: same numbers as before)
            key, k_time = jax.random.split(key)
        if starts is not None:
            index = jax.random.randint(key, (n_env,), 0, num_starts)
            state = jax.tree_util.tree_map(lambda x: x[index], starts)
            obs = start_obs[index]
        else:
            obs, state = jax.vmap(spec.reset, in_axes=(0, None))(
                jax.random.split(key, n_env), env_params)
        if start_time == "uniform":
            state = state._replace(t=jax.random.randint(k_time, (n_env,), 0, steps_limit))
            return v_observe(state, env_params), state
        return obs, state

    def ent_coef_at(update: jax.Array) -> jax.Array:
        if config.ent_coef_final is None:
            return jnp.asarray(config.ent_coef, jnp.float32)
        frac = update.astype(jnp.float32) / max(1, num_updates - 1)
        return config.ent_coef + frac * (config.ent_coef_final - config.ent_coef)

    def rollout(runner: Runner, approval_args: Any):
        def env_step(carry, _):
            env_state, obs, ep_obs, ep_true, key = carry
            key, k_act, k_reset = jax.random.split(key, 3)
            logits = apply_mlp(runner.params.actor, obs, act)
            values = apply_mlp(runner.params.critic, obs, act)
            action = jax.random.categorical(k_act, logits)
            logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=1)[:, 0]
            next_obs, next_state, observed, term, trunc, info = v_step(
                jax.random.split(k_act, n_env), env_state, action, env_params
            )
            train_reward = info["true_reward"] if reward == "true" else observed
            done = term | trunc
            extras: dict[str, Any] = {}
            if approval is not None:
                step = Step(t=env_state.t, state=env_state, obs=obs, action=action,
                            next_state=next_state, next_obs=next_obs, observed=observed,
                            true=info["true_reward"], terminated=term, done=done)
                train_reward, extras = approval.reward(approval_args, runner.approval_state,
                                                       step)
            ep_obs = ep_obs + observed
            ep_true = ep_true + info["true_reward"]
            tr = Transition(obs, action, logp, values, train_reward, term, done, ep_obs, ep_true,
                            info["outcome"], extras)
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
        return jax.lax.scan(env_step, carry, None, length=n_steps)

    grad_fn = jax.grad(lambda p, mb, c: ppo_loss(p, mb, c, config), has_aux=True)

    def update_step(runner: Runner, approval_args: Any):
        (env_state, obs, ep_obs, ep_true, key), traj = rollout(runner, approval_args)
        approval_state = runner.approval_state
        if approval is not None:
            rewards, approval_state = approval.finish(
                approval_args, approval_state, traj.reward, traj.extras, traj.done, env_state,
                runner.update, jax.random.fold_in(runner.key, _APPROVAL_STREAM))
            traj = traj._replace(reward=rewards)
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
        params, opt_state, key, stats = ppo_epochs(
            runner.params, runner.opt_state, key, data, ent_coef_at(runner.update), config,
            optimizer, grad_fn)
        update_stats = {name: value.mean() for name, value in stats.items()}
        update_stats.update(episode_stats(traj, outcomes))
        runner = Runner(params, opt_state, env_state, obs, ep_obs, ep_true, key,
                        runner.update + 1, approval_state)
        return runner, update_stats

    def evaluate_point(runner: Runner) -> dict[str, jax.Array]:
        if sampled_eval:
            # Its own stream: folding leaves the training key, and so training, unchanged.
            eval_key = jax.random.fold_in(runner.key, _EVAL_STREAM)
            result = sample_actor(runner.params.actor, eval_key, sampler, config.eval_episodes,
                                  act)
        else:
            result = evaluate_actor(runner.params.actor, ev, act, steps_limit, outcomes)
        env_steps = runner.update * batch
        result["env_steps"] = env_steps
        if progress is not None:
            jax.debug.callback(lambda s: progress(int(s)), env_steps)
        return result

    def run_updates(runner: Runner, approval_args: Any, count: int):
        runner, stats = jax.lax.scan(
            lambda r, _: update_step(r, approval_args), runner, None, length=count
        )
        point = evaluate_point(runner)
        point.update(chunk_summary(stats, outcomes))
        return runner, point

    def train(key: jax.Array, approval_args: Any = None,
              init_actor: list[dict] | None = None) -> dict[str, Any]:
        key, k_init, k_reset = jax.random.split(key, 3)
        params = init_params(k_init, config, obs_size, num_actions, num_heads)
        if init_actor is not None:
            params = params._replace(actor=init_actor)
        obs, env_state = reset_batch(k_reset)
        zeros = jnp.zeros((n_env,), jnp.float32)
        runner = Runner(params, optimizer.init(params), env_state, obs, zeros, zeros, key,
                        jnp.asarray(0, jnp.int32),
                        None if approval is None else approval.init(approval_args))
        first = evaluate_point(runner)
        first.update(empty_summary(outcomes))
        points = [jax.tree_util.tree_map(lambda x: x[None], first)]
        if n_chunks:
            runner, chunked = jax.lax.scan(
                lambda r, _: run_updates(r, approval_args, per_eval), runner, None,
                length=n_chunks,
            )
            points.append(chunked)
        if remainder:
            runner, last = run_updates(runner, approval_args, remainder)
            points.append(jax.tree_util.tree_map(lambda x: x[None], last))
        curve = jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *points)
        final = jax.tree_util.tree_map(lambda x: x[-1], curve)
        out = {"params": runner.params, "curve": curve, "final": final}
        if runner.approval_state is not None:
            out["approval_state"] = runner.approval_state
        return out

    return train
