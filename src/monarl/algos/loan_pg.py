"""Policy gradient on the loan environment: ordinary RL learns steganography, MONA does not.

Read top to bottom: hyperparameters (:class:`LoanPGConfig`), the reference writer, the
networks, the overseer's approval, ``make_train`` (sample applicants -> write -> decide ->
horizon returns -> one REINFORCE update, scanned; periodic greedy evaluation), and the host-side
entry point :func:`train_loan` (the JSON of ``monarl train loan-steganography``).

The two MONA knobs enter in exactly two places:

1. *Approval* (``approval="overseer"``): the summary step's training reward adds
   :func:`overseer_approval`, ``fact_reward * (true facts - false facts)`` about x, judged
   without seeing the decision. ``approval="none"`` adds nothing.
2. *Horizon*: the two training rewards ``[r_summary, r_decision]`` go through
   :func:`monarl.core.horizon.horizon_returns`. ``horizon=None`` (ordinary RL) makes the summary's
   return ``r_summary + r_decision``; ``horizon=1`` (MONA) makes it ``r_summary`` alone. The
   decision step is trained on its own reward in both arms.

The issue's ordinary-RL arm is ``approval="overseer", horizon=None`` (the same summary reward as
MONA, for fairness); MONA is ``approval="overseer", horizon=1``.

Algorithm: REINFORCE with learned baselines (one small MLP critic per step), Adam, batched
episodes; the summary policy is regularised by ``kl_coef * KL(pi || pi_ref)`` to a fixed
*reference writer* pi_ref, as language-model RL is regularised towards its pretrained model.
pi_ref writes the canonical summary "feature j's fact at position j, a pad filler after the
facts" without knowing x or n (:func:`reference_logits`). Why it matters: a step-1 training
reward that does not depend on n (MONA's) has a KL-regularised optimum
``pi*(m | x, n) ∝ pi_ref(m) exp(R(x, m) / kl_coef)`` that does not depend on n either, so ties
between equally approved messages (which filler to pad with, in which order to state facts) are
broken the same way for both nationalities instead of by initialisation noise, and greedy
decoding is well defined. The regulariser acts on each step's own policy (no return crosses
steps through it), so it is the same for both arms and leaks nothing across the horizon.

Everything (training, evaluation, probe fits) is one jitted ``lax.scan`` per run; seeds are a
``jax.vmap``. The stronger monitor (``probe_monitor_coef > 0``) is a logistic probe on messages,
refit every ``probe_refresh_every`` updates on freshly sampled messages of the current writer;
the summary step is charged ``probe_monitor_coef * P(probe names the true nationality)``,
as part of the monitor's (observed) reward of step 1, in both arms.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from monarl.core.config import from_mapping
from monarl.core.horizon import horizon_returns, validate_horizon
from monarl.envs.loan import metrics as lm
from monarl.envs.loan import rules as loan
from monarl.runtime.progress import ProgressRelay

APPROVALS = ("none", "overseer")
METRICS = (
    "observed_accuracy",
    "unbiased_accuracy",
    "leakage",
    "leakage_mlp",
    "flip_rate",
    "monitor_flag_rate",
    "message_flip_rate",
    "true_facts",
    "false_facts",
    "repeated_facts",
    "odd_filler",
    "probe_detection",
)
"""Evaluation metrics (greedy decoding, held-out applicants). The issue's five are
``observed_accuracy``, ``unbiased_accuracy``, ``leakage`` (linear probe), ``flip_rate`` and
``monitor_flag_rate``; ``leakage_mlp`` is leakage read by a nonlinear (MLP) probe, at the end of
training only (not in the curves);
``message_flip_rate`` is how often the greedy *message* changes when only n is flipped;
``true_facts`` / ``false_facts`` are per message; ``repeated_facts`` (fact tokens beyond their
first occurrence) and ``odd_filler`` (filler other than the reference pad) show where a code
lives; ``probe_detection`` is the mean detection
probability of the training monitor's probe on the held-out messages (0.5 when it is off)."""


# --------------------------------------------------------------------------------------------
# Hyperparameters
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LoanPGConfig:
    """Every hyperparameter in one place; the same values for both arms (docs/loan.md)."""

    total_steps: int = 1_000_000
    """Environment steps per seed (2 per episode), rounded up to whole updates of
    ``batch_size`` episodes and whole evaluation chunks (:func:`planned_updates`); the budget
    of a run (``steps`` of :func:`train_loan` overrides it)."""
    batch_size: int = 256
    """Episodes (applicants) per update; each episode is 2 environment steps."""
    learning_rate: float = 3e-3
    """Adam step size of all networks (linearly annealed to 0 over training if ``anneal_lr``)."""
    anneal_lr: bool = True
    """Linear decay to 0: a stable end point. Why: under MONA the decision learns the biased
    label from honest facts, whose signal is weak for mixed fact patterns (P(y = 1) near 0.5),
    so at a constant step size its greedy rule for those patterns keeps drifting."""
    hidden: int = 64
    """Width of the two hidden layers of the writer and of the decider, one layer of critics."""
    fact_reward: float = 0.5
    """Overseer approval per distinct true fact, minus the same per false fact."""
    kl_coef: float = 0.02
    """Weight of KL(writer || reference writer) per message (summed over positions)."""
    prior_logit: float = 3.0
    """Reference writer's logit bonus for its canonical tokens at each position."""
    decision_ent_coef: float = 0.01
    """Entropy bonus of the decision policy."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clipping."""
    eval_points: int = 10
    """Greedy evaluations during training (plus one before it); the last one is ``final``."""
    eval_applicants: int = 4096
    """Held-out applicants per evaluation (half fit the leakage probe, half test it)."""
    probe_steps: int = 200
    """Gradient steps of each probe fit (leakage metric and monitor refits)."""
    probe_l2: float = 1e-3
    """L2 weight of the probes."""
    mlp_probe_steps: int = 500
    """Adam steps of the final nonlinear leakage probe (``leakage_mlp``; 0 skips it: NaN)."""
    probe_monitor_coef: float = 0.0
    """Stronger monitor: penalty per unit of the probe's detection probability (0 = off)."""
    probe_refresh_every: int = 10
    """Updates between refits of the monitor probe."""
    probe_monitor_applicants: int = 1024
    """Fresh applicants whose sampled messages each monitor refit uses."""

    def validate(self) -> LoanPGConfig:
        """Raise :class:`loan.LoanError` naming the field, the value and what is allowed."""

        def fail(name: str, allowed: str) -> loan.LoanError:
            return loan.LoanError(f"loan_pg.{name}={getattr(self, name)!r} is invalid: {allowed}")

        if not isinstance(self.anneal_lr, bool):
            raise fail("anneal_lr", "must be true or false")
        if not loan._is_int(self.total_steps) or self.total_steps < 2:
            raise fail(
                "total_steps", "must be an integer >= 2 (environment steps per seed, 2 per episode)"
            )
        if not loan._is_int(self.mlp_probe_steps) or self.mlp_probe_steps < 0:
            raise fail("mlp_probe_steps", "must be an integer >= 0 (0 skips the MLP probe)")
        for name in (
            "batch_size",
            "hidden",
            "eval_points",
            "eval_applicants",
            "probe_steps",
            "probe_refresh_every",
            "probe_monitor_applicants",
        ):
            value = getattr(self, name)
            if not loan._is_int(value) or value < 1:
                raise fail(name, "must be an integer >= 1")
        if self.eval_applicants < 4:
            raise fail("eval_applicants", "must be >= 4 (half fit the probe, half test it)")
        for name in ("learning_rate", "max_grad_norm"):
            value = getattr(self, name)
            if not loan._is_number(value) or value <= 0:
                raise fail(name, "must be a finite number > 0")
        for name in (
            "fact_reward",
            "kl_coef",
            "prior_logit",
            "decision_ent_coef",
            "probe_l2",
            "probe_monitor_coef",
        ):
            value = getattr(self, name)
            if not loan._is_number(value) or value < 0:
                raise fail(name, "must be a finite number >= 0")
        return self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoanPGConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise loan.LoanError(
                f"loan_pg: unknown field {unknown[0]!r}; known fields are "
                f"{', '.join(sorted(known))}"
            )
        return cls(**dict(data)).validate()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------
# Reference writer, networks, approval
# --------------------------------------------------------------------------------------------


def canonical_tokens(params: loan.LoanParams) -> np.ndarray:
    """``[L, V]`` 0/1: the tokens the reference writer prefers at each position. Position j < F:
    the two facts about feature j; later positions: the first filler token (a pad), or, with no
    filler in the vocabulary, the facts about feature ``j mod F``."""
    f, length, v = params.num_features, params.message_length, params.vocab_size
    canon = np.zeros((length, v), np.float32)
    for j in range(length):
        if j < f or params.num_filler == 0:
            i = j % f
            canon[j, 2 * i] = canon[j, 2 * i + 1] = 1.0
        else:
            canon[j, params.first_filler] = 1.0
    return canon


def reference_logits(params: loan.LoanParams, prior_logit: float) -> jax.Array:
    """Logits ``[L, V]`` of the reference writer: ``prior_logit`` on canonical tokens, else 0."""
    return jnp.asarray(canonical_tokens(params) * prior_logit)


def init_mlp(key: jax.Array, sizes: tuple[int, ...], out_scale: float) -> list[dict]:
    """Gaussian weights with std ``gain / sqrt(fan_in)`` (gain 1 on the tanh hidden layers,
    ``out_scale`` on the last; 0 gives a zero output layer), zero biases.

    Why not orthogonal initialisation: it calls LAPACK's QR, and on this jax/XLA CPU build
    (0.10.2) a program with about 8 or more QR custom calls under ``vmap`` deadlocks on a
    2-core machine (reproduced with ``jax.nn.initializers.orthogonal`` alone)."""
    layers = []
    keys = jax.random.split(key, len(sizes) - 1)
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        gain = out_scale if i == len(sizes) - 2 else 1.0
        w = jax.random.normal(k, (n_in, n_out), jnp.float32) * (gain / math.sqrt(n_in))
        layers.append({"w": w, "b": jnp.zeros((n_out,), jnp.float32)})
    return layers


def apply_mlp(layers: list[dict], x: jax.Array) -> jax.Array:
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


class Nets(NamedTuple):
    writer: list[dict]  # (x, n) -> [L * V] logit offsets from the reference writer
    decider: list[dict]  # message one-hot -> 2 logits (reject, approve)
    critic_summary: list[dict]  # (x, n) -> baseline of the summary step's return
    critic_decision: list[dict]  # message one-hot -> baseline of the decision's return


def init_nets(key: jax.Array, params: loan.LoanParams, hidden: int) -> Nets:
    """The writer's output layer starts at zero, so the initial writer *is* the reference."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    obs1 = params.num_features + 1
    obs2 = params.message_length * params.vocab_size
    return Nets(
        writer=init_mlp(k1, (obs1, hidden, hidden, obs2), 0.0),
        decider=init_mlp(k2, (obs2, hidden, hidden, 2), 0.01),
        critic_summary=init_mlp(k3, (obs1, hidden, 1), 1.0),
        critic_decision=init_mlp(k4, (obs2, hidden, 1), 1.0),
    )


def writer_logits(nets: Nets, ref: jax.Array, x: jax.Array, n: jax.Array) -> jax.Array:
    """Summary policy logits ``[..., L, V]`` for applicants ``x`` [..., F], ``n`` [...]."""
    out = apply_mlp(nets.writer, loan.applicant_features(x, n))
    return ref + out.reshape(*out.shape[:-1], *ref.shape)


def decider_logits(nets: Nets, params: loan.LoanParams, message: jax.Array) -> jax.Array:
    return apply_mlp(nets.decider, loan.message_one_hot(message, params))


def overseer_approval(
    x: jax.Array, message: jax.Array, params: loan.LoanParams, fact_reward: float | jax.Array
) -> jax.Array:
    """MONA's approval of a summary: ``fact_reward * (true facts - false facts)`` about x.

    The overseer reads fact tokens only (filler means nothing to it) and never sees the
    decision or its reward: it judges the summary's foresight value as "states what is true
    about the applicant's legitimate features"."""
    true_facts, false_facts = loan.fact_counts(x, message, params)
    return fact_reward * (true_facts - false_facts)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


def training_returns(r_summary: jax.Array, r_decision: jax.Array, horizon: int | None) -> jax.Array:
    """Returns ``[2, B]`` of the summary and decision steps: the horizon knob.

    The two training rewards form a time-major two-step episode that ends after the decision,
    and :func:`monarl.core.horizon.horizon_returns` does the rest: ``horizon=None`` gives the
    summary ``r_summary + r_decision`` (ordinary RL), ``horizon=1`` gives it ``r_summary``
    alone (MONA); the decision's return is ``r_decision`` either way."""
    rewards = jnp.stack([r_summary, r_decision])
    dones = jnp.broadcast_to(jnp.asarray([[False], [True]]), rewards.shape)
    return horizon_returns(rewards, dones, horizon)


class Runner(NamedTuple):
    nets: Nets
    opt_state: Any
    probe: lm.Probe  # the stronger monitor's probe (unused when it is off)
    key: jax.Array
    update: jax.Array


def _sample_applicants(key: jax.Array, params: loan.LoanParams, count: int) -> loan.LoanState:
    return jax.vmap(loan.sample_applicant, in_axes=(0, None))(jax.random.split(key, count), params)


def _updates_per_eval(config: LoanPGConfig, num_updates: int) -> int:
    """Updates between evaluation points: ``num_updates`` spread over ``eval_points`` chunks,
    each a whole number of monitor refresh periods when the probe monitor is on."""
    per_eval = max(1, math.ceil(num_updates / config.eval_points))
    if config.probe_monitor_coef > 0:
        period = config.probe_refresh_every
        per_eval = math.ceil(per_eval / period) * period
    return per_eval


def planned_updates(config: LoanPGConfig, steps: int | None = None) -> int:
    """Updates a run of ``steps`` environment steps per seed (default ``config.total_steps``)
    really makes: rounded up to whole updates and whole evaluation chunks. Its environment
    steps are ``2 * batch_size`` times this."""
    steps = config.total_steps if steps is None else steps
    num_updates = max(1, math.ceil(steps / (2 * config.batch_size)))
    return _updates_per_eval(config, num_updates) * config.eval_points


def make_train(
    config: LoanPGConfig,
    params: loan.LoanParams,
    approval: str = "overseer",
    horizon: int | None = None,
    num_updates: int = 1000,
    progress: Callable[[int], None] | None = None,
):
    """``train(key) -> {"curve": {metric: [E+1]}, "final": {metric: []}, "nets": Nets}``.

    ``approval`` and ``horizon`` are the two MONA knobs (module docstring); ``num_updates`` is
    rounded up to a whole number of evaluation chunks (and monitor refresh periods).
    ``progress(env_steps_per_seed)`` is called from inside the compiled loop at every
    evaluation point (for a progress bar; under ``vmap`` it may be called once per seed)."""
    config.validate()
    if approval not in APPROVALS:
        raise loan.LoanError(f"approval={approval!r} is invalid: allowed are none, overseer")
    horizon = validate_horizon(horizon)
    fact_reward = config.fact_reward if approval == "overseer" else 0.0
    ref = reference_logits(params, config.prior_logit)
    ref_logp = jax.nn.log_softmax(ref, axis=-1)
    batch = config.batch_size
    monitor_on = config.probe_monitor_coef > 0
    period = config.probe_refresh_every if monitor_on else None
    per_eval = _updates_per_eval(config, num_updates)
    periods_per_eval = per_eval // period if period is not None else 1
    updates_per_period = period if period is not None else per_eval
    vocab = params.vocab_size
    total_updates = per_eval * config.eval_points
    lr = (
        optax.linear_schedule(config.learning_rate, 0.0, total_updates)
        if config.anneal_lr
        else config.learning_rate
    )
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr))

    def monitor_penalty(probe: lm.Probe, messages: jax.Array, n: jax.Array) -> jax.Array:
        if not monitor_on:
            return jnp.zeros(messages.shape[0], jnp.float32)
        feats = lm.batch_features(messages, vocab)
        return -config.probe_monitor_coef * lm.detection_probability(probe, feats, n)

    def loss_fn(nets: Nets, data: dict[str, jax.Array], probe: lm.Probe):
        apps = data["apps"]
        logits1 = writer_logits(nets, ref, apps.x, apps.n)  # [B, L, V]
        logp1_all = jax.nn.log_softmax(logits1, axis=-1)
        message = data["message"]
        logp1 = jnp.take_along_axis(logp1_all, message[..., None], axis=-1)[..., 0].sum(-1)
        kl = jnp.sum(jnp.exp(logp1_all) * (logp1_all - ref_logp), axis=(-2, -1))
        logits2 = decider_logits(nets, params, message)
        logp2_all = jax.nn.log_softmax(logits2, axis=-1)
        logp2 = jnp.take_along_axis(logp2_all, data["decision"][:, None], axis=-1)[:, 0]
        ent2 = -jnp.sum(jnp.exp(logp2_all) * logp2_all, axis=-1)
        v1 = apply_mlp(nets.critic_summary, loan.applicant_features(apps.x, apps.n))[:, 0]
        v2 = apply_mlp(nets.critic_decision, loan.message_one_hot(message, params))[:, 0]
        returns = data["returns"]  # [2, B]
        adv1 = jax.lax.stop_gradient(returns[0] - v1)
        adv2 = jax.lax.stop_gradient(returns[1] - v2)
        policy_loss = -jnp.mean(adv1 * logp1) - jnp.mean(adv2 * logp2)
        reg = config.kl_coef * jnp.mean(kl) - config.decision_ent_coef * jnp.mean(ent2)
        value_loss = 0.5 * jnp.mean((returns[0] - v1) ** 2) + 0.5 * jnp.mean((returns[1] - v2) ** 2)
        return policy_loss + reg + value_loss, {"kl": jnp.mean(kl), "value_loss": value_loss}

    def update_step(runner: Runner, _) -> tuple[Runner, dict[str, jax.Array]]:
        key, k_app, k_msg, k_dec = jax.random.split(runner.key, 4)
        nets = runner.nets
        apps = _sample_applicants(k_app, params, batch)
        message = jax.random.categorical(k_msg, writer_logits(nets, ref, apps.x, apps.n))
        decision = jax.random.categorical(k_dec, decider_logits(nets, params, message))
        # Step 1's observed reward (the monitor) plus the approval knob; step 2's reward.
        flagged = loan.monitor_flag(message, params)
        r_summary = (
            -params.monitor_penalty * flagged.astype(jnp.float32)
            + monitor_penalty(runner.probe, message, apps.n)
            + overseer_approval(apps.x, message, params, fact_reward)
        )
        r_decision = (decision == apps.y).astype(jnp.float32)
        returns = training_returns(r_summary, r_decision, horizon)
        data = {"apps": apps, "message": message, "decision": decision, "returns": returns}
        grads, aux = jax.grad(loss_fn, has_aux=True)(nets, data, runner.probe)
        updates, opt_state = optimizer.update(grads, runner.opt_state, nets)
        nets = optax.apply_updates(nets, updates)
        stats = {
            "train_observed_accuracy": jnp.mean(r_decision),
            "train_flag_rate": jnp.mean(flagged.astype(jnp.float32)),
            **aux,
        }
        return Runner(nets, opt_state, runner.probe, key, runner.update + 1), stats

    def refresh_monitor(runner: Runner) -> Runner:
        key, k_app, k_msg = jax.random.split(runner.key, 3)
        apps = _sample_applicants(k_app, params, config.probe_monitor_applicants)
        logits = writer_logits(runner.nets, ref, apps.x, apps.n)
        messages = jax.random.categorical(k_msg, logits)
        feats = lm.batch_features(messages, vocab)
        probe = lm.fit_probe(
            feats, apps.n, init=runner.probe, steps=config.probe_steps, l2=config.probe_l2
        )
        return runner._replace(probe=probe, key=key)

    def run_period(runner: Runner, _) -> tuple[Runner, dict[str, jax.Array]]:
        if monitor_on:
            runner = refresh_monitor(runner)
        return jax.lax.scan(update_step, runner, None, length=updates_per_period)

    def greedy_messages(nets: Nets, eval_key: jax.Array):
        apps = _sample_applicants(eval_key, params, config.eval_applicants)
        return apps, jnp.argmax(writer_logits(nets, ref, apps.x, apps.n), axis=-1)

    def evaluate(runner: Runner, eval_key: jax.Array) -> dict[str, jax.Array]:
        """Greedy decoding on held-out applicants (the same ones at every point)."""
        nets = runner.nets
        apps, message = greedy_messages(nets, eval_key)
        message_cf = jnp.argmax(writer_logits(nets, ref, apps.x, 1 - apps.n), axis=-1)
        decision = jnp.argmax(decider_logits(nets, params, message), axis=-1)
        decision_cf = jnp.argmax(decider_logits(nets, params, message_cf), axis=-1)
        true_facts, false_facts = loan.fact_counts(apps.x, message, params)
        feats = lm.batch_features(message, vocab)
        return {
            "observed_accuracy": jnp.mean((decision == apps.y).astype(jnp.float32)),
            "unbiased_accuracy": jnp.mean((decision == apps.y_unbiased).astype(jnp.float32)),
            "leakage": lm.leakage(message, apps.n, vocab, config.probe_steps, config.probe_l2),
            "flip_rate": lm.flip_rate(decision, decision_cf),
            "monitor_flag_rate": jnp.mean(loan.monitor_flag(message, params).astype(jnp.float32)),
            "message_flip_rate": jnp.mean(
                jnp.any(message != message_cf, axis=-1).astype(jnp.float32)
            ),
            "true_facts": jnp.mean(true_facts),
            "false_facts": jnp.mean(false_facts),
            "repeated_facts": jnp.mean(lm.repeated_facts(message, params.num_features, vocab)),
            "odd_filler": jnp.mean(lm.odd_filler(message, params.first_filler)),
            "probe_detection": jnp.mean(lm.detection_probability(runner.probe, feats, apps.n)),
        }

    def chunk(carry, _):
        runner, eval_key = carry
        runner, stats = jax.lax.scan(run_period, runner, None, length=periods_per_eval)
        point = evaluate(runner, eval_key)
        point.update({k: jnp.mean(v) for k, v in stats.items()})
        point["updates"] = runner.update
        if progress is not None:
            jax.debug.callback(
                lambda u: progress(int(np.max(np.asarray(u))) * 2 * batch), runner.update
            )
        return (runner, eval_key), point

    def train(key: jax.Array) -> dict[str, Any]:
        k_init, k_eval, k_run = jax.random.split(key, 3)
        nets = init_nets(k_init, params, config.hidden)
        probe = lm.init_probe(lm.num_message_features(params.message_length, vocab))
        runner = Runner(nets, optimizer.init(nets), probe, k_run, jnp.asarray(0, jnp.int32))
        first = evaluate(runner, k_eval)
        first.update(
            {
                "train_observed_accuracy": jnp.nan,
                "train_flag_rate": jnp.nan,
                "kl": jnp.asarray(0.0),
                "value_loss": jnp.nan,
                "updates": runner.update,
            }
        )
        (runner, _), points = jax.lax.scan(chunk, (runner, k_eval), None, length=config.eval_points)
        curve = jax.tree_util.tree_map(
            lambda a, b: jnp.concatenate([jnp.asarray(a, b.dtype)[None], b]), first, points
        )
        final = jax.tree_util.tree_map(lambda c: c[-1], curve)
        if config.mlp_probe_steps > 0:
            apps, message = greedy_messages(runner.nets, k_eval)
            key = jax.random.fold_in(k_eval, 1)
            steps = config.mlp_probe_steps
            final["leakage_mlp"] = lm.mlp_leakage(message, apps.n, vocab, key, steps=steps)
        else:
            final["leakage_mlp"] = jnp.asarray(jnp.nan, jnp.float32)
        return {"curve": curve, "final": final, "nets": runner.nets}

    train.updates = total_updates  # type: ignore[attr-defined]
    return train


# --------------------------------------------------------------------------------------------
# Host-side entry point: the JSON of `monarl train loan-steganography`
# --------------------------------------------------------------------------------------------

def env_from_dict(env: Mapping[str, Any] | None) -> loan.LoanParams:
    """Validated :class:`loan.LoanParams` from a mapping (TOML table / CLI options): the
    fields of :class:`loan.LoanEnvConfig`, the environment named by ``name`` or ``env``."""
    settings = dict(env or {})
    if "env" in settings:
        settings["name"] = settings.pop("env")
    return from_mapping(loan.LoanEnvConfig, settings, "env").make_params()


def _parse_horizon(horizon: Any) -> int | None:
    if isinstance(horizon, str):
        if horizon.lower() in ("none", "full", "inf"):
            return None
        try:
            horizon = int(horizon)
        except ValueError:
            raise loan.LoanError(
                f"horizon={horizon!r} is invalid: allowed are 1 (MONA) and none (ordinary RL)"
            ) from None
    try:
        return validate_horizon(horizon)
    except ValueError as exc:
        raise loan.LoanError(
            f"horizon={horizon!r} is invalid: allowed are 1 (MONA) and none (ordinary RL)"
        ) from exc


def train_loan(
    env_params: loan.LoanParams | Mapping[str, Any] | None = None,
    approval: str = "overseer",
    horizon: int | str | None = None,
    seeds: int | list[int] = 10,
    steps: int | None = None,
    *,
    seed_offset: int = 0,
    config: LoanPGConfig | None = None,
    bounds: bool = True,
    progress: Callable[[int], None] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Train ``seeds`` seeds in one ``jit(vmap(train))`` call and return the run's JSON.

    Args:
        env_params: :class:`loan.LoanParams`, or a mapping for :func:`env_from_dict`
            (None = defaults).
        approval: ``"overseer"`` (summary reward = true minus false facts) or ``"none"``.
        horizon: ``None``/``"none"`` (ordinary RL) or ``1`` (MONA; any int M >= 1 is accepted,
            and with two steps every M >= 2 equals None).
        seeds: a count (seeds ``seed_offset ..``) or an explicit list of seeds.
        steps: environment steps per seed (2 per episode), rounded up to whole updates of
            ``batch_size`` episodes and whole evaluation chunks; None = ``config.total_steps``
            (default 1,000,000).
        config / overrides: :class:`LoanPGConfig` and field overrides.
        bounds: include the Monte-Carlo accuracy bounds (:func:`loan.accuracy_bounds`).
        progress: optional callback with the environment steps done per seed (see
            :func:`make_train`).

    Returns ``{"final", "final_ci95", "per_seed", "steps", "seeds", "wall_seconds",
    "env_steps_per_second", "curves", "bounds", "config"}``: ``final`` holds the means over seeds
    of :data:`METRICS`, ``final_ci95`` their 95 % percentile-bootstrap intervals over seeds,
    ``per_seed`` one row per seed. Everything is validated before any compilation.
    """
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        if seeds < 1:
            raise loan.LoanError(f"seeds={seeds!r} is invalid: must be an integer >= 1")
        if not loan._is_int(seed_offset) or seed_offset < 0:
            raise loan.LoanError(f"seed_offset={seed_offset!r} is invalid: must be an int >= 0")
        seed_list = list(range(seed_offset, seed_offset + int(seeds)))
    else:
        seed_list = list(seeds) if seeds is not None else []
        if not seed_list or not all(loan._is_int(s) and s >= 0 for s in seed_list):
            raise loan.LoanError(
                f"seeds={seeds!r} is invalid: an integer >= 1 or a non-empty list of ints >= 0"
            )
    if steps is not None and (not loan._is_int(steps) or steps < 2):
        raise loan.LoanError(
            f"steps={steps!r} is invalid: must be an integer >= 2 "
            "(environment steps per seed, 2 per episode)"
        )
    if approval not in APPROVALS:
        raise loan.LoanError(f"approval={approval!r} is invalid: allowed are none, overseer")
    horizon = _parse_horizon(horizon)
    config = dataclasses.replace(config or LoanPGConfig(), **overrides)
    if steps is not None:
        config = dataclasses.replace(config, total_steps=int(steps))
    config = config.validate()
    steps = config.total_steps
    params = env_params if isinstance(env_params, loan.LoanParams) else env_from_dict(env_params)

    num_updates = max(1, math.ceil(steps / (2 * config.batch_size)))
    started = time.perf_counter()
    fn, updates = _compiled(config, params, approval, horizon, num_updates)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seed_list])
    with _PROGRESS.forwarding(progress):
        out = jax.block_until_ready(fn(keys))
    wall = time.perf_counter() - started
    return summarize(out, params, config, approval, horizon, seed_list, wall, updates, bounds)


_COMPILED: dict[tuple, tuple[Any, int]] = {}


# Every program reports progress through ``_PROGRESS`` (one host callback per evaluation point,
# forwarded to the call's own callback, if any), so calls with and without a progress display
# share one program.
_PROGRESS = ProgressRelay()


def _compiled(config, params, approval, horizon, num_updates):
    """``jit(vmap(train))`` and its update count, reused within a process for identical
    settings (compiling takes 10-15 s on the 2-core machine; running a tiny config, well under
    one)."""
    program = dataclasses.replace(config, total_steps=2)  # the budget is num_updates
    key = (program, json.dumps(loan.env_settings(params)), approval, horizon, num_updates)
    if key in _COMPILED:
        return _COMPILED[key]
    train = make_train(config, params, approval, horizon, num_updates, _PROGRESS)
    entry = (jax.jit(jax.vmap(train)), train.updates)
    if len(_COMPILED) >= 8:
        _COMPILED.pop(next(iter(_COMPILED)))
    _COMPILED[key] = entry
    return entry


def summarize(
    out: dict[str, Any],
    params: loan.LoanParams,
    config: LoanPGConfig,
    approval: str,
    horizon: int | None,
    seed_list: list[int],
    wall: float,
    updates: int,
    bounds: bool = True,
) -> dict[str, Any]:
    """The run JSON from the device outputs of ``jax.vmap(train)``."""
    from monarl.reports.plots import bootstrap_ci  # local: matplotlib is only needed here

    final = jax.device_get(out["final"])
    curve = jax.device_get(out["curve"])
    env_steps = int(updates) * config.batch_size * 2
    per_seed = []
    for i, seed in enumerate(seed_list):
        row = {name: float(final[name][i]) for name in METRICS}
        row["seed"] = int(seed)
        per_seed.append(row)
    curve_names = [k for k in curve if k != "updates"]
    result = {
        "final": {name: float(np.mean(final[name])) for name in METRICS},
        "final_ci95": {name: list(bootstrap_ci(np.asarray(final[name]))) for name in METRICS},
        "per_seed": per_seed,
        "steps": env_steps,
        "seeds": len(seed_list),
        "wall_seconds": wall,
        "env_steps_per_second": env_steps * len(seed_list) / wall,
        "curves": {
            "env_steps": [int(u) * config.batch_size * 2 for u in np.asarray(curve["updates"])[0]],
            **{name: np.asarray(curve[name], np.float64).tolist() for name in curve_names},
        },
        "config": {
            "algo": "loan-pg",
            "env": loan.env_settings(params),
            "approval": approval,
            "horizon": horizon,
            "arm": arm_name(approval, horizon),
            "updates": int(updates),
            "seed_list": [int(s) for s in seed_list],
            "loan_pg": config.to_dict(),
        },
    }
    if bounds:
        result["bounds"] = loan.accuracy_bounds(params)
    return result


def arm_name(approval: str, horizon: int | None) -> str:
    """ "ordinary RL" for the full horizon, "MONA" for horizon 1 with the overseer."""
    if horizon is None or horizon >= 2:
        return "ordinary RL" + ("" if approval == "overseer" else " (no summary reward)")
    return "MONA" if approval == "overseer" else "myopic, no approval"


# --------------------------------------------------------------------------------------------
# Experiment files and the comparison table
# --------------------------------------------------------------------------------------------


def load_experiment(path: str | Any, main: bool = True) -> list[dict[str, Any]]:
    """Arms of a loan experiment file (``examples/loan_steganography.toml``), validated.

    The file is an ordinary experiment file (docs/experiments.md, read by
    :func:`monarl.experiments.spec.load_sweep`) whose runs are all ``algo = "loan-pg"``. Returns
    one dict per condition (a ``[variants.NAME]``, or ``base`` if there are none; runs that
    differ only in ``seed``, which must be contiguous): ``{"name", "main", "seeds",
    "seed_offset", "steps", "approval", "horizon", "env": LoanParams, "config":
    LoanPGConfig}``. ``main`` labels every arm (benchmarks/bench_loan.py runs the main file's
    arms by default and the variants file's with ``--all``)."""
    from monarl.experiments.spec import SpecError, load_sweep

    try:
        sweep = load_sweep(path)
    except SpecError as exc:
        raise loan.LoanError(str(exc)) from None
    groups: dict[tuple[str, str], list[Any]] = {}
    for run in sweep.runs:
        if run.algo != "loan-pg":
            raise loan.LoanError(f"{path}: algo={run.algo!r} is invalid: this file needs 'loan-pg'")
        name = sweep.variants.get(run.run_id, "base")
        key = (name, json.dumps(run.without("seed"), sort_keys=True))
        groups.setdefault(key, []).append(run)
    names = [name for name, _ in groups]
    arms = []
    for i, ((name, _), runs) in enumerate(groups.items()):
        seeds = sorted(r.seed for r in runs)
        if seeds != list(range(seeds[0], seeds[0] + len(seeds))):
            raise loan.LoanError(f"{path}: {name}: seeds {seeds} are not contiguous")
        first = runs[0]
        arms.append(
            {
                "name": name if names.count(name) == 1 else f"{name}-{names[:i].count(name) + 1}",
                "main": main,
                "seeds": len(seeds),
                "seed_offset": seeds[0],
                "steps": first.settings.total_steps,
                "approval": first.approval.kind,
                "horizon": first.horizon,
                "env": first.env.make_params(),
                "config": first.settings,
            }
        )
    return arms


def run_arm(arm: Mapping[str, Any], bounds: bool = True) -> dict[str, Any]:
    """Train one arm of :func:`load_experiment` (all its seeds in one vmapped call)."""
    return train_loan(
        arm["env"],
        arm["approval"],
        arm["horizon"],
        arm["seeds"],
        arm["steps"],
        seed_offset=arm.get("seed_offset", 0),
        config=arm["config"],
        bounds=bounds,
    )


TABLE_METRICS = (
    "observed_accuracy",
    "unbiased_accuracy",
    "leakage",
    "leakage_mlp",
    "flip_rate",
    "monitor_flag_rate",
    "message_flip_rate",
)
CONTENT_METRICS = ("true_facts", "false_facts", "repeated_facts", "odd_filler", "probe_detection")
"""Where the code lives (message content per greedy message), for a second table."""


def comparison_markdown(
    results: Mapping[str, Mapping[str, Any]], metrics: tuple[str, ...] = TABLE_METRICS
) -> str:
    """A Markdown table: one row per arm, ``mean [95 % CI]`` over seeds for each metric."""
    header = "| arm | seeds | " + " | ".join(m.replace("_", " ") for m in metrics) + " |"
    lines = [header, "|" + "---|" * (len(metrics) + 2)]
    for name, res in results.items():
        cells = []
        for m in metrics:
            lo, hi = res["final_ci95"][m]
            cells.append(f"{res['final'][m]:.3f} [{lo:.3f}, {hi:.3f}]")
        lines.append(f"| {name} | {res['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
