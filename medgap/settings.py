"""A run's settings: every field of its `RunConfig` that can change an answer or a score.

Settings are compared field by field over the whole config (new fields are settings by default);
only what names the run or says how it was executed is left out (OPERATIONAL). A resumed run must
be asked with the settings it was created with (`differences`), and every row records the digest of
its run's settings (`digest`).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlencode

from medgap.records import RunConfig
from medgap.redact import redact, redact_value

# Dotted config paths that do not change answers: the run's name and date, the medgap version that
# ran it, and how requests were sent (where to, how many at once, how patiently).
OPERATIONAL = {
    "run_id", "created", "versions", "generation.timeout_s",
}
OPERATIONAL_BACKEND = {
    "base_url", "api_key_env", "max_concurrency", "max_retries", "timeout", "max_rps", "backoff_base",
    "backoff_max", "max_reply_bytes", "n_threads", "n_batch", "path",
}


def normal_model(spec: str) -> str:
    """The model string without its operational query options (`?max_rps=2`, `?n_threads=4`)."""
    from medgap.models import parse_model_name

    try:
        provider, name, query = parse_model_name(spec)
    except ValueError:
        return spec
    kept = {k: v for k, v in sorted(query.items()) if k not in OPERATIONAL_BACKEND}
    return f"{provider}/{name}" + (f"?{urlencode(kept)}" if kept else "")


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}{key}."))
        return out  # an empty mapping sets nothing
    return {prefix.rstrip("."): value}


def comparable(config: RunConfig) -> dict[str, Any]:
    """The run's settings as dotted path -> value."""
    flat = flatten(redact_value(config.model_dump(mode="json")))  # stored configs are redacted
    flat["model"] = normal_model(redact(config.model))
    return {path: value for path, value in flat.items()
            if path not in OPERATIONAL and not is_operational_backend(path)}


def is_operational_backend(path: str) -> bool:
    return path.startswith("extra.backend.") and path.removeprefix("extra.backend.") in OPERATIONAL_BACKEND


def differences(stored: RunConfig, asked: RunConfig) -> list[str]:
    """`path: stored -> asked` for every setting that differs."""
    old, new = comparable(stored), comparable(asked)
    missing = object()
    lines = []
    for path in sorted(old.keys() | new.keys()):
        before, after = old.get(path, missing), new.get(path, missing)
        if before != after:
            lines.append(f"{path}: {shown(before, missing)} -> {shown(after, missing)}")
    return lines


def shown(value: Any, missing: object) -> str:
    if value is missing:
        return "(not set)"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def digest(config: RunConfig) -> str:
    """A short fingerprint of the run's settings."""
    text = json.dumps(comparable(config), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
