"""`local/default` and `local/<path.gguf>`: a GGUF model run in-process through llama-cpp-python.

Choice items are answered by default from the log-probabilities of the option letters (one forward
pass over the prompt plus the assistant prefix "答案：", no decoding; the lm-evaluation-harness /
HELM approach). `--choice-mode generate` decodes free text instead, stopping as soon as a complete
"答案：X" has been written. Open items are always generated.

Every request reuses the KV cache only in whole n_batch chunks shared with the previous request,
so its logits, and its greedy text, are exactly those of an empty cache: the same request gives the
same answer whatever was asked before it, and after a resume (see `LocalModel.evaluate`).
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medgap.models import local_probe, weights
from medgap.models.base import ANSWER_PREFIX, MULTI_ANSWER_TOKENS, GenerateConfig, Model, ModelRequest
from medgap.models.chat_template import ChatTemplate
from medgap.models.local_runtime import CoreShare, configure_openmp, llama_cpp_version, physical_cores
from medgap.records import Message, Response

EXTRA_BUFFER_TYPES = False  # llama.cpp's CPU extra buffer types (AMX, repacked weights); see MedgapLlama
GGUF_MAGIC = b"GGUF"
# `medgap run` passes these to every backend; here requests run one at a time and are not timed out
RUNNER_OPTIONS = ("timeout", "max_concurrency")
API_OPTIONS = ("base_url", "max_rps")  # options of HTTP backends, refused here with a pointed message
# Generation of a choice item may stop once this has matched: the letters are followed by something else.
ANSWER_WRITTEN = re.compile(r"答案\s*(?:是|为|[:：])?\s*[A-Z](?:[\s,，、和及]*[A-Z])*[\s,，、和及]*[^A-Z\s,，、和及]")


@dataclass(frozen=True)
class LocalSettings:
    """llama.cpp context settings, from `local/NAME?n_ctx=8192&n_threads=4` or keyword options."""

    n_ctx: int = 4096
    n_threads: int = field(default_factory=physical_cores)
    n_batch: int = 512
    seed: int = 0

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> LocalSettings:
        known = {name for name in cls.__dataclass_fields__}
        unknown = sorted(set(options) - known - set(RUNNER_OPTIONS))
        api_only = [f"--{name.replace('_', '-')}" for name in API_OPTIONS if name in unknown]
        if api_only:
            raise ValueError(f"{', '.join(api_only)} is for openai/ models; local/ models run in-process")
        if unknown:
            raise ValueError(f"unknown option(s) for local models: {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
        values = {}
        for name in known & set(options):
            try:
                values[name] = int(options[name])
            except (TypeError, ValueError):
                raise ValueError(f"local model option {name}={options[name]!r} must be an integer") from None
            if values[name] < (0 if name == "seed" else 1):
                raise ValueError(f"local model option {name}={options[name]!r} is out of range")
        return cls(**values)


@functools.cache
def _llama_class() -> type:
    """llama_cpp.Llama plus what medgap needs that its high-level API lacks (imported lazily)."""
    configure_openmp()
    from llama_cpp import Llama, llama_get_logits_ith, llama_set_n_threads

    class MedgapLlama(Llama):
        # Llama builds its llama_model_params here and loads the model right after, with no argument for
        # the CPU "extra buffer types" (AMX tiles, weights repacked for other kernels). They stay off:
        # the AMX kernel of a natively built wheel crashes on Intel Xeons, and a wheel the user built
        # must not crash either. See README, "Local model settings".
        @property
        def model_params(self) -> Any:
            return self._medgap_model_params

        @model_params.setter
        def model_params(self, params: Any) -> None:
            params.use_extra_bufts = EXTRA_BUFFER_TYPES
            self._medgap_model_params = params

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            source = self.metadata.get("tokenizer.chat_template")
            self.chat_template = source and ChatTemplate(
                source=source,
                bos_token=self._special_text(self.token_bos()),
                eos_token=self._special_text(self.token_eos()),
                origin=f"{self.model_path} (GGUF metadata)",
            )

        def chat_prompt(self, messages: list[dict[str, str]]) -> str:
            """The prompt text the GGUF's own chat template makes, ending where the assistant speaks."""
            if not self.chat_template:
                raise ValueError(
                    f"{self.model_path} has no chat template in its metadata (tokenizer.chat_template); "
                    "medgap needs an instruction-tuned chat model"
                )
            return self.chat_template.render(messages)

        def next_token_logits(self) -> np.ndarray:
            """Logits of the token after the last one evaluated (llama.cpp keeps only that row here)."""
            pointer = llama_get_logits_ith(self.ctx, -1)
            return np.ctypeslib.as_array(pointer, shape=(self.n_vocab(),)).copy()

        def set_threads(self, threads: int) -> None:
            llama_set_n_threads(self.ctx, threads, threads)

        def can_trim_cache(self) -> bool:
            # Recurrent and hybrid models cannot drop a KV suffix; they restart from an empty cache.
            return not (self._is_recurrent or self._is_hybrid)

        def _special_text(self, token: int) -> str:
            return self.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

    return MedgapLlama


def load_llama(path: Path, settings: LocalSettings) -> Any:
    """A llama.cpp model in this process; its chat template comes from the GGUF metadata."""
    return _llama_class()(
        model_path=str(path),
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        n_threads_batch=settings.n_threads,
        n_batch=settings.n_batch,
        seed=settings.seed,
        verbose=False,
    )


def resolve_model_file(name: str) -> Path:
    """`default` -> the verified embedded model (assembled on first use); else a GGUF path."""
    if name == "default":
        return weights.default_model_path(progress=True)
    path = Path(name).expanduser()
    if not path.is_file():
        raise ValueError(f"local model file {path} not found; name local/default or local/<path to a .gguf file>")
    with open(path, "rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise ValueError(f"{path} is not a GGUF file (it does not start with {GGUF_MAGIC!r})")
    return path


def common_prefix_length(cached: np.ndarray, tokens: list[int]) -> int:
    n = min(len(cached), len(tokens))
    differs = np.flatnonzero(np.asarray(cached[:n]) != np.asarray(tokens[:n], dtype=np.asarray(cached).dtype))
    return int(differs[0]) if differs.size else n


def log_softmax(logits: np.ndarray) -> np.ndarray:
    wide = logits.astype(np.float64)
    return wide - np.logaddexp.reduce(wide)


def letter_logprobs(logits: np.ndarray, letter_tokens: dict[str, list[int]]) -> dict[str, float]:
    """Log-probability of each option letter as the next token, over the whole vocabulary.

    A letter's spellings ("A" and " A") are different tokens for the same answer, so their
    probabilities are summed.
    """
    logprobs = log_softmax(logits)
    return {letter: float(np.logaddexp.reduce(logprobs[ids])) for letter, ids in letter_tokens.items()}


class LocalModel(Model):
    """A GGUF model evaluated in-process, one request at a time on a dedicated thread."""

    default_concurrency = 1
    supports_logprobs = True
    default_choice_mode = "logprobs"

    def __init__(self, name: str, *, llama_factory=load_llama, cores: CoreShare | None = None,
                 **options: Any) -> None:
        super().__init__(name, **options)
        self.settings = LocalSettings.from_options(options)
        if llama_factory is load_llama and importlib.util.find_spec("llama_cpp") is None:
            raise ImportError(f"local models need llama-cpp-python: {weights.INSTALL_HINT}")
        self.path = resolve_model_file(name)
        if llama_factory is load_llama:
            local_probe.check_loads(self.path, self.settings)
        self._sha256 = weights.EXPECTED_SHA256 if name == "default" else None
        self._factory = llama_factory
        self._llm: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._letter_tokens: dict[str, list[int]] = {}
        self._cores = cores or CoreShare(weights.cache_dir() / "busy", physical_cores())
        self._threads = self.settings.n_threads

    async def generate(self, request: ModelRequest) -> Response:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="medgap-llama")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.answer, request)

    async def aclose(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def describe(self) -> dict[str, Any]:
        if self._sha256 is None:
            self._sha256 = weights.file_sha256(self.path)
        return {
            "name": self.name,
            "path": str(self.path),
            "sha256": self._sha256,
            **asdict(self.settings),
            "llama_cpp": llama_cpp_version(),
            "default_choice_mode": self.default_choice_mode,
        }

    def answer_settings(self, config: GenerateConfig) -> dict[str, Any]:
        template = self.loaded().chat_template
        default_system = template.default_system_prompt() if template else None
        logprobs = config.choice_mode == "logprobs"
        return {
            "model": f"{self.path.name} sha256:{self.describe()['sha256']}",
            "backend": f"llama-cpp-python {llama_cpp_version()} (in-process, n_batch={self.settings.n_batch})",
            "repeat_penalty": config.repeat_penalty,
            "seed": self.seed_for(config),
            "system_prompt": default_system,
            "system_prompt_source": "chat template default" if default_system is not None else "none",
            "chat_template": template.describe() if template else None,
            "assistant_prefix": ANSWER_PREFIX if logprobs else "",
            "logprob_method": (
                "next-token distribution after the assistant prefix, whole vocabulary" if logprobs else None
            ),
        }

    # Everything below runs on the worker thread.

    def answer(self, request: ModelRequest) -> Response:
        started = time.perf_counter()
        llm = self.loaded()
        with self._cores.share(self.settings.n_threads) as threads:  # fewer when other runs compute too
            if threads != self._threads:
                llm.set_threads(threads)
                self._threads = threads
            if request.config.choice_mode == "logprobs" and request.sample.is_choice and request.attempt.options:
                response = self.score_letters(llm, request)
            else:
                response = self.complete(llm, request)
        response.latency_s = time.perf_counter() - started
        return response

    def loaded(self) -> Any:
        if self._llm is None:
            self._llm = self._factory(self.path, self.settings)
        return self._llm

    def prompt_tokens(self, llm: Any, messages: list[Message], assistant_prefix: str = "") -> list[int]:
        text = llm.chat_prompt([{"role": m.role, "content": m.content} for m in messages]) + assistant_prefix
        # The template writes its special tokens as text; BOS, if any, is part of it.
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= self.settings.n_ctx:
            raise ValueError(
                f"the prompt is {len(tokens)} tokens but the context holds {self.settings.n_ctx}; "
                f"raise it with local/{self.name}?n_ctx={2 * self.settings.n_ctx}"
            )
        return tokens

    def evaluate(self, llm: Any, tokens: list[int]) -> int:
        """Evaluate `tokens` exactly as an empty cache would, reusing only what that leaves unchanged.

        llama.cpp evaluates a prompt in chunks of n_batch tokens from where the cache ends, and a
        token's numbers depend (in the last bits) on the chunk it was computed in. So only whole
        chunks from the start are kept, the ones the cache holds for the same tokens: every chunk
        evaluated after them starts where a fresh evaluation's would. The logits, and all text
        decoded from them, are then the same whatever was asked before (or whether the run was
        resumed). Returns how many tokens were reused."""
        n_batch = self.settings.n_batch
        shared = min(common_prefix_length(llm.input_ids[: llm.n_tokens], tokens), len(tokens) - 1)
        reused = shared // n_batch * n_batch  # the chunk holding the last token is always evaluated
        if reused <= 0 or not llm.can_trim_cache():
            llm.reset()
            reused = 0
        else:
            llm.n_tokens = reused  # Llama.eval drops the cache beyond n_tokens before decoding
        llm.eval(tokens[reused:])
        return reused

    def letter_tokens(self, llm: Any, letter: str) -> list[int]:
        if letter not in self._letter_tokens:
            spellings = {tuple(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))
                         for text in (letter, f" {letter}")}
            ids = sorted(ids[0] for ids in spellings if len(ids) == 1)
            if not ids:
                raise ValueError(f"option letter {letter!r} is not a single token for this model; "
                                 "use --choice-mode generate")
            self._letter_tokens[letter] = ids
        return self._letter_tokens[letter]

    def score_letters(self, llm: Any, request: ModelRequest) -> Response:
        tokens = self.prompt_tokens(llm, request.messages, ANSWER_PREFIX)
        self.evaluate(llm, tokens)
        letters = list(request.attempt.options)
        token_ids = {letter: self.letter_tokens(llm, letter) for letter in letters}
        logprobs = letter_logprobs(llm.next_token_logits(), token_ids)
        completion_tokens = 1
        if request.sample.kind == "multi":
            # Several letters cannot be read off one distribution: decode the answer greedily from here
            # (the prompt is cached, so this costs only the answer's tokens). `logprobs` then describes
            # the first letter only; scoring of multi items reads the text.
            out = llm.create_completion(prompt=tokens, max_tokens=MULTI_ANSWER_TOKENS, temperature=0.0, stop=["\n"])
            text = ANSWER_PREFIX + out["choices"][0]["text"]
            completion_tokens = out["usage"]["completion_tokens"]
        else:
            text = ANSWER_PREFIX + max(logprobs, key=logprobs.__getitem__)
        return Response(text=text, logprobs=logprobs, prompt_tokens=len(tokens),
                        completion_tokens=completion_tokens)

    def complete(self, llm: Any, request: ModelRequest) -> Response:
        config = request.config
        tokens = self.prompt_tokens(llm, request.messages)
        # The prompt is evaluated here, as from an empty cache; llama.cpp then samples straight from
        # its logits (its own prefix reuse would re-chunk the prompt and change greedy text).
        self.evaluate(llm, tokens)
        stop_when_answered = None
        if request.sample.is_choice:
            def stop_when_answered(input_ids: np.ndarray, _logits: np.ndarray) -> bool:
                written = llm.detokenize(list(input_ids[len(tokens):])).decode("utf-8", "ignore")
                return ANSWER_WRITTEN.search(written) is not None
        out = llm.create_completion(
            prompt=tokens,
            max_tokens=min(config.max_tokens, self.settings.n_ctx - len(tokens)),
            temperature=config.temperature,
            top_p=config.top_p,
            repeat_penalty=config.repeat_penalty,
            seed=self.seed_for(config),
            stopping_criteria=stop_when_answered,
        )
        usage = out["usage"]
        return Response(text=out["choices"][0]["text"], prompt_tokens=usage["prompt_tokens"],
                        completion_tokens=usage["completion_tokens"])

    def seed_for(self, config: GenerateConfig) -> int:
        """Every request seeds the sampler itself, so a sampled answer does not depend on how many
        were drawn before it (in this process, or before a resume)."""
        return config.seed if config.seed is not None else self.settings.seed
