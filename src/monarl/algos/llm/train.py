"""The language-model trainer: GRPO with PPO clipping over multi-turn episodes, where each
turn's tokens get that turn's advantage.

One update, top to bottom (:meth:`Trainer.update`):

1. draw ``cases_per_update`` cases and play each ``group_size`` times: for every turn, the
   environment writes the chat (``TextSpec.prompt``), the model samples a reply at the
   temperature (``sampling.generate``, a seeded ``torch.Generator``);
2. the environment judges the episodes (observed and true reward per turn), the approval
   scores the turns (``approval.text.TextApproval``), and the training reward of a turn is
   observed reward plus approval;
3. ``monarl.core.horizon.turn_advantages`` (compiled: ``compiled_turn_advantages``, bit for
   bit the same) turns the ``[turns, episodes]`` training rewards
   into per-turn advantages (ordinary RL: the full return; MONA: the turns ``t .. t+M-1``),
   group-relative;
4. every (episode, turn) is one sequence, chat then reply; its reply tokens carry its turn's
   advantage, its chat tokens nothing; the PPO-clip loss with a KL estimate to the reference
   model is accumulated over micro-batches and the optimizer steps (``epochs`` x
   ``minibatches`` times; with one of each, every importance ratio is 1).

Ordinary RL and MONA run this same code; they differ in ``horizon`` (and the approval).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from monarl.algos.llm import checkpoint as ckpt
from monarl.algos.llm.config import GRPOConfig, resolved
from monarl.algos.llm.loss import policy_loss
from monarl.algos.llm.models import ChatModel, load_model, resolve_model
from monarl.algos.llm.sampling import generate, pack, sequence_logprobs
from monarl.approval.text import TextApproval, TextBatch
from monarl.core.horizon import advantage_gap, compiled_turn_advantages


@dataclasses.dataclass
class Episodes:
    """One update's episodes: cases (each repeated ``group_size`` times, consecutively), the
    chats and replies per turn, the reply token ids, and the rewards."""

    cases: list[Any]
    chats: list[list[list[dict[str, str]]]]  # [episode][turn] chat
    prompt_ids: list[list[list[int]]]  # [episode][turn]
    reply_ids: list[list[list[int]]]  # [episode][turn]
    replies: list[list[str]]  # [episode][turn]
    observed: np.ndarray  # [turns, episodes]
    true: np.ndarray  # [turns, episodes]
    approval: np.ndarray  # [turns, episodes]
    infos: list[dict[str, Any]]


def play(env: Any, params: Any, chat_model: ChatModel, cases: list[Any],
         max_new_tokens: tuple[int, ...], temperature: float,
         generator: torch.Generator | None, batch: int, inoculation: bool
         ) -> tuple[list, list, list, list]:
    """Play ``cases`` turn by turn: the chat of each turn, its token ids, the reply ids and
    text (``generator`` None: greedy)."""
    text = env.text
    n = len(cases)
    chats: list[list] = [[] for _ in range(n)]
    prompts: list[list] = [[] for _ in range(n)]
    reply_ids: list[list] = [[] for _ in range(n)]
    replies: list[list[str]] = [[] for _ in range(n)]
    for turn in range(text.turns):
        turn_chats = [text.prompt(case, turn, replies[i], params, inoculation)
                      for i, case in enumerate(cases)]
        ids = [chat_model.chat_ids(chat) for chat in turn_chats]
        out = generate(chat_model, ids, max_new_tokens[turn], temperature, generator,
                       batch_size=batch)
        for i in range(n):
            chats[i].append(turn_chats[i])
            prompts[i].append(ids[i])
            reply_ids[i].append(out[i])
            replies[i].append(chat_model.decode(out[i]))
    return chats, prompts, reply_ids, replies


class Trainer:
    """One run (one seed) of the language-model trainer; see the module docstring."""

    def __init__(self, env: Any, params: Any, approval: TextApproval | None,
                 horizon: int | None, config: GRPOConfig, seed: int,
                 checkpoint_dir: Path | None = None,
                 log: Callable[[dict[str, Any]], None] | None = None,
                 progress: Callable[[int, float], None] | None = None):
        self.env, self.params, self.approval = env, params, approval
        self.horizon, self.config, self.seed = horizon, config, seed
        self.checkpoint_dir = checkpoint_dir
        self._log = log or (lambda line: None)
        self._progress = progress or (lambda update, tokens_per_second: None)
        self.lines: list[dict[str, Any]] = []
        self.source = resolve_model(config.model, "model")
        self.tiny = self.source.kind == "tiny"
        self.defaults = resolved(config, self.tiny)
        text = env.text
        self.max_new_tokens = tuple(config.max_new_tokens or text.max_new_tokens)
        if len(self.max_new_tokens) != text.turns:
            raise ValueError(f"max_new_tokens={list(self.max_new_tokens)} is invalid: give one "
                             f"budget per turn ({text.turns} turns)")
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        torch.manual_seed(seed)
        demos = None
        if self.tiny:
            demos = text.demonstrations(params, np.random.default_rng([seed, 7]), 4096)
        self.pretrain_steps = (config.pretrain_steps if config.pretrain_steps is not None
                               else text.pretrain_steps)
        self.chat_model = load_model(self.source, seed, demonstrations=demos,
                                     pretrain_steps=self.pretrain_steps)
        model = self.chat_model.model
        self.reference = None
        if config.lora:
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(
                r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=0.0,
                target_modules="all-linear", task_type="CAUSAL_LM"))
            self.chat_model.model = model
        elif config.kl_coef > 0:
            self.reference = copy.deepcopy(model).eval()
            for p in self.reference.parameters():
                p.requires_grad_(False)
        model.eval()  # no dropout: log-probs must be deterministic
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=self.defaults["learning_rate"],
                                           weight_decay=config.weight_decay)
        self.rng = np.random.default_rng([seed, 0])
        self.generator = torch.Generator().manual_seed(seed)
        self.updates_done = 0
        self.tokens_generated = 0
        self.tokens_trained = 0
        self.seconds_generating = 0.0
        self.seconds_training = 0.0

    # -- logging and checkpoints --------------------------------------------------------------

    def log(self, line: dict[str, Any]) -> None:
        self.lines.append(line)
        self._log(line)

    def resume(self) -> bool:
        """Continue from the checkpoint, if one exists (True when one did)."""
        if self.checkpoint_dir is None:
            return False
        state = ckpt.load(self.checkpoint_dir)
        if state is None:
            return False
        ckpt.restore(state, self.chat_model.model, self.optimizer, self.generator)
        self.rng.bit_generator.state = state["rng"]
        self.updates_done = int(state["update"])
        for line in state["lines"]:
            self.log(line)
        return True

    def save(self) -> None:
        if self.checkpoint_dir is not None:
            ckpt.save(self.checkpoint_dir, self.updates_done, self.chat_model.model,
                      self.optimizer, self.rng.bit_generator.state, self.generator,
                      self.lines)

    # -- one update ----------------------------------------------------------------------------

    def sample_episodes(self) -> Episodes:
        config, text = self.config, self.env.text
        base = text.sample(self.params, self.rng, config.cases_per_update)
        cases = [case for case in base for _ in range(config.group_size)]
        started = time.perf_counter()
        chats, prompts, reply_ids, replies = play(
            self.env, self.params, self.chat_model, cases, self.max_new_tokens,
            config.temperature, self.generator, config.generation_batch, config.inoculation)
        self.seconds_generating += time.perf_counter() - started
        self.tokens_generated += sum(len(r) for ep in reply_ids for r in ep)
        judged = [text.judge(case, reps, self.params) for case, reps in zip(cases, replies,
                                                                          strict=True)]
        observed = np.array([j.observed for j in judged], dtype=np.float64).T
        true = np.array([j.true for j in judged], dtype=np.float64).T
        approval = np.zeros_like(observed)
        if self.approval is not None:
            approval = np.asarray(self.approval.score(TextBatch(
                cases, replies, chats, observed.copy(), self.params)), dtype=np.float64)
        return Episodes(cases, chats, prompts, reply_ids, replies, observed, true, approval,
                        [j.info for j in judged])

    def advantages(self, episodes: Episodes) -> np.ndarray:
        """``[turns, episodes]`` per-turn advantages of the training rewards."""
        return np.asarray(compiled_turn_advantages(self.training_rewards(episodes),
                                                   self.horizon, self.config.group_size,
                                                   self.config.scale_rewards))

    @staticmethod
    def training_rewards(episodes: Episodes) -> np.ndarray:
        """``[turns, episodes]`` observed reward plus approval, what the advantages are of."""
        return (episodes.observed + episodes.approval).astype(np.float32)

    def sequences(self, episodes: Episodes, advantages: np.ndarray
                  ) -> tuple[list[list[int]], list[list[int]], np.ndarray]:
        """Every (episode, turn) as one sequence: prompts, replies and advantages."""
        prompts, replies, adv = [], [], []
        for i in range(len(episodes.cases)):
            for t in range(self.env.text.turns):
                prompts.append(episodes.prompt_ids[i][t])
                replies.append(episodes.reply_ids[i][t])
                adv.append(advantages[t, i])
        return prompts, replies, np.asarray(adv, dtype=np.float32)

    def _logprobs(self, model: torch.nn.Module, batch: tuple) -> torch.Tensor:
        input_ids, attention, completion = batch
        first = int(completion.argmax(dim=1).min()) if completion.any() else 1
        return sequence_logprobs(model, input_ids, attention, self.config.temperature,
                                 first=first)

    @staticmethod
    def _reply_mask(batch: tuple) -> torch.Tensor:
        """The reply tokens' mask aligned with :func:`sequence_logprobs` (tokens 1..L-1)."""
        return batch[2][:, 1:]

    def _reference_logprobs(self, batch: tuple) -> torch.Tensor | None:
        if self.config.kl_coef <= 0:
            return None
        with torch.no_grad():
            if self.config.lora:
                with self.chat_model.model.disable_adapter():
                    return self._logprobs(self.chat_model.model, batch)
            return self._logprobs(self.reference, batch)

    def optimize(self, prompts: list[list[int]], replies: list[list[int]],
                 adv: np.ndarray) -> dict[str, float]:
        """PPO-clip steps on one update's sequences (``epochs`` x ``minibatches``)."""
        config = self.config
        model = self.chat_model.model
        pad = self.chat_model.pad_id
        count = len(prompts)
        micro = [list(range(s, min(s + config.micro_batch, count)))
                 for s in range(0, count, config.micro_batch)]
        batches = {}
        old: dict[int, torch.Tensor | None] = {}
        ref = {}
        # One pass over the episodes (one epoch, one minibatch): the sampling policy is the
        # policy being differentiated, so its log-probs are the current ones, detached; no
        # separate forward pass is needed (the ratio is exactly 1).
        single_pass = config.epochs == 1 and config.minibatches == 1
        started = time.perf_counter()
        with torch.no_grad():
            for k, idx in enumerate(micro):
                batches[k] = pack([prompts[i] for i in idx], [replies[i] for i in idx], pad)
                old[k] = None if single_pass else self._logprobs(model, batches[k])
                ref[k] = self._reference_logprobs(batches[k])
        stats = {"loss": 0.0, "clipped": 0.0, "kl": 0.0, "ratio": 0.0, "tokens": 0.0,
                 "grad_norm": 0.0}
        order = np.arange(len(micro))
        per_minibatch = len(micro) // config.minibatches or 1
        steps = 0
        for _ in range(config.epochs):
            for m in range(config.minibatches):
                chosen = order[m * per_minibatch:(m + 1) * per_minibatch] \
                    if m < config.minibatches - 1 else order[m * per_minibatch:]
                if len(chosen) == 0:
                    continue
                tokens = sum(float(self._reply_mask(batches[k]).sum()) for k in chosen)
                self.optimizer.zero_grad(set_to_none=True)
                for k in chosen:
                    idx = micro[k]
                    logp = self._logprobs(model, batches[k])
                    old_logp = old[k] if old[k] is not None else logp.detach()
                    parts = policy_loss(logp, old_logp, torch.as_tensor(adv[idx]),
                                        self._reply_mask(batches[k]), tokens,
                                        config.clip_eps, ref[k], config.kl_coef)
                    parts.loss.backward()
                    stats["loss"] += float(parts.loss.detach())
                    stats["clipped"] += parts.clipped_tokens
                    stats["kl"] += parts.kl_sum
                    stats["ratio"] += parts.ratio_sum
                    stats["tokens"] += parts.tokens
                trainable = [p for p in model.parameters() if p.requires_grad]
                norm = torch.nn.utils.clip_grad_norm_(trainable, config.max_grad_norm)
                stats["grad_norm"] += float(norm)
                self.optimizer.step()
                steps += 1
        self.seconds_training += time.perf_counter() - started
        self.tokens_trained += int(stats["tokens"])
        tokens = max(stats["tokens"], 1.0)
        return {"loss": stats["loss"] / max(steps, 1), "clip_fraction": stats["clipped"] / tokens,
                "kl": stats["kl"] / tokens, "mean_ratio": stats["ratio"] / tokens,
                "grad_norm": stats["grad_norm"] / max(steps, 1)}

    def update(self) -> dict[str, float]:
        """One update (see the module docstring); returns its training statistics."""
        episodes = self.sample_episodes()
        advantages = self.advantages(episodes)
        prompts, replies, adv = self.sequences(episodes, advantages)
        stats = self.optimize(prompts, replies, adv)
        names = self.env.text.turn_names
        out = {f"train_observed_{names[t]}": float(episodes.observed[t].mean())
               for t in range(len(names))}
        out.update({f"train_approval_{names[t]}": float(episodes.approval[t].mean())
                    for t in range(len(names))})
        out["train_observed_return"] = float(episodes.observed.sum(0).mean())
        if self.horizon is not None:  # how far this update was from ordinary RL's (0: not at all)
            out["advantage_gap"] = advantage_gap(self.training_rewards(episodes), self.horizon,
                                                 self.config.group_size,
                                                 self.config.scale_rewards, advantages)
        out["train_true_return"] = float(episodes.true.sum(0).mean())
        out.update(stats)
        return out

    # -- evaluation ------------------------------------------------------------------------------

    def greedy(self, chats: list[list[dict[str, str]]], turn: int) -> list[str]:
        ids = [self.chat_model.chat_ids(chat) for chat in chats]
        out = generate(self.chat_model, ids, self.max_new_tokens[turn], 1.0, None,
                       batch_size=self.config.generation_batch)
        return [self.chat_model.decode(o) for o in out]

    def evaluate(self) -> dict[str, float]:
        """The environment's test-time metrics of the greedy policy on the same held-out
        cases at every evaluation (no inoculation prompt)."""
        rng = np.random.default_rng([self.seed, 1])
        return {k: float(v) for k, v in self.env.text.evaluate(
            self.greedy, self.params, rng, self.defaults["eval_cases"]).items()}

    # -- the whole run -------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Train to ``total_steps`` updates (resuming from a checkpoint when there is one),
        evaluating along the way; returns the final metrics and throughput."""
        config = self.config
        started = time.perf_counter()
        resumed_from = self.updates_done if self.resume() else None
        if resumed_from is None:
            self.log({"env_steps": 0, "update": 0, **self.evaluate()})
        while self.updates_done < config.total_steps:
            stats = self.update()
            self.updates_done += 1
            line: dict[str, Any] = {"env_steps": self.updates_done, "update": self.updates_done,
                                    **stats}
            if (self.updates_done % config.eval_every == 0
                    or self.updates_done == config.total_steps):
                line.update(self.evaluate())
            line["tokens_per_second"] = self.tokens_per_second()
            self.log(line)
            self._progress(self.updates_done, line["tokens_per_second"])
            if config.checkpoint_every and (self.updates_done % config.checkpoint_every == 0
                                            and self.updates_done < config.total_steps):
                self.save()
        final = {k: v for k, v in self.lines[-1].items()
                 if k not in ("env_steps", "update", "tokens_per_second")}
        return {"final": final, "wall_seconds": time.perf_counter() - started,
                "resumed_from": resumed_from,  # the checkpoint's update, None: from the start
                "parameters": self.chat_model.num_parameters(),
                "generation_tokens_per_second": self.tokens_generated
                / max(self.seconds_generating, 1e-9),
                "training_tokens_per_second": self.tokens_trained
                / max(self.seconds_training, 1e-9),
                # MONA: the updates whose advantages were exactly ordinary RL's (every group's
                # later-turn rewards equal), where the two arms trained alike; None otherwise.
                "updates_like_ordinary": None if self.horizon is None else sum(
                    1 for line in self.lines if line.get("advantage_gap") == 0.0)}

    def tokens_per_second(self) -> float:
        seconds = self.seconds_generating + self.seconds_training
        return (self.tokens_generated + self.tokens_trained) / max(seconds, 1e-9)
