"""`medgap serve`: a small local web app over one database: the list of runs, and any report built
fresh from the store when asked (so a run still in progress shows what is stored so far)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlencode

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse

from medgap.report.build import report_for_runs
from medgap.report.charts import esc
from medgap.report.collect import DEFAULT_MAX_ROWS
from medgap.report.html import asset, csp_hash
from medgap.store import RunNotFound, Store


def index_page(store: Store) -> str:
    rows = "".join(
        f'<tr><td><input type="checkbox" name="run" value="{esc(c.run_id)}" aria-label="select {esc(c.run_id)}"></td>'
        f'<td><a href="/runs/{esc(quote(c.run_id, safe=""))}">{esc(c.run_id)}</a></td><td>{esc(c.model)}</td>'
        f"<td>{esc(c.suite)}</td><td>{esc(c.permutations)}</td><td>{esc(', '.join(c.interventions) or '–')}</td>"
        f"<td>{esc(c.created or '–')}</td></tr>"
        for c in store.runs())
    style = asset("report.css")
    return (
        "<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src {csp_hash(style)}; "
        "form-action 'self'\"><title>MedGap runs</title>"
        f"<style>{style}</style></head><body><header class=\"top\"><div class=\"wrap\"><div class=\"brand\">MedGap "
        "<span class=\"brand-sub\">运行列表 · Runs</span></div><nav></nav></div></header><main class=\"wrap\"><section>"
        "<h2>运行 <span class=\"en\">Runs</span></h2><form action=\"/report\" method=\"get\">"
        "<div class=\"table-wrap\"><table class=\"data\"><thead><tr><th></th><th>Run</th><th>Model</th><th>Suite</th>"
        f"<th>Orders</th><th>Interventions</th><th>Created</th></tr></thead><tbody>{rows}</tbody></table></div>"
        "<p class=\"filters\"><label class=\"filter\"><span>Pair two runs item by item</span>"
        "<select name=\"compare\"><option value=\"false\">no</option><option value=\"true\">yes (--compare)</option>"
        "</select></label><span class=\"pager\"><button type=\"submit\">报告 Report of selected runs</button></span></p>"
        "</form></section></main></body></html>"
    )


def create_app(db: str | Path, max_rows: int = DEFAULT_MAX_ROWS) -> FastAPI:
    """The web app over the database at `db`; each request opens its own connection."""
    app = FastAPI(title="medgap", docs_url=None, redoc_url=None, openapi_url=None)

    def render(run_ids: list[str], compare: bool) -> HTMLResponse:
        with Store(db) as store:
            try:
                return HTMLResponse(report_for_runs(store, run_ids, compare=compare, max_rows=max_rows))
            except RunNotFound as exc:
                raise HTTPException(404, str(exc)) from None
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None

    @app.get("/", response_class=HTMLResponse)
    def runs() -> HTMLResponse:
        with Store(db) as store:
            return HTMLResponse(index_page(store))

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def one_run(run_id: str) -> HTMLResponse:
        return render([run_id], compare=False)

    @app.get("/report", response_class=HTMLResponse)
    def several(run: list[str] = Query(default=[]), compare: bool = False) -> HTMLResponse:
        if not run:
            raise HTTPException(400, "choose at least one run: /report?" + urlencode({"run": "RUN_ID"}))
        return render(run, compare)

    return app
