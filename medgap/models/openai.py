"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server, Ollama, DeepSeek, Qwen...).

Sampling settings are sent explicitly (temperature, top_p, max_tokens, seed), and so is a neutral
repetition penalty where the server is known to default otherwise (`repeat_penalty` for llama.cpp
servers, `repetition_penalty` for vLLM; told apart by `GET /models`, or `?server=`), so one model gives
the same answers served and in-process.

Choice items by log-probabilities (`--choice-mode logprobs`) read the letter distribution at the
answer position, the way the in-process backend does, by the first of these the server allows:
- `completions`: the chat prompt rendered with the model's own chat template (`?template=` a GGUF
  file or a Jinja file), plus the answer prefix "答案：", sent to `/completions` for one token;
- `prefill`: vLLM continues an assistant message "答案：" in the chat endpoint
  (`continue_final_message`), so the server's own template renders the prompt;
- `first_letter`: the answer is generated in the chat endpoint with logprobs, and the distribution
  is read where the model writes its first option letter.
`?logprobs=completions|prefill|first_letter` picks one. A server that returns no logprobs gets a
clear error, never a letter guessed from other tokens.

One shared aiohttp session per event loop; retries with exponential backoff and jitter on 429,
5xx, timeouts and connection errors, honouring `Retry-After`; an optional cap on requests per
second (`max_rps`, for APIs with rate limits) so 429s are avoided rather than waited out. The API
key is read from the environment at call time and never kept in options, descriptions or error
texts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import threading
import time
import unicodedata
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pydantic_core

from medgap.models.base import ANSWER_PREFIX, MULTI_ANSWER_TOKENS, GenerateConfig, Model, ModelRequest
from medgap.models.chat_template import ChatTemplate, load_template
from medgap.records import Response
from medgap.redact import redact, register

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
TOP_LOGPROBS = 20  # the most the OpenAI API returns
ERROR_BODY_CHARS = 300
LOGPROB_METHODS = ("completions", "prefill", "first_letter")
# server kind -> the body field of its repetition penalty (servers not named here get none sent)
PENALTY_FIELDS = {"llama-cpp-python": "repeat_penalty", "llama.cpp": "repeat_penalty", "vllm": "repetition_penalty"}
SERVER_KINDS = (*PENALTY_FIELDS, "other")
# `owned_by` of GET /models entries: llama-cpp-python answers "me", llama.cpp's llama-server "llamacpp"
OWNERS = {"me": "llama-cpp-python", "llamacpp": "llama.cpp", "vllm": "vllm"}
# llama.cpp servers reuse the KV cache of the previous prompt's longest shared prefix, which changes
# the numbers (and greedy text) of what follows: llama-server is told not to (`cache_prompt`);
# llama-cpp-python has no such switch, so a one-token prompt that shares nothing with any chat prompt
# goes first, and the request is evaluated from an empty cache, as in-process.
FLUSH_BODY = {"prompt": "\n", "max_tokens": 1, "temperature": 0.0}
SERVER_CACHE = {"llama.cpp": "prompt cache off (cache_prompt: false)",
                "llama-cpp-python": "emptied before every request (a one-token prompt first; requests one at a time)"}
DEFAULT_PROBE_WAIT_S = 120.0  # GET /models waits like a request (the default --timeout)


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
        self.template: ChatTemplate | None = load_template(options["template"]) if options.get("template") else None
        self.server = choose("server", options.get("server"), SERVER_KINDS)
        self.logprob_method = choose("logprobs", options.get("logprobs"), LOGPROB_METHODS)
        self._server_info: dict[str, Any] | None = None
        self._probe_lock = threading.Lock()
        self._flush_lock: asyncio.Lock | None = None  # made on the session's loop
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
            "server": self.server_info(),
            "template": self.template.origin if self.template else None,
        }

    # what the server is --------------------------------------------------------------------------
    def server_info(self) -> dict[str, Any]:
        """What `GET /models` says (served model ids, which server); the kind given as `?server=` wins.
        A server without the endpoint is kind "other" (no vendor-specific fields sent). An answer that
        did not come (timeout, refused connection, 5xx) is asked again next time, not taken for "other"."""
        with self._probe_lock:  # concurrent first requests ask once
            if self._server_info is not None:
                return self._server_info
            info, settled = self._probe()
            if settled:
                self._server_info = info
        return info

    def _probe(self) -> tuple[dict[str, Any], bool]:
        listing, settled = self._get_json(f"{self.base_url}/models")
        listing = listing or {}
        entries = [e for e in listing.get("data") or [] if isinstance(e, dict)] if isinstance(listing, dict) else []
        owners = {str(e.get("owned_by", "")) for e in entries}
        detected = next((OWNERS[o] for o in owners if o in OWNERS), "other")
        info: dict[str, Any] = {"kind": self.server or detected, "detected": detected,
                                "models": [str(e.get("id")) for e in entries]}
        # vLLM answers GET /version beside /v1
        version = self._get_json(f"{self.base_url.rsplit('/', 1)[0]}/version")[0] if info["kind"] == "vllm" else None
        if isinstance(version, dict) and version.get("version"):
            info["version"] = str(version["version"])
        return info, settled or self.server is not None

    def _get_json(self, url: str) -> tuple[Any, bool]:
        """The JSON at `url` (None if there is none) and whether the server answered at all. Waits
        as long as a request may: a busy server (llama-cpp-python's answers one call at a time)
        answers once it is free."""
        headers, _ = self._headers()
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=self.timeout or DEFAULT_PROBE_WAIT_S) as reply:
                return json.loads(reply.read()), True
        except urllib.error.HTTPError as exc:  # answered: no such endpoint (404), or not allowed
            return None, exc.code < 500
        except ValueError:  # answered, not JSON
            return None, True
        except OSError:  # timed out, refused, unreachable
            return None, False

    def logprob_route(self) -> str:
        """How letter log-probabilities are read from this server (see the module docstring)."""
        if self.logprob_method:
            return self.logprob_method
        if self.template is not None:
            return "completions"
        return "prefill" if self._kind() == "vllm" else "first_letter"

    def _kind(self) -> str:
        """The server's kind as far as known, without asking (requests use this)."""
        return (self._server_info or {}).get("kind") or self.server or "other"

    def answer_settings(self, config: GenerateConfig) -> dict[str, Any]:
        info = self.server_info()
        penalty = PENALTY_FIELDS.get(info["kind"])
        logprobs = config.choice_mode == "logprobs"
        route = self.logprob_route() if logprobs else None
        default_system = self.template.default_system_prompt() if self.template else None
        served = f"; the server lists {', '.join(info['models'])}" if info["models"] else ""
        return {
            "model": f"{self.name} at {without_credentials(self.base_url)}{served}",
            "backend": f"openai-compatible server ({info['kind']}{' ' + info['version'] if 'version' in info else ''})",
            "repeat_penalty": config.repeat_penalty if penalty else None,
            "system_prompt": default_system,
            "system_prompt_source": (
                ("chat template default" if default_system is not None else "none") if self.template
                else "server's chat template (unknown)"
            ),
            "chat_template": self.template.describe() if self.template else None,
            "server_cache": SERVER_CACHE.get(info["kind"]),
            "assistant_prefix": (ANSWER_PREFIX if route in ("completions", "prefill")
                                 else ("" if not logprobs else None)),
            "logprob_method": route,
        }

    # session -------------------------------------------------------------------------------------
    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            connector = aiohttp.TCPConnector(limit=self.max_concurrency, keepalive_timeout=60, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
            self._session_loop = loop
            self._flush_lock = asyncio.Lock()
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
    def _sampling(self, config: GenerateConfig) -> dict[str, Any]:
        body: dict[str, Any] = {"temperature": config.temperature, "top_p": config.top_p}
        if config.seed is not None:
            body["seed"] = config.seed
        kind = self._kind()
        if kind in PENALTY_FIELDS:
            body[PENALTY_FIELDS[kind]] = config.repeat_penalty
        if kind == "llama.cpp":
            body["cache_prompt"] = False
        return body

    def _messages(self, request: ModelRequest) -> list[dict[str, str]]:
        return [{"role": m.role, "content": m.content} for m in request.messages]

    def _call(self, request: ModelRequest, route: str | None) -> tuple[str, dict[str, Any]]:
        """The endpoint and body of one request (`route`: how letter log-probabilities are read, or
        None for plain text)."""
        config = request.config
        answer_tokens = MULTI_ANSWER_TOKENS if request.sample.kind == "multi" else 1
        body: dict[str, Any] = {"model": self.name, **self._sampling(config)}
        if route == "completions":
            assert self.template is not None
            prompt = self.template.render(self._messages(request)) + ANSWER_PREFIX
            if self.template.bos_token and prompt.startswith(self.template.bos_token):
                prompt = prompt[len(self.template.bos_token):]  # the server adds BOS itself when the model wants one
            body.update(prompt=prompt, max_tokens=answer_tokens, logprobs=TOP_LOGPROBS, stop=["\n"])
            return f"{self.base_url}/completions", body
        body["messages"] = self._messages(request)
        if route == "prefill":
            body["messages"].append({"role": "assistant", "content": ANSWER_PREFIX})
            body.update(continue_final_message=True, add_generation_prompt=False, max_tokens=answer_tokens,
                        logprobs=True, top_logprobs=TOP_LOGPROBS, stop=["\n"])
        elif route == "first_letter":
            body.update(max_tokens=config.max_tokens, logprobs=True, top_logprobs=TOP_LOGPROBS)
        else:
            body["max_tokens"] = config.max_tokens
        return f"{self.base_url}/chat/completions", body

    async def generate(self, request: ModelRequest) -> Response:
        if self._server_info is None:
            await asyncio.to_thread(self.server_info)
        if self._kind() != "llama-cpp-python":
            return await self._generate(request)
        self._get_session()
        assert self._flush_lock is not None
        async with self._flush_lock:  # the server answers one request at a time anyway
            await self._flush(request)
            return await self._generate(request)

    async def _flush(self, request: ModelRequest) -> None:
        """Make llama-cpp-python's server evaluate the next prompt from an empty cache (see FLUSH_BODY);
        a failure here is left to the request itself to meet."""
        headers, _ = self._headers()
        body = json.dumps({"model": self.name, **FLUSH_BODY}).encode()
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self._get_session().post(f"{self.base_url}/completions", data=body, headers=headers,
                                                timeout=self._client_timeout(request)) as reply:
                await reply.read()

    async def _generate(self, request: ModelRequest) -> Response:
        wants_logprobs = (request.config.choice_mode == "logprobs" and request.sample.is_choice
                          and bool(request.attempt.options))
        route = self.logprob_route() if wants_logprobs else None
        url, body = self._call(request, route)
        payload = pydantic_core.to_json(body)  # UTF-8 JSON, as json.dumps(ensure_ascii=False) at a quarter of the cost
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
                async with session.post(url, data=payload, headers=headers, timeout=timeout) as reply:
                    raw, cut = await read_at_most(reply, self.max_reply_bytes)
                    latency = time.perf_counter() - started
                    if cut:
                        return Response(text=redact(raw.decode("utf-8", errors="ignore")), truncated=True,
                                        latency_s=latency, error=f"HTTP {reply.status}: reply larger than "
                                        f"{self.max_reply_bytes:,} bytes (--max-reply-bytes); stored cut there")
                    if reply.status == 200:
                        return parse_completion(raw, request, latency, route)
                    error = f"HTTP {reply.status}: {snippet(raw)}"
                    if not retryable(reply.status):
                        return Response(error=redact(refusal(error, route, url)), latency_s=latency)
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


def parse_completion(raw: bytes, request: ModelRequest, latency: float, route: str | None) -> Response:
    try:
        data = pydantic_core.from_json(raw)  # a bad body raises ValueError, as json.loads does
        choice = data["choices"][0]
        text = (choice.get("message") or {}).get("content") if "message" in choice else choice.get("text")
        text = text or ""
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return Response(error=f"malformed completion: {snippet(raw)}", latency_s=latency)
    usage = data.get("usage") or {}
    counts: dict[str, Any] = {"latency_s": latency, "prompt_tokens": usage.get("prompt_tokens"),
              "completion_tokens": usage.get("completion_tokens")}
    if route is None:
        return Response(text=text, **counts)
    positions = token_positions(choice)
    if not positions:
        return Response(error=f"the server returned no logprobs for --choice-mode logprobs ({route}); it may not "
                              "offer them: use --choice-mode generate", **counts)
    letters = list(request.attempt.options)
    if route == "first_letter":
        at = next((i for i, (token, _) in enumerate(positions) if as_letter(token) in letters), None)
        if at is None:  # no option letter written: scored from the text, like generate mode
            return Response(text=text, **counts)
        return Response(text=text, logprobs=option_logprobs(positions[at][1], letters), **counts)
    logprobs = option_logprobs(positions[0][1], letters)
    if request.sample.kind != "multi" and logprobs:
        text = max(logprobs, key=logprobs.__getitem__)
    return Response(text=ANSWER_PREFIX + text, logprobs=logprobs, **counts)


def token_positions(choice: dict[str, Any]) -> list[tuple[str, list[tuple[str, float]]]]:
    """(token written, [(alternative, log-probability), ...]) per generated position, from either the
    chat format (`logprobs.content[i].top_logprobs`) or the completions format
    (`logprobs.tokens[i]`, `logprobs.top_logprobs[i]` as {token: logprob})."""
    found = choice.get("logprobs")
    if not isinstance(found, dict):
        return []
    positions: list[tuple[str, list[tuple[str, float]]]] = []
    if isinstance(found.get("content"), list):
        for entry in found["content"]:
            top = entry.get("top_logprobs") or [entry]
            positions.append((str(entry.get("token", "")),
                              [(str(t.get("token", "")), float(t["logprob"])) for t in top
                               if isinstance(t, dict) and isinstance(t.get("logprob"), int | float)]))
    elif isinstance(found.get("top_logprobs"), list):
        tokens = found.get("tokens") or []
        for index, top in enumerate(found["top_logprobs"]):
            token = str(tokens[index]) if index < len(tokens) else ""
            positions.append((token, list((top or {}).items()) if isinstance(top, dict) else []))
    return positions


def as_letter(token: str) -> str:
    return unicodedata.normalize("NFKC", token).strip()


def option_logprobs(top: list[tuple[str, Any]], letters: list[str]) -> dict[str, float]:
    """Log-probability of each option letter among one position's top alternatives.

    Tokens are compared after stripping spaces and folding full-width letters to ASCII; several
    tokens naming the same letter ("A", " A", "Ａ") have their probabilities added. Letters outside
    the top alternatives are left out (they are less likely than every one listed).
    """
    wanted = set(letters)
    found: dict[str, float] = {}
    for token, logprob in top:
        letter = as_letter(token)
        if letter in wanted and isinstance(logprob, (int, float)) and math.isfinite(logprob):
            found[letter] = logprob if letter not in found else logaddexp(found[letter], logprob)
    return found


def refusal(error: str, route: str | None, url: str) -> str:
    """A client error on a log-probability request says which route the server refused."""
    if route is None:
        return error
    return (f"{error} — the server refused {route} log-probability scoring at {url}; choose another with "
            f"?logprobs={'|'.join(LOGPROB_METHODS)} or use --choice-mode generate")


def choose(name: str, value: Any, allowed: tuple[str, ...]) -> str | None:
    if value in (None, "", "auto"):
        return None
    if value not in allowed:
        raise ValueError(f"openai: {name}={value!r} must be one of auto, {', '.join(allowed)}")
    return str(value)


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
    if not limit or (reply.content_length is not None and reply.content_length <= limit):
        return await reply.read(), False  # the length is known and within the cap: one read
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
