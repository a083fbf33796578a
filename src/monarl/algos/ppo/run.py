"""Host-side PPO: train seeds in one jitted, vmapped call; the JSON of ``monarl train``; the
overseer of the learned-overseer approvals; the warm start.

:func:`train_seeds` validates everything, builds the approval (tables, learned models, an
overseer's own PPO run), compiles one ``jit(vmap(train))`` program per signature (cached, so
seed batches, sweeps and every table approval reuse it) and runs it. :func:`summarize` turns its
outputs into the JSON of ``monarl train --json``; :func:`run_ppo` does both.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from monarl.algos.check import check
from monarl.algos.networks import apply_mlp
from monarl.algos.ppo.config import PPOConfig
from monarl.algos.ppo.evaluation import policy_table
from monarl.algos.ppo.train import Params, eval_arrays_of, make_train
from monarl.approval import APPROVALS, ApprovalConfig, build
from monarl.approval.base import BuildContext, Overseer
from monarl.core.config import ConfigError, check_reward, field_names
from monarl.core.horizon import validate_horizon
from monarl.core.stats import t_half_width
from monarl.envs import EnvConfig
from monarl.runtime.progress import ProgressRelay

_OVERSEER_STREAM = 0x0C41  # fold_in tag of an overseer's training keys
RETURNS = ("observed_return", "true_return", "episode_length")


def metrics_of(env: EnvConfig) -> tuple[str, ...]:
    """The final metrics of a PPO run on ``env``: its outcome fractions and the returns."""
    return (*env.spec.outcomes, *RETURNS)


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def env_config(env: EnvConfig | Mapping[str, Any] | None) -> EnvConfig:
    """An ``EnvConfig``, or one built from a settings mapping (``name``/``env`` names the
    environment; default Camera Dropbox), validated with messages naming ``env.FIELD``."""
    if isinstance(env, EnvConfig):
        return env
    fields = dict(env or {})
    if "env" in fields:
        fields["name"] = fields.pop("env")
    try:
        return EnvConfig.from_mapping(fields, "env")
    except ConfigError as exc:
        raise ConfigError(str(exc)) from None


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
        return approval
    if not isinstance(approval, str) or approval not in APPROVALS.names():
        raise ConfigError(f"approval={approval!r} is invalid: allowed are "
                          f"{', '.join(APPROVALS.names())}")
    if not isinstance(noise, int | float) or not math.isfinite(noise) or noise < 0:
        raise ConfigError(f"noise={noise!r} is invalid: must be a finite number >= 0")
    noisy = [k for k in APPROVALS.names() if "noise" in field_names(APPROVALS.get(k).settings)]
    if noise and approval not in noisy:
        raise ConfigError(
            f"noise={noise!r} is invalid: noise needs approval='trusted' or another noisy "
            f"approval ({', '.join(noisy)}), not {approval!r}"
        )
    fields = {"noise": float(noise), "noise_per": noise_per} if approval in noisy else {}
    return ApprovalConfig.of(approval, **fields)


def _spec():
    from monarl.algos import TRAINERS

    return TRAINERS.get("ppo")


# --------------------------------------------------------------------------------------------
# The overseer of the learned-overseer approvals
# --------------------------------------------------------------------------------------------

# Overseers by (environment, PPO settings, budget, seeds): a sweep trains MONA with the same
# learned overseer at several horizons in one process, and training one takes a PPO run.
_OVERSEERS: dict[tuple, tuple[Params, dict[str, Any]]] = {}
_OVERSEERS_MAX = 16


def train_overseer(
    env: EnvConfig | Mapping[str, Any], config: PPOConfig, steps: int, seed_list: list[int],
    progress: Callable[[int], None] | None = None, start_time: str = "zero",
) -> tuple[Params, dict[str, Any]]:
    """An overseer for ``trusted-critic`` and ``continuation-rollout``: ordinary RL (full
    horizon, no approval) on the **true** reward for ``steps`` env steps per seed, with the
    agent's PPO settings and its own random stream; ``start_time="uniform"`` starts its
    training episodes at uniformly drawn times (see ``make_train``). Returns its parameters
    (actor and critic, batched over seeds) and a summary of what the overseer's own policy does
    (``final``: outcome fractions and returns, mean over seeds; ``steps``; ``wall_seconds``),
    so a report can say how good the foresight was."""
    env = env_config(env)
    config = dataclasses.replace(config, total_steps=steps)
    key = (env, config, tuple(seed_list), start_time)
    if key not in _OVERSEERS:
        out, info = train_seeds(env, "none", horizon=None, seeds=len(seed_list), steps=steps,
                                seed_offset=seed_list[0], config=config, reward="true",
                                key_stream=_OVERSEER_STREAM, progress=progress,
                                start_time=start_time)
        final = jax.device_get(out["final"])
        metrics = metrics_of(env)
        summary = {
            "steps": steps,
            "wall_seconds": info["wall"],
            "final": {name: float(np.mean(final[name])) for name in metrics},
            "per_seed": [{name: float(final[name][i]) for name in metrics}
                         for i in range(len(seed_list))],
        }
        _OVERSEERS[key] = (out["params"], summary)
        while len(_OVERSEERS) > _OVERSEERS_MAX:
            _OVERSEERS.pop(next(iter(_OVERSEERS)))
    return _OVERSEERS[key]


def overseer_for(env: EnvConfig, tables: Any, config: PPOConfig, seed_list: list[int],
                 progress: Callable[[int], None] | None = None) -> Callable[[int, str], Overseer]:
    """The ``BuildContext.overseer`` PPO hands an approval: train (or reuse) the overseer and
    give its networks as functions."""
    act = config.activation

    def make(steps: int, start_time: str) -> Overseer:
        params, summary = train_overseer(env, config, steps, seed_list, progress=progress,
                                         start_time=start_time)

        def greedy_table(index: int) -> np.ndarray:
            arrays = eval_arrays_of(env, tables)
            actor = jax.tree_util.tree_map(lambda x: x[index], params.actor)
            probs = jax.jit(lambda a: policy_table(a, arrays, act, tables.max_steps))(actor)
            return np.asarray(jnp.argmax(probs, axis=-1))

        return Overseer(
            params=params, critic=params.critic, actor=params.actor,
            value=lambda critic, obs: apply_mlp(critic, obs, act)[..., 0],
            act=lambda actor, obs: jnp.argmax(apply_mlp(actor, obs, act), axis=-1),
            summary=summary, greedy_table=None if tables is None else greedy_table)

    return make


# --------------------------------------------------------------------------------------------
# Training seeds in one program
# --------------------------------------------------------------------------------------------


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
# sweeps, warm starts, and every table approval kind: the table is an argument) compile
# once. Approvals' arrays are arguments, not constants, so they are not part of the signature;
# the seed keys are arguments too. Each program reports progress through its own relay (one
# host callback per evaluation point, forwarded to the call's own callback, if any), so calls
# with and without a progress display share one program.
_COMPILED: dict[tuple, _Program] = {}
_COMPILED_MAX = 8


def train_seeds(
    env: EnvConfig | Mapping[str, Any] | None = None,
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
    overseer_progress: Callable[[int], None] | None = None,
    reward: str | None = None,
    key_stream: int | None = None,
    start_time: str = "zero",
    **ppo_overrides: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train ``seeds`` seeds in one ``jit(vmap(train))`` call; returns (device outputs, info).

    ``env``: an ``EnvConfig`` or a settings mapping (Camera Dropbox by default).
    ``approval``: an :class:`ApprovalConfig` (any approval kind and strength) or a kind name
    with ``noise``/``noise_per`` (see :func:`approval_config`). ``reward``: what approval
    ``none`` trains on (``true`` trains an overseer). ``key_stream``: fold this tag into every
    seed's key (an overseer's own random stream, so it does not start from the agent's initial
    parameters). ``init_actor``: actor parameters batched over seeds (leading axis = seeds),
    e.g. the ``params.actor`` of an earlier call, to warm start. An approval that needs an
    overseer trains it first (``overseer_progress`` follows it). Everything is validated, and
    the approval is built, before any compilation starts.
    """
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ValueError(f"seeds={seeds!r} is invalid: must be an integer >= 1")
    if not isinstance(seed_offset, int) or isinstance(seed_offset, bool) or seed_offset < 0:
        raise ValueError(f"seed_offset={seed_offset!r} is invalid: must be an integer >= 0")
    approval_cfg = approval_config(approval, noise, noise_per)
    horizon = validate_horizon(horizon)
    config = dataclasses.replace(config or PPOConfig(), total_steps=steps, **ppo_overrides)
    config.validate()
    reward = config.reward if reward is None else reward
    env = env_config(env)
    # before the start states are built, which takes seconds on large boards
    check(env, approval_cfg, _spec())
    check_reward(reward, approval_cfg.kind)
    tables = env.tables() if env.tabulable() else None
    seed_list = list(range(seed_offset, seed_offset + seeds))
    approval_started = time.perf_counter()
    ctx = BuildContext(env.spec, env.settings, env.params(), tables, seed_list,
                       overseer=overseer_for(env, tables, config, seed_list, overseer_progress))
    built = build(approval_cfg, ctx)
    args, axes = (None, None) if built is None else built.arguments()
    approval_seconds = time.perf_counter() - approval_started
    started = time.perf_counter()
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seed_list])
    if key_stream is not None:
        keys = jax.vmap(lambda k: jax.random.fold_in(k, key_stream))(keys)
    actor_axis = None if init_actor is None else 0
    axes_signature = jax.tree_util.tree_structure(axes), tuple(jax.tree_util.tree_leaves(axes))
    signature = (config, env, horizon, None if built is None else built.program_key,
                 axes_signature, actor_axis, reward, start_time)
    program = _COMPILED.get(signature)
    if program is None:
        relay = ProgressRelay()
        train = make_train(config, env, built, horizon=horizon, tables=tables, progress=relay,
                           reward=reward, start_time=start_time)
        fn = jax.jit(jax.vmap(train, in_axes=(0, axes, actor_axis)))
        program = _Program(fn, relay, threading.Lock())
        _COMPILED[signature] = program
        while len(_COMPILED) > _COMPILED_MAX:
            _COMPILED.pop(next(iter(_COMPILED)))
    waiting = time.perf_counter()
    with program.lock, program.relay.forwarding(progress):
        started += time.perf_counter() - waiting  # the wall time leaves out waiting our turn
        out = jax.block_until_ready(program.fn(keys, args, init_actor))
    wall = time.perf_counter() - started
    info = {
        "config": config,
        "env": env,
        "settings": env.spec.describe(env.params()),
        "seed_list": seed_list,
        "wall": wall,
        "approval_seconds": approval_seconds,
        "approval": approval_cfg.kind,
        "approval_config": approval_cfg,
        "noise": approval_cfg.setting("noise", 0.0),
        "noise_per": approval_cfg.setting("noise_per", "state"),
        "horizon": horizon,
        "evaluation": "exact" if tables is not None else "sampled",
        "reward": reward,
        "metrics": metrics_of(env),
    }
    if built is not None:
        info.update(built.info())
        if built.measured and tables is not None:
            arrays = eval_arrays_of(env, tables)
            probs_of = jax.jit(lambda a: policy_table(a, arrays, config.activation,
                                                      tables.max_steps))
            quality = []
            for i in range(len(seed_list)):
                actor = jax.tree_util.tree_map(lambda x, i=i: x[i], out["params"].actor)
                probs = np.asarray(probs_of(actor), np.float64)
                quality.append(built.quality(i, probs))
            if all(q is not None for q in quality):
                info["approval_quality"] = quality
    return out, info


# --------------------------------------------------------------------------------------------
# The JSON of `monarl train`
# --------------------------------------------------------------------------------------------

ci95 = t_half_width
"""Half-width of the 95 % Student-t confidence interval of the mean (0 for one value)."""


def summarize(out: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """The JSON of ``monarl train --json`` from :func:`train_seeds`' outputs."""
    config: PPOConfig = info["config"]
    metrics = info["metrics"]
    seeds = len(info["seed_list"])
    final = jax.device_get(out["final"])
    curve = jax.device_get(out["curve"])
    per_seed = []
    for i in range(seeds):
        row = {name: float(final[name][i]) for name in metrics}
        row.update({f"greedy_{n}": float(final[f"greedy_{n}"][i]) for n in metrics})
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
        "final": {name: float(np.mean(final[name])) for name in metrics},
        "final_ci95": {name: ci95(final[name]) for name in metrics},
        "final_greedy": {name: float(np.mean(final[f"greedy_{name}"])) for name in metrics},
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
            "approval_config": info["approval_config"].to_dict(),
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
    env: EnvConfig | Mapping[str, Any] | None = None,
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
    overseer_progress: Callable[[int], None] | None = None,
    **ppo_overrides: Any,
) -> dict[str, Any]:
    """Train one condition for ``seeds`` seeds and return the ``monarl train --json`` dict.

    ``env``: an ``EnvConfig`` or a settings mapping (Camera Dropbox by default: rows, cols,
    boxes, blockers, penalty, max_steps; paper defaults). ``approval``: an
    :class:`ApprovalConfig` -- every approval of ``docs/approvals.md`` with its strength, built
    exactly as for the exact solver, seeded with the training seed -- or the older string form,
    a kind name ("none" = ordinary RL's reward, "trusted", ...) with Gaussian ``noise`` sigma
    and ``noise_per``. ``horizon``: None or M. ``ppo_overrides``: any :class:`PPOConfig` field.
    Keys of the result: ``final`` (mean over seeds of the outcome fractions and returns of the
    stochastic policy at the end), ``final_ci95``, ``final_greedy``, ``per_seed``, ``steps``
    (env steps per seed actually run), ``seeds``, ``wall_seconds`` (compilation included),
    ``approval_seconds`` (building the approval, before training), ``env_steps_per_second``
    (aggregate over seeds), ``curves`` (``env_steps`` [E] and every metric as [seeds][E]) and
    ``config`` (``approval_config``: the approval's settings). For approvals that measure
    themselves (``learned``, and the overseer approvals where tables exist),
    ``approval_quality`` (mean and per seed) and ``approval_*`` keys in each ``per_seed`` row:
    rank correlation and error against the exact approval over the reachable steps, and the
    error on the steps the trained policy visits.
    """
    out, info = train_seeds(env, approval, noise, horizon, seeds, steps, seed_offset=seed_offset,
                            noise_per=noise_per, config=config, progress=progress,
                            overseer_progress=overseer_progress, **ppo_overrides)
    return summarize(out, info)


# --------------------------------------------------------------------------------------------
# Warm start
# --------------------------------------------------------------------------------------------


def run_warm_start(
    env: EnvConfig | Mapping[str, Any] | None = None,
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
    pre_out, pre_info = train_seeds(env, "none", 0.0, None, seeds, pretrain_steps,
                                    seed_offset=seed_offset, config=config, **ppo_overrides)
    actor = pre_out["params"].actor
    mona_out, mona_info = train_seeds(env, "trusted", noise, horizon, seeds, steps,
                                      seed_offset=seed_offset, config=config, init_actor=actor,
                                      **ppo_overrides)
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
