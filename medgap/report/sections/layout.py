"""What every section is built from: the `Section` record and the two ways to lay out one block per
run (side-by-side panels, stacked full-width blocks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from medgap.report.charts import WIDTH, esc
from medgap.report.collect import RunData

PANEL_WIDTH = 560  # charts in side-by-side panels: a narrower canvas keeps the text legible
PanelDraw = Callable[[RunData, int], str | None]  # a run's panel at a width; None: nothing to show


@dataclass
class Section:
    id: str
    zh: str
    en: str
    body: str


def panels(runs: list[RunData], draw: PanelDraw) -> str:
    """One panel per run, side by side when there are several (charts drawn narrower to stay legible);
    runs with nothing to draw are left out, and nothing at all gives ""."""
    width = WIDTH if len(runs) == 1 else PANEL_WIDTH
    drawn = [(run, body) for run in runs if (body := draw(run, width))]
    if not drawn:
        return ""
    if len(runs) == 1:
        return drawn[0][1]
    return (
        '<div class="panels">'
        + "".join(f'<div class="panel"><h3>{esc(run.name)}</h3>{body}</div>' for run, body in drawn)
        + "</div>"
    )


def panel_section(id: str, zh: str, en: str, runs: list[RunData], draw: PanelDraw) -> Section | None:
    """A section of one panel per run (see `panels`); None when no run has anything to draw."""
    body = panels(runs, draw)
    return Section(id, zh, en, body) if body else None


def stacked(runs: list[RunData], draw: Callable[[RunData], str]) -> str:
    """One block per run, full width, under the run's name when there are several (wide tables)."""
    if len(runs) == 1:
        return draw(runs[0])
    return "".join(f'<div class="run-block"><h3>{esc(run.name)}</h3>{draw(run)}</div>' for run in runs)


