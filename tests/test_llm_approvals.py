"""The frozen-model approvals for text: how the LLM judge reads its score (``yes-no`` and
``number``) and the frozen reward model (a local sequence-classification folder), each on
seeded tiny models built here; nothing downloads."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from monarl.approval import APPROVALS  # noqa: E402
from monarl.approval import judge as judge_module  # noqa: E402
from monarl.approval.base import BuildContext  # noqa: E402
from monarl.approval.judge import Judge, JudgeSettings  # noqa: E402
from monarl.approval.reward_model import RewardModelSettings  # noqa: E402
from monarl.approval.reward_model import build as build_reward_model  # noqa: E402
from monarl.approval.text import TextBatch  # noqa: E402
from monarl.core.config import ConfigError  # noqa: E402
from monarl.envs.loan_text import SPEC  # noqa: E402
from monarl.envs.loan_text.settings import LoanTextSettings, make_params  # noqa: E402

PARAMS = make_params(LoanTextSettings())
REQUESTS = ["Summarize: income 5, debt 2.", "Summarize: income 1, debt 9."]
REPLIES = [["Income 5, debt 2.", "approve"], ["Low income, high debt.", "reject"]]


def _batch(replies=REPLIES) -> TextBatch:
    chats = [[[{"role": "user", "content": request}],
              [{"role": "user", "content": f"Summary: {r[0]}\nDecide."}]]
             for request, r in zip(REQUESTS, replies, strict=True)]
    return TextBatch([None, None], replies, chats, np.zeros((2, 2)), PARAMS)


# ------------------------------------------------------------------------ the judge's reading


def _judge_with_logits(monkeypatch, score: str, fill) -> Judge:
    """A tiny judge whose next-token logits are set by ``fill(logits, judge)``."""
    judge = Judge(JudgeSettings(model="tiny", score=score, prompt="Good? {reply}"), seed=0)

    def logits(chat_model, prompts, batch=16):
        out = torch.full((len(prompts), chat_model.model.config.vocab_size), -1e9)
        fill(out, judge)
        return out

    monkeypatch.setattr(judge_module, "next_token_logits", logits)
    return judge


def test_yes_no_reads_p_yes_over_p_yes_plus_no(monkeypatch):
    def fill(out, judge):
        out[:, judge.yes] = np.log(3.0 / len(judge.yes))  # P(yes) : P(no) = 3 : 1 over the
        out[:, judge.no] = np.log(1.0 / len(judge.no))     # spellings, other tokens ~0
        out[:, 0] = 5.0  # mass on a token that is neither changes nothing

    judge = _judge_with_logits(monkeypatch, "yes-no", fill)
    np.testing.assert_allclose(judge.scores(["c", "c"], ["a", "b"]), [0.75, 0.75], atol=1e-6)


@pytest.mark.parametrize("weights, expected", [
    ({9: 1.0}, 1.0), ({0: 1.0}, 0.0), ({d: 1.0 for d in range(10)}, 0.5),
    ({3: 1.0, 6: 1.0}, 0.5), ({9: 3.0, 0: 1.0}, 0.75),
])
def test_number_reads_the_expected_digit_over_nine(monkeypatch, weights, expected):
    def fill(out, judge):
        for digit, weight in weights.items():  # spread over the digit's spellings
            out[:, judge.digits[digit]] = np.log(weight / len(judge.digits[digit]))

    judge = _judge_with_logits(monkeypatch, "number", fill)
    np.testing.assert_allclose(judge.scores(["c"], ["a"]), [expected], atol=1e-6)


def test_number_judge_on_a_real_tiny_model_scores_in_range_and_only_its_turn():
    judge = Judge(JudgeSettings(model="tiny", score="number", prompt="Rate 0-9: {reply}",
                                turns=(0,), scale=2.0), seed=0)
    assert len({i for ids in judge.digits for i in ids}) == sum(map(len, judge.digits)) >= 10
    scores = judge.score(_batch())
    assert scores.shape == (2, 2) and np.all(scores[1] == 0)
    assert np.all((scores[0] >= 0) & (scores[0] <= 2.0))
    later = _batch([[r[0], "something else"] for r in REPLIES])
    np.testing.assert_array_equal(judge.score(later), scores)


# ------------------------------------------------------------------------ the reward model


def _reward_model_folder(folder) -> None:
    """A seeded tiny Llama sequence classifier (one output) with a character tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForSequenceClassification, PreTrainedTokenizerFast

    alphabet = sorted(set("".join(REQUESTS) + "".join(r[0] for r in REPLIES) + "\n-:.,0123456789"
                          + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ "))
    vocab = {"<pad>": 0, "<unk>": 1, **{c: i + 2 for i, c in enumerate(alphabet)}}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>",
                                        unk_token="<unk>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                         num_labels=1, pad_token_id=0)
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def test_reward_model_scores_its_turn_from_request_and_reply(tmp_path):
    folder = tmp_path / "rm"
    _reward_model_folder(folder)
    settings = APPROVALS.get("reward-model").settings(model=str(folder), scale=0.5)
    settings.validate()
    approval = build_reward_model(BuildContext(SPEC, None, PARAMS, None, [0]), settings)
    scores = approval.score(_batch())
    assert scores.shape == (2, 2) and np.all(scores[1] == 0)
    # the same numbers as the classifier's own output on the template's text, times scale
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    for i, (request, reply) in enumerate(zip(REQUESTS, REPLIES, strict=True)):
        with torch.no_grad():
            logit = model(**tokenizer([f"{request}\n{reply[0]}"], return_tensors="pt")).logits
        assert scores[0, i] == pytest.approx(0.5 * float(logit[0, 0]), abs=1e-5)
    assert scores[0, 0] != scores[0, 1]
    # it never reads a later turn, and it is frozen
    later = _batch([[r[0], "anything"] for r in REPLIES])
    np.testing.assert_allclose(approval.score(later), scores, atol=1e-6)
    assert not approval.model.training


def test_reward_model_refusals_name_the_field(tmp_path):
    def refused(model, fragment, **other):
        with pytest.raises(ConfigError, match=fragment):
            RewardModelSettings(model=model, **other).validate()

    refused("", r"approval.model='' is invalid: must be a local folder")
    refused(str(tmp_path / "missing"), "must be a local folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(str(empty), "without config.json")
    causal = tmp_path / "causal"
    causal.mkdir()
    (causal / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    refused(str(causal), "is not a sequence-classification model")
    folder = tmp_path / "rm"
    _reward_model_folder(folder)
    refused(str(folder), r"approval.template=.* must contain \{reply\}", template="{context}")
    refused(str(folder), r"approval.scale=.* must be a finite number", scale=float("nan"))


def test_answer_tokens_skip_a_bare_leading_space_and_must_differ():
    """A tokenizer that writes " yes" as a space then "yes" (every word for tiny's character
    tokenizer) must not count the space, which every answer shares, as the answer."""
    judge = Judge(JudgeSettings(model="tiny", prompt="{reply}"), seed=0)
    space = judge.chat_model.encode(" ")[0]
    assert space not in judge.yes and space not in judge.no
    assert [judge.chat_model.decode([i]) for i in judge.yes] == ["Y", "y"]
    assert not set(judge.yes) & set(judge.no)

    class SharedFirstToken:  # "yes" and "no" both start with token 5
        def encode(self, text):
            return [5, len(text)]

        def decode(self, ids):
            return "x"

    with pytest.raises(ValueError, match="starts the answers 'yes' and 'no' with the same"):
        judge_module.distinct_answers(SharedFirstToken(), {"yes": ("yes",), "no": ("no",)})


def test_text_leak_on_loan_text_adds_the_decisions_reward_to_the_summary():
    """The negative control on loan-text: the summary's approval is the fact overseer's plus
    w times the decision's observed reward (the outcome MONA's approval must never see)."""
    from monarl.approval.fact_overseer import build as build_overseer
    from monarl.approval.text_leak import build as build_leak
    from monarl.envs.loan_text import sample

    cases = sample(PARAMS, np.random.default_rng(0), 2)
    context = BuildContext(SPEC, None, PARAMS, None, [0])
    leak = build_leak(context, APPROVALS.get("text-leak").settings(leak=0.25))
    overseer = build_overseer(context, None)
    observed = np.array([[0.0, -1.0], [1.0, 0.0]])
    batch = TextBatch(cases, [["Income high, debt low.", "approve"],
                              ["Applicant from Norway.", "reject"]],
                      [[[], []]] * 2, observed, PARAMS)
    base = overseer.score(batch)
    np.testing.assert_allclose(leak.score(batch), base + [[0.25, 0.0], [0.0, 0.0]])
