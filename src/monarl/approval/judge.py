"""An LLM judge: a frozen language model reads one turn and says how good it is.

The judge sees the chat the policy saw and the policy's reply at the turns it judges, never a
later turn, and its score is read from its next-token distribution (no sampling): ``yes-no``
scores ``P(yes) / (P(yes) + P(no))``, ``number`` the expected digit 0-9 divided by 9. It is
MONA's approval when the overseer is itself a model; the judge model never trains.
"""

from __future__ import annotations

import dataclasses
import string
from typing import Any

import numpy as np

from monarl.approval.base import BuildContext
from monarl.approval.text import TextApproval, TextBatch
from monarl.core.config import check_choice, fail, is_int, is_number, setting
from monarl.core.protocols import ApprovalSpec, Family, Need

PLACEHOLDERS = ("reply", "context")
TEXT = {"text": Need("kind", "judges turns of text (a language-model environment)")}
OWN_PROMPT = {**TEXT, "judge-prompt": Need(
    "prompt", "an empty prompt is the environment's own judge prompt; give one with {reply} "
              "(--set approval.prompt=...)")}


@dataclasses.dataclass(frozen=True)
class JudgeSettings:
    model: str = setting("smollm2-135m", "The judge model (frozen): tiny, smollm2-135m, a "
                                         "local model folder or .gguf file, or a cached hub "
                                         "name.")
    prompt: str = setting("", "The judge's prompt; {reply} is the judged reply (required), "
                              "{context} the request the policy saw. Empty: the "
                              "environment's own (loan-text: are the summary's financial facts "
                              "accurate; tdd: are the tests correct and discriminating).")
    turns: tuple[int, ...] = setting((0,), "The turns judged (0-based); the others score 0 "
                                           "and train on their observed reward.")
    score: str = setting("yes-no", "How the score is read: yes-no (P(yes) / (P(yes) + "
                                   "P(no))) or number (expected digit 0-9, / 9).",
                         choices=("yes-no", "number"))
    scale: float = setting(1.0, "The approval is scale x score.")

    def validate(self, section: str = "approval") -> None:
        if self.prompt != "":  # "" is the environment's own prompt, checked when built
            check_prompt(self.prompt, section)
        check_choice(section, "score", self.score, ("yes-no", "number"))
        if self.prompt == "" and (self.score != "yes-no" or tuple(self.turns) != (0,)):
            raise fail(section, "prompt", self.prompt,
                       "is required with score=number or turns other than [0]: the "
                       "environment's own prompt asks a yes/no question about turn 0")
        if not is_number(self.scale):
            raise fail(section, "scale", self.scale, "must be a finite number")
        validate_turns(self.turns, section)
        from monarl.algos.llm.models import resolve_model

        resolve_model(self.model, f"{section}.model")


def validate_prompt(prompt: Any, section: str) -> set[str]:
    """The placeholders of a judge prompt; refuses unknown ones and broken braces."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise fail(section, "prompt", prompt, "must be a non-empty text")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(prompt) if name is not None}
    except ValueError as exc:
        raise fail(section, "prompt", prompt, f"is not a valid template ({exc}); write a "
                                              "literal brace as {{ or }}") from None
    unknown = sorted(fields - set(PLACEHOLDERS))
    if unknown:
        raise fail(section, "prompt", prompt, f"has the unknown placeholder {{{unknown[0]}}}; "
                                              "allowed are {reply} and {context}")
    return fields


def check_prompt(prompt: Any, section: str) -> None:
    """A judge prompt: a valid template with the placeholder {reply}."""
    if "reply" not in validate_prompt(prompt, section):
        raise fail(section, "prompt", prompt,
                   "must contain the placeholder {reply} (the judged reply)")


def validate_turns(turns: Any, section: str) -> None:
    if not isinstance(turns, tuple | list) or not turns or not all(
            is_int(t) and t >= 0 for t in turns):
        raise fail(section, "turns", turns, "must be a non-empty list of turn indices >= 0")


def context_of(chat: list[dict[str, str]]) -> str:
    """The request a reply answers: the last user message of its chat."""
    users = [m["content"] for m in chat if m.get("role") == "user"]
    return users[-1] if users else ""


def next_token_logits(chat_model: Any, prompts: list[list[int]], batch: int = 16) -> Any:
    """Logits of the token after each prompt (left-padded batches, no gradient)."""
    import torch

    pad = chat_model.pad_id
    out = []
    with torch.no_grad():
        for start in range(0, len(prompts), batch):
            chunk = prompts[start:start + batch]
            width = max(len(p) for p in chunk)
            ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in chunk])
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in chunk])
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = chat_model.model(input_ids=ids, attention_mask=mask,
                                      position_ids=positions).logits[:, -1]
            out.append(logits.float())
    return torch.cat(out)


def answer_ids(chat_model: Any, words: tuple[str, ...]) -> list[int]:
    """The first token of each spelling of an answer (with and without a leading space), where
    that token carries some of the answer: a tokenizer that writes " 0" as a space and then
    "0" (SmolLM2's digits, every character of tiny's) would otherwise count the bare space, a
    token every answer shares, as the answer."""
    ids = set()
    for word in words:
        for text in (word, " " + word):
            tokens = chat_model.encode(text)
            if tokens and chat_model.decode(tokens[:1]).strip():
                ids.add(tokens[0])
    return sorted(ids)


def distinct_answers(chat_model: Any, answers: dict[str, tuple[str, ...]]) -> dict[str, list[int]]:
    """Each answer's first-token ids (:func:`answer_ids`); refused where the judge model's
    tokenizer gives two answers a first token in common or an answer none, since the score
    would then not tell them apart."""
    ids = {name: answer_ids(chat_model, words) for name, words in answers.items()}
    owner: dict[int, str] = {}
    for name, found in ids.items():
        if not found:
            raise ValueError(f"the judge model's tokenizer has no token that starts the "
                             f"answer {name!r}")
        for token in found:
            if token in owner:
                raise ValueError(f"the judge model's tokenizer starts the answers "
                                 f"{owner[token]!r} and {name!r} with the same token "
                                 f"{token}; its score could not tell them apart")
            owner[token] = name
    return ids


class Judge(TextApproval):
    kind = "judge"

    def __init__(self, settings: JudgeSettings, seed: int):
        from monarl.algos.llm.models import load_model, resolve_model

        self.settings = settings
        self.chat_model = load_model(resolve_model(settings.model, "approval.model"), seed)
        self.chat_model.model.eval()
        for p in self.chat_model.model.parameters():
            p.requires_grad_(False)
        if settings.score == "yes-no":
            ids = distinct_answers(self.chat_model, {"yes": ("yes", "Yes", "YES"),
                                                     "no": ("no", "No", "NO")})
            self.yes, self.no = ids["yes"], ids["no"]
        else:
            ids = distinct_answers(self.chat_model, {str(d): (str(d),) for d in range(10)})
            self.digits = [ids[str(d)] for d in range(10)]  # per digit, its spellings' ids

    def scores(self, contexts: list[str], replies: list[str]) -> np.ndarray:
        """The judge's score in [0, 1] of each reply."""
        import torch

        chats = [[{"role": "user", "content": self.settings.prompt.format(
            reply=reply, context=context)}] for context, reply in zip(contexts, replies,
                                                                     strict=True)]
        logits = next_token_logits(self.chat_model, [self.chat_model.chat_ids(c) for c in chats])
        probs = torch.softmax(logits, dim=-1)
        if self.settings.score == "yes-no":
            yes = probs[:, self.yes].sum(-1)
            no = probs[:, self.no].sum(-1)
            return (yes / (yes + no + 1e-12)).numpy()
        digits = torch.stack([probs[:, ids].sum(-1) for ids in self.digits], dim=-1)
        digits = digits / (digits.sum(-1, keepdim=True) + 1e-12)
        return (digits @ torch.arange(10, dtype=digits.dtype) / 9.0).numpy()

    def score(self, batch: TextBatch) -> np.ndarray:
        out = np.zeros((batch.turns, len(batch)))
        for t in self.settings.turns:
            if t >= batch.turns:
                continue
            contexts = [context_of(chats[t]) for chats in batch.chats]
            replies = [r[t] for r in batch.replies]
            out[t] = self.settings.scale * self.scores(contexts, replies)
        return out

    def close(self) -> None:
        self.chat_model = None


def resolve_prompt(env: Any, settings: JudgeSettings) -> JudgeSettings:
    """The settings with the prompt the judge will read: the given one, else the
    environment's own (``TextSpec.judge_prompt``); refused where neither exists."""
    if settings.prompt != "":
        return settings
    own = env.text.judge_prompt if env.text is not None else ""
    if not own:
        raise fail("approval", "prompt", "", f"is required here: environment {env.name!r} has "
                                             "no judge prompt of its own; give one with "
                                             "{reply} (--set approval.prompt=...)")
    check_prompt(own, "approval")
    return dataclasses.replace(settings, prompt=own)


def build(ctx: BuildContext, settings: JudgeSettings) -> Judge:
    turns = ctx.env.text.turns if ctx.env.text is not None else 0
    bad = [t for t in settings.turns if t >= turns]
    if bad:
        raise ValueError(f"approval.turns={list(settings.turns)!r} is invalid: this environment "
                         f"has {turns} turns (0..{turns - 1})")
    return Judge(resolve_prompt(ctx.env, settings), ctx.seeds[0] if ctx.seeds else 0)


SPEC = ApprovalSpec(
    name="judge",
    summary="An LLM judge: a frozen model scores a turn from its chat and reply, read from "
            "P(yes) or an expected digit; later turns unseen.",
    settings=JudgeSettings,
    build=build,
    needs=lambda settings: TEXT if settings.prompt != "" else OWN_PROMPT,
    family=lambda settings: Family("judge", None, "LLM judge", "#6a1b9a"),
)
