"""`medgap serve`: a small local web app over one database: the list of runs, and any report built
fresh from the store when asked (so a run still in progress shows what is stored so far)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse

from medgap.records import RunConfig
from medgap.report.build import report_for_runs
from medgap.report.charts import esc
from medgap.report.collect import DEFAULT_MAX_ROWS
from medgap.report.page import asset, csp_hash, fill_template
from medgap.store import RunNotFound, Store, StoreError
from medgap.store.backend import shown
from medgap.web.hosts import HostCheck, allowed_hosts


def run_row(config: RunConfig) -> str:
    link = "/runs/" + quote(config.run_id, safe="")
    cells = [
        f'<input type="checkbox" name="run" value="{esc(config.run_id)}" aria-label="{esc(config.run_id)}">',
        f'<a href="{esc(link)}">{esc(config.run_id)}</a>',
        *(esc(v) for v in (config.model, config.suite, config.permutations)),
        esc(", ".join(config.interventions) or "–"),
        esc(config.created or "–"),
    ]
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def index_page(store: Store, db: str | Path) -> str:
    style = asset("report.css")
    return fill_template(
        "index.html",
        {
            "csp": f"default-src 'none'; style-src {csp_hash(style)}; form-action 'self'",
            "style": style,
            "subtitle": esc(shown(db)),
            "rows": "".join(run_row(config) for config in store.runs()),
        },
    )


def create_app(db: str | Path, max_rows: int = DEFAULT_MAX_ROWS, host: str = "127.0.0.1") -> FastAPI:
    """The web app over the database at `db`; each request opens its own connection. Requests must
    name `host` (the bound address; loopback names when it is loopback) in their Host header."""
    app = FastAPI(title="medgap", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(HostCheck, allowed=allowed_hosts(host))

    def render(run_ids: list[str], compare: bool) -> HTMLResponse:
        with Store(db) as store:
            try:
                return HTMLResponse(report_for_runs(store, run_ids, compare=compare, max_rows=max_rows))
            except RunNotFound as exc:
                raise HTTPException(404, str(exc)) from None
            except StoreError as exc:
                raise HTTPException(500, str(exc)) from None
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None

    @app.get("/", response_class=HTMLResponse)
    def runs() -> HTMLResponse:
        with Store(db) as store:
            return HTMLResponse(index_page(store, db))

    @app.get("/runs/{run_id:path}", response_class=HTMLResponse)  # ids may contain "/"
    def one_run(run_id: str) -> HTMLResponse:
        return render([run_id], compare=False)

    @app.get("/report", response_class=HTMLResponse)
    def several(run: Annotated[list[str] | None, Query()] = None, compare: bool = False) -> HTMLResponse:
        if not run:
            raise HTTPException(400, "choose at least one run: /report?" + urlencode({"run": "RUN_ID"}))
        return render(run, compare)

    return app
