"""The policy loss of the language-model trainer: PPO clipping per token, a KL estimate to the
reference model, and nothing that lets a prompt token carry gradient.

Every turn is its own sequence (the chat the model saw, then its reply) and carries one scalar
advantage, its turn's (``monarl.core.horizon.turn_advantages``); every reply token of the
sequence is weighted by it. Prompt and environment tokens have mask 0, so they get exactly zero
gradient. The loss is the sum over reply tokens divided by the number of reply tokens of the
whole update (``num_tokens``), so gradient accumulation over micro-batches gives the same
gradient as one pass over everything.
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class LossParts:
    """One micro-batch's loss and what to log about it (sums, to be divided by tokens)."""

    loss: torch.Tensor
    clipped_tokens: float
    kl_sum: float
    ratio_sum: float
    tokens: float


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    num_tokens: float,
    clip_eps: float,
    ref_logprobs: torch.Tensor | None = None,
    kl_coef: float = 0.0,
) -> LossParts:
    """PPO-clip loss of a micro-batch of sequences.

    Args:
        logprobs: ``[B, L]`` log-probabilities of each token under the current policy (with
            gradient), at the sampling temperature.
        old_logprobs: ``[B, L]`` the same under the policy that sampled (no gradient): on the
            first pass over an update's episodes they are equal, so every ratio is 1.
        advantages: ``[B]`` one per sequence (its turn's advantage).
        mask: ``[B, L]`` 1 on reply tokens (trained), 0 on prompt, environment and padding.
        num_tokens: reply tokens of the whole update (the normaliser).
        clip_eps: the PPO clip range.
        ref_logprobs: ``[B, L]`` under the reference model, for the KL term (the unbiased,
            non-negative estimator ``exp(d) - d - 1`` with ``d = ref - logprob``).
        kl_coef: its weight (0: no KL term).
    """
    mask = mask.to(logprobs.dtype)
    ratio = torch.exp(logprobs - old_logprobs)
    adv = advantages[:, None].to(logprobs.dtype)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv
    per_token = -torch.minimum(unclipped, clipped)
    kl_sum = 0.0
    if ref_logprobs is not None and kl_coef > 0:
        delta = ref_logprobs - logprobs
        kl = torch.exp(delta) - delta - 1.0
        per_token = per_token + kl_coef * kl
        kl_sum = float((kl.detach() * mask).sum())
    loss = (per_token * mask).sum() / max(float(num_tokens), 1.0)
    with torch.no_grad():
        was_clipped = ((ratio - 1.0).abs() > clip_eps).to(mask.dtype) * mask
    return LossParts(loss, float(was_clipped.sum()), kl_sum,
                     float((ratio.detach() * mask).sum()), float(mask.sum()))
