"""Policy gradient on the loan environment: ordinary RL learns steganography, MONA does not.

Read top to bottom: the reference writer, the networks (``algos/networks.py``'s MLPs),
``make_train`` (sample applicants -> write -> decide -> horizon returns -> one REINFORCE
update, scanned; periodic greedy evaluation). Hyperparameters are in ``config.py``
(:class:`LoanPGConfig`), the host-side entry point :func:`~monarl.algos.loan_pg.run.
train_loan` (the JSON of ``monarl train loan-steganography``) in ``run.py``.

The two MONA knobs enter in exactly two places:

1. *Approval* (``overseer``, ``monarl.approval.fact_overseer``): the summary step's training
   reward adds ``fact_reward * (true facts - false facts)`` about x, judged without seeing the
   decision. ``none`` adds nothing.
2. *Horizon*: the two training rewards ``[r_summary, r_decision]`` go through
   :func:`monarl.core.horizon.horizon_returns`. ``horizon=None`` (ordinary RL) makes the
   summary's return ``r_summary + r_decision``; ``horizon=1`` (MONA) makes it ``r_summary``
   alone. The
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

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from monarl.algos.loan_pg.config import LoanPGConfig
from monarl.algos.networks import apply_mlp, init_mlp_normal
from monarl.core.horizon import horizon_returns, validate_horizon
from monarl.envs.loan import metrics as lm
from monarl.envs.loan import rules as loan


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
        writer=init_mlp_normal(k1, (obs1, hidden, hidden, obs2), 0.0),
        decider=init_mlp_normal(k2, (obs2, hidden, hidden, 2), 0.01),
        critic_summary=init_mlp_normal(k3, (obs1, hidden, 1), 1.0),
        critic_decision=init_mlp_normal(k4, (obs2, hidden, 1), 1.0),
    )


def writer_logits(nets: Nets, ref: jax.Array, x: jax.Array, n: jax.Array) -> jax.Array:
    """Summary policy logits ``[..., L, V]`` for applicants ``x`` [..., F], ``n`` [...]."""
    out = apply_mlp(nets.writer, loan.applicant_features(x, n))
    return ref + out.reshape(*out.shape[:-1], *ref.shape)


def decider_logits(nets: Nets, params: loan.LoanParams, message: jax.Array) -> jax.Array:
    return apply_mlp(nets.decider, loan.message_one_hot(message, params))


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
    approval: Any = None,
    horizon: int | None = None,
    num_updates: int = 1000,
    progress: Callable[[int], None] | None = None,
):
    """``train(key) -> {"curve": {metric: [E+1]}, "final": {metric: []}, "nets": Nets}``.

    ``approval`` (the built overseer approval, ``approval.fact_overseer``, or None) and
    ``horizon`` are the two MONA knobs (module docstring); ``num_updates`` is
    rounded up to a whole number of evaluation chunks (and monitor refresh periods).
    ``progress(env_steps_per_seed)`` is called from inside the compiled loop at every
    evaluation point (for a progress bar; under ``vmap`` it may be called once per seed)."""
    config.validate()
    horizon = validate_horizon(horizon)
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
        )
        if approval is not None:  # the overseer's approval of the summary (the MONA knob)
            r_summary = r_summary + approval.summary_reward(apps.x, message, params,
                                                            config.fact_reward)
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


