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
            return without[len(head): len(without) - len(tail)]
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
        from gguf import GGUFReader
    except ImportError:
        raise ValueError("reading a chat template from a GGUF file needs the gguf package: pip install gguf") from None
    try:
        reader = GGUFReader(str(path), "r")
    except (ValueError, OSError) as exc:
        raise ValueError(f"{path}: not a readable GGUF file ({exc})") from None
    source = _field(reader, "tokenizer.chat_template")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"{path} has no chat template in its metadata (tokenizer.chat_template)")
    tokens = reader.fields.get("tokenizer.ggml.tokens")

    def token_text(key: str) -> str:
        index = _field(reader, key)
        if tokens is None or not isinstance(index, int) or not 0 <= index < len(tokens.data):
            return ""
        return bytes(tokens.parts[tokens.data[index]]).decode("utf-8", "replace")

    return ChatTemplate(source=source, bos_token=token_text("tokenizer.ggml.bos_token_id"),
                        eos_token=token_text("tokenizer.ggml.eos_token_id"), origin=str(path))


def _field(reader: Any, key: str) -> Any:
    field = reader.fields.get(key)
    if field is None:
        return None
    value = field.contents()
    return int(value) if hasattr(value, "__int__") and not isinstance(value, (str, bytes)) else value
