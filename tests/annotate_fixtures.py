"""A stored run with wrong rows of every kind the pre-labeller handles, and the annotation app served
on a free loopback port in a thread (shared by the annotation API and browser tests)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from medgap.records import Attempt, Gold, Response, Row, RunConfig, Sample, Score, Source

RUN_ID = "annot-run"
XSS_RESPONSE = (
    '<script>window.__xss = "script"</script><img src=x onerror="window.__xss = \'img\'"><b>粗体</b> 答案：D'
)
XSS_QUESTION = "下列哪项正确？<img src=x onerror=\"window.__xss = 'question'\">"


def choice(
    sample_id: str,
    gold: str,
    *,
    question: str = "",
    dimension: str = "knowledge_qa",
    context: str | None = None,
    kind: str = "single",
) -> Sample:
    return Sample(
        id=sample_id,
        source=Source(dataset="fixture"),
        task="fixture-choice",
        dimension=dimension,
        kind=kind,
        question=question or f"{sample_id}：对评估肝硬化患者预后意义不大的是",
        context=context,
        options={"A": "腹水", "B": "清蛋白", "C": "血电解质", "D": "凝血酶原时间"},
        gold=Gold(letters=sorted(gold)),
    )


def open_item(
    sample_id: str,
    points: list[str],
    dimension: str = "complex_reasoning",
    kind: str = "open",
    structure=None,
) -> Sample:
    return Sample(
        id=sample_id,
        source=Source(dataset="fixture"),
        task=f"fixture-{kind}",
        dimension=dimension,
        kind=kind,
        question="简述该病人的诊断及治疗原则。",
        context="病人，男，49岁，3小时前解大便后出现右下腹疼痛。",
        gold=Gold(text="\n".join(points), key_points=points, structure=structure),
    )


def row_for(
    sample: Sample,
    text: str,
    *,
    extracted: str | None = None,
    value: float | None = 0.0,
    details: dict | None = None,
    run_id: str = RUN_ID,
    completion_tokens: int | None = None,
    error: str | None = None,
) -> Row:
    attempt = Attempt(
        sample_id=sample.id,
        order=list(sample.options),
        options=dict(sample.options),
        gold_letters=sample.gold.letters if sample.gold else None,
    )
    if sample.is_choice and details is None:
        gold, chosen = set(sample.gold.letters), set(extracted or "")
        details = {"tp": len(gold & chosen), "fp": len(chosen - gold), "fn": len(gold - chosen)}
    return Row(
        run_id=run_id,
        sample_id=sample.id,
        permutation=0,
        task=sample.task,
        dimension=sample.dimension,
        kind=sample.kind,
        attempt=attempt,
        response=Response(text=text, completion_tokens=completion_tokens, error=error),
        score=Score(extracted=extracted, value=value, details=details or {}),
    )


def fixture_rows() -> list[tuple[Sample, Row]]:
    """Six wrong rows (in run order) and one correct row."""
    k1, k2, k3 = choice("k1", "A"), choice("k2", "C"), choice("k3", "A", question=XSS_QUESTION)
    ok, k5 = choice("ok", "B"), choice("k5", "ACD", kind="multi")
    o1 = open_item("o1", ["嵌顿性腹股沟斜疝", "肠梗阻", "急诊手术"])
    o2 = open_item("o2", ["腹痛", "包块"])
    return [
        (k1, row_for(k1, "答案：B", extracted="B")),
        (k2, row_for(k2, "抱歉，我无法回答这个问题，请咨询专业医生。")),
        (k3, row_for(k3, XSS_RESPONSE, extracted="D")),
        (ok, row_for(ok, "答案：B", extracted="B", value=1.0)),
        (
            o1,
            row_for(
                o1,
                "诊断为嵌顿性腹股沟斜疝。",
                value=1 / 3,
                details={
                    "points": o1.gold.key_points,
                    "covered": [True, False, False],
                    "missed": ["肠梗阻", "急诊手术"],
                    "recall": 1 / 3,
                },
            ),
        ),
        (k5, row_for(k5, "答案：AC", extracted="AC")),
        (
            o2,
            row_for(
                o2,
                "   ",
                value=0.0,
                details={
                    "points": o2.gold.key_points,
                    "covered": [False, False],
                    "missed": ["腹痛", "包块"],
                    "recall": 0.0,
                },
            ),
        ),
    ]


def build_run(db: Path, run_id: str = RUN_ID) -> Path:
    from medgap.store import Store

    pairs = fixture_rows()
    with Store(db) as store:
        store.save_run(
            RunConfig(
                run_id=run_id,
                model="mock/fixture",
                suite="fixture",
                seed=7,
                generation={"max_tokens": 512},
                created="2025-01-01T00:00:00+00:00",
            )
        )
        store.save_samples(run_id, [sample for sample, _ in pairs])
        store.write_rows(row.model_copy(update={"run_id": run_id}) for _, row in pairs)
    return db


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serve_app(db: Path, run_id: str = RUN_ID) -> Iterator[str]:
    """Serve the annotation app of `run_id` on 127.0.0.1 in a thread; yields its base URL."""
    from medgap.web.annotate import create_app

    with serve(create_app(db, run_id)) as base:
        yield base


@contextlib.contextmanager
def serve(asgi_app) -> Iterator[str]:
    """Serve an ASGI app on a free 127.0.0.1 port in a thread; yields its base URL."""
    import uvicorn

    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(asgi_app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="annotate-test", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start within 10 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def call(
    base: str,
    method: str,
    path: str,
    token: str | None = None,
    body: dict | None = None,
    raw_headers: dict | None = None,
) -> tuple[int, dict, object]:
    """(status, headers, JSON or text body) of one request; HTTP errors are returned, not raised."""
    headers = dict(raw_headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, head, payload = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, head, payload = exc.code, dict(exc.headers), exc.read()
    text = payload.decode("utf-8")
    parsed: object = text
    if "json" in head.get("content-type", ""):
        parsed = json.loads(text)
    return status, head, parsed
