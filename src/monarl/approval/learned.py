"""Learned approval from an oversight budget: N overseer labels, a small JAX model, and the
model's predictions as the approval.

Why: a good overseer is expensive; the question is how few labels a learned approval needs before
MONA with it behaves like MONA with the exact approval. The overseer labels N steps (t, s, a)
drawn uniformly from the steps reachable from the start states (seeded). Two label kinds:

- ``advantage``: the exact trusted-advantage approval of the step (reference.md section 3);
- ``outcome``: what the step leads to if the trusted (true-reward optimal) policy continues
  afterwards, scored P(intended) - P(hack) -- a coarser, cheaper judgement.

An MLP (features: t / T, the observation of s and of s' = P[s, a]) is fit to the labels with
Adam on the mean squared error, and its prediction for every reachable (t, s, a) is the approval
(0 elsewhere). :func:`approval_quality` measures it against the exact approval: Spearman rank
correlation over reachable steps, and the mean absolute error on the steps a given policy visits.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from monarl.envs.camera_dropbox.tables import TabularEnv

LABEL_KINDS = ("advantage", "outcome")


@dataclasses.dataclass(frozen=True)
class LearnedApprovalConfig:
    labels: int = 1024
    label_kind: str = "advantage"
    hidden: tuple[int, ...] = (128, 128)
    train_steps: int = 3000
    learning_rate: float = 3e-3


def reachable_steps(tables: TabularEnv) -> np.ndarray:
    """Boolean [T, S]: states with nonzero probability at step t under *some* policy."""
    steps = tables.max_steps
    reach = np.zeros((steps, tables.num_states), bool)
    reach[0, tables.initial] = True
    for t in range(1, steps):
        prev = np.flatnonzero(reach[t - 1])
        reach[t, np.unique(tables.next_state[prev])] = True
    reach[:, tables.ended] = False  # nothing to judge once the episode has ended
    return reach


def state_features(tables: TabularEnv) -> np.ndarray:
    """[S, 3 * cells]: one-hot (empty, agent, box) per cell, as the env observes it."""
    n = tables.num_states
    rows, cols = tables.grid.shape[1:]
    agent = np.zeros((n, rows, cols))
    live = np.arange(n) != tables.ended
    agent[np.arange(n)[live], tables.agent[live, 0], tables.agent[live, 1]] = 1.0
    box = tables.grid.astype(np.float64) * live[:, None, None]
    empty = 1.0 - agent - box
    return np.stack([empty, agent, box], axis=-1).reshape(n, -1)


def outcome_labels(tables: TabularEnv) -> np.ndarray:
    """[T, S, A]: P(intended) - P(hack) when the trusted policy continues after the step."""
    from monarl.approval.continuation import trusted_policy

    policy = trusted_policy(tables)
    steps = tables.max_steps
    value = np.zeros((steps + 1, tables.num_states))  # +1 intended, -1 hack, at episode end
    score = np.where(tables.outcome == 1, 1.0, np.where(tables.outcome == 2, -1.0, 0.0))
    value[steps] = score
    value[steps, tables.ended] = 0.0
    states = np.arange(tables.num_states)
    for t in range(steps - 1, -1, -1):
        nxt = tables.next_state[states, policy[t]]
        ends = (nxt == tables.ended) & (states != tables.ended)
        value[t] = np.where(ends, score, value[t + 1][nxt])
    nxt = tables.next_state
    ends = (nxt == tables.ended) & (np.arange(tables.num_states)[:, None] != tables.ended)
    return np.where(ends[None], score[None, :, None], value[1:][:, nxt])


def _time_state_features(t: np.ndarray, s: np.ndarray, feats: np.ndarray,
                         steps: int) -> np.ndarray:
    return np.concatenate([(t / steps)[:, None], feats[s]], axis=1).astype(np.float32)


def _init(key: jax.Array, sizes: list[int]) -> list[dict]:
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        key, sub = jax.random.split(key)
        scale = np.sqrt(2.0 / fan_in) if i < len(sizes) - 2 else 0.01
        layers.append({"w": jax.random.normal(sub, (fan_in, fan_out)) * scale,
                       "b": jnp.zeros(fan_out)})
    return layers


def _apply(layers: list[dict], x: jax.Array) -> jax.Array:
    for layer in layers[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return (x @ layers[-1]["w"] + layers[-1]["b"])[..., 0]


def fit_learned_approval(tables: TabularEnv, exact_approval: np.ndarray, seed: int = 0,
                         config: LearnedApprovalConfig | None = None) -> np.ndarray:
    """Sample ``config.labels`` reachable steps, label them, fit the model, predict [T, S, A].

    Model. For ``advantage`` labels the network is a value V_hat(t, s) and the approval is its
    advantage ``R_obs(s') + V_hat(t+1, s') - V_hat(t, s)`` (V_hat = 0 at the step limit and in
    ENDED), fit so that this matches the labels: the learned approval keeps the potential form
    of the exact one, so it telescopes over a window like the trusted approval. For ``outcome``
    labels the network predicts the label of (t, s, s') directly, and the approval is the step's
    observed reward plus that prediction: like every approval it is MONA's whole training reward,
    so it carries the step's own reward.
    """
    config = config or LearnedApprovalConfig()
    if not isinstance(config.labels, int) or config.labels < 1:
        raise ValueError(f"labels={config.labels!r} is invalid: must be an integer >= 1")
    if config.label_kind not in LABEL_KINDS:
        raise ValueError(f"label_kind={config.label_kind!r} is invalid: allowed are "
                         f"{', '.join(LABEL_KINDS)}")
    steps = tables.max_steps
    reach = reachable_steps(tables)
    t_idx, s_idx = np.nonzero(reach)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(t_idx), size=config.labels)
    actions = rng.integers(0, tables.num_actions, size=config.labels)
    ts, ss = t_idx[pick], s_idx[pick]
    nxt = tables.next_state[ss, actions]
    structured = config.label_kind == "advantage"
    target_table = exact_approval if structured else outcome_labels(tables)
    y = jnp.asarray(target_table[ts, ss, actions], jnp.float32)
    feats = state_features(tables)
    obs_r = tables.observed_reward
    here = jnp.asarray(_time_state_features(ts, ss, feats, steps))
    after = jnp.asarray(_time_state_features(ts + 1, nxt, feats, steps))
    # V_hat(t+1, s') is structurally 0 at the step limit and in ENDED
    after_live = jnp.asarray((ts + 1 < steps) & (nxt != tables.ended), jnp.float32)
    reward_after = jnp.asarray(obs_r[nxt], jnp.float32)
    last = jnp.asarray(ts == steps - 1)  # the exact approval is 0 at the last step

    def predict_labels(params, idx):
        if structured:
            pred = (reward_after[idx] + after_live[idx] * _apply(params, after[idx])
                    - _apply(params, here[idx]))
            return jnp.where(last[idx], 0.0, pred)
        return _apply(params, jnp.concatenate([here[idx], after[idx]], axis=1))

    width = here.shape[1] if structured else 2 * here.shape[1]
    params = _init(jax.random.PRNGKey(seed), [width, *config.hidden, 1])
    optimizer = optax.adam(config.learning_rate)
    batch = min(config.labels, 512)

    @jax.jit
    def train(params, key):
        def step(carry, key):
            p, opt_state = carry
            idx = jax.random.randint(key, (batch,), 0, config.labels)
            grads = jax.grad(lambda q: jnp.mean((predict_labels(q, idx) - y[idx]) ** 2))(p)
            updates, opt_state = optimizer.update(grads, opt_state, p)
            return (optax.apply_updates(p, updates), opt_state), None

        keys = jax.random.split(key, config.train_steps)
        (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), keys)
        return params

    params = train(params, jax.random.PRNGKey(seed + 1))
    approval = np.zeros((steps, tables.num_states, tables.num_actions))
    apply = jax.jit(_apply)
    if structured:
        all_t = np.repeat(np.arange(steps + 1), tables.num_states)
        all_s = np.tile(np.arange(tables.num_states), steps + 1)
        value = np.array(apply(params, jnp.asarray(
            _time_state_features(all_t, all_s, feats, steps)))).reshape(steps + 1, -1)
        value[steps] = 0.0
        value[:, tables.ended] = 0.0
        approval = (tables.reward_table("observed")[None] + value[1:][:, tables.next_state]
                    - value[:-1, :, None])
        approval[steps - 1] = 0.0
        return np.where(reach[..., None], approval, 0.0)
    for a in range(tables.num_actions):
        nxt_a = tables.next_state[s_idx, a]
        x = np.concatenate([_time_state_features(t_idx, s_idx, feats, steps),
                            _time_state_features(t_idx + 1, nxt_a, feats, steps)], axis=1)
        approval[t_idx, s_idx, a] = np.asarray(apply(params, jnp.asarray(x)))
    return approval + tables.reward_table("observed")[None]


def _rank(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    # average ranks of ties
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _rank(np.asarray(a, np.float64)), _rank(np.asarray(b, np.float64))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def approval_quality(tables: TabularEnv, learned: np.ndarray, exact: np.ndarray,
                     policy: np.ndarray | None = None) -> dict[str, float]:
    """Rank correlation and MAE over reachable steps; ``mae_visited``: the error on the steps
    ``policy`` takes from the start states, weighted by how often it takes them (a
    deterministic policy [T, S], e.g. the exact solver's, or a stochastic one [T, S, A], e.g. a
    trained PPO policy)."""
    from monarl.tabular.evaluate import occupancy

    reach = reachable_steps(tables)
    mask = np.broadcast_to(reach[..., None], learned.shape)
    quality = {"rank_correlation": spearman(learned[mask], exact[mask]),
               "mae_reachable": float(np.abs(learned[mask] - exact[mask]).mean())}
    if policy is not None:
        visits = occupancy(tables, policy)
        quality["mae_visited"] = float(np.sum(visits * np.abs(learned - exact)) / visits.sum())
    return quality
