"""The report page: runs gathered by `collect` -> one self-contained HTML page.

The page carries its own CSS, its JS (the rows table) and inline SVG charts; nothing is fetched
when it opens. Text from datasets and models is escaped here (`esc`) or travels as JSON that the
script shows with textContent only; a Content-Security-Policy with the hashes of the page's own
script and style stops anything else from running even if some text slipped through. Each section is
built in `medgap.report.sections`; this module puts them in order and fills the template.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from medgap import __version__
from medgap.records import DIMENSION_LABELS_ZH, DIMENSIONS
from medgap.report.charts import esc
from medgap.report.collect import Comparison, RunData
from medgap.report.format import DIMENSION_LABELS_EN, category_name, heading
from medgap.report.sections.comparison import comparison_section
from medgap.report.sections.config import config_section
from medgap.report.sections.errors import diagnosis_section, errors_section
from medgap.report.sections.layout import Section
from medgap.report.sections.notes import notes_section
from medgap.report.sections.open_tasks import open_section
from medgap.report.sections.overview import dimension_section, headline_section, leaderboard_section
from medgap.report.sections.robustness import positional_section, robustness_section
from medgap.report.sections.rows import rows_section

# a row's status -> (Chinese, English), as the rows table shows it
STATUS_LABELS = {
    "correct": ("正确", "correct"),
    "partial": ("部分正确", "partial"),
    "wrong": ("错误", "wrong"),
    "unanswered": ("未作答", "unanswered"),
    "error": ("调用失败", "error"),
    "ungraded": ("未评分", "ungraded"),
}


def script_json(value: object) -> str:
    """JSON safe inside <script>: no '<', '>' or '&' survives, so '</script>' cannot close the block."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def table_data(runs: list[RunData]) -> dict:
    categories = sorted({r["category"] for run in runs for r in run.rows if r["category"]})
    return {
        "runs": [{"id": r.run_id, "name": r.name} for r in runs],
        "dimensions": {d: [DIMENSION_LABELS_ZH[d], DIMENSION_LABELS_EN[d]] for d in DIMENSIONS},
        "statuses": STATUS_LABELS,
        "categories": {c: category_name(c) for c in categories},
        "rows": [row for run in runs for row in run.rows],
    }


def asset(name: str) -> str:
    return resources.files("medgap.report").joinpath(name).read_text(encoding="utf-8")


def csp_hash(content: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(content.encode("utf-8")).digest()).decode() + "'"


def build_sections(
    runs: list[RunData], comparison: Comparison | None, notes: dict[str, str]
) -> list[Section]:
    first = [headline_section(runs[0])] if len(runs) == 1 else [leaderboard_section(runs)]
    optional = [
        dimension_section(runs),
        robustness_section(runs),
        positional_section(runs),
        open_section(runs),
        errors_section(runs),
        diagnosis_section(runs),
    ]
    if comparison is not None:
        optional.append(comparison_section(comparison, {r.run_id: r.name for r in runs}))
    tail = [rows_section(runs), notes_section(runs, notes), config_section(runs)]
    return [s for s in first + optional + tail if s is not None]


def build_report(
    runs: list[RunData],
    comparison: Comparison | None = None,
    notes: dict[str, str] | None = None,
    generated: datetime | None = None,
) -> str:
    """The whole page as one string."""
    if not runs:
        raise ValueError("a report needs at least one run")
    generated = generated or datetime.now(UTC)
    sections = build_sections(runs, comparison, notes or {})
    subtitle = page_subtitle(runs)
    nav = "".join(f'<a href="#{s.id}">{esc(s.zh)}<span class="en"> {esc(s.en)}</span></a>' for s in sections)
    body = "".join(f'<section id="{s.id}"><h2>{heading(s.zh, s.en)}</h2>{s.body}</section>' for s in sections)
    style, script = asset("report.css"), asset("report.js")
    parts = {
        "csp": content_policy(script, style),  # our own constant and base64 hashes: nothing to escape
        "title": esc(f"MedGap report · {subtitle}"),
        "style": style,
        "subtitle": esc(subtitle),
        "nav": nav,
        "body": body,
        "footer": esc(
            f"medgap {__version__} · generated {generated.isoformat(timespec='seconds')} · "
            "self-contained: opens offline, no external resources"
        ),
        "data": script_json(table_data(runs)),
        "script": script,
    }
    return fill_template("template.html", parts)


def page_subtitle(runs: list[RunData]) -> str:
    if len(runs) == 1:
        c = runs[0].config
        return f"{c.model} · {c.suite} · run {c.run_id}" + (f" · {c.created}" if c.created else "")
    return f"{len(runs)} runs: " + ", ".join(r.name for r in runs)


def content_policy(script: str, style: str) -> str:
    """The page's Content-Security-Policy: only its own script and style run, images only as data: URLs."""
    return (
        f"default-src 'none'; script-src {csp_hash(script)}; style-src {csp_hash(style)}; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def fill_template(name: str, parts: dict[str, str]) -> str:
    """Put each part in place of its <!--medgap:NAME--> marker, in one pass: inserted text is never
    rescanned."""
    return re.sub(r"<!--medgap:(\w+)-->", lambda m: parts[m.group(1)], asset(name))


def write_report(html: str, output: str | Path) -> Path:
    """Write the page, creating missing parent folders."""
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
