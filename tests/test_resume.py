"""Kill `medgap run` with SIGKILL (or interrupt it with Ctrl-C) midway, run it again with the same
--run-id: what was stored is kept and never asked again, and the run ends complete."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from servers import ChatServer, serve

from medgap.store import Store

REPO = Path(__file__).resolve().parents[1]
ITEMS = 40
RUN_ID = "resume-test"


def medgap(*args: str) -> list[str]:
    found = shutil.which("medgap")
    launcher = [found] if found else [sys.executable, "-c", "import sys; from medgap.cli import main; sys.exit(main())"]
    return [*launcher, *args]


def environment() -> dict[str, str]:
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": pythonpath, "OPENAI_API_KEY": "test-key"}


def stem(i: int) -> str:
    # the marker makes every stem unique and no stem a substring of another
    return f"【编号{i:03d}】门静脉高压患者出现呕血，首选的处理措施是"


def write_items(path: Path) -> Path:
    lines = []
    for i in range(ITEMS):
        options = ["A. 三腔二囊管压迫", "B. 急诊手术", "C. 输血补液", "D. 口服止血药", "E. 观察"]
        record = {"question": stem(i), "options": options, "answer": "C", "other": {"source": "Med-Exam", "id": i}}
        lines.append(json.dumps(record, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def stored_keys(db: Path) -> set[tuple[str, int]]:
    if not db.exists():
        return set()
    with Store(db) as store:
        return store.completed_keys(RUN_ID)


def requests_per_item(server: ChatServer) -> list[int]:
    """How often the server was asked each item (the prompt it received contains the item's stem)."""
    received = dict(server.per_question)
    return [sum(count for prompt, count in received.items() if stem(i) in prompt) for i in range(ITEMS)]


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill-9", "ctrl-c"])
def test_stopped_run_resumes_without_asking_stored_items_again(tmp_path, stop):
    data = write_items(tmp_path / "Med-Exam.jsonl")
    db = tmp_path / "runs.db"
    server = ChatServer(delay=0.2, reply="答案：C")
    with serve(server) as base_url:
        command = medgap("run", "--model", "openai/slow-model", "--suite", str(data), "--db", str(db),
                         "--run-id", RUN_ID, "--max-concurrency", "2", "--base-url", base_url, "--quiet")
        first = subprocess.Popen(command, env=environment(), cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
        asked_before = requests_per_item(server)
        assert all(asked_before[i] == 1 for i in stored_items)

        second = subprocess.run(command, check=False, env=environment(), cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        asked_after = requests_per_item(server)

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
