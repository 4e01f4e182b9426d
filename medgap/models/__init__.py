"""Model backends, named `PROVIDER/NAME[?key=value&...]`. One provider per file; registered here."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import parse_qsl

from medgap.models.base import GenerateConfig, Model, ModelRequest

# provider -> (module, class name, one-line description)
PROVIDERS: dict[str, tuple[str, str, str]] = {
    "mock": ("medgap.models.mock", "MockModel",
             "deterministic test models: oracle, first, random, refuse, position?index=N"),
    "openai": ("medgap.models.openai", "OpenAIModel",
               "any OpenAI-compatible chat endpoint (--base-url, key from $OPENAI_API_KEY)"),
    "replay": ("medgap.models.replay", "ReplayModel",
               "answers from a MedBench-format predictions JSONL: replay/<path>"),
    "local": ("medgap.models.local", "LocalModel",
              "in-process GGUF through llama-cpp-python: local/default or local/<path.gguf>"),
}

DEFAULT_MODEL = "local/default"


def parse_model_name(spec: str) -> tuple[str, str, dict[str, str]]:
    """`mock/position?index=1` -> ("mock", "position", {"index": "1"})."""
    if "/" not in spec:
        raise ValueError(f"model {spec!r} must be PROVIDER/NAME, e.g. openai/qwen2.5-7b-instruct or mock/oracle")
    provider, _, rest = spec.partition("/")
    name, _, query = rest.partition("?")
    if provider not in PROVIDERS:
        raise ValueError(f"unknown model provider {provider!r}; known: {', '.join(PROVIDERS)}")
    return provider, name, dict(parse_qsl(query))


def get_model(spec: str, **options: Any) -> Model:
    provider, name, query = parse_model_name(spec)
    module_name, class_name, _ = PROVIDERS[provider]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(name, **{**query, **{k: v for k, v in options.items() if v is not None}})


__all__ = ["DEFAULT_MODEL", "PROVIDERS", "GenerateConfig", "Model", "ModelRequest", "get_model", "parse_model_name"]
