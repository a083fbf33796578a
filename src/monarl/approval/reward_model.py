"""A frozen reward model: a sequence classifier scores one turn's request and reply.

Any local Hugging Face ``...ForSequenceClassification`` folder (one output: the score). It
reads the request the policy answered and the reply, never a later turn; the approval is
``scale x score``. Nothing downloads: the folder must exist (a reward model trained elsewhere,
or one built for a test).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from monarl.approval.base import BuildContext
from monarl.approval.judge import TEXT, context_of, validate_turns
from monarl.approval.text import TextApproval, TextBatch
from monarl.core.config import fail, is_number, setting
from monarl.core.protocols import ApprovalSpec, Family


@dataclasses.dataclass(frozen=True)
class RewardModelSettings:
    model: str = setting("", "A local folder of a sequence-classification model with one "
                             "output (config.json and its tokenizer).")
    turns: tuple[int, ...] = setting((0,), "The turns scored (0-based).")
    scale: float = setting(1.0, "The approval is scale x the model's score.")
    template: str = setting("{context}\n{reply}", "The text the model reads; {context} is the "
                                                  "request, {reply} the reply.")

    def validate(self, section: str = "approval") -> None:
        validate_folder(self.model, section)
        validate_turns(self.turns, section)
        if not is_number(self.scale):
            raise fail(section, "scale", self.scale, "must be a finite number")
        if "{reply}" not in str(self.template):
            raise fail(section, "template", self.template, "must contain {reply}")


def validate_folder(model: Any, section: str) -> None:
    """A local sequence-classification model folder, checked without loading it."""
    path = Path(str(model)).expanduser()
    if not str(model) or not path.is_dir():
        raise fail(section, "model", model, "must be a local folder of a sequence-"
                                            "classification model (nothing downloads)")
    config = path / "config.json"
    if not config.exists():
        raise fail(section, "model", model, "is a folder without config.json: not a model")
    try:
        architectures = json.loads(config.read_text()).get("architectures") or []
    except (OSError, ValueError):
        architectures = []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        raise fail(section, "model", model, "is not a sequence-classification model (its "
                                            "config.json names no ...ForSequenceClassification)")


class RewardModel(TextApproval):
    kind = "reward-model"

    def __init__(self, settings: RewardModelSettings):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.settings = settings
        path = str(Path(settings.model).expanduser())
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path).eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.config.pad_token_id = self.tokenizer.pad_token_id

    def scores(self, texts: list[str], batch: int = 16) -> np.ndarray:
        import torch

        out = []
        with torch.no_grad():
            for start in range(0, len(texts), batch):
                enc = self.tokenizer(texts[start:start + batch], return_tensors="pt",
                                     padding=True)
                out.append(self.model(**enc).logits[:, 0].float().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def score(self, batch: TextBatch) -> np.ndarray:
        out = np.zeros((batch.turns, len(batch)))
        for t in self.settings.turns:
            if t >= batch.turns:
                continue
            texts = [self.settings.template.format(context=context_of(chats[t]), reply=r[t])
                     for chats, r in zip(batch.chats, batch.replies, strict=True)]
            out[t] = self.settings.scale * self.scores(texts)
        return out


def build(ctx: BuildContext, settings: RewardModelSettings) -> RewardModel:
    return RewardModel(settings)


SPEC = ApprovalSpec(
    name="reward-model",
    summary="A frozen reward model (a local sequence-classification folder) scores a turn's "
            "request and reply; later turns unseen.",
    settings=RewardModelSettings,
    build=build,
    needs=lambda settings: TEXT,
    family=lambda settings: Family("reward-model", None, "reward model", "#00838f"),
)
