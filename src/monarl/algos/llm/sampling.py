"""Batched generation and per-token log-probabilities.

- :func:`generate`: completions of a batch of tokenized prompts: left-padded, with attention
  mask and position ids, one full forward of the prompts and then one token at a time through
  the key/value cache. Sampling at a temperature draws from ``torch.multinomial`` with an
  explicit ``torch.Generator`` (same generator state, same tokens on CPU); without a generator
  it is greedy. A sequence stops at any of the model's end-of-turn ids (kept as its last
  token) or after ``max_new_tokens``; finished rows leave the batch.
- :func:`pack`: prompts and completions as one right-padded batch, with the mask of the
  completion tokens (the ones the loss trains).
- :func:`sequence_logprobs`: the log-probability of every token given the ones before it,
  under the sampling distribution ``softmax(logits / temperature)``, with gradients.

Position ids are always ``cumsum(attention_mask) - 1``, so left and right padding give a
sequence the same numbers as it has alone.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from monarl.algos.llm.models import ChatModel

DEFAULT_BATCH_SIZE = 64
"""Prompts generated together at most (bounds the memory of the key/value cache)."""


@functools.cache
def _cache_argument(forward_owner: type) -> str:
    """The keyword of a model's key/value cache: ``cache`` in transformers >= 5.2x (which
    deprecates ``past_key_values``), ``past_key_values`` before."""
    params = inspect.signature(forward_owner.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _base(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under a peft wrapper (whose forward takes ``**kwargs``)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def _unwrap(model: Any) -> torch.nn.Module:
    """A ChatModel's causal LM, or the module itself."""
    return model.model if hasattr(model, "chat_ids") else model


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that ignore padding on either side: ``cumsum(mask) - 1``, 0 on pads."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def left_pad(prompts: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``, ``[B, max_len]`` longs, prompts aligned to the right."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        if len(prompt):
            ids[row, width - len(prompt):] = torch.as_tensor(list(prompt), dtype=torch.long)
            mask[row, width - len(prompt):] = 1
    return ids, mask


def _pick(logits: torch.Tensor, temperature: float,
          generator: torch.Generator | None) -> torch.Tensor:
    if generator is None or temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def _generate_batch(model: torch.nn.Module, prompts: Sequence[Sequence[int]], pad_id: int,
                    eos: torch.Tensor, max_new_tokens: int, temperature: float,
                    generator: torch.Generator | None) -> list[list[int]]:
    cache_key = _cache_argument(type(_base(model)))
    ids, mask = left_pad(prompts, pad_id)
    pos = positions(mask)
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                logits_to_keep=1)
    cache = out.cache if cache_key == "cache" else out.past_key_values
    logits = out.logits[:, -1]
    next_pos = pos[:, -1] + 1
    rows = torch.arange(len(prompts))  # original index of each row still generating
    completions: list[list[int]] = [[] for _ in prompts]
    for step in range(max_new_tokens):
        tokens = _pick(logits, temperature, generator)
        for row, token in zip(rows.tolist(), tokens.tolist(), strict=True):
            completions[row].append(token)
        if step == max_new_tokens - 1:
            break
        going = ~torch.isin(tokens, eos)
        if not bool(going.any()):
            break
        if not bool(going.all()):
            keep = going.nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows, tokens, mask, next_pos = rows[keep], tokens[keep], mask[keep], next_pos[keep]
        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
        out = model(input_ids=tokens[:, None], attention_mask=mask,
                    position_ids=next_pos[:, None], use_cache=True, **{cache_key: cache})
        cache = out.cache if cache_key == "cache" else out.past_key_values
        logits = out.logits[:, -1]
        next_pos = next_pos + 1
    return completions


def generate(chat_model: ChatModel, prompts: Sequence[Sequence[int]], max_new_tokens: int,
             temperature: float = 1.0, generator: torch.Generator | None = None,
             batch_size: int = DEFAULT_BATCH_SIZE) -> list[list[int]]:
    """Completion ids of every prompt (the prompt itself not included).

    ``generator=None`` (or ``temperature <= 0``) is greedy; otherwise tokens are drawn from
    ``softmax(logits / temperature)`` with ``torch.multinomial(..., generator=generator)``.
    A completion ends with its first end-of-turn id (``chat_model.eos_ids``, included) or
    after ``max_new_tokens`` tokens. Prompts run ``batch_size`` at a time, in order, so the
    same prompts, settings and generator state give the same tokens."""
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens={max_new_tokens} must be >= 0")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    if max_new_tokens == 0 or not prompts:
        return [[] for _ in prompts]
    model = chat_model.model
    eos = torch.tensor(sorted(chat_model.eos_ids), dtype=torch.long)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out: list[list[int]] = []
            for start in range(0, len(prompts), batch_size):
                out += _generate_batch(model, prompts[start:start + batch_size],
                                       chat_model.pad_id, eos, max_new_tokens, temperature,
                                       generator)
    finally:
        model.train(was_training)
    return out


def pack(prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]],
         pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask, completion_mask)``, each ``[B, L]``, right-padded.

    Row ``b`` is ``prompts[b] + completions[b]`` then ``pad_id``; ``attention_mask`` (long)
    is 1 on real tokens; ``completion_mask`` (float32) is 1 on the completion's tokens. The
    log-probabilities of :func:`sequence_logprobs` are of tokens 1..L-1, so the mask that
    selects the completion's log-probabilities is ``completion_mask[:, 1:]``."""
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    width = max(len(p) + len(c) for p, c in zip(prompts, completions, strict=True))
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    completion_mask = torch.zeros((len(prompts), width), dtype=torch.float32)
    for row, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
        n, m = len(prompt), len(completion)
        ids[row, :n + m] = torch.as_tensor(list(prompt) + list(completion), dtype=torch.long)
        mask[row, :n + m] = 1
        completion_mask[row, n:n + m] = 1.0
    return ids, mask, completion_mask


def sequence_logprobs(model: torch.nn.Module | ChatModel, input_ids: torch.Tensor,
                      attention_mask: torch.Tensor, temperature: float = 1.0,
                      first: int = 1) -> torch.Tensor:
    """``[B, L-1]`` float32: entry ``[b, t]`` is ``log p(input_ids[b, t+1] | tokens <= t)``
    under ``softmax(logits / temperature)``; 0 where ``input_ids[b, t+1]`` is padding.

    ``first``: the first token position whose log-probability is wanted (e.g. the shortest
    prompt's length, where the replies start); entries before it are 0 and their logits are
    never built, which matters for a large vocabulary (SmolLM2: 49,152 logits per position).
    Differentiable (call it under ``torch.no_grad()`` for reference/old-policy numbers). Any
    padding side works: positions come from the attention mask. ``model`` is the causal LM
    (possibly peft-wrapped) or a :class:`ChatModel`."""
    if temperature <= 0:
        raise ValueError(f"temperature={temperature} must be > 0 for log-probabilities")
    width = input_ids.shape[1]
    first = min(max(int(first), 1), max(width - 1, 1))
    model = _unwrap(model)
    logits = model(input_ids=input_ids, attention_mask=attention_mask,
                   position_ids=positions(attention_mask), use_cache=False,
                   logits_to_keep=width - first + 1).logits
    logits = logits[:, :-1].float()
    if temperature != 1.0:
        logits = logits / temperature
    targets = input_ids[:, first:]
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    logprobs = picked - torch.logsumexp(logits, dim=-1)
    logprobs = torch.where(attention_mask[:, first:].bool(), logprobs,
                           torch.zeros_like(logprobs))
    if first > 1:
        logprobs = torch.cat([logprobs.new_zeros((logprobs.shape[0], first - 1)), logprobs],
                             dim=1)
    return logprobs
