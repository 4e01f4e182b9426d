"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, Ollama, DeepSeek, Qwen...).

One shared aiohttp session per event loop; retries with exponential backoff and jitter on 429,
5xx, timeouts and connection errors, honouring `Retry-After`; an optional cap on requests per
second (`max_rps`, for APIs with rate limits) so 429s are avoided rather than waited out. The API
key is read from the environment at call time and never kept in options, descriptions or error
texts.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import time
import unicodedata
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from medgap.models.base import Model, ModelRequest
from medgap.records import Response
from medgap.redact import redact, register

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
TOP_LOGPROBS = 20  # the most the OpenAI API returns
ERROR_BODY_CHARS = 300


class OpenAIModel(Model):
    default_concurrency = 16
    supports_logprobs = True

    def __init__(self, name: str, **options: Any) -> None:
        if any("key" in option.lower() and option != "api_key_env" for option in options):
            raise ValueError("openai: pass the API key through the environment ($OPENAI_API_KEY, "
                             "or the variable named by api_key_env), never as an option")
        super().__init__(name, **options)
        base_url = options.get("base_url") or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = str(base_url).rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.api_key_env = str(options.get("api_key_env") or DEFAULT_KEY_ENV)
        self.max_concurrency = int(options.get("max_concurrency") or self.default_concurrency)
        self.max_retries = int(options.get("max_retries", 5))
        self.timeout = float(options["timeout"]) if options.get("timeout") else None
        self.backoff_base = float(options.get("backoff_base", 1.0))  # seconds before the first retry
        self.backoff_max = float(options.get("backoff_max", 60.0))  # cap on any single wait
        self.max_rps = positive_float(options.get("max_rps"), "max_rps")
        self._limiter: Any = None  # aiolimiter.AsyncLimiter when max_rps is set, made with the session
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        if base_url == DEFAULT_BASE_URL and not os.environ.get(self.api_key_env):
            # api.openai.com refuses every request without a key: say so now, not after the retries
            raise ValueError(f"{self.api_key_env} is not set: export it with your API key, or pass --base-url "
                             "for a server that needs none")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "provider": "openai",
            "base_url": without_credentials(self.base_url),
            "api_key_env": self.api_key_env,
            "max_concurrency": self.max_concurrency,
            "max_retries": self.max_retries,
            "timeout": self.timeout,
            "max_rps": self.max_rps,
        }

    # session -------------------------------------------------------------------------------------
    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            connector = aiohttp.TCPConnector(limit=self.max_concurrency, keepalive_timeout=60, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
            self._session_loop = loop
            if self.max_rps:
                from aiolimiter import AsyncLimiter

                # a bucket of one: requests evenly spaced, 1/max_rps seconds apart (no bursts to trip the API)
                self._limiter = AsyncLimiter(1, 1 / self.max_rps)
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed and self._session_loop is asyncio.get_running_loop():
            await session.close()

    def _headers(self) -> tuple[dict[str, str], str | None]:
        key = os.environ.get(self.api_key_env) or None
        headers = {"Content-Type": "application/json"}
        if key:
            register(key)  # whatever a server echoes back, the key is redacted before it is stored or shown
            headers["Authorization"] = f"Bearer {key}"
        return headers, key

    def _client_timeout(self, request: ModelRequest) -> aiohttp.ClientTimeout:
        seconds = self.timeout or request.config.timeout_s
        if seconds not in self._timeouts:
            self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        return self._timeouts[seconds]

    # the call ------------------------------------------------------------------------------------
    def _body(self, request: ModelRequest, logprobs: bool) -> bytes:
        config = request.config
        body: dict[str, Any] = {
            "model": self.name,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": config.temperature,
            "max_tokens": 1 if logprobs else config.max_tokens,
        }
        if config.seed is not None:
            body["seed"] = config.seed
        if logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = TOP_LOGPROBS
        return json.dumps(body, ensure_ascii=False).encode()

    async def generate(self, request: ModelRequest) -> Response:
        logprobs = request.config.choice_mode == "logprobs" and bool(request.attempt.options)
        payload = self._body(request, logprobs)
        session = self._get_session()
        headers, _ = self._headers()
        timeout = self._client_timeout(request)
        attempts = self.max_retries + 1
        error = ""
        for attempt in range(attempts):
            wait: float | None = None
            if self._limiter is not None:
                await self._limiter.acquire()
            started = time.perf_counter()
            try:
                async with session.post(self.url, data=payload, headers=headers, timeout=timeout) as reply:
                    raw, cut = await read_at_most(reply, self.max_reply_bytes)
                    latency = time.perf_counter() - started
                    if cut:
                        return Response(text=redact(raw.decode("utf-8", errors="ignore")), truncated=True,
                                        latency_s=latency, error=f"HTTP {reply.status}: reply larger than "
                                        f"{self.max_reply_bytes:,} bytes (--max-reply-bytes); stored cut there")
                    if reply.status == 200:
                        return parse_completion(raw, request, latency, logprobs)
                    error = f"HTTP {reply.status}: {snippet(raw)}"
                    if not retryable(reply.status):
                        return Response(error=redact(error), latency_s=latency)
                    wait = retry_after_seconds(reply.headers.get("Retry-After"))
            except TimeoutError:  # aiohttp's ServerTimeoutError is one too
                error = f"timed out after {timeout.total:g} s"
            except aiohttp.ClientError as exc:
                error = redact(f"{type(exc).__name__}: {exc}")
            if attempt + 1 < attempts:
                await asyncio.sleep(self._backoff(attempt, wait))
        return Response(error=redact(f"{error} (gave up after {attempts} attempts)"))

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        ceiling = min(self.backoff_max, self.backoff_base * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # jitter keeps many workers from retrying in lockstep


def parse_completion(raw: bytes, request: ModelRequest, latency: float, logprobs: bool) -> Response:
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        text = (choice.get("message") or {}).get("content") or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return Response(error=f"malformed completion: {snippet(raw)}", latency_s=latency)
    usage = data.get("usage") or {}
    letter_logprobs = option_logprobs(choice, list(request.attempt.options)) if logprobs else None
    return Response(
        text=text,
        logprobs=letter_logprobs,
        latency_s=latency,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
    )


def option_logprobs(choice: dict[str, Any], letters: list[str]) -> dict[str, float] | None:
    """Log-probability of each option letter among the first token's top alternatives.

    Tokens are compared after stripping spaces and folding full-width letters to ASCII; several
    tokens naming the same letter ("A", " A", "Ａ") have their probabilities added.
    """
    try:
        top = choice["logprobs"]["content"][0]["top_logprobs"]
    except (KeyError, IndexError, TypeError):
        return None
    wanted = set(letters)
    found: dict[str, float] = {}
    for entry in top:
        letter = unicodedata.normalize("NFKC", str(entry.get("token", ""))).strip()
        logprob = entry.get("logprob")
        if letter in wanted and isinstance(logprob, (int, float)):
            found[letter] = logprob if letter not in found else logaddexp(found[letter], logprob)
    return found


def logaddexp(a: float, b: float) -> float:
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))


def positive_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"openai: {name}={value!r} must be a number") from None
    if not number > 0:
        raise ValueError(f"openai: {name}={value!r} must be above 0")
    return number


def retryable(status: int) -> bool:
    return status == 429 or status >= 500


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds to wait: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


async def read_at_most(reply: aiohttp.ClientResponse, limit: int | None) -> tuple[bytes, bool]:
    """The body, or its first `limit` bytes and True when it is longer (the rest is never read)."""
    if not limit:
        return await reply.read(), False
    chunks, size = [], 0
    async for chunk in reply.content.iter_chunked(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def snippet(raw: bytes) -> str:
    """The start of a server's text for an error message, secrets removed before it is cut (so no
    half of a key survives)."""
    text = " ".join(redact(raw.decode("utf-8", errors="replace")).split())  # one line, however the page is laid out
    return text if len(text) <= ERROR_BODY_CHARS else text[:ERROR_BODY_CHARS] + "…"


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))
