"""One run, one configuration, one process at a time: the lease, resume refusals, the resume of an
unfinished run with the same settings, and `medgap runs`."""

from __future__ import annotations

import shlex
import signal
import socket
import subprocess
import time

import pytest
from cli_process import asked_per_item, environment, medgap, write_items
from servers import ChatServer, Failure, serve
from typer.testing import CliRunner

from medgap.cli import load_commands
from medgap.store import LeaseLost, RunBusy, Store
from medgap.store.lease import STALE_AFTER_S, Holder, process_start
from tests.helpers import choice_sample

app = load_commands()
KEY = "sk-ownership-test-0123456789"


def digests(db, run_id: str) -> set[str]:
    with Store(db) as store:
        return {row.settings.get("config_digest") for row in store.rows(run_id)}


def temperatures(db, run_id: str) -> set[float]:
    with Store(db) as store:
        return {row.settings.get("temperature") for row in store.rows(run_id)}


def test_two_processes_on_one_run_id_never_mix(tmp_path):
    items = 40
    data = write_items(tmp_path / "Med-Exam.jsonl", items)
    db = tmp_path / "runs.db"
    server = ChatServer(delay=0.25, reply="答案：C")
    with serve(server) as base_url:
        first = medgap("run", "-m", "openai/model-a", "--suite", data, "--db", db, "--run-id", "one-run",
                       "-c", "2", "--base-url", base_url, "-q")
        second = [*first[:first.index("openai/model-a")], "openai/model-b", *first[first.index("openai/model-a") + 1:]]
        env = environment(OPENAI_API_KEY=KEY)
        procs = [subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for command in (first, second)]
        outs = [proc.communicate(timeout=120) for proc in procs]
    codes = sorted(proc.returncode for proc in procs)
    assert codes == [0, 1], outs
    loser = next(err for proc, (_, err) in zip(procs, outs, strict=True) if proc.returncode == 1)
    assert "is being run by another process" in " ".join(loser.split()) or "made with other settings" in loser
    assert "Traceback" not in loser
    assert asked_per_item(server.per_question, items) == [1] * items  # every item asked once, by one process
    with Store(db) as store:
        rows = store.rows("one-run")
        model = store.run_config("one-run").model
    assert len(rows) == items and {row.settings["model"] for row in rows} == {model}
    assert len(digests(db, "one-run")) == 1


def test_a_lease_of_a_dead_process_is_taken_over_and_a_live_one_is_refused(tmp_path):
    with Store(tmp_path / "runs.db") as store:
        gone = subprocess.Popen(["sleep", "0"])
        gone_start = process_start(gone.pid) or "1"
        gone.wait()
        host = socket.gethostname()
        store.acquire("r", Holder(host, gone.pid, gone_start))
        store.acquire("r", Holder.me())  # the holder is dead: taken over
        assert store.run_state("r").holder == Holder.me()
        with pytest.raises(LeaseLost):  # and the dead holder could no longer write
            store.write_rows([fixture_row("r")], holder=Holder(host, gone.pid, gone_start))

        sleeper = subprocess.Popen(["sleep", "30"])
        try:
            live = Holder(host, sleeper.pid, process_start(sleeper.pid))
            store.acquire("r2", live)
            with pytest.raises(RunBusy, match=f":{sleeper.pid}:"):
                store.acquire("r2", Holder.me())
        finally:
            sleeper.kill()
            sleeper.wait()
        store.acquire("r2", Holder.me())  # now it is dead

        remote = Holder("another-host", 4242, "77")
        store.acquire("r3", remote)
        with pytest.raises(RunBusy):  # its heartbeat is fresh
            store.acquire("r3", Holder.me())
        store.db.execute("UPDATE run_state SET heartbeat = heartbeat - ? WHERE run_id = 'r3'", (STALE_AFTER_S + 1,))
        store.acquire("r3", Holder.me())


def fixture_row(run_id: str):
    from medgap.records import Attempt, Response, Row, Score

    sample = choice_sample("q1")
    return Row(run_id=run_id, sample_id=sample.id, permutation=0, task=sample.task, dimension=sample.dimension,
               kind=sample.kind, attempt=Attempt(sample_id=sample.id), response=Response(text="答案：A"),
               score=Score())


def test_a_resume_with_other_settings_is_refused_and_lists_them(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    data = write_items(tmp_path / "Med-Exam.jsonl", 12)
    db = tmp_path / "runs.db"
    server = ChatServer(reply="答案：C", failures=[Failure(500)] * 0)
    with serve(server) as base_url:
        common = ["run", "-m", "openai/m", "--suite", str(data), "--db", str(db), "--run-id", "r", "--base-url",
                  base_url, "-q", "-c", "1"]
        first = CliRunner().invoke(app, [*common, "--limit", "5", "--temperature", "0"])
        assert first.exit_code == 0, first.output
        asked = server.requests
        for changed, expected in [(["--temperature", "1.5"], "generation.temperature: 0.0 -> 1.5"),
                                  (["--max-tokens", "64"], "generation.max_tokens: 512 -> 64"),
                                  (["--seed", "7"], "seed: 0 -> 7"),
                                  (["-k", "3"], "permutations: 1 -> 3"),
                                  (["-i", "cot"], "interventions"),
                                  (["--limit", "9"], "limit: 5 -> 9"),
                                  (["-m", "openai/other"], 'model: "openai/m" -> "openai/other"'),
                                  (["-m", "local/default"], 'model: "openai/m" -> "local/default"'),
                                  (["-s", "demo"], 'suite: "Med-Exam.jsonl" -> "demo"')]:
            refused = CliRunner().invoke(app, [*common, *changed])
            message = " ".join(refused.output.split())
            assert refused.exit_code == 1, refused.output
            assert "was made with other settings" in message and expected in message, message
            assert "--force-new" in message
        assert server.requests == asked  # nothing was asked under other settings
        again = CliRunner().invoke(app, [*common, "--temperature", "0", "-c", "4", "--timeout", "30"])
        assert again.exit_code == 0, again.output  # how requests are sent is not a setting
        fresh = CliRunner().invoke(app, [*common, "--temperature", "1.5", "--force-new"])
        assert fresh.exit_code == 0, fresh.output
    assert temperatures(db, "r") == {0.0} and temperatures(db, "r-2") == {1.5}
    assert len(digests(db, "r")) == 1 and digests(db, "r") != digests(db, "r-2")


def test_a_run_that_died_is_shown_failed_and_the_same_command_resumes_it(tmp_path):
    items = 30
    data = write_items(tmp_path / "Med-Exam.jsonl", items)
    db = tmp_path / "runs.db"
    server = ChatServer(delay=0.2, reply="答案：C")
    env = environment(OPENAI_API_KEY=KEY, COLUMNS="80")
    with serve(server) as base_url:
        command = medgap("run", "-m", "openai/a-model-with-a-rather-long-name", "--suite", data, "--db", db,
                         "-c", "2", "--base-url", base_url, "-q")
        first = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not db.exists() or count_rows(db) < 4:
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        listed = subprocess.run(medgap("runs", "--db", db), env=env, check=False, capture_output=True, text=True,
                                timeout=60)
        with Store(db) as store:
            (info,) = store.run_infos()
        run_id = info.config.run_id
        line = next(line for line in listed.stdout.splitlines() if run_id in line)  # the whole id on one line
        assert "failed" in line and f"{info.answered}/{items}" in line
        assert max(len(line) for line in listed.stdout.splitlines()) <= 80

        second = subprocess.run(command, env=env, cwd=tmp_path, check=False, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 0, second.stderr
        assert f"resuming run {run_id}" in " ".join(second.stderr.split())
    with Store(db) as store:
        (info,) = store.run_infos()  # no second run
    assert info.status == "complete" and info.answered == items
    assert sum(asked_per_item(server.per_question, items)) - items <= 2  # only the requests in flight at the kill


def count_rows(db) -> int:
    try:
        with Store(db) as store:
            return sum(info.rows for info in store.run_infos())
    except Exception:  # noqa: BLE001 -- the first process is still creating it
        return 0


def test_runs_lists_status_and_rows_within_80_columns(tmp_path):
    db = tmp_path / "runs.db"
    data = write_items(tmp_path / "Med-Exam.jsonl", 6)
    ids = ["mock-oracle-on-a-suite-with-a-long-name-20261204-205611", "[/]", "[bold]x[/]"]
    for run_id in ids:
        done = CliRunner().invoke(app, ["run", "-m", "mock/oracle", "--suite", str(data), "--db", str(db),
                                        "--run-id", run_id])
        assert done.exit_code == 0, done.output
        assert f"run {run_id};" in done.output and f"medgap results {shlex.quote(run_id)} --db" in done.output
    listed = subprocess.run(medgap("runs", "--db", db), env=environment(COLUMNS="80"), check=False, capture_output=True,
                            text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    for run_id in ids:
        (line,) = [line for line in lines if line.strip().startswith(run_id + " ")]
        assert "complete" in line and "6/6" in line
    shown = CliRunner().invoke(app, ["results", "[/]", "--db", str(db)])
    assert shown.exit_code == 0 and "run [/]" in shown.output


def test_openai_without_a_key_or_base_url_stops_at_once(tmp_path):
    db = tmp_path / "runs.db"
    started = time.monotonic()
    result = subprocess.run(medgap("run", "-m", "openai/gpt-4o-mini", "--db", db, "-q"),
                            env=environment(), cwd=tmp_path, check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "OPENAI_API_KEY is not set" in result.stderr and "Traceback" not in result.stderr
    assert time.monotonic() - started < 20  # no retries (45 s before)
    with Store(db) as store:
        assert store.runs() == []


def test_the_lease_heartbeats_and_notices_a_take_over(tmp_path):
    from medgap.store import Lease

    with Store(tmp_path / "runs.db") as store, Lease(store, "r", heartbeat_s=0.05) as lease:
        first = store.run_state("r").heartbeat
        deadline = time.monotonic() + 10
        while store.run_state("r").heartbeat == first:
            assert time.monotonic() < deadline, "no heartbeat"
            time.sleep(0.02)
        assert not lease.lost
        store.db.execute("UPDATE run_state SET holder = 'elsewhere:1:1' WHERE run_id = 'r'")  # taken over
        while not lease.lost:
            assert time.monotonic() < deadline, "the take-over went unnoticed"
            time.sleep(0.02)
        with pytest.raises(LeaseLost):
            store.write_rows([fixture_row("r")], holder=lease.holder)
        assert store.count_rows("r") == 0


def test_rescore_waits_for_the_run_s_owner_and_keeps_its_status(tmp_path):
    from annotate_fixtures import build_run

    db = build_run(tmp_path / "runs.db", "r")
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with Store(db) as store:
            store.acquire("r", Holder(socket.gethostname(), sleeper.pid, process_start(sleeper.pid)))
        busy = CliRunner().invoke(app, ["rescore", "r", "--match", "lexical", "--db", str(db)])
        assert busy.exit_code == 1 and "is being run by another process" in " ".join(busy.output.split())
    finally:
        sleeper.kill()
        sleeper.wait()
    with Store(db) as store:
        store.db.execute("UPDATE run_state SET holder = NULL, status = 'complete' WHERE run_id = 'r'")
    done = CliRunner().invoke(app, ["rescore", "r", "--match", "lexical", "--db", str(db)])
    assert done.exit_code == 0, done.output
    with Store(db) as store:
        state = store.run_state("r")
    assert state.status == "complete" and state.holder is None
