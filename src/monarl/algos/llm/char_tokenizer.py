"""The tiny model's tokenizer: one token per character, and a chat template of its own.

The vocabulary is a handful of special tokens, then newline and the 95 printable ASCII
characters (space to ``~``). Any other character is the unknown token (decoded as ``?``); a
tab is read as a space and ``\\r\\n`` as ``\\n``.

The chat template: ``<bos>``, then for every message its role token, its text and
``<eot>`` (end of turn), then ``<assistant>`` as the generation prompt. A reply is its
characters and ``<eot>``, which is also where generation stops::

    <bos><user>say A<eot><assistant>A<eot>

Pure Python: no torch, no transformers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

SPECIALS = ("<pad>", "<bos>", "<eot>", "<system>", "<user>", "<assistant>", "<unk>")
"""Special tokens, ids 0..6 in this order."""

CHARACTERS = "\n" + "".join(chr(c) for c in range(32, 127))
"""The characters with a token of their own (ids after the specials)."""

ROLES = ("system", "user", "assistant")


class CharTokenizer:
    """Character-level tokenizer with the chat template above (immutable, no state)."""

    pad_id = SPECIALS.index("<pad>")
    bos_id = SPECIALS.index("<bos>")
    eot_id = SPECIALS.index("<eot>")
    unk_id = SPECIALS.index("<unk>")
    role_ids = {role: SPECIALS.index(f"<{role}>") for role in ROLES}

    def __init__(self) -> None:
        self._index = {ch: len(SPECIALS) + i for i, ch in enumerate(CHARACTERS)}
        self.vocab: tuple[str, ...] = SPECIALS + tuple(CHARACTERS)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        """The text's character ids (no special tokens)."""
        text = text.replace("\r\n", "\n").replace("\t", " ")
        index, unk = self._index, self.unk_id
        return [index.get(ch, unk) for ch in text]

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        """Text of ``ids``; special tokens are dropped (or written by name), unknown is ``?``."""
        out = []
        specials = len(SPECIALS)
        for i in ids:
            i = int(i)
            if i == self.unk_id:
                out.append("?")
            elif i < specials:
                if not skip_special_tokens:
                    out.append(SPECIALS[i])
            elif i < len(self.vocab):
                out.append(self.vocab[i])
        return "".join(out)

    def role_id(self, role: str) -> int:
        try:
            return self.role_ids[role]
        except KeyError:
            raise ValueError(f"chat role {role!r} is not one of {', '.join(ROLES)}") from None

    def chat_ids(self, messages: Sequence[Mapping[str, str]],
                 add_generation_prompt: bool = True) -> list[int]:
        """``<bos>`` + ``<role>content<eot>`` per message (+ ``<assistant>``)."""
        ids = [self.bos_id]
        for message in messages:
            ids.append(self.role_id(message["role"]))
            ids.extend(self.encode(message["content"]))
            ids.append(self.eot_id)
        if add_generation_prompt:
            ids.append(self.role_ids["assistant"])
        return ids

    def reply_ids(self, reply: str) -> list[int]:
        """What the model writes after the generation prompt: the reply, then ``<eot>``."""
        return self.encode(reply) + [self.eot_id]

    def render_chat(self, messages: Sequence[Mapping[str, str]],
                    add_generation_prompt: bool = True) -> str:
        """The templated chat as text with the special tokens by name (for reading)."""
        return self.decode(self.chat_ids(messages, add_generation_prompt),
                           skip_special_tokens=False)
