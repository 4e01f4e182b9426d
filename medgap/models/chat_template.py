"""A model's chat template: where it comes from (GGUF metadata or a Jinja file), how it renders a
conversation, and which system prompt it writes when none is sent.

Both backends render prompts here, the way llama.cpp's Python bindings and Hugging Face render
them (a sandboxed Jinja environment with `trim_blocks`/`lstrip_blocks`, the template's BOS/EOS
texts, `add_generation_prompt`), so a prompt built for an API's completions endpoint is the prompt
the in-process model sees.
"""

from __future__ import annotations

import functools
import hashlib
import mmap
import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

GGUF_MAGIC = b"GGUF"
_MARK = "\u2063MEDGAP-SYSTEM\u2063"  # a system prompt no template writes by itself


@dataclass(frozen=True)
class ChatTemplate:
    """A Jinja chat template with the special-token texts it refers to."""

    source: str  # Jinja text
    bos_token: str = ""
    eos_token: str = ""
    origin: str = ""  # where it was read from, for the run's record

    def render(self, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The prompt text for `messages`, ending where the assistant speaks."""

        def raise_exception(message: str) -> None:
            raise ValueError(f"chat template: {message}")

        return _compiled(self.source).render(
            messages=messages,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            add_generation_prompt=add_generation_prompt,
            raise_exception=raise_exception,
            strftime_now=lambda fmt: datetime.now().strftime(fmt),
            tools=None,
            functions=None,
        )

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    def default_system_prompt(self) -> str | None:
        """The system prompt the template writes when the conversation has none (Qwen's "You are
        Qwen, created by Alibaba Cloud…"), or None when it writes none.

        Found by rendering a user turn with and without a marked system message: if the prompt
        without one is the prompt with one, the marker replaced by some text, that text is the default.
        """
        user = {"role": "user", "content": "?"}
        try:
            with_system = self.render([{"role": "system", "content": _MARK}, user])
            without = self.render([user])
        except ValueError:  # a template that refuses system messages has no default either
            return None
        if with_system.count(_MARK) != 1:
            return None
        head, tail = with_system.split(_MARK)
        if without.startswith(head) and without.endswith(tail) and len(without) >= len(head) + len(tail):
            return without[len(head): len(without) - len(tail)] or None
        return None

    def describe(self) -> dict[str, Any]:
        return {"origin": self.origin, "sha256": self.sha256, "default_system_prompt": self.default_system_prompt()}


@functools.cache
def _compiled(source: str) -> Any:
    from jinja2 import BaseLoader
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(loader=BaseLoader(), trim_blocks=True, lstrip_blocks=True).from_string(source)


def load_template(path: str | Path) -> ChatTemplate:
    """The chat template of a GGUF model file, or a Jinja template file (`.jinja`, `.txt`)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"chat template file {path} not found (give a .gguf model file or a Jinja template file)")
    with open(path, "rb") as handle:
        is_gguf = handle.read(4) == GGUF_MAGIC
    if is_gguf:
        return gguf_template(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is neither a GGUF file nor a UTF-8 Jinja template") from None
    return ChatTemplate(source=text, origin=str(path))


def gguf_template(path: Path) -> ChatTemplate:
    """`tokenizer.chat_template` of a GGUF file, with its BOS/EOS token texts (metadata only; the
    weights are not read)."""
    try:
        meta = read_gguf_metadata(path, ("tokenizer.chat_template", "tokenizer.ggml.bos_token_id",
                                         "tokenizer.ggml.eos_token_id"), tokens_key="tokenizer.ggml.tokens")
    except (ValueError, OSError, struct.error) as exc:
        raise ValueError(f"{path}: not a readable GGUF file ({exc})") from None
    source = meta.get("tokenizer.chat_template")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"{path} has no chat template in its metadata (tokenizer.chat_template)")
    tokens = meta.get("tokenizer.ggml.tokens") or []

    def token_text(key: str) -> str:
        index = meta.get(key)
        return tokens[index] if isinstance(index, int) and 0 <= index < len(tokens) else ""

    return ChatTemplate(source=source, bos_token=token_text("tokenizer.ggml.bos_token_id"),
                        eos_token=token_text("tokenizer.ggml.eos_token_id"), origin=str(path))


# GGUF value types: struct format of the scalars; 8 = string, 9 = array
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def read_gguf_metadata(path: Path, keys: tuple[str, ...], tokens_key: str | None = None) -> dict[str, Any]:
    """The values of `keys` (scalars or strings) in a GGUF file's key-value header, and the string
    array `tokens_key` as a list; everything else is skipped. Reads the header only, through mmap."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:4] != GGUF_MAGIC:
            raise ValueError("no GGUF magic")
        version, _tensors, count = struct.unpack_from("<IQQ", data, 4)
        if version not in (2, 3):
            raise ValueError(f"GGUF version {version} is not supported")
        offset = 24
        found: dict[str, Any] = {}

        def string(at: int) -> tuple[str, int]:
            (length,) = struct.unpack_from("<Q", data, at)
            return data[at + 8: at + 8 + length].decode("utf-8", "replace"), at + 8 + length

        def skip(kind: int, at: int) -> int:
            if kind in _SCALARS:
                return at + struct.calcsize(_SCALARS[kind])
            if kind == _STRING:
                (length,) = struct.unpack_from("<Q", data, at)
                return at + 8 + length
            if kind == _ARRAY:
                inner, n = struct.unpack_from("<IQ", data, at)
                at += 12
                if inner in _SCALARS:
                    return at + n * struct.calcsize(_SCALARS[inner])
                for _ in range(n):
                    at = skip(inner, at)
                return at
            raise ValueError(f"unknown GGUF value type {kind}")

        for _ in range(count):
            key, offset = string(offset)
            (kind,) = struct.unpack_from("<I", data, offset)
            offset += 4
            if key in keys and kind in _SCALARS:
                found[key] = struct.unpack_from(_SCALARS[kind], data, offset)[0]
            elif key in keys and kind == _STRING:
                found[key] = string(offset)[0]
            elif key == tokens_key and kind == _ARRAY and struct.unpack_from("<I", data, offset)[0] == _STRING:
                (n,) = struct.unpack_from("<Q", data, offset + 4)
                at, tokens = offset + 12, []
                for _ in range(n):
                    text, at = string(at)
                    tokens.append(text)
                found[key] = tokens
            offset = skip(kind, offset)
        return found
