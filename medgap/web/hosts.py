"""Only requests addressed to the host the server bound: a DNS-rebinding page (evil.example resolving
to 127.0.0.1) sends its own name in the Host header and is refused, so it cannot read the runs or the
labels through the user's browser."""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
WILDCARDS = {"0.0.0.0", "::", ""}


def allowed_hosts(bound: str) -> set[str] | None:
    """Host names a server bound to `bound` answers to; None (any) when it listens on every interface."""
    bound = bound.strip("[]").lower()
    if bound in WILDCARDS:
        return None
    names = {bound}
    try:
        if ipaddress.ip_address(bound).is_loopback:
            names |= LOOPBACK_NAMES
    except ValueError:
        if bound == "localhost":
            names |= LOOPBACK_NAMES
    return names


def host_name(header: str) -> str:
    """`example.org:8765` -> `example.org`; `[::1]:8765` -> `::1`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostCheck:
    """ASGI middleware answering 400 to HTTP requests whose Host header is not one of `allowed`."""

    def __init__(self, app, allowed: set[str] | None) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and self.allowed is not None:
            headers = dict(scope.get("headers") or [])
            host = host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.allowed:
                body = b"unexpected Host header: open the address the server printed"
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
