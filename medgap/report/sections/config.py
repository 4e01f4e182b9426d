"""Each run's configuration, its prompt templates and the command that reproduces it."""

from __future__ import annotations

import json
import shlex

from medgap.records import RunConfig
from medgap.redact import redact, redact_value
from medgap.report.charts import esc
from medgap.report.collect import RunData
from medgap.report.sections.layout import Section


def config_section(runs: list[RunData]) -> Section:
    return Section("config", "运行配置", "Run configuration", "".join(config_block(r) for r in runs))


def config_block(run: RunData) -> str:
    c = run.config
    rows = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{esc(v)}</td></tr>' for k, v in config_fields(c))
    prompts = "".join(f"<h4>{esc(kind)}</h4><pre>{esc(text)}</pre>" for kind, text in c.prompts.items())
    prompts_block = (
        f"<details><summary>Prompt templates ({len(c.prompts)})</summary>{prompts}</details>"
        if prompts
        else ""
    )
    return (
        f'<div class="config"><h3>{esc(run.name)}</h3><table class="kv">{rows}</table>'
        f'<h4>Reproduce</h4><pre class="command">{esc(reproduce_command(run))}</pre>{prompts_block}</div>'
    )


def config_fields(c: RunConfig) -> list[tuple[str, object]]:
    """The run's settings as (name, value) pairs; secrets in the generation settings and extras masked."""
    fields: list[tuple[str, object]] = [
        ("Run ID", c.run_id),
        ("Model", c.model),
        ("Suite", c.suite),
        ("Seed", c.seed),
        ("Option orders (permutations)", c.permutations),
        ("Limit (items in all)", c.limit if c.limit is not None else "–"),
        ("Limit per task", c.limit_per_task if c.limit_per_task is not None else "–"),
        ("Interventions", ", ".join(c.interventions) or "–"),
        ("Answer matching", c.match),
        ("Created", c.created or "–"),
        ("Versions", ", ".join(f"{k} {v}" for k, v in c.versions.items()) or "–"),
        ("Generation", as_json(redact_value(c.generation)) if c.generation else "–"),
    ]
    if c.answer_settings is not None:
        fields += [
            (f"Answer setting: {k.replace('_', ' ')}", v if isinstance(v, str) else as_json(v))
            for k, v in c.answer_settings.model_dump().items()
        ]
    fields += [
        (k.replace("_", " ").capitalize(), redact(v) if isinstance(v, str) else as_json(redact_value(v)))
        for k, v in c.extra.items()
    ]
    return fields


def as_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def reproduce_command(run: RunData) -> str:
    c = run.config
    args = [
        "medgap",
        "run",
        "--model",
        c.model,
        "--suite",
        c.suite,
        "--seed",
        str(c.seed),
        "--permutations",
        str(c.permutations),
    ]
    if c.limit_per_task is not None:
        args += ["--limit-per-task", str(c.limit_per_task)]
    if c.limit is not None:
        args += ["--limit", str(c.limit)]
    if c.interventions:
        args += ["--intervention", ",".join(c.interventions)]
    gen = c.generation
    for flag, key in (
        ("--temperature", "temperature"),
        ("--max-tokens", "max_tokens"),
        ("--choice-mode", "choice_mode"),
    ):
        if gen.get(key) is not None:
            args += [flag, str(gen[key])]
    return " ".join(shlex.quote(a) for a in args)


