"""The error-annotation web app (`medgap annotate`): annotators label a sample of a run's wrong rows
independently, an adjudicator settles items without a majority.

Each person opens `http://HOST:PORT/#token=SECRET`; the page (static files, no data) sends the token
as a Bearer header on every /api call, so it never reaches access logs or Referer headers. A call
without a valid token gets 401, a call outside one's role 403. Annotators see only their own labels
until they finish (which locks them); every click is written to the run's database at once.
Model output is untrusted: the page builds its DOM with textContent only, and the CSP forbids inline
scripts and event handlers.
"""

# No `from __future__ import annotations`: FastAPI must see the route signatures' real types,
# which name objects local to create_app.
import json
import random
import re
from collections.abc import Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, overload

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response

from medgap.analysis.agreement import agreement_report
from medgap.analysis.errors import label_run, wrong_rows
from medgap.analysis.taxonomy import CONSEQUENCES, DECISION_ORDER, codebook
from medgap.records import DIMENSION_LABELS_ZH, Row, Sample
from medgap.store.annotations import (
    AnnotationStore,
    Annotator,
    HumanLabel,
    Key,
    LabelChoice,
    Role,
    export_text,
    resolve,
)
from medgap.store.sqlite import Store
from medgap.web.hosts import HostCheck, allowed_hosts

STATIC = Path(__file__).resolve().parent
PAGES = {"annotate.js": "text/javascript", "annotate.css": "text/css"}
DEFAULT_SAMPLE = 100
ADJUDICATOR = "adjudicator"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class AnnotateError(ValueError):
    """The annotation session cannot be set up as asked."""


def annotator_name(number: int) -> str:
    return f"annotator{number}"


def choose_sample(rows: list[Row], size: int, seed: int) -> list[Key]:
    """A seeded random sample of rows, kept in the run's order."""
    chosen = random.Random(seed).sample(range(len(rows)), min(size, len(rows)))
    return [(rows[i].sample_id, rows[i].permutation) for i in sorted(chosen)]


@dataclass
class Setup:
    items: int
    tokens: dict[str, str] = field(default_factory=dict)  # newly issued only: name -> token
    people: list[Annotator] = field(default_factory=list)


def prepare(
    store: Store, run_id: str, annotators: int = 3, sample: int | None = None, reissue: Iterable[str] = ()
) -> Setup:
    """Make a run ready to annotate: rule pre-labels, the sample of wrong rows (drawn once, then kept),
    a token for each annotator and the adjudicator (issued once; `reissue` replaces named ones)."""
    config = store.run_config(run_id)
    if annotators < 2:
        raise AnnotateError("--annotators must be at least 2 for agreement to mean anything")
    label_run(store, run_id)
    notes = AnnotationStore(store)
    items = notes.items(run_id)
    if not items:
        wrong = wrong_rows(store, run_id)
        if not wrong:
            raise AnnotateError(f"run {run_id!r} has no wrong or partially correct rows to annotate")
        items = choose_sample(wrong, sample or DEFAULT_SAMPLE, config.seed)
        notes.save_items(run_id, items)
    elif sample is not None and sample != len(items):
        raise AnnotateError(
            f"run {run_id!r} already has a sample of {len(items)} items under annotation; "
            f"leave out --sample (or pass --sample {len(items)})"
        )
    have = {a.name for a in notes.annotators(run_id)}
    count = len(notes.annotator_names(run_id))
    if annotators < count:
        raise AnnotateError(f"run {run_id!r} already has {count} annotators; their number cannot shrink")
    wanted: list[tuple[str, Role]] = [(annotator_name(i), "annotator") for i in range(1, annotators + 1)] + [
        (ADJUDICATOR, "adjudicator")
    ]
    unknown = set(reissue) - {name for name, _ in wanted}
    if unknown:
        raise AnnotateError(
            f"--reissue names no one: {', '.join(sorted(unknown))}; "
            f"people: {', '.join(name for name, _ in wanted)}"
        )
    tokens = {
        name: notes.issue_token(run_id, name, role)
        for name, role in wanted
        if name not in have or name in set(reissue)
    }
    return Setup(items=len(items), tokens=tokens, people=notes.annotators(run_id))


# --------------------------------------------------------------------------------------------- API
def gold_view(row: Row, sample: Sample | None) -> dict:
    gold = sample.gold if sample is not None else None
    structure = None
    if gold is not None and gold.structure is not None:
        structure = json.dumps(gold.structure, ensure_ascii=False, indent=1)
    return {
        "letters": row.attempt.gold_letters,
        "text": gold.text if gold else None,
        "key_points": gold.key_points if gold else [],
        "structure": structure,
    }


@overload
def label_view(label: HumanLabel) -> dict: ...


@overload
def label_view(label: HumanLabel | None) -> dict | None: ...


def label_view(label: HumanLabel | None) -> dict | None:
    return label.model_dump() if label is not None else None


class AnnotationApp:
    """State and handlers behind the routes; one instance per served run."""

    def __init__(self, db: Path | str, run_id: str) -> None:
        self.store = Store(db)
        self.run_id = run_id
        self.config = self.store.run_config(run_id)
        self.notes = AnnotationStore(self.store)
        self.keys = self.notes.items(run_id)
        if not self.keys:
            raise AnnotateError(
                f"run {run_id!r} has no annotation sample yet (start it with `medgap annotate`)"
            )
        wanted = set(self.keys)
        self.rows = {
            (r.sample_id, r.permutation): r
            for r in self.store.iter_rows(run_id)
            if (r.sample_id, r.permutation) in wanted
        }
        self.samples = {s.id: s for s in self.store.samples(run_id)}

    def close(self) -> None:
        self.store.close()

    # who is asking --------------------------------------------------------------------------------
    def person(self, request: Request) -> Annotator:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        found = (
            self.notes.authenticate(self.run_id, token.strip())
            if scheme.lower() == "bearer" and token.strip()
            else None
        )
        if found is None:
            raise HTTPException(
                401, "a valid annotator token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        return found

    @staticmethod
    def revealed(who: Annotator) -> bool:
        return who.role == "adjudicator" or who.finished is not None

    def key_at(self, index: int) -> Key:
        if not 0 <= index < len(self.keys):
            raise HTTPException(404, f"no item {index}; items are numbered 0 to {len(self.keys) - 1}")
        return self.keys[index]

    # views ----------------------------------------------------------------------------------------
    def session(self, who: Annotator) -> dict:
        mine = self.notes.labels(self.run_id)
        labelled = sum(1 for key in self.keys if who.name in mine.get(key, {}))
        return {
            "run_id": self.run_id,
            "model": self.config.model,
            "name": who.name,
            "role": who.role,
            "finished": who.finished is not None,
            "items": len(self.keys),
            "labelled": labelled,
            "annotators": self.notes.annotator_names(self.run_id),
            "codebook": codebook(),
            "codebook_rules": {"order": list(DECISION_ORDER), "consequences": list(CONSEQUENCES)},
        }

    def item_list(self, who: Annotator) -> list[dict]:
        statuses = self.notes.statuses(self.run_id)
        show = self.revealed(who)
        out = []
        for index, key in enumerate(self.keys):
            state, row = statuses[key], self.rows.get(key)
            out.append(
                {
                    "index": index,
                    "dimension": row.dimension if row else None,
                    "kind": row.kind if row else None,
                    "labelled": who.name in state.labels
                    if who.role == "annotator"
                    else state.adjudication is not None,
                    "status": state.status if show else None,
                }
            )
        return out

    def item(self, who: Annotator, index: int) -> dict:
        key = self.key_at(index)
        row = self.rows.get(key)
        if row is None:
            raise HTTPException(404, f"item {index} ({key[0]}) is no longer among the run's rows")
        sample = self.samples.get(key[0])
        labels = self.notes.labels(self.run_id).get(key, {})
        state = resolve(
            labels, self.notes.annotator_names(self.run_id), self.notes.adjudications(self.run_id).get(key)
        )
        prelabel = self.notes.prelabel(self.run_id, key)
        details = row.score.details
        show = self.revealed(who)
        gold_letters = set(row.attempt.gold_letters or [])
        return {
            "index": index,
            "total": len(self.keys),
            "sample_id": key[0],
            "permutation": key[1],
            "task": row.task,
            "dimension": row.dimension,
            "dimension_zh": DIMENSION_LABELS_ZH.get(row.dimension, ""),
            "kind": row.kind,
            "question": sample.question if sample else "",
            "context": sample.context if sample else None,
            "options": [
                {"letter": k, "text": v, "gold": k in gold_letters} for k, v in row.attempt.options.items()
            ],
            "gold": gold_view(row, sample),
            "response": row.response.text,
            "extracted": row.score.extracted,
            "score": row.score.value,
            "recall": details.get("recall"),
            "missed": [str(p) for p in details.get("missed") or []],
            "hallucinated": [str(p) for p in details.get("hallucinated") or []],
            "prelabel": prelabel.model_dump() if prelabel else None,
            "mine": label_view(state.adjudication if who.role == "adjudicator" else labels.get(who.name)),
            "revealed": show,
            "labels": {name: label_view(label) for name, label in state.labels.items()} if show else None,
            "status": state.status if show else None,
            "consensus": state.consensus if show else None,
            "consensus_secondary": state.secondary if show else None,
        }

    # writes ---------------------------------------------------------------------------------------
    def save_label(self, who: Annotator, index: int, body: LabelChoice) -> dict:
        if who.role != "annotator":
            raise HTTPException(403, "only annotators label items; the adjudicator adjudicates")
        if who.finished is not None:
            raise HTTPException(409, "you have finished: your labels are locked")
        key = self.key_at(index)
        saved = self.notes.set_label(self.run_id, key, who.name, body)
        return label_view(saved)

    def finish(self, who: Annotator) -> dict:
        if who.role != "annotator":
            raise HTTPException(403, "only annotators finish")
        labels = self.notes.labels(self.run_id)
        missing = [i for i, key in enumerate(self.keys) if who.name not in labels.get(key, {})]
        if missing:
            shown = ", ".join(str(i + 1) for i in missing[:10])
            raise HTTPException(409, f"{len(missing)} items still unlabelled (item {shown})")
        self.notes.mark_finished(self.run_id, who.name)
        finished = self.notes.annotator(self.run_id, who.name)
        assert finished is not None  # who holds a valid token, so is stored (annotators are never deleted)
        return self.session(finished)

    def adjudicate(self, who: Annotator, index: int, body: LabelChoice) -> dict:
        self.require_adjudicator(who)
        key = self.key_at(index)
        state = self.notes.statuses(self.run_id)[key]
        if state.status not in ("needs_adjudication", "adjudicated"):
            raise HTTPException(409, f"item {index + 1} does not need adjudication (status: {state.status})")
        saved = self.notes.set_adjudication(self.run_id, key, who.name, body)
        return label_view(saved)

    @staticmethod
    def require_adjudicator(who: Annotator) -> None:
        if who.role != "adjudicator":
            raise HTTPException(403, "only the adjudicator may do this")

    def export(self, who: Annotator, fmt: str) -> str:
        self.require_adjudicator(who)
        try:
            return export_text(
                self.notes.export_records(self.run_id), self.notes.annotator_names(self.run_id), fmt
            )
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None


def create_app(db: Path | str, run_id: str, host: str = "127.0.0.1") -> FastAPI:
    """The FastAPI app serving one run's annotation (prepare the run first with `prepare`); requests
    must name `host` (the bound address) in their Host header."""
    state = AnnotationApp(db, run_id)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        state.close()

    app = FastAPI(title="medgap annotate", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.annotation = state
    app.add_middleware(HostCheck, allowed=allowed_hosts(host))

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    # Handlers are async so every database call runs on the event loop's one thread.
    async def person(request: Request) -> Annotator:
        return state.person(request)

    Person = Annotated[Annotator, Depends(person)]

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "annotate.html", media_type="text/html; charset=utf-8")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> FileResponse:
        if name not in PAGES:
            raise HTTPException(404, "not found")
        return FileResponse(STATIC / name, media_type=f"{PAGES[name]}; charset=utf-8")

    @app.get("/api/session")
    async def session(who: Person) -> dict:
        return state.session(who)

    @app.get("/api/items")
    async def items(who: Person) -> list[dict]:
        return state.item_list(who)

    @app.get("/api/items/{index}")
    async def item(index: int, who: Person) -> dict:
        return state.item(who, index)

    @app.put("/api/items/{index}/label")
    async def label(index: int, body: LabelChoice, who: Person) -> dict:
        return state.save_label(who, index, body)

    @app.post("/api/finish")
    async def finish(who: Person) -> dict:
        return state.finish(who)

    @app.put("/api/items/{index}/adjudication")
    async def adjudication(index: int, body: LabelChoice, who: Person) -> dict:
        return state.adjudicate(who, index, body)

    @app.get("/api/agreement")
    async def agreement(who: Person) -> dict:
        state.require_adjudicator(who)
        return agreement_report(state.store, run_id)

    @app.get("/api/export")
    async def export(who: Person, format: str = "csv") -> PlainTextResponse:
        text = state.export(who, format)
        media = "text/csv" if format == "csv" else "application/x-ndjson"
        filename = re.sub(r"[^A-Za-z0-9._-]", "_", f"{run_id}-labels.{format}")
        return PlainTextResponse(
            text,
            media_type=f"{media}; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    return app
