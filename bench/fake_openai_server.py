"""An instant OpenAI-compatible chat endpoint for overhead benchmarks: a raw ASGI app on uvicorn that
answers every POST to /v1/chat/completions with the same precomputed completion ("答案：A").
GET /stats returns how many completions it has served, so a benchmark can check every request came.
`--delay S` makes every completion take S seconds, to see the overhead under a realistic latency.

    python bench/fake_openai_server.py --port 8765

Nothing is parsed or logged per request, so the time a client spends is the client's own. Uses
uvloop/httptools when they are installed (uvicorn picks them), else asyncio/h11.
"""

from __future__ import annotations

import argparse
import asyncio
import json

import uvicorn

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "答案：A"}, "logprobs": None,
             "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 120, "completion_tokens": 4, "total_tokens": 124},
    },
    ensure_ascii=False,
).encode()
JSON_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(COMPLETION)).encode())]
NOT_FOUND = b'{"error": {"message": "not found"}}'
NOT_FOUND_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(NOT_FOUND)).encode())]
served = 0
delay = 0.0


async def app(scope, receive, send) -> None:
    global served
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more_body = True
    while more_body:  # drain the request body before answering
        message = await receive()
        more_body = message.get("more_body", False)
    if scope["method"] == "POST" and scope["path"].rstrip("/").endswith("/chat/completions"):
        served += 1
        if delay:
            await asyncio.sleep(delay)
        status, headers, body = 200, JSON_HEADERS, COMPLETION
    elif scope["path"] == "/stats":
        body = json.dumps({"requests": served}).encode()
        status, headers = 200, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    else:
        status, headers, body = 404, NOT_FOUND_HEADERS, NOT_FOUND
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each completion takes (default 0)")
    args = parser.parse_args()
    global delay
    delay = args.delay
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="on",
                backlog=4096)


if __name__ == "__main__":
    main()
