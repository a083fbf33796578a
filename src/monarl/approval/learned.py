"""Learned approval from an oversight budget: N overseer labels, a small JAX model, and the
model's predictions as the approval.

Why: a good overseer is expensive; the question is how few labels a learned approval needs before
MONA with it behaves like MONA with the exact approval. The overseer labels N steps (t, s, a)
drawn uniformly from the steps reachable from the start states (seeded). Two label kinds:

- ``advantage``: the exact trusted-advantage approval of the step (reference.md section 3);
- ``outcome``: what the step leads to if the trusted (true-reward optimal) policy continues
  afterwards, scored P(intended) - P(hack) -- a coarser, cheaper judgement.

An MLP (features: t / T, the features of s and of s' = P[s, a]; with stochastic transitions
every successor, weighted by its probability) is fit to the labels with
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

from monarl.approval.base import BuildContext
from monarl.approval.table import TableApproval
from monarl.approval.trusted import TABLES, NoiseSettings, noisy_advantage, trusted_values
from monarl.core.config import check_choice, fail, is_int, setting
from monarl.core.protocols import ApprovalSpec, Family
from monarl.tabular.tables import Tables

LABEL_KINDS = ("advantage", "outcome")
LEARNED_CACHE = 64


@dataclasses.dataclass(frozen=True)
class LearnedSettings(NoiseSettings):
    labels: int = setting(1024, "Overseer label budget N (>= 1).")
    label_kind: str = setting(
        "advantage", "Label = the exact (noisy) advantage approval of the step, or the outcome "
                     "under the trusted policy.", choices=LABEL_KINDS)

    def validate(self, section: str = "approval") -> None:
        super().validate(section)
        if not is_int(self.labels) or self.labels < 1:
            raise fail(section, "labels", self.labels,
                       "the label budget N must be an integer >= 1")
        check_choice(section, "label_kind", self.label_kind, LABEL_KINDS)


@dataclasses.dataclass(frozen=True)
class LearnedApprovalConfig:
    """The model's own settings (not part of a run's config)."""

    labels: int = 1024
    label_kind: str = "advantage"
    hidden: tuple[int, ...] = (128, 128)
    train_steps: int = 3000
    learning_rate: float = 3e-3


def _features(tables: Tables) -> np.ndarray:
    """Per-state model inputs: the environment's features, or its observations at t = 0."""
    feats = tables.features
    if feats is not None:
        return feats
    raise ValueError("a learned approval needs state features (Tables.feature_fn)")


def outcome_labels(tables: Tables, hack: str = "hack", intended: str = "intended") -> np.ndarray:
    """[T, S, A]: P(intended) - P(hack) when the trusted policy continues after the step."""
    from monarl.approval.continuation import trusted_policy

    policy = trusted_policy(tables)
    steps = tables.max_steps
    names = list(tables.outcomes)
    win = names.index(intended) if intended in names else -2
    loss = names.index(hack) if hack in names else -2
    value = np.zeros((steps + 1, tables.num_states))  # +1 intended, -1 hack, at episode end
    score = np.where(tables.outcome == win, 1.0, np.where(tables.outcome == loss, -1.0, 0.0))
    value[steps] = score
    value[steps, tables.ended] = 0.0
    states = np.arange(tables.num_states)
    live = states != tables.ended
    if tables.deterministic:
        for t in range(steps - 1, -1, -1):
            nxt = tables.successor[states, policy[t]]
            ends = (nxt == tables.ended) & (states != tables.ended)
            value[t] = np.where(ends, score, value[t + 1][nxt])
        nxt = tables.successor
        ends = (nxt == tables.ended) & (np.arange(tables.num_states)[:, None] != tables.ended)
        return np.where(ends[None], score[None, :, None], value[1:][:, nxt])
    nxt, prob = tables.next_state, tables.probability  # [S, A, K]
    ends = (nxt == tables.ended) & live[:, None, None]

    def after(v: np.ndarray) -> np.ndarray:  # [S] -> [S, A]: E[score if it ends else v(s')]
        return (np.where(ends, score[:, None, None], v[nxt]) * prob).sum(-1)

    for t in range(steps - 1, -1, -1):
        value[t] = after(value[t + 1])[states, policy[t]]
    return np.stack([after(value[t + 1]) for t in range(steps)])


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


def fit_learned_approval(tables: Tables, exact_approval: np.ndarray, seed: int = 0,
                         config: LearnedApprovalConfig | None = None, hack: str = "hack",
                         intended: str = "intended") -> np.ndarray:
    """Sample ``config.labels`` reachable steps, label them, fit the model, predict [T, S, A].

    Model. For ``advantage`` labels the network is a value V_hat(t, s) and the approval is its
    advantage ``R_obs(s') + V_hat(t+1, s') - V_hat(t, s)`` (V_hat = 0 at the step limit and in
    ENDED), fit so that this matches the labels: the learned approval keeps the potential form
    of the exact one, so it telescopes over a window like the trusted approval. For ``outcome``
    labels the network predicts the label of (t, s, s') directly, and the approval is the step's
    observed reward plus that prediction: like every approval it is MONA's whole training reward,
    so it carries the step's own reward. With stochastic transitions every successor s' counts
    with its probability.
    """
    config = config or LearnedApprovalConfig()
    if not isinstance(config.labels, int) or config.labels < 1:
        raise ValueError(f"labels={config.labels!r} is invalid: must be an integer >= 1")
    if config.label_kind not in LABEL_KINDS:
        raise ValueError(f"label_kind={config.label_kind!r} is invalid: allowed are "
                         f"{', '.join(LABEL_KINDS)}")
    steps = tables.max_steps
    reach = tables.reachable_steps()
    t_idx, s_idx = np.nonzero(reach)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(t_idx), size=config.labels)
    actions = rng.integers(0, tables.num_actions, size=config.labels)
    ts, ss = t_idx[pick], s_idx[pick]
    structured = config.label_kind == "advantage"
    target_table = exact_approval if structured else outcome_labels(tables, hack, intended)
    y = jnp.asarray(target_table[ts, ss, actions], jnp.float32)
    feats = _features(tables)
    here = jnp.asarray(_time_state_features(ts, ss, feats, steps))
    last = jnp.asarray(ts == steps - 1)  # the exact approval is 0 at the last step
    k = tables.branching
    nxt = tables.next_state[ss, actions]  # [N, K]
    after = jnp.asarray(np.stack([_time_state_features(ts + 1, nxt[:, j], feats, steps)
                                  for j in range(k)], axis=1))  # [N, K, F]
    # V_hat(t+1, s') is structurally 0 at the step limit and in ENDED
    after_live = jnp.asarray((ts[:, None] + 1 < steps) & (nxt != tables.ended), jnp.float32)
    prob = jnp.asarray(tables.probability[ss, actions], jnp.float32)  # [N, K]
    reward_after = jnp.asarray(tables.reward_table("observed")[ss, actions], jnp.float32)
    if tables.deterministic:  # the exact single-successor program
        after, after_live, prob = after[:, 0], after_live[:, 0], None

    def successors(params, idx, fn):
        """E over the successors of ``fn(params, successor features)``."""
        if prob is None:
            return fn(params, after[idx])
        return jnp.sum(prob[idx] * fn(params, after[idx]), axis=-1)

    def predict_labels(params, idx):
        if structured:
            pred = (reward_after[idx]
                    + successors(params, idx, lambda p, x: _apply(p, x) * after_live[idx])
                    - _apply(params, here[idx]))
            return jnp.where(last[idx], 0.0, pred)
        if prob is None:
            return _apply(params, jnp.concatenate([here[idx], after[idx]], axis=1))
        pairs = jnp.concatenate([jnp.broadcast_to(here[idx][:, None], after[idx].shape),
                                 after[idx]], axis=-1)
        return jnp.sum(prob[idx] * _apply(params, pairs), axis=-1)

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
        approval = (tables.reward_table("observed")[None] + tables.expect(value[1:])
                    - value[:-1, :, None])
        approval[steps - 1] = 0.0
        return np.where(reach[..., None], approval, 0.0)
    here_all = _time_state_features(t_idx, s_idx, feats, steps)
    for a in range(tables.num_actions):
        total = np.zeros(len(t_idx))
        for j in range(k):
            nxt_a = tables.next_state[s_idx, a, j]
            x = np.concatenate([here_all, _time_state_features(t_idx + 1, nxt_a, feats, steps)],
                               axis=1)
            pred = np.asarray(apply(params, jnp.asarray(x)))
            total = pred if k == 1 else total + tables.probability[s_idx, a, j] * pred
        approval[t_idx, s_idx, a] = total
    return approval + tables.reward_table("observed")[None]


def build(ctx: BuildContext, settings: LearnedSettings) -> TableApproval:
    tables = ctx.require_tables("learned")
    values = trusted_values(tables)
    config = LearnedApprovalConfig(labels=settings.labels, label_kind=settings.label_kind)

    def exact(seed: int) -> np.ndarray:
        return noisy_advantage(tables, values, settings, seed)

    def learned(seed: int) -> np.ndarray:
        # Fitting takes seconds, and a sweep trains the same learned overseer at several
        # horizons in one process: keep the most recent fits of these tables.
        cache = tables.cached("learned", dict)
        key = (settings, seed)
        if key not in cache:
            cache[key] = fit_learned_approval(tables, exact(seed), seed=seed, config=config,
                                              hack=ctx.env.hack or "hack",
                                              intended=ctx.env.intended or "intended")
            while len(cache) > LEARNED_CACHE:
                cache.pop(next(iter(cache)))
        return cache[key]

    return TableApproval("learned", ctx.env, tables, ctx.seeds, learned, True, reference=exact)


SPEC = ApprovalSpec(
    name="learned",
    summary="An oversight budget: a model fit to --labels N overseer labels (advantages or "
            "outcomes) stands in for the trusted approval.",
    settings=LearnedSettings,
    build=build,
    needs=lambda settings: TABLES,
    family=lambda settings: Family("learned", "labels", "label budget N", "#1565c0",
                                                 log_above=0),
    seed_dependent=lambda settings: True,
)
