"""Brief supervised pretraining of a chat model on an environment's demonstrations.

The tiny built-in model starts from random weights; before RL it must already write
well-formed turns. :func:`pretrain` teaches it the demonstrated replies: next-token
cross-entropy on each reply's tokens and its end-of-turn token only (the chat before it is
context, masked out of the loss), AdamW with a linear warm-up and a cosine decay, batches
drawn by a ``torch.Generator`` from the seed (whole shuffled passes over the examples), so
the same demonstrations, steps and seed give the same weights.

``demonstrations`` is what ``TextSpec.demonstrations`` returns: a list of episodes, each a
list of ``(chat messages, reply)`` pairs. Any :class:`~monarl.algos.llm.models.ChatModel`
works (the tokenizer face gives the token ids), not only the tiny one.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import torch
import torch.nn.functional as F

Demonstrations = Sequence[Sequence[tuple[Sequence[Mapping[str, str]], str]]]
"""Episodes, each a list of (chat messages, reply) pairs."""

Example = tuple[list[int], list[int]]
"""(prompt ids, reply ids ending with the end-of-turn token)."""

IGNORE = -100


class ChatModel(Protocol):
    """What pretraining uses of a :class:`monarl.algos.llm.models.ChatModel` (a protocol
    here: the models module imports this one)."""

    model: torch.nn.Module
    pad_id: int
    context_length: int

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]: ...

    def reply_ids(self, reply: str) -> list[int]: ...


@dataclasses.dataclass(frozen=True)
class PretrainSettings:
    """Optimiser settings of :func:`pretrain` (the step count is an argument of its own)."""

    batch_size: int = 32
    lr: float = 6e-3
    warmup_steps: int = 20
    final_lr_fraction: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0


@dataclasses.dataclass(frozen=True)
class PretrainReport:
    steps: int
    examples: int
    losses: tuple[float, ...]
    """Mean reply-token cross-entropy of every step's batch (nats per token)."""
    seconds: float
    tokens: int
    """Tokens processed (prompt and reply, without padding)."""


def examples_of(chat_model: ChatModel, demonstrations: Demonstrations) -> list[Example]:
    """Every (prompt ids, reply ids) pair of the demonstrations, in order; prompts are cut
    from the left so that prompt and reply fit the model's context."""
    out = []
    limit = chat_model.context_length
    for episode in demonstrations:
        for chat, reply in episode:
            prompt, answer = chat_model.chat_ids(list(chat)), chat_model.reply_ids(reply)
            answer = answer[:limit - 1]
            prompt = prompt[max(0, len(prompt) + len(answer) - limit):]
            out.append((prompt, answer))
    return out


def batch_of(examples: Sequence[Example], pad_id: int
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask, labels)``, right-padded; labels are the reply's tokens
    and ``-100`` elsewhere (prompt, padding)."""
    width = max(len(p) + len(r) for p, r in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, (prompt, reply) in enumerate(examples):
        n, m = len(prompt), len(reply)
        ids[row, :n + m] = torch.as_tensor(prompt + reply, dtype=torch.long)
        mask[row, :n + m] = 1
        labels[row, n:n + m] = torch.as_tensor(reply, dtype=torch.long)
    return ids, mask, labels


def reply_loss(model: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor,
               labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the labelled tokens given everything before them."""
    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    return F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]),
                           labels[:, 1:].reshape(-1), ignore_index=IGNORE)


def evaluate_loss(chat_model: ChatModel, demonstrations: Demonstrations,
                  batch_size: int = 64) -> float:
    """Mean reply-token cross-entropy over all the demonstrations (no gradient)."""
    examples = examples_of(chat_model, demonstrations)
    model = chat_model.model
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.no_grad():
            for start in range(0, len(examples), batch_size):
                ids, mask, labels = batch_of(examples[start:start + batch_size],
                                             chat_model.pad_id)
                n = int((labels[:, 1:] != IGNORE).sum())
                total += float(reply_loss(model, ids, mask, labels)) * n
                count += n
    finally:
        model.train(was_training)
    return total / max(count, 1)


def _schedule(settings: PretrainSettings, steps: int) -> Callable[[int], float]:
    warmup = min(settings.warmup_steps, max(steps // 10, 1))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(steps - warmup, 1)
        cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
        return settings.final_lr_fraction + (1.0 - settings.final_lr_fraction) * cosine

    return factor


def pretrain(chat_model: ChatModel, demonstrations: Demonstrations, steps: int, seed: int,
             settings: PretrainSettings = PretrainSettings(),
             progress: Callable[[int, int, float], Any] | None = None) -> PretrainReport:
    """Train ``chat_model.model`` in place for ``steps`` AdamW steps on the demonstrated
    replies; returns each step's loss. ``progress(step, steps, loss)`` is called after every
    step. The model is left in eval mode."""
    if steps < 0:
        raise ValueError(f"steps={steps} must be >= 0")
    examples = examples_of(chat_model, demonstrations)
    if not examples:
        raise ValueError("pretraining needs at least one demonstrated (chat, reply) pair")
    model = chat_model.model
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    optimiser = torch.optim.AdamW(
        [{"params": decay, "weight_decay": settings.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=settings.lr, betas=(0.9, 0.95))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, _schedule(settings, steps))
    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    losses, tokens = [], 0
    start = time.perf_counter()
    model.train()
    for step in range(steps):
        batch = []
        while len(batch) < min(settings.batch_size, len(examples)):
            if not order:
                order = torch.randperm(len(examples), generator=generator).tolist()
            batch.append(examples[order.pop()])
        ids, mask, labels = batch_of(batch, chat_model.pad_id)
        loss = reply_loss(model, ids, mask, labels)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if settings.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
        optimiser.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        tokens += int(mask.sum())
        if progress is not None:
            progress(step + 1, steps, losses[-1])
    model.eval()
    return PretrainReport(steps=steps, examples=len(examples), losses=tuple(losses),
                          seconds=time.perf_counter() - start, tokens=tokens)
