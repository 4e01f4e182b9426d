"""The store on both backends: a SQLite file and a real PostgreSQL server (skipped with the reason
where none can be started). The same behaviour through the same interface, the schema upgrading
itself, `medgap db copy` between the two, every command on PostgreSQL, and several annotators
writing at once from two annotation servers on one PostgreSQL database."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest
from typer.testing import CliRunner

from medgap.cli import load_commands
from medgap.records import RunConfig
from medgap.store import LeaseLost, RunBusy, RunExists, Store, StoreError
from medgap.store.annotations import AnnotationStore, LabelChoice
from medgap.store.backend import SCHEMA_VERSION, schema_version, to_pyformat
from medgap.store.lease import Holder
from medgap.web.annotate import prepare
from tests.annotate_fixtures import RUN_ID, build_run, call, serve, serve_app
from tests.helpers import choice_sample

app = load_commands()


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    """Where a fresh store lives: a file, or an empty database on the test server."""
    if request.param == "sqlite":
        return str(tmp_path / "runs.db")
    return request.getfixturevalue("pg_url")


def a_row(run_id: str, sample, permutation: int = 0, error: str | None = None, value: float | None = 1 / 3):
    from medgap.records import Attempt, Response, Row, Score

    return Row(run_id=run_id, sample_id=sample.id, permutation=permutation, task=sample.task,
               dimension=sample.dimension, kind=sample.kind,
               attempt=Attempt(sample_id=sample.id, permutation=permutation, order=list(sample.options),
                               options=dict(sample.options)),
               response=Response(text="答案：A", error=error), score=Score(extracted="A", value=value))


def test_the_store_behaves_the_same_on_both_backends(location):
    samples = [choice_sample(f"q{i}") for i in range(3)]
    config = RunConfig(run_id="r", model="mock/first", suite="s", created="2026-01-01T00:00:00+00:00")
    me, other = Holder("here", 1, "a"), Holder("there", 2, "b")
    with Store(location) as store:
        store.create_run(config, samples, attempts=6)
        with pytest.raises(RunExists):
            store.create_run(config, samples)
        store.acquire("r", me)
        with pytest.raises(RunBusy, match="there|here"):
            store.acquire("r", other)
        store.write_rows([a_row("r", s, p) for s in reversed(samples) for p in (1, 0)], holder=me)
        store.write_rows([a_row("r", samples[1], 1, error="HTTP 500", value=None)], holder=me)  # replaces
        with pytest.raises(LeaseLost):
            store.write_rows([a_row("r", samples[0], 0)], holder=other)
        assert store.heartbeat("r", me) and not store.heartbeat("r", other)
        store.release("r", me, "complete")
        assert [(r.sample_id, r.permutation) for r in store.rows("r")] == [
            ("q0", 0), ("q0", 1), ("q1", 0), ("q1", 1), ("q2", 0), ("q2", 1)]  # the run's order
        assert store.rows("r")[0].score.value == 1 / 3  # doubles, not 4-byte floats
        assert store.count_rows("r") == 6 and len(store.completed_keys("r")) == 5
        [info] = store.run_infos()
        assert (info.status, info.rows, info.answered, info.attempts) == ("complete", 6, 5, 6)
        assert [s.id for s in store.samples("r")] == ["q0", "q1", "q2"]
        store.save_run(config.model_copy(update={"suite": "s2"}))
        assert store.run_config("r").suite == "s2" and len(store.runs()) == 1
        assert schema_version(store.db) == SCHEMA_VERSION


def test_an_older_sqlite_file_upgrades_itself_and_keeps_its_rows(tmp_path):
    """A file as medgap made it before schema versions (runs, samples and rows only)."""
    path = tmp_path / "old.db"
    samples = [choice_sample("q0")]
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE runs (run_id TEXT PRIMARY KEY, model TEXT NOT NULL, suite TEXT NOT NULL, created TEXT NOT NULL,
                           config TEXT NOT NULL);
        CREATE TABLE samples (run_id TEXT NOT NULL, sample_id TEXT NOT NULL, position INTEGER NOT NULL,
                              sample TEXT NOT NULL, PRIMARY KEY (run_id, sample_id));
        CREATE TABLE rows (run_id TEXT NOT NULL, sample_id TEXT NOT NULL, permutation INTEGER NOT NULL,
                           dimension TEXT NOT NULL, task TEXT NOT NULL, kind TEXT NOT NULL, value REAL, error TEXT,
                           row TEXT NOT NULL, PRIMARY KEY (run_id, sample_id, permutation));
    """)
    config = RunConfig(run_id="old", model="mock/first", suite="s", created="2025-01-01T00:00:00+00:00")
    old.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?)", ("old", "mock/first", "s", config.created,
                                                            config.model_dump_json()))
    old.execute("INSERT INTO samples VALUES ('old', 'q0', 0, ?)", (samples[0].model_dump_json(),))
    row = a_row("old", samples[0])
    old.execute("INSERT INTO rows VALUES ('old', 'q0', 0, ?, ?, ?, 1.0, NULL, ?)",
                (row.dimension, row.task, row.kind, row.model_dump_json()))
    old.commit()
    old.close()
    with Store(path) as store:
        assert schema_version(store.db) == SCHEMA_VERSION
        assert [r.sample_id for r in store.rows("old")] == ["q0"]
        assert store.run_infos()[0].status == "complete"  # no state stored: read from its rows
        store.acquire("old", Holder("here", 1, "a"))  # the tables added since work
    result = CliRunner().invoke(app, ["db", "version", "--db", str(path)])
    assert f"schema version {SCHEMA_VERSION}" in result.output


def test_a_database_from_a_newer_medgap_is_refused_with_what_to_do(location):
    Store(location).close()
    with Store(location) as store:
        store.db.execute("UPDATE medgap_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}.*Upgrade medgap"):
        Store(location)


def test_parameters_are_translated_for_postgresql_without_touching_casts():
    assert to_pyformat("SELECT * FROM t WHERE a = ? AND b = :name AND c::text = '5%'") == \
        "SELECT * FROM t WHERE a = %s AND b = %(name)s AND c::text = '5%%'"


def test_an_unreachable_server_is_one_message_without_the_password(tmp_path):
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed")
    result = CliRunner().invoke(app, ["runs", "--db", "postgresql://bob:s3cret@127.0.0.1:1/medgap"])
    assert result.exit_code == 1
    assert "cannot be reached" in result.output and "s3cret" not in result.output
    assert "Traceback" not in result.output


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_run_on_postgresql_stores_the_same_rows_and_prints_the_same_metrics_as_sqlite(tmp_path, pg_url):
    file_db = str(tmp_path / "runs.db")
    common = ["run", "-m", "mock/first", "-s", "demo-robustness", "--run-id", "r"]
    printed_file = run_cli(*common, "--db", file_db)
    printed_pg = run_cli(*common, "--db", pg_url)
    assert metrics_printed(printed_pg) == metrics_printed(printed_file)
    with Store(file_db) as a, Store(pg_url) as b:
        assert same_rows(a, b, "r")
        b.write_rows(a.rows("r"))  # the same latencies too: every command must then print the same
    for command in (["results", "r", "--json"], ["export", "r"], ["errors", "r"], ["diagnose", "r"]):
        assert run_cli(*command, "--db", pg_url) == run_cli(*command, "--db", file_db)
    assert "demo-robustness" in run_cli("runs", "--db", pg_url)
    report = tmp_path / "r.html"
    run_cli("report", "r", "--db", pg_url, "-o", str(report))
    assert report.stat().st_size > 10_000
    out = run_cli("experiment", "-m", "mock/oracle", "-s", "demo-robustness", "--limit-per-task", "1", "-b", "cot",
                  "--run-id", "e", "--db", pg_url, "-q", "--json")
    assert json.loads(out[out.index("{"):])["items"] == 7  # stderr (the arms) comes first here
    run_cli("compare", "e-baseline", "e-treatment", "--db", pg_url)


def metrics_printed(output: str) -> list[str]:
    """The results table `medgap run` prints, without the progress bar, timings and where it was stored."""
    skip = ("asking", "worker ", "latency", "stored in", "`medgap results")
    return [line for line in output.splitlines() if line.strip() and not line.lstrip().startswith(skip)]


def same_rows(a: Store, b: Store, run_id: str) -> bool:
    def comparable(store):
        out = []
        for row in store.rows(run_id):
            data = row.model_dump()
            data["response"].pop("latency_s")
            out.append(data)
        return out

    return comparable(a) == comparable(b) and a.samples(run_id) == b.samples(run_id)


def test_db_copy_moves_runs_both_ways_with_their_annotations(tmp_path, pg_url):
    first, back = tmp_path / "a.db", tmp_path / "b.db"
    run_cli("run", "-m", "mock/random", "-s", "demo-robustness", "--limit-per-task", "1", "--run-id", "x",
            "--db", str(first), "-q")
    build_run(first)
    with Store(first) as store:
        prepare(store, RUN_ID)  # pre-labels, the annotation sample, hashed tokens
        AnnotationStore(store).set_label(RUN_ID, AnnotationStore(store).items(RUN_ID)[0], "annotator1",
                                         LabelChoice(category="omission", note="漏了"))
    out = run_cli("db", "copy", str(first), pg_url)
    assert "2 runs" in out
    run_cli("db", "copy", pg_url, str(back), "--run", "x")
    with Store(first) as a, Store(pg_url) as b, Store(back) as c:
        assert same_rows(a, b, "x") and same_rows(a, c, "x") and same_rows(a, b, RUN_ID)
        assert [i.status for i in b.run_infos()] == [i.status for i in a.run_infos()]
        assert not c.has_run(RUN_ID)
        notes_a, notes_b = AnnotationStore(a), AnnotationStore(b)
        assert notes_b.items(RUN_ID) == notes_a.items(RUN_ID) and notes_b.labels(RUN_ID) == notes_a.labels(RUN_ID)
        assert notes_b.prelabels(RUN_ID) == notes_a.prelabels(RUN_ID)
        assert notes_b.annotator_names(RUN_ID) == notes_a.annotator_names(RUN_ID)
    result = CliRunner().invoke(app, ["db", "copy", str(first), pg_url])
    assert result.exit_code == 1 and "already exists" in result.output and "nothing was copied" in result.output


def at_once(calls: list) -> None:
    """Run the functions in threads that start together; fail with what any of them raised."""
    start, failures = threading.Barrier(len(calls)), []

    def run(function) -> None:
        try:
            start.wait()
            function()
        except BaseException as exc:  # noqa: BLE001 -- reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(function,)) for function in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures


def test_annotators_on_two_servers_writing_at_once_lose_no_label(pg_url):
    """Three annotators, each with half the items on one app instance and half on another (two
    machines sharing one PostgreSQL database), label every item at the same moment, then change every
    label at the same moment; every annotator's last label of every item is what is stored."""
    build_run(pg_url)
    with Store(pg_url) as store:
        setup = prepare(store, RUN_ID)
    tokens = [token for name, token in setup.tokens.items() if name != "adjudicator"]
    names = [name for name in setup.tokens if name != "adjudicator"]

    def labeller(base: str, token: str, items: range, category: str):
        return lambda: [call(base, "PUT", f"/api/items/{i}/label", token, {"category": category}) for i in items]

    with serve_app(pg_url) as one, serve_app(pg_url) as two:
        rounds = (["omission", "hallucination", "omission"], ["hallucination", "unanswered", "omission"])
        for round_categories in rounds:
            at_once([labeller(base, token, range(first, setup.items, 2), category)
                     for token, category in zip(tokens, round_categories, strict=True)
                     for base, first in ((one, 0), (two, 1))])
    with Store(pg_url) as store:
        labels = AnnotationStore(store).labels(RUN_ID)
    assert len(labels) == setup.items
    for by_person in labels.values():
        assert {name: label.category for name, label in by_person.items()} == dict(
            zip(names, round_categories, strict=True))


def test_processes_opening_a_new_database_at_once_migrate_it_once(location):
    at_once([lambda: Store(location).close() for _ in range(4)])
    with Store(location) as store:
        assert store.db.execute("SELECT count(*) FROM medgap_schema").fetchone()[0] == 1


def test_serve_lists_and_reports_runs_from_postgresql(pg_url):
    import urllib.request

    from medgap.report.server import create_app

    run_cli("run", "-m", "mock/first", "-s", "demo-robustness", "--limit-per-task", "1", "--run-id", "s/1",
            "--db", pg_url, "-q")
    with serve(create_app(pg_url)) as base:
        index = urllib.request.urlopen(f"{base}/", timeout=30).read().decode()
        report = urllib.request.urlopen(f"{base}/runs/s/1", timeout=60).read().decode()
    assert "s/1" in index and "medgap_test_" in index  # the database it serves, without a password
    assert "demo-robustness" in report
