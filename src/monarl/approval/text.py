"""The text face of an approval: a judgement of each turn a language model wrote.

A language-model episode is a case and a few replies (``monarl.core.protocols.TextSpec``). A
text approval scores every turn of a batch of episodes, ``[turns, episodes]``, and the trainer
adds that to the turn's observed reward: the turn's training reward (the paper's overseer
approves a summary on top of the monitor's penalty). A turn it does not judge scores 0, so
that turn trains on its observed reward alone. An approval never reads a later turn's reply or
reward when it scores a turn; the batch carries the observed rewards only for the labelled
negative control (``text-leak``), which reads them on purpose.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from monarl.approval.base import Approval


@dataclasses.dataclass
class TextBatch:
    """Episodes as a text approval sees them.

    ``cases``: one per episode; ``replies[i][t]``: episode i's reply at turn t; ``chats[i][t]``:
    the chat shown before that reply (what the model saw); ``observed``: ``[turns, episodes]``
    observed rewards (only the negative control reads them); ``params``: the environment's
    parameters."""

    cases: list[Any]
    replies: list[list[str]]
    chats: list[list[list[dict[str, str]]]]
    observed: np.ndarray
    params: Any

    @property
    def turns(self) -> int:
        return int(self.observed.shape[0])

    def __len__(self) -> int:
        return len(self.cases)


class TextApproval(Approval):
    """Base of the approvals that judge text (see the module docstring)."""

    kind = "text"

    def score(self, batch: TextBatch) -> np.ndarray:
        """``[turns, episodes]`` approvals (0 where a turn is not judged)."""
        raise NotImplementedError

    def close(self) -> None:
        """Free what the approval holds (a judge model)."""


class TextOverseer(TextApproval):
    """The environment's own rule-based overseer (``TextSpec.overseer``) on every turn it
    judges, scaled by ``scale``; it reads one turn's reply and the case, nothing later."""

    kind = "overseer"

    def __init__(self, env: Any, scale: float = 1.0):
        self.env = env
        self.scale = float(scale)

    def score(self, batch: TextBatch) -> np.ndarray:
        out = np.zeros((batch.turns, len(batch)))
        for i, (case, replies) in enumerate(zip(batch.cases, batch.replies, strict=True)):
            for t, reply in enumerate(replies):
                value = self.env.text.overseer(case, t, reply, batch.params)
                if value is not None:
                    out[t, i] = self.scale * float(value)
        return out
