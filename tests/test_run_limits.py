"""`--max-failures` counts what its help says (items, each after its retries) and `--max-reply-bytes`
cuts oversized replies, storing them cut and marked."""

from __future__ import annotations

import asyncio

from cli_process import write_items
from servers import ChatServer, Failure, serve
from typer.testing import CliRunner

from medgap.cli import load_commands
from medgap.models import GenerateConfig
from medgap.models.base import Model, ModelRequest
from medgap.records import Response, RunConfig
from medgap.runner import DEFAULT_MAX_REPLY_BYTES, run_eval
from medgap.store import Store
from tests.helpers import choice_sample

app = load_commands()


def test_max_failures_counts_items_each_after_its_retries(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-limits-0123456789")
    data = write_items(tmp_path / "Med-Exam.jsonl", 20)
    db = tmp_path / "runs.db"
    server = ChatServer(failures=[Failure(503)] * 100)
    with serve(server) as base_url:
        result = CliRunner().invoke(app, ["run", "-m", "openai/m?max_retries=2&backoff_base=0.001&backoff_max=0.01",
                                          "--suite", str(data), "--db", str(db), "--base-url", base_url,
                                          "--run-id", "r", "-c", "1", "--max-failures", "3"])
    message = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "3 items in a row failed (each after its retries)" in message and "HTTP 503" in message
    assert server.requests == 3 * 3  # three items, each asked three times (two retries)
    with Store(db) as store:
        assert store.count_rows("r") == 3
    usage = " ".join(CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "Stop after this many items in a row failed, each counted once after the backend's own retries" in usage


def test_an_oversized_reply_is_stored_cut_and_marked(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-limits-0123456789")
    data = write_items(tmp_path / "Med-Exam.jsonl", 2)
    db = tmp_path / "runs.db"
    huge = "答案：C " + "很长的回答" * 100_000  # 1.5 MB of UTF-8
    with serve(ChatServer(reply=huge)) as base_url:
        result = CliRunner().invoke(app, ["run", "-m", "openai/m", "--suite", str(data), "--db", str(db),
                                          "--base-url", base_url, "--run-id", "r", "-q"])
        assert result.exit_code == 0, result.output
        small = CliRunner().invoke(app, ["run", "-m", "openai/m", "--suite", str(data), "--db", str(db),
                                         "--base-url", base_url, "--run-id", "s", "-q", "--max-reply-bytes", "4000"])
        assert small.exit_code == 0, small.output
    with Store(db) as store:
        for run_id, limit in (("r", DEFAULT_MAX_REPLY_BYTES), ("s", 4000)):
            rows = store.rows(run_id)
            assert len(rows) == 2
            for row in rows:
                assert row.response.truncated and "larger than" in row.response.error
                assert 0 < len(row.response.text.encode()) <= limit
    assert db.stat().st_size < 6 * DEFAULT_MAX_REPLY_BYTES


class Rambler(Model):
    async def generate(self, request: ModelRequest) -> Response:
        return Response(text="答案：A。" + "嗯" * 10_000)


def test_every_backend_s_replies_are_capped(tmp_path):
    samples = [choice_sample("q1")]
    with Store(tmp_path / "runs.db") as store:
        rows = asyncio.run(run_eval(RunConfig(run_id="r", model="rambler", suite="fixture"), samples,
                                    Rambler("rambler"), store, gen=GenerateConfig(), concurrency=1,
                                    max_reply_bytes=1000))
    assert rows[0].response.truncated and len(rows[0].response.text.encode()) <= 1000
    assert rows[0].score.extracted == "A"
