"""Every approval of the spectrum with PPO: the tables PPO trains on, run_ppo, experiment files,
and PPO's evaluator critic (generalized MONA).

Fast tier: tiny budgets (TINY, as in test_ppo.py), so the cost is compilation. The approval
table is an argument of the compiled program, so every table kind shares one program (one for a
table shared by the seeds, one for per-seed tables); a test checks that no kind compiles its
own. Programs used here: shared table, per-seed tables, evaluator critic (paper's board), and
the evaluator critic on a short-episode board (where states repeat within a few updates).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from monarl.algos import ppo
from monarl.algos.exact.study import build_approval, exact_study
from monarl.algos.ppo import run as ppo_run
from monarl.approval import ApprovalConfig
from monarl.approval.table import TableApproval
from monarl.core.config import ConfigError
from monarl.envs import EnvConfig

PAPER = EnvConfig.of()

TINY = {"num_envs": 8, "num_steps": 16, "num_epochs": 1, "num_minibatches": 2, "eval_every": 128}
TINY_STEPS = 3 * 8 * 16

SHARED_KINDS = [
    ApprovalConfig.of(kind="trusted"),
    ApprovalConfig.of(kind="misspecified", misspec=0.5),
    ApprovalConfig.of(kind="evaluator-rl", evaluator_steps=8),
    ApprovalConfig.of(kind="continuation"),
    ApprovalConfig.of(kind="leak", leak=0.1),
]
PER_SEED_KINDS = [
    ApprovalConfig.of(kind="learned", labels=64),
    ApprovalConfig.of(kind="trusted", noise=0.5),
    ApprovalConfig.of(kind="evaluator-rl", evaluator_steps=8, noise=0.25, noise_per="step"),
]


def noop(_steps: int) -> None:
    pass


def noise_of(config: ApprovalConfig) -> float:
    return config.setting("noise", 0.0)


def trained(config: ApprovalConfig, seeds: list[int]) -> np.ndarray:
    """The float32 table(s) PPO trains on for ``config`` and these seeds."""
    return build_approval(PAPER, config, seeds).trained_tables()


def table(config: ApprovalConfig, seed: int) -> np.ndarray:
    """The exact solver's table of ``config`` for one seed."""
    return build_approval(PAPER, config, [seed]).table(seed)


def run(approval, seeds=2, env=None, progress_calls=None, **kwargs):
    progress = noop if progress_calls is None else progress_calls.append
    return ppo.run_ppo(env=env, approval=approval, horizon=1, seeds=seeds, steps=TINY_STEPS,
                       progress=progress, **TINY, **kwargs)


@pytest.fixture(scope="module")
def tables():
    return EnvConfig.of().tables()


# --------------------------------------------------------------------------------------------
# The tables PPO uses are build_approval's
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", SHARED_KINDS, ids=lambda c: c.kind)
def test_shared_table_equals_build_approval(tables, config):
    got = trained(config, [3, 4])
    assert got.shape == (50, tables.num_states, 4) and got.dtype == np.float32
    np.testing.assert_array_equal(got, table(config, 3).astype(np.float32))


@pytest.mark.parametrize("config", PER_SEED_KINDS, ids=lambda c: f"{c.kind}-{noise_of(c)}")
def test_per_seed_tables_equal_build_approval_with_the_training_seed(tables, config):
    got = trained(config, [3, 4])
    assert got.shape == (2, 50, tables.num_states, 4)
    for i, seed in enumerate([3, 4]):
        np.testing.assert_array_equal(got[i], table(config, seed).astype(np.float32))
    assert not np.array_equal(got[0], got[1])


def test_none_has_no_table_and_string_form_matches_config(tables):
    assert build_approval(PAPER, ApprovalConfig.of("none"), [0]) is None
    assert ppo.approval_config("trusted", 0.5, "step") == ApprovalConfig.of(
        kind="trusted", noise=0.5, noise_per="step")
    np.testing.assert_array_equal(
        trained(ppo.approval_config("trusted", 0.5, "step"), [1, 2]),
        trained(ApprovalConfig.of(kind="trusted", noise=0.5, noise_per="step"), [1, 2]))


def test_evaluator_critic_starts_from_the_trusted_table(tables):
    critic = ApprovalConfig.of(kind="evaluator-rl", evaluator_steps=4, evaluator_lr=0.1,
                               noise=0.5)
    np.testing.assert_array_equal(
        trained(critic, [0, 1]), trained(ApprovalConfig.of(kind="trusted", noise=0.5), [0, 1]))
    # V_0 is the (noisy) trusted value whose advantage is that table
    from monarl.approval.trusted import advantage_approval

    values = build_approval(PAPER, critic, [0, 1]).start_values
    assert values.shape == (2, 51, tables.num_states)
    np.testing.assert_allclose(
        advantage_approval(tables, values[1].astype(np.float64)),
        table(ApprovalConfig.of(kind="trusted", noise=0.5), 1), atol=1e-5)


def test_bad_approval_input_fails_before_work():
    with pytest.raises(ConfigError, match="misspec=1.5"):
        ppo.run_ppo(approval=ApprovalConfig.of(kind="misspecified", misspec=1.5), seeds=1,
                    steps=8)
    with pytest.raises(ConfigError, match="give the noise inside the ApprovalConfig"):
        ppo.run_ppo(approval=ApprovalConfig.of(kind="trusted"), noise=0.5, seeds=1, steps=8)
    with pytest.raises(ConfigError, match="noise needs approval='trusted'"):
        ppo.run_ppo(approval="continuation", noise=0.5, seeds=1, steps=8)
    with pytest.raises(ConfigError, match="evaluator_lr"):
        exact_study(PAPER, ApprovalConfig.of(kind="evaluator-rl", evaluator_lr=0.5), [1])


# --------------------------------------------------------------------------------------------
# Every kind trains through run_ppo; kinds share compiled programs
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kind_runs():
    before = len(ppo_run._COMPILED)
    runs = {}
    for config in SHARED_KINDS + PER_SEED_KINDS:
        runs[(config.kind, noise_of(config))] = run(config)
    return runs, len(ppo_run._COMPILED) - before


def test_every_kind_trains_and_kinds_share_two_programs(kind_runs):
    runs, new_programs = kind_runs
    assert new_programs <= 2  # one for shared tables, one for per-seed tables
    for (kind, noise), result in runs.items():
        assert result["config"]["approval"] == kind
        assert result["config"]["approval_config"]["kind"] == kind
        assert result["config"]["approval_config"].get("noise", 0.0) == noise
        assert result["config"]["noise"] == noise
        assert result["curves"]["env_steps"] == [0, 128, 256, 384]
        for row in result["per_seed"]:
            assert row["fail"] + row["intended"] + row["hack"] == pytest.approx(1.0, abs=1e-5)
    # different approvals train differently (same seeds, same initial policy)
    finals = {k: r["per_seed"][0]["true_return"] for k, r in runs.items()}
    assert len(set(finals.values())) >= 4, finals
    json.dumps(runs[("learned", 0.0)])  # JSON-able


def test_an_approval_replaces_the_observed_reward(kind_runs, monkeypatch):
    """PPO trains on the approval alone (it already contains the step's observed reward): an
    approval table that *is* the observed reward trains exactly as the bare observed reward."""
    def observed_table(self):
        tables = self.tables
        return np.broadcast_to(tables.reward_table("observed"),
                               (tables.max_steps,) + tables.successor.shape).astype(np.float32)

    plain = run("none")
    monkeypatch.setattr(TableApproval, "trained_tables", observed_table)
    as_approval = run(ApprovalConfig.of(kind="trusted"))  # the shared-table program of kind_runs
    np.testing.assert_array_equal(np.asarray(as_approval["curves"]["true_return"]),
                                  np.asarray(plain["curves"]["true_return"]))
    assert as_approval["per_seed"] == plain["per_seed"]


def test_progress_reaches_the_callback_of_each_call_through_a_cached_program(kind_runs):
    seen: list[int] = []
    before = len(ppo_run._COMPILED)
    run(ApprovalConfig.of(kind="continuation"), progress_calls=seen)
    assert len(ppo_run._COMPILED) == before  # the shared-table program of kind_runs, reused
    assert seen == [0, 128, 256, 384]


def test_learned_reports_approval_quality(kind_runs):
    result = kind_runs[0][("learned", 0.0)]
    quality = result["approval_quality"]
    assert len(quality["per_seed"]) == 2
    for key in ("rank_correlation", "mae_reachable", "mae_visited"):
        assert np.isfinite(quality[key]), key
        assert result["per_seed"][0][f"approval_{key}"] == quality["per_seed"][0][key]
    assert quality["mae_visited"] > 0 and -1 <= quality["rank_correlation"] <= 1
    assert result["approval_seconds"] > 0
    assert "approval_quality" not in kind_runs[0][("trusted", 0.0)]


# --------------------------------------------------------------------------------------------
# PPO's evaluator critic (generalized MONA)
# --------------------------------------------------------------------------------------------


@pytest.mark.slow  # two PPO runs; every kind still trains in the fast tier
def test_evaluator_critic_with_k_0_or_lr_0_is_trusted_mona(kind_runs):
    trusted = kind_runs[0][("trusted", 0.0)]
    for critic in (ApprovalConfig.of(kind="evaluator-rl", evaluator_steps=0, evaluator_lr=0.5),
                   ApprovalConfig.of(kind="evaluator-rl", evaluator_steps=10, evaluator_lr=0.0)):
        result = run(critic)
        assert result["per_seed"] == trusted["per_seed"]
        for name, values in trusted["curves"].items():
            np.testing.assert_array_equal(np.asarray(values),
                                          np.asarray(result["curves"][name]), err_msg=name)


@pytest.mark.slow  # a PPO run; every kind still trains in the fast tier
def test_evaluator_critic_learns_where_states_repeat():
    """On a board with 6-step episodes the rollouts revisit (t, s): with lr > 0 the evaluator
    moves and training departs from trusted MONA; k = 0 stays on it."""
    env = {"max_steps": 6}
    out = {}
    for k, lr in ((0, 1.0), (50, 1.0)):
        approval = ApprovalConfig.of(kind="evaluator-rl", evaluator_steps=k, evaluator_lr=lr)
        result, info = ppo.train_seeds(env, approval, horizon=1, seeds=2, steps=TINY_STEPS,
                                       **TINY)
        out[k] = (ppo.summarize(result, info), np.asarray(result["approval_state"]))
    assert not np.any(out[0][1])  # k = 0: the evaluator never moves
    delta = out[50][1]
    assert delta.shape == (2, 7, EnvConfig.of(max_steps=6).tables().num_states)
    assert np.any(delta) and np.all(delta[:, -1] == 0)  # V_e(T, .) stays 0
    assert out[0][0]["per_seed"] != out[50][0]["per_seed"]


# --------------------------------------------------------------------------------------------
# Experiment files
# --------------------------------------------------------------------------------------------

EXPERIMENT = """
name = "ppo-approvals"
[base]
algo = "ppo"
horizon = 1
seeds = 2
[base.ppo]
total_steps = 384
num_envs = 8
num_steps = 16
num_epochs = 1
num_minibatches = 2
eval_every = 128
[variants.misspecified]
"approval.kind" = "misspecified"
"approval.misspec" = 0.5
[variants.continuation]
"approval.kind" = "continuation"
[variants.leak]
"approval.kind" = "leak"
"approval.leak" = 0.1
[variants.evaluator]
"approval.kind" = "evaluator-rl"
"approval.evaluator_steps" = 8
[variants.learned]
"approval.kind" = "learned"
"approval.labels" = 64
[variants.critic]
"approval.kind" = "evaluator-rl"
"approval.evaluator_steps" = 0
"approval.evaluator_lr" = 0.5
"""


def test_experiment_file_runs_every_kind_with_its_full_config(tmp_path, kind_runs):
    from monarl.experiments.spec import parse_sweep
    from monarl.experiments.store import Store
    from monarl.experiments.sweep import local_factory, run_sweep

    sweep = parse_sweep(EXPERIMENT, tmp_path / "e.toml")
    assert len(sweep.runs) == 12
    store = Store(tmp_path / "store")
    store.init()
    run_sweep(sweep, store, local_factory(1), quiet=True, echo=lambda *a, **k: None)
    runs, _ = kind_runs
    for spec in sweep.runs:
        assert store.is_done(spec.run_id), spec
        summary = store.read_json(spec.run_id, "summary.json")
        approval = summary["config"]["approval"]
        assert approval == spec.to_dict()["approval"]
        critic = approval.get("evaluator_lr") is not None
        # the same numbers as run_ppo (same tables and seeds), and the critic with k = 0 is
        # trusted MONA. Up to float32 rounding: in the full suite the two paths may run
        # differently compiled programs (a CI run differed in the 8th digit); different tables
        # or seeds would change the trained policies, far beyond this tolerance
        key = ("trusted", 0.0) if critic else (approval["kind"], approval.get("noise", 0.0))
        want = runs[key]["per_seed"][spec.seed]
        for metric in ("true_return", "hack", "intended"):
            got = summary["final"][metric]
            assert got == pytest.approx(want[metric], rel=1e-5, abs=1e-6), (key, metric)
        if approval["kind"] == "learned":
            assert np.isfinite(summary["final"]["approval_rank_correlation"])


@pytest.mark.parametrize("text,fragment", [
    ('[base]\nalgo = "ppo"\n[base.env]\nrows = 9\ncols = 9\nboxes = 3\n'
     '[base.approval]\nkind = "trusted"',
     "states, more than the 3,000,000"),
    ('[base]\nalgo = "exact"\n[base.approval]\nkind = "evaluator-rl"\nevaluator_lr = 0.1',
     "evaluator_lr=0.1 is invalid with algo 'exact'"),
    ('[base]\nalgo = "ppo"\n[base.approval]\nkind = "evaluator-rl"\nevaluator_lr = 1.5',
     "evaluator_lr=1.5 is invalid"),
    ('[base]\nalgo = "ppo"\n[base.approval]\nkind = "trusted"\nevaluator_lr = 0.5',
     "applies only to approval evaluator-rl"),
])
def test_experiment_file_rejects_bad_approval_settings(tmp_path, text, fragment):
    from monarl.experiments.spec import SpecError, parse_sweep

    with pytest.raises((SpecError, ConfigError), match=fragment.replace("(", r"\(")):
        parse_sweep(text, tmp_path / "bad.toml")


def test_spectrum_ppo_example_file_is_valid_and_covers_every_family():
    from pathlib import Path

    from monarl.experiments.spec import load_sweep
    from monarl.reports.spectrum import family

    path = Path(__file__).resolve().parents[1] / "examples" / "spectrum_ppo.toml"
    sweep = load_sweep(path)
    configs = [r.to_dict() for r in sweep.runs]
    assert {c["algo"] for c in configs} == {"ppo"}
    families = {family(c) for c in configs}
    assert families >= {"ordinary RL", "none", "trusted", "misspecified", "learned",
                        "evaluator-rl", "evaluator-critic", "continuation", "leak"}
    assert {c["horizon"] for c in configs} <= {1, 2, 4, 8, 16, None}
    # the same budget for every arm
    assert {(c["ppo"]["total_steps"], c["ppo"]["num_envs"]) for c in configs} == {
        (1_000_000, 64)}
    seeds: dict[str, set[int]] = {}
    for run in sweep.runs:
        seeds.setdefault(json.dumps(run.without("seed"), sort_keys=True), set()).add(run.seed)
    assert {len(s) for s in seeds.values()} == {5} and len(seeds) == 21
    assert any(c["env"]["blockers"] == 2 for c in configs)  # the hack-free control


def test_evaluator_critic_program_has_no_lapack(tables):
    """The critic's update (scans, segment sums) adds no LAPACK call (see test_no_lapack.py)."""
    import jax
    import jax.numpy as jnp

    config = ppo.PPOConfig(total_steps=TINY_STEPS, **TINY)
    critic = build_approval(PAPER, ApprovalConfig.of(kind="evaluator-rl", evaluator_steps=3,
                                                     evaluator_lr=0.5, noise=0.5), [0, 1])
    train = ppo.make_train(config, PAPER, critic, horizon=1, tables=tables)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in range(2)])
    args, axes = critic.arguments()
    assert axes[3] == 0  # per-seed starting values (noise per state)
    lowered = jax.jit(jax.vmap(train, in_axes=(0, axes, None))).lower(keys, args, None)
    targets = set(re.findall(r"custom_call\s+@([\w.]+)", lowered.as_text()))
    assert not [t for t in targets if "lapack" in t.lower()], targets
