"""The interface every model backend implements: one async call per request."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from pydantic import BaseModel, Field

from medgap.records import Attempt, Message, Response, Sample

# Log-probability scoring of a choice item reads the next token after the prompt plus this assistant
# prefix (as the prompts ask for "答案：X"); multi-answer items then decode at most this many tokens.
ANSWER_PREFIX = "答案："
MULTI_ANSWER_TOKENS = 8  # "ABCDE" and separators fit; the letters are often merged tokens ("AB")


class GenerateConfig(BaseModel):
    """Generation settings; recorded with every run."""

    temperature: float = 0.0
    top_p: float = 1.0
    # 1.0 = no penalty; sent explicitly, since some servers default otherwise (llama.cpp's is 1.1)
    repeat_penalty: float = 1.0
    max_tokens: int = 512
    timeout_s: float = 120.0
    # "generate": free text, answer extracted afterwards. "logprobs": compare the next-token
    # log-probabilities of the option letters (choice items only, where the backend supports it).
    choice_mode: str = "generate"
    seed: int | None = None


class ModelRequest(BaseModel):
    """One call: the messages, plus the attempt they came from (mocks and replay need it)."""

    messages: list[Message]
    config: GenerateConfig = Field(default_factory=GenerateConfig)
    attempt: Attempt
    sample: Sample


class Model(ABC):
    """A backend. Subclasses live one per file in `medgap/models/`."""

    #: how many requests the runner may have in flight against this backend by default
    default_concurrency: int = 8
    #: backends that can score choice items from letter log-probabilities
    supports_logprobs: bool = False
    #: how choice items are answered when the user does not say (`--choice-mode`)
    default_choice_mode: str = "generate"
    #: replies longer than this are cut (set by the runner's --max-reply-bytes; None: no cap)
    max_reply_bytes: int | None = None

    def __init__(self, name: str, **options: Any) -> None:
        self.name = name
        self.options = options

    @abstractmethod
    async def generate(self, request: ModelRequest) -> Response:
        """Answer one request. Failures after retries come back as `Response(error=...)`."""

    async def aclose(self) -> None:  # noqa: B027 - an optional hook: most backends hold nothing
        """Release connections, threads or weights."""

    def describe(self) -> dict[str, Any]:
        """What gets recorded in the run config (never secrets)."""
        return {"name": self.name, **{k: v for k, v in self.options.items() if "key" not in k.lower()}}

    def answer_settings(self, config: GenerateConfig) -> dict[str, Any]:
        """This backend's part of the run's `AnswerSettings`: what it sends or applies with `config`
        (model identity, backend version, effective system prompt, assistant prefix, penalties)."""
        return {"model": self.name, "backend": f"medgap {type(self).__name__}"}
