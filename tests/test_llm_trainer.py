"""The language-model trainer end to end on a bare (unpretrained) tiny model, so each test
takes seconds: the first pass's importance ratio, MONA's turn-0 gradient that no later reward
moves, a killed run that resumes to the same numbers, the text approvals, and the CLI (its
JSON and its one-line refusals before any model loads). One slow test asserts the
ordinary-RL-versus-MONA contrast on loan-text."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from monarl.algos.llm.config import GRPOConfig  # noqa: E402
from monarl.algos.llm.train import Trainer  # noqa: E402
from monarl.approval.base import BuildContext  # noqa: E402
from monarl.approval.fact_overseer import build as build_overseer  # noqa: E402
from monarl.approval.judge import Judge, JudgeSettings  # noqa: E402
from monarl.approval.text import TextBatch  # noqa: E402
from monarl.cli.app import main  # noqa: E402
from monarl.envs.loan_text import SPEC  # noqa: E402
from monarl.envs.loan_text.settings import LoanTextSettings, make_params  # noqa: E402

PARAMS = make_params(LoanTextSettings())
SMALL = GRPOConfig(model="tiny", total_steps=3, cases_per_update=2, group_size=2,
                   max_new_tokens=(12, 4), pretrain_steps=0, eval_every=1, eval_cases=8,
                   checkpoint_every=1, micro_batch=4)


@pytest.fixture(autouse=True)
def _no_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MONARL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MONARL_CHECKPOINTS", str(tmp_path / "checkpoints"))


def _trainer(horizon=None, approval=True, config=SMALL, seed=0, **kwargs) -> Trainer:
    built = build_overseer(BuildContext(SPEC, None, PARAMS, None, [seed]), None) \
        if approval else None
    return Trainer(SPEC, PARAMS, built, horizon, config, seed, **kwargs)


def _turn_gradient(trainer: Trainer, episodes, turn: int) -> torch.Tensor:
    """The gradient of the loss over ``turn``'s sequences only (the optimizer takes no
    step: its learning rate is 0)."""
    for group in trainer.optimizer.param_groups:
        group["lr"] = 0.0
    advantages = trainer.advantages(episodes)
    prompts, replies, adv = trainer.sequences(episodes, advantages)
    turns = SPEC.text.turns
    keep = [i for i in range(len(prompts)) if i % turns == turn]
    trainer.optimize([prompts[i] for i in keep], [replies[i] for i in keep], adv[keep])
    return torch.cat([p.grad.flatten() for p in trainer.chat_model.model.parameters()
                      if p.grad is not None])


def test_the_first_pass_ratio_is_one_and_every_turn_trains():
    trainer = _trainer()
    episodes = trainer.sample_episodes()
    assert episodes.observed.shape == (2, 4) and episodes.approval.shape == (2, 4)
    stats = trainer.optimize(*trainer.sequences(episodes, trainer.advantages(episodes)))
    assert stats["mean_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert stats["clip_fraction"] == 0.0
    assert trainer.tokens_trained == sum(len(r) for ep in episodes.reply_ids for r in ep)


def test_a_later_reward_never_moves_the_myopic_summary_gradient():
    """M = 1: changing the decision's reward leaves the summary's gradient exactly as it
    was; ordinary RL's summary gradient moves with it."""
    for horizon, same in ((1, True), (None, False)):
        trainer = _trainer(horizon=horizon, approval=False)
        episodes = trainer.sample_episodes()
        episodes.observed[0] = np.array([0.0, -1.0, 0.0, -1.0])
        episodes.observed[1] = np.array([1.0, 0.0, 0.0, 1.0])
        before = _turn_gradient(trainer, episodes, 0)
        changed = dataclasses.replace(episodes, observed=episodes.observed.copy())
        changed.observed[1] = np.array([0.0, 1.0, 1.0, 0.0])
        after = _turn_gradient(trainer, changed, 0)
        assert before.abs().sum() > 0
        assert torch.equal(before, after) is same, horizon


def test_each_update_logs_how_far_monas_advantages_were_from_ordinary_rls():
    """advantage_gap: 0 when every group's decision reward is the same (the baseline removes
    it and MONA's update is ordinary RL's), positive when it differs; not logged for ordinary
    RL, where it is 0 by definition."""
    trainer = _trainer(horizon=1, approval=False)
    episodes = trainer.sample_episodes()
    episodes.observed[0] = np.array([0.0, -1.0, 0.0, -1.0])
    trainer.sample_episodes = lambda: episodes
    for decision, alike in (([1.0, 1.0, 0.0, 0.0], True), ([1.0, 0.0, 0.0, 1.0], False)):
        episodes.observed[1] = np.array(decision)
        gap = trainer.update()["advantage_gap"]
        assert (gap == 0.0) is alike, decision
    ordinary = _trainer(horizon=None, approval=False)
    assert "advantage_gap" not in ordinary.update()


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_a_killed_run_resumes_to_the_same_numbers(tmp_path, lora):
    """Full fine-tuning checkpoints every weight, LoRA only the adapter (and its optimizer):
    both resume to the numbers of an uninterrupted run."""
    if lora:
        pytest.importorskip("peft")
    config = dataclasses.replace(SMALL, lora=lora)
    uninterrupted = _trainer(horizon=1, config=config)
    whole = uninterrupted.run()
    folder = tmp_path / "ckpt"
    killed = _trainer(horizon=1, config=config, checkpoint_dir=folder)
    real_update = killed.update

    def update_then_die():
        if killed.updates_done == 2:
            raise KeyboardInterrupt
        return real_update()

    killed.update = update_then_die
    with pytest.raises(KeyboardInterrupt):
        killed.run()
    assert any(folder.iterdir())
    resumed = _trainer(horizon=1, config=config, checkpoint_dir=folder)
    result = resumed.run()
    assert [line["update"] for line in resumed.lines] == [0, 1, 2, 3]
    assert result["final"] == whole["final"]
    for a, b in zip(resumed.chat_model.model.parameters(),
                    uninterrupted.chat_model.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_text_overseer_and_judge_score_only_their_turns():
    trainer = _trainer()
    episodes = trainer.sample_episodes()
    batch = TextBatch(episodes.cases, episodes.replies, episodes.chats,
                      episodes.observed.copy(), PARAMS)
    overseer = trainer.approval.score(batch)
    assert overseer.shape == (2, 4) and np.all(overseer[1] == 0)
    judge = Judge(JudgeSettings(model="tiny", turns=(0,)), seed=0)
    scores = judge.score(batch)
    assert scores.shape == (2, 4) and np.all(scores[1] == 0)
    assert np.all((scores[0] >= 0) & (scores[0] <= 1))
    # the judge reads the reply, not the decision that follows it
    later = TextBatch(episodes.cases, [[r[0], "approve"] for r in episodes.replies],
                      episodes.chats, episodes.observed.copy(), PARAMS)
    np.testing.assert_array_equal(judge.score(later)[0], scores[0])


def test_train_cli_json(tmp_path, monkeypatch):
    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE"):
        monkeypatch.setenv(name, "0")  # restored (unset) afterwards
        monkeypatch.delenv(name)
    path = tmp_path / "r.json"
    code = main(["train", "loan-text", "--model", "tiny", "--steps", "1", "--seeds", "2",
                 "--horizon", "1", "--approval", "overseer", "--inoculation",
                 "--set", "pretrain_steps=0", "--set", "eval_cases=8",
                 "--set", "cases_per_update=2", "--set", "group_size=2",
                 "--json", str(path), "--quiet"])
    assert code == 0
    result = json.loads(path.read_text())
    final = result["final"]
    for key in ("leakage", "monitor_flag_rate", "flip_rate", "accuracy", "true_accuracy"):
        assert 0.0 <= final[key] <= 1.0, key
    # two seeds, each its own task (grpo batches nothing), both reported
    assert len(result["per_seed"]) == 2
    # --quiet also quiets transformers' own bars and the plain tqdm bar of its GGUF loading
    # (that tqdm reads TQDM_DISABLE when first imported: the subprocess test below checks it)
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == os.environ["TQDM_DISABLE"] == "1"
    # per seed, the updates on which MONA's advantages were ordinary RL's (at most all of one)
    assert len(result["updates_like_ordinary"]) == 2
    assert all(0 <= n <= 1 for n in result["updates_like_ordinary"])


@pytest.mark.parametrize("argv, words", [
    (["--model", "no-such-model"], ["model", "no-such-model"]),
    (["--model", "{tmp}"], ["model"]),
    (["--horizon", "0"], ["horizon"]),
    (["--approval", "judge", "--set", "approval.prompt=Rate this."], ["prompt", "{reply}"]),
    (["--approval", "judge", "--set", "approval.score=number"],
     ["approval.prompt=''", "score=number", "yes/no question about turn 0"]),
    (["--approval", "judge", "--set", "approval.turns=[1]"], ["approval.prompt=''", "turns"]),
    (["--set", 'env.cities_0=["Oslo"]'], ["--set env.cities_0=", "4 city names"]),
    (["--model", "tiny", "--set", "model=bogus"],
     ["--model='tiny' and --set model='bogus' disagree"]),
    (["--set", "total_steps=3"], ["--steps=1 and --set total_steps=3 disagree"]),
])
def test_train_refusals_are_one_line_before_any_model_loads(argv, words, tmp_path, capsys,
                                                            monkeypatch):
    import monarl.algos.llm.models as models

    def no_loading(*args, **kwargs):
        raise AssertionError("a model loaded before the input was checked")

    monkeypatch.setattr(models, "load_model", no_loading)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = main(["train", "loan-text", "--steps", "1", "--seeds", "1", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)


@pytest.mark.parametrize("flag", [["--model", "tiny"], ["--inoculation"]])
def test_language_model_flags_are_refused_elsewhere(flag, capsys):
    code = main(["train", "camera-dropbox", "--steps", "1", *flag])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err


def test_several_epochs_and_minibatches_move_the_ratio_and_stay_finite():
    config = dataclasses.replace(SMALL, epochs=2, minibatches=2, learning_rate=1e-2)
    trainer = _trainer(config=config)
    episodes = trainer.sample_episodes()
    episodes.observed[1] = np.array([1.0, 0.0, 0.0, 1.0])
    stats = trainer.optimize(*trainer.sequences(episodes, trainer.advantages(episodes)))
    assert all(np.isfinite(v) for v in stats.values())
    assert stats["mean_ratio"] != pytest.approx(1.0, abs=1e-9)  # later steps see a moved policy


def test_lora_trains_the_adapter_only():
    trainer = _trainer(config=dataclasses.replace(SMALL, lora=True, learning_rate=1e-2))
    model = trainer.chat_model.model
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    adapter = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    assert adapter and all("lora" in n for n in adapter) and frozen
    episodes = trainer.sample_episodes()
    episodes.observed[1] = np.array([1.0, 0.0, 0.0, 1.0])
    stats = trainer.optimize(*trainer.sequences(episodes, trainer.advantages(episodes)))
    assert stats["grad_norm"] > 0 and stats["kl"] == pytest.approx(0.0, abs=1e-6)
    for name, p in model.named_parameters():
        if name in frozen:
            assert torch.equal(p, frozen[name]), name
    assert any(not torch.equal(p, adapter[n]) for n, p in model.named_parameters()
               if n in adapter)


def test_a_run_killed_with_sigkill_resumes_when_the_command_runs_again(tmp_path):
    """The real thing, not an exception inside the process: `monarl train` in a subprocess,
    SIGKILLed once a checkpoint past update 1 is on disk, then the same command again, which
    resumes and ends with the numbers of an uninterrupted run."""
    import contextlib
    import signal
    import subprocess
    import sys
    import time

    # the uninterrupted run also checks, in a fresh interpreter as a user's, that after
    # `train --quiet` a tqdm bar (what transformers' GGUF loading draws) is disabled
    quiet_tqdm = ("import sys; from monarl.cli.app import main; code = main(sys.argv[1:]); "
                  "from tqdm.auto import tqdm; assert tqdm(range(1)).disable; sys.exit(code)")

    def command(json_path, check_tqdm=False):
        start = ["-c", quiet_tqdm] if check_tqdm else ["-m", "monarl.cli.app"]
        return [sys.executable, *start, "train", "loan-text", "--model", "tiny",
                "--steps", "8", "--seeds", "1", "--horizon", "1", "--set", "pretrain_steps=0",
                "--set", "checkpoint_every=1", "--set", "eval_every=8", "--set", "eval_cases=8",
                "--set", "cases_per_update=4", "--set", "group_size=4", "--set", "threads=1",
                "--json", str(json_path), "--quiet"]

    def environment(name):
        return {**os.environ, "MONARL_CACHE": str(tmp_path / "cache"),
                "MONARL_CHECKPOINTS": str(tmp_path / name), "MONARL_JAX_CACHE": "0"}

    whole = tmp_path / "whole.json"
    subprocess.run(command(whole, check_tqdm=True), env=environment("ckpt-whole"), check=True,
                   timeout=600)
    killed_json = tmp_path / "killed.json"
    process = subprocess.Popen(command(killed_json), env=environment("ckpt-killed"))
    folder = tmp_path / "ckpt-killed"
    seen = -1
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        metas = list(folder.glob("*/meta.json"))
        with contextlib.suppress(OSError, ValueError):  # between the write and the rename
            seen = max((json.loads(m.read_text())["update"] for m in metas), default=-1)
        if seen >= 2:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert 2 <= seen < 8 and not killed_json.exists()
    subprocess.run(command(killed_json), env=environment("ckpt-killed"), check=True,
                   timeout=600)
    first, second = json.loads(whole.read_text()), json.loads(killed_json.read_text())
    assert "resumed_from" not in first and second["resumed_from"] == [seen]
    assert second["final"] == first["final"]
    assert second["per_seed"] == first["per_seed"]
    assert not any(folder.glob("*/meta.json"))  # removed once the run finished
