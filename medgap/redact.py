"""Secrets never leave the process: `redact` is applied wherever server or user text is stored or
printed (error rows, stored run configs, exports, the terminal).

It removes
- the value of every secret this process knows: those `register`ed by a backend (the API key it
  sends) and the values of environment variables whose name says KEY, TOKEN, SECRET or PASSWORD;
- `Bearer <token>` (an Authorization header echoed back by a proxy or an error page);
- `api_key=...`, `"api-key": "..."`, `token: ...` and the like;
- the `user:password@` of URLs (`http://user:pw@host/v1` -> `http://[redacted]@host/v1`);
- in dicts (`redact_value`), the value of every key whose name says it holds a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

MARK = "[redacted]"
MIN_SECRET_CHARS = 6  # shorter values ("1", "true") are too common to replace blindly
SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)

SECRET_FIELD = re.compile(r"api[_-]?key|secret|password|authorization|bearer|access[_-]?token", re.IGNORECASE)

_registered: set[str] = set()

URL_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/?#@\"'<>]+@")
BEARER = re.compile(r"(?P<word>\b(?:Bearer|Basic|Token)(?:\s+|%20|\+))[A-Za-z0-9._~+/=:%-]+", re.IGNORECASE)
NAMED = re.compile(
    r"(?P<name>[\"']?\b[\w-]*(?:api[_-]?key|access[_-]?token|secret|password|passwd|auth[_-]?token)[\"']?"
    r"\s*[:=]\s*[\"']?)(?P<value>[^\s\"'&,;}<>]+)",
    re.IGNORECASE,
)
# What a text must hold, case-folded, for BEARER or NAMED to match ("bas", not "basic": under
# IGNORECASE a dotless or dotted capital I matches i, and folds to something else). Nearly every model
# answer holds none, and skips a pattern whose case-insensitive scan of a long text is slow.
BEARER_WORDS = ("bearer", "bas", "token")
NAMED_WORDS = ("key", "token", "secret", "passw")


def register(secret: str | None) -> None:
    """Remember a secret this process uses (e.g. the API key a backend sends) so `redact` removes it."""
    if secret and len(secret) >= MIN_SECRET_CHARS:
        _registered.add(secret)


def env_secrets() -> set[str]:
    """The values of the environment variables whose name says they hold a secret."""
    return {value for name, value in os.environ.items() if SECRET_ENV.search(name) and len(value) >= MIN_SECRET_CHARS}


def known_secrets(env: set[str] | None = None) -> list[str]:
    """Every secret `redact` removes, longest first. Reading the environment costs more than
    redacting a short text: a caller redacting many texts at once reads this once and passes it on,
    and one writing many batches (a run) may pass `env`, the environment's secrets read once."""
    from_env = env_secrets() if env is None else env
    return sorted(_registered | from_env, key=len, reverse=True)  # longest first: no partial leftovers


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` without secrets (see the module docstring); `secrets`: `known_secrets()` read by the caller."""
    if not text:
        return text
    for secret in known_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MARK)
    if "://" in text:
        text = URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{MARK}@", text)
    folded = text.casefold()
    if any(word in folded for word in BEARER_WORDS):
        text = BEARER.sub(lambda m: f"{m['word']}{MARK}", text)
    if any(word in folded for word in NAMED_WORDS):
        text = NAMED.sub(lambda m: m["name"] + (m["value"] if m["value"] == MARK else MARK), text)
    return text


def redact_value(value, secrets: Iterable[str] | None = None):
    """`redact` applied to every string inside dicts and lists (a run config, a JSON record); a string
    under a key named for a secret is replaced whole (`api_key_env`, naming a variable, is kept)."""
    secrets = known_secrets() if secrets is None else secrets
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {key: MARK if is_secret_field(key, item) else redact_value(item, secrets)
                for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item, secrets) for item in value]
    return value


def is_secret_field(key: object, value: object) -> bool:
    name = str(key)
    return isinstance(value, str) and bool(SECRET_FIELD.search(name)) and not name.lower().endswith("_env")
