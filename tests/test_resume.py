"""Kill `medgap run` with SIGKILL (or interrupt it with Ctrl-C) midway, run it again with the same
--run-id: what was stored is kept and never asked again, and the run ends complete."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_process import asked_per_item, medgap, write_items
from cli_process import environment as clean_environment
from servers import ChatServer, serve

from medgap.store import Store

ITEMS = 40
RUN_ID = "resume-test"


def environment() -> dict[str, str]:
    return clean_environment(OPENAI_API_KEY="test-key")


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stored_keys(db: Path) -> set[tuple[str, int]]:
    if not db.exists():
        return set()
    with Store(db) as store:
        return store.completed_keys(RUN_ID)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_stopped_run_resumes_without_asking_stored_items_again(tmp_path, stop):
    data = write_items(tmp_path / "Med-Exam.jsonl", ITEMS)
    db = tmp_path / "runs.db"
    server = ChatServer(delay=0.2, reply="答案：C", hold_after=10)  # the first run cannot finish before it is stopped
    with serve(server) as base_url:
        command = medgap("run", "--model", "openai/slow-model", "--suite", str(data), "--db", str(db),
                         "--run-id", RUN_ID, "--max-concurrency", "2", "--base-url", base_url, "--quiet")
        # Ctrl-C as in a terminal: a test launched in the background inherits SIGINT ignored, and so
        # would the run without restoring the default
        first = subprocess.Popen(command, env=environment(), cwd=tmp_path, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, preexec_fn=default_sigint)
        deadline = time.monotonic() + 60
        while len(stored_keys(db)) < 6:
            if first.poll() is not None:
                raise AssertionError(f"medgap run ended before it was killed:\n{first.stderr.read().decode()}")
            assert time.monotonic() < deadline, "no rows stored within 60 s"
            time.sleep(0.05)
        first.send_signal(stop)
        first.wait(15)  # Ctrl-C: the run stops by itself, keeping the rows that arrived
        if stop == signal.SIGINT:
            assert first.returncode == 130
            # the hint names the database too, on one line, so it can be pasted as it is
            assert f"`medgap run --run-id {RUN_ID} --db {db}` finishes it" in first.stderr.read().decode()

        kept = stored_keys(db)
        assert 6 <= len(kept) < ITEMS, len(kept)
        stored_items = sorted(int(sample_id.rsplit("/", 1)[1]) for sample_id, _ in kept)
        asked_before = asked_per_item(server.per_question, ITEMS)
        assert all(asked_before[i] == 1 for i in stored_items)

        server.released.set()
        second = subprocess.run(command, check=False, env=environment(), cwd=tmp_path, capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 0, second.stderr
        asked_after = asked_per_item(server.per_question, ITEMS)

    # stored items were not asked again; everything else was asked at least once
    assert [asked_after[i] for i in stored_items] == [1] * len(stored_items)
    assert all(count >= 1 for count in asked_after)
    # only the requests in flight at the kill can have been asked twice
    assert sum(asked_after) - ITEMS <= 2

    exported = subprocess.run(medgap("export", RUN_ID, "--format", "jsonl", "--db", str(db)), check=False,
                              env=environment(), cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    assert len(rows) == ITEMS
    assert len({(row["item_id"], row["permutation"]) for row in rows}) == ITEMS
    assert all(row["error"] is None and row["extracted"] == "C" and row["score"] == 1.0 for row in rows)
