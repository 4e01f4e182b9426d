"""The annotation app over real HTTP: tokens (hashed, stable across restarts), roles, independence
until finishing, labels kept across a restart, consensus, adjudication, export, and the command."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import medgap.cli.annotate  # registers `annotate` on the app
import medgap.cli.errors  # noqa: F401  (registers `errors`)
from medgap.cli.app import app
from medgap.store import Store
from medgap.store.annotations import AnnotationStore
from medgap.web.annotate import AnnotateError, prepare
from tests.annotate_fixtures import RUN_ID, build_run, call, free_socket, serve_app

REPO = Path(__file__).resolve().parents[1]
ANNOTATORS = ("annotator1", "annotator2", "annotator3")


@pytest.fixture
def prepared(tmp_path):
    db = build_run(tmp_path / "runs.db")
    with Store(db) as store:
        setup = prepare(store, RUN_ID)
    return db, setup.tokens


def label(base, token, index, category, **extra):
    return call(base, "PUT", f"/api/items/{index}/label", token, {"category": category, **extra})


# --------------------------------------------------------------------------------------- setup
def test_tokens_are_issued_once_stored_hashed_and_reissued_on_request(prepared):
    db, tokens = prepared
    assert set(tokens) == {*ANNOTATORS, "adjudicator"}
    raw = db.read_bytes() + (
        db.with_name(db.name + "-wal").read_bytes() if db.with_name(db.name + "-wal").exists() else b""
    )
    assert not any(token.encode() in raw for token in tokens.values())
    with Store(db) as store:
        again = prepare(store, RUN_ID)
        assert again.tokens == {} and again.items == 6
        notes = AnnotationStore(store)
        assert notes.authenticate(RUN_ID, tokens["annotator2"]).name == "annotator2"
        fresh = prepare(store, RUN_ID, reissue=["annotator2"]).tokens
        assert set(fresh) == {"annotator2"}
        assert notes.authenticate(RUN_ID, tokens["annotator2"]) is None
        assert notes.authenticate(RUN_ID, fresh["annotator2"]).role == "annotator"
        assert notes.authenticate(RUN_ID, tokens["adjudicator"]).role == "adjudicator"


def test_the_sample_is_drawn_once_and_bad_requests_are_refused(prepared):
    db, _ = prepared
    with Store(db) as store:
        with pytest.raises(AnnotateError, match="already has a sample of 6 items"):
            prepare(store, RUN_ID, sample=3)
        with pytest.raises(AnnotateError, match="cannot shrink"):
            prepare(store, RUN_ID, annotators=2)
        with pytest.raises(AnnotateError, match="--reissue names no one: annotator9"):
            prepare(store, RUN_ID, reissue=["annotator9"])
        more = prepare(store, RUN_ID, annotators=4)
        assert set(more.tokens) == {"annotator4"}


def test_a_sample_smaller_than_the_wrong_rows_is_seeded(tmp_path):
    first = build_run(tmp_path / "a.db")
    second = build_run(tmp_path / "b.db")
    keys = []
    for db in (first, second):
        with Store(db) as store:
            prepare(store, RUN_ID, sample=3)
            keys.append(AnnotationStore(store).items(RUN_ID))
    assert len(keys[0]) == 3 and keys[0] == keys[1]


def test_the_command_refuses_an_unknown_run_or_too_few_annotators(tmp_path):
    db = build_run(tmp_path / "runs.db")
    missing = CliRunner().invoke(app, ["annotate", "nope", "--db", str(db)])
    assert missing.exit_code == 1 and "no run 'nope'" in missing.stderr
    lonely = CliRunner().invoke(app, ["annotate", RUN_ID, "--db", str(db), "--annotators", "1"])
    assert lonely.exit_code == 1 and "at least 2" in lonely.stderr


def test_a_run_without_wrong_rows_cannot_be_annotated(tmp_path):
    db = build_run(tmp_path / "runs.db")
    with Store(db) as store:
        store.db.execute("DELETE FROM rows WHERE value < 1 OR value IS NULL")
        with pytest.raises(AnnotateError, match="no wrong or partially correct rows"):
            prepare(store, RUN_ID)


# ----------------------------------------------------------------------------------------- HTTP
def test_requests_without_a_valid_token_are_refused(prepared):
    db, tokens = prepared
    with serve_app(db) as base:
        for method, path in [
            ("GET", "/api/session"),
            ("GET", "/api/items"),
            ("GET", "/api/items/0"),
            ("GET", "/api/export"),
            ("GET", "/api/agreement"),
            ("POST", "/api/finish"),
        ]:
            assert call(base, method, path)[0] == 401
            assert call(base, method, path, "not-a-token")[0] == 401
        assert call(base, "PUT", "/api/items/0/label", None, {"category": "omission"})[0] == 401
        basic = call(
            base, "GET", "/api/session", raw_headers={"Authorization": f"Basic {tokens['annotator1']}"}
        )
        assert basic[0] == 401 and basic[1]["www-authenticate"] == "Bearer"
        status, headers, page = call(base, "GET", "/")
        assert status == 200 and "annotate.js" in page
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert call(base, "GET", "/static/annotate.py")[0] == 404


def test_roles_and_input_are_checked(prepared):
    db, tokens = prepared
    with serve_app(db) as base:
        assert label(base, tokens["adjudicator"], 0, "omission")[0] == 403
        assert call(base, "GET", "/api/export", tokens["annotator1"])[0] == 403
        assert call(base, "GET", "/api/agreement", tokens["annotator1"])[0] == 403
        assert (
            call(base, "PUT", "/api/items/0/adjudication", tokens["annotator1"], {"category": "omission"})[0]
            == 403
        )
        assert label(base, tokens["annotator1"], 0, "knowledge_error")[0] == 422
        assert label(base, tokens["annotator1"], 0, "omission", secondary=["bogus"])[0] == 422
        assert label(base, tokens["annotator1"], 0, "omission", note="x" * 2001)[0] == 422
        assert label(base, tokens["annotator1"], 6, "omission")[0] == 404
        assert call(base, "GET", "/api/items/99", tokens["annotator1"])[0] == 404
        assert call(base, "GET", "/api/export?format=xml", tokens["adjudicator"])[0] == 422


def test_an_item_shows_what_an_annotator_needs_and_nothing_of_the_others(prepared):
    db, tokens = prepared
    with serve_app(db) as base:
        status, _, saved = label(
            base,
            tokens["annotator1"],
            3,
            "omission",
            secondary=["omission", "hallucination"],
            note="漏了肠梗阻",
        )
        assert status == 200 and saved["secondary"] == ["hallucination"]  # the primary is not also secondary
        item = call(base, "GET", "/api/items/3", tokens["annotator1"])[2]
        assert item["sample_id"] == "o1" and item["missed"] == ["肠梗阻", "急诊手术"]
        assert item["gold"]["key_points"] == ["嵌顿性腹股沟斜疝", "肠梗阻", "急诊手术"]
        assert item["context"].startswith("病人，男") and item["response"] == "诊断为嵌顿性腹股沟斜疝。"
        assert item["prelabel"]["category"] == "omission" and item["prelabel"]["confidence"] == "high"
        assert item["mine"]["note"] == "漏了肠梗阻"
        choice = call(base, "GET", "/api/items/0", tokens["annotator1"])[2]
        assert [o["letter"] for o in choice["options"] if o["gold"]] == ["A"] and choice["extracted"] == "B"
        other = call(base, "GET", "/api/items/3", tokens["annotator2"])[2]
        assert other["mine"] is None and other["labels"] is None and other["status"] is None
        listing = call(base, "GET", "/api/items", tokens["annotator2"])[2]
        assert all(entry["status"] is None and not entry["labelled"] for entry in listing)
        session = call(base, "GET", "/api/session", tokens["annotator1"])[2]
        assert (session["labelled"], session["items"], session["finished"]) == (1, 6, False)
        assert len(session["codebook"]) == 8
        rules = " ".join(session["codebook_rules"]["order"] + session["codebook_rules"]["consequences"])
        assert "Unanswered → Output Error" in rules and "bare wrong letter" in rules


# annotator1..3 on items k1 k2 k3 o1 k5 o2
PLAN = [
    ("output_error", "output_error", "causal_reasoning_deficiency"),
    ("unanswered", "unanswered", "unanswered"),
    ("hallucination", "contextual_inconsistency", "format_mismatch"),
    ("omission", "omission", "omission"),
    ("omission", "omission", "hallucination"),
    ("unanswered", "unanswered", "unanswered"),
]


def test_labels_survive_a_restart_then_consensus_adjudication_and_export(prepared, tmp_path):
    db, tokens = prepared
    with serve_app(db) as base:
        for index, row in enumerate(PLAN[:3]):
            for name, cat in zip(ANNOTATORS, row, strict=True):
                assert label(base, tokens[name], index, cat)[0] == 200
        assert call(base, "POST", "/api/finish", tokens["annotator1"])[0] == 409  # 3 items still open
    with serve_app(db) as base:  # a restart: same tokens, labels kept
        session = call(base, "GET", "/api/session", tokens["annotator1"])[2]
        assert session["labelled"] == 3
        assert (
            call(base, "GET", "/api/items/2", tokens["annotator2"])[2]["mine"]["category"]
            == "contextual_inconsistency"
        )
        for index, row in enumerate(PLAN[3:], start=3):
            for name, cat in zip(ANNOTATORS, row, strict=True):
                assert label(base, tokens[name], index, cat)[0] == 200
        assert (
            call(base, "PUT", "/api/items/0/adjudication", tokens["adjudicator"], {"category": "omission"})[0]
            == 409
        )
        finished = call(base, "POST", "/api/finish", tokens["annotator1"])
        assert finished[0] == 200 and finished[2]["finished"] is True
        assert label(base, tokens["annotator1"], 0, "omission")[0] == 409  # locked after finishing
        revealed = call(base, "GET", "/api/items/0", tokens["annotator1"])[2]
        assert (revealed["status"], revealed["consensus"]) == ("agreed", "output_error")
        assert revealed["labels"]["annotator3"]["category"] == "causal_reasoning_deficiency"
        assert call(base, "GET", "/api/items/0", tokens["annotator2"])[2]["labels"] is None  # not finished
        disputed = call(base, "GET", "/api/items/2", tokens["adjudicator"])[2]
        assert disputed["status"] == "needs_adjudication" and len(disputed["labels"]) == 3
        status, _, decided = call(
            base,
            "PUT",
            "/api/items/2/adjudication",
            tokens["adjudicator"],
            {"category": "contextual_inconsistency", "note": "病例已写明过敏史"},
        )
        assert status == 200 and decided["by"] == "adjudicator"
        after = call(base, "GET", "/api/items/2", tokens["annotator1"])[2]
        assert (after["status"], after["consensus"]) == ("adjudicated", "contextual_inconsistency")
        agreement = call(base, "GET", "/api/agreement", tokens["adjudicator"])[2]
        assert agreement["complete"] == 6 and agreement["fleiss_kappa"] is not None
        status, headers, text = call(base, "GET", "/api/export?format=csv", tokens["adjudicator"])
        assert status == 200 and headers["content-type"].startswith("text/csv")
        assert "attachment" in headers["content-disposition"]
    records = list(csv.DictReader(io.StringIO(text)))
    assert [r["consensus"] for r in records] == [
        "output_error",
        "unanswered",
        "contextual_inconsistency",
        "omission",
        "omission",
        "unanswered",
    ]
    assert records[2]["status"] == "adjudicated" and records[2]["adjudicator_note"] == "病例已写明过敏史"
    assert (
        records[0]["annotator3"] == "causal_reasoning_deficiency"
        and records[0]["prelabel"] == "output_error"
    )

    out = tmp_path / "labels.jsonl"
    result = CliRunner().invoke(app, ["annotate", RUN_ID, "--db", str(db), "--export", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 6 and lines[2]["labels"]["annotator2"]["category"] == "contextual_inconsistency"
    result = CliRunner().invoke(
        app, ["annotate", RUN_ID, "--db", str(db), "--export", str(tmp_path / "labels.csv")]
    )
    assert result.exit_code == 0 and (tmp_path / "labels.csv").read_text(encoding="utf-8") == text
    bad = CliRunner().invoke(
        app, ["annotate", RUN_ID, "--db", str(db), "--export", str(tmp_path / "labels.xlsx")]
    )
    assert bad.exit_code == 1 and "--format" in bad.stderr


def test_export_makes_spreadsheet_formulas_inert(prepared):
    db, tokens = prepared
    with serve_app(db) as base:
        label(base, tokens["annotator1"], 0, "omission", note='=HYPERLINK("http://evil")')
        text = call(base, "GET", "/api/export?format=csv", tokens["adjudicator"])[2]
    assert next(csv.DictReader(io.StringIO(text)))["annotator1_note"].startswith("'=")


def test_the_command_prints_links_and_serves_on_loopback(tmp_path):
    db = build_run(tmp_path / "runs.db")
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }
    launcher = [sys.executable, "-c", "import sys; from medgap.cli import main; sys.exit(main())"]
    process = subprocess.Popen(
        [*launcher, "annotate", RUN_ID, "--db", str(db), "--port", str(port), "--sample", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        links: dict[str, str] = {}
        deadline = time.monotonic() + 90  # generous: CI machines may be busy
        while len(links) < 4 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            found = re.search(r"(annotator\d|adjudicator)\s+(http://127\.0\.0\.1:\d+/#token=\S+)", line)
            if found:
                links[found.group(1)] = found.group(2)
        assert set(links) == {*ANNOTATORS, "adjudicator"}, links
        base, _, token = links["annotator1"].partition("/#token=")
        status = None
        while time.monotonic() < deadline:
            try:
                status, _, session = call(base, "GET", "/api/session", token)
                break
            except OSError:
                time.sleep(0.1)
        assert status == 200 and session["items"] == 4 and session["name"] == "annotator1"
        assert call(base, "GET", "/api/session")[0] == 401
    finally:
        process.terminate()
        process.wait(10)
