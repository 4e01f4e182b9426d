"""A small OpenAI-compatible chat server on 127.0.0.1 for tests (and anything else that needs a
real HTTP peer): per-request delay, a script of failures, scripted replies and logprobs, and
counters of what it received. `owned_by` makes it list a model under GET /v1/models as that
server would (llama-cpp-python says "me", vLLM "vllm"); it also answers POST /v1/completions.

    server = ChatServer(delay=0.2, failures=[Failure(429, retry_after="1"), Failure(500)])
    with serve(server) as base_url:          # "http://127.0.0.1:PORT/v1"
        ...                                   # point a client at base_url
    server.requests, server.per_question      # what arrived

The server runs an aiohttp application on its own event loop in a daemon thread, so it answers
while the test blocks on a subprocess or runs its own event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

ReplyFn = Callable[[str], str]  # last user message -> reply text
LogprobsFn = Callable[[str], list[tuple[str, float]]]  # last user message -> top (token, logprob)


@dataclass(frozen=True)
class Failure:
    """One scripted bad answer. `hang_s` delays it first, so a client with a shorter timeout sees a
    timeout; `status=None` answers normally once the hang is over."""

    status: int | None = 500
    retry_after: str | None = None
    hang_s: float = 0.0
    message: str = "scripted failure"


@dataclass
class ChatServer:
    """What to answer, and what was received. Failures are used in order by the first requests."""

    reply: str | ReplyFn = "答案：A"
    delay: float = 0.0
    failures: list[Failure] = field(default_factory=list)
    top_logprobs: list[tuple[str, float]] | LogprobsFn | None = None
    # with logprobs asked in the chat endpoint: the tokens written, each with its top alternatives
    # (otherwise one token, the first of top_logprobs)
    written: list[tuple[str, list[tuple[str, float]]]] | None = None
    owned_by: str | None = None  # None: no GET /v1/models (404)
    model_ids: list[str] = field(default_factory=lambda: ["served-model"])
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 11, "completion_tokens": 3})
    # a page answered with status 200 instead of a completion (a proxy's error page): request headers -> HTML
    page: Callable[[dict[str, str]], str] | None = None
    # what arrived
    requests: int = 0
    per_question: Counter = field(default_factory=Counter)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    arrival_times: list[float] = field(default_factory=list)
    peers: set[tuple[str, int]] = field(default_factory=set)  # client (host, port): one per kept-alive connection
    base_url: str = ""
    # requests after the first `hold_after` wait until `released` is set: a run stopped then is surely
    # stopped mid-way, however slowly the test itself was scheduled
    hold_after: int | None = None
    released: threading.Event = field(default_factory=threading.Event)

    async def handle(self, request: web.Request) -> web.Response:
        loop = asyncio.get_running_loop()
        self.arrival_times.append(loop.time())
        index = self.requests
        self.requests += 1
        while self.hold_after is not None and index >= self.hold_after and not self.released.is_set():
            await asyncio.sleep(0.02)
        self.authorizations.append(request.headers.get("Authorization"))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.peers.add(tuple(peer[:2]))
        body = await request.json()
        self.bodies.append(body)
        question = last_user_message(body) if "messages" in body else str(body.get("prompt", ""))
        self.per_question[question] += 1
        if index < len(self.failures):
            failure = self.failures[index]
            if failure.hang_s:
                await asyncio.sleep(failure.hang_s)
            if failure.status is not None:
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                error = {"error": {"message": f"{failure.message} ({failure.status})", "type": "test"}}
                return web.json_response(error, status=failure.status, headers=headers)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.page is not None:
            return web.Response(text=self.page(dict(request.headers)), content_type="text/html")
        if "messages" not in body:
            return web.json_response(self.text_completion(body, question))
        return web.json_response(self.completion(body, question))

    async def models(self, request: web.Request) -> web.Response:
        if self.owned_by is None:
            raise web.HTTPNotFound()
        return web.json_response({"object": "list", "data": [
            {"id": model_id, "object": "model", "owned_by": self.owned_by} for model_id in self.model_ids]})

    def text_completion(self, body: dict[str, Any], prompt: str) -> dict[str, Any]:
        """POST /v1/completions, logprobs in the legacy format ({token: logprob} per position)."""
        top = self.top_logprobs(prompt) if callable(self.top_logprobs) else (self.top_logprobs or [])
        text = top[0][0] if top else (self.reply(prompt) if callable(self.reply) else self.reply)
        choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "length"}
        if body.get("logprobs") and top:
            choice["logprobs"] = {"tokens": [text], "token_logprobs": [top[0][1]], "top_logprobs": [dict(top)],
                                  "text_offset": [len(prompt)]}
        usage = {**self.usage, "total_tokens": sum(self.usage.values())}
        return {"id": f"cmpl-{self.requests}", "object": "text_completion", "model": body.get("model", ""),
                "choices": [choice], "usage": usage}

    def completion(self, body: dict[str, Any], question: str) -> dict[str, Any]:
        text = self.reply(question) if callable(self.reply) else self.reply
        choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}
        if body.get("logprobs") and self.written is not None:
            content = [{"token": token, "logprob": top[0][1] if top else 0.0,
                        "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top]} for token, top in self.written]
            choice["message"]["content"] = "".join(token for token, _ in self.written)
            choice["logprobs"] = {"content": content}
        elif body.get("logprobs") and self.top_logprobs is not None:
            top = self.top_logprobs(question) if callable(self.top_logprobs) else self.top_logprobs
            entries = [{"token": token, "logprob": logprob, "bytes": list(token.encode())} for token, logprob in top]
            first = entries[0] if entries else {"token": text, "logprob": 0.0}
            choice["message"]["content"] = first["token"]
            choice["logprobs"] = {"content": [{**first, "top_logprobs": entries}]}
        usage = {**self.usage, "total_tokens": sum(self.usage.values())}
        return {"id": f"chatcmpl-{self.requests}", "object": "chat.completion", "model": body.get("model", ""),
                "choices": [choice], "usage": usage}


def last_user_message(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


@contextlib.contextmanager
def serve(server: ChatServer | None = None, **config: Any) -> Iterator[str]:
    """Run `server` (or a `ChatServer(**config)`) on a free port; yields its base URL ending in /v1."""
    server = server if server is not None else ChatServer(**config)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.handle)
    app.router.add_post("/v1/completions", server.handle)
    app.router.add_get("/v1/models", server.models)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="chat-test-server", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("test chat server did not start within 10 s")
    host, port = runner.addresses[0][:2]
    server.base_url = f"http://{host}:{port}/v1"
    try:
        yield server.base_url
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

