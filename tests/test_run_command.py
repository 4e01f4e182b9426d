"""`medgap run` and `results`: an endpoint that refuses every request, paths with brackets, usage."""

from __future__ import annotations

import asyncio
import json

import pytest
from servers import ChatServer, Failure, serve
from typer.testing import CliRunner

from medgap.cli import load_commands
from medgap.models import GenerateConfig
from medgap.models.base import Model, ModelRequest
from medgap.records import Response, RunConfig
from medgap.runner import run_eval
from medgap.store import Store
from tests.helpers import choice_sample

app = load_commands()


def write_items(path, n: int, source: str = "Med-Exam"):
    lines = [json.dumps({"question": f"第{i}题：首选的处理措施是", "options": ["A. 甲", "B. 乙", "C. 丙", "D. 丁"],
                         "answer": "C", "other": {"source": source, "id": i}}, ensure_ascii=False)
             for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_rejected_key_stops_the_run_early_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong-key")
    data = write_items(tmp_path / "Med-Exam.jsonl", 60)
    db = tmp_path / "runs.db"
    server = ChatServer(failures=[Failure(401, message="invalid api key")] * 60)
    with serve(server) as base_url:
        result = CliRunner().invoke(app, ["run", "-m", "openai/m", "--suite", str(data), "--db", str(db),
                                          "--base-url", base_url, "--run-id", "r", "-c", "2", "--max-failures", "5"])
    message = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "stopped: 5 items in a row failed" in message and "HTTP 401" in message
    assert "--run-id r" in message and "wrong-key" not in message
    assert server.requests < 10  # not 60 hopeless requests
    with Store(db) as store:
        assert store.completed_keys("r") == set() and store.count_rows("r") >= 5


def test_error_messages_show_brackets_in_paths_as_they_are(tmp_path):
    db = tmp_path / "a[" / "b]" / "runs.db"  # "[/b]" would read as a closing markup tag
    result = CliRunner().invoke(app, ["results", "some-run", "--db", str(db)])
    assert result.exit_code == 1
    assert str(db) in "".join(result.output.split("\n"))


class Metered(Model):
    """Answers A, reporting tokens and a latency that grows with each call; fails q3."""

    def __init__(self) -> None:
        super().__init__("metered")
        self.calls = 0

    async def generate(self, request: ModelRequest) -> Response:
        if request.sample.id == "q3":
            return Response(error="HTTP 500")
        self.calls += 1
        return Response(text="答案：A", prompt_tokens=100, completion_tokens=5, latency_s=float(self.calls))


def test_results_report_tokens_and_latency(tmp_path):
    samples = [choice_sample(f"q{i}") for i in range(11)]
    config = RunConfig(run_id="r1", model="metered", suite="fixture")
    db = tmp_path / "runs.db"
    with Store(db) as store:
        store.save_run(config)
        store.save_samples("r1", samples)
        asyncio.run(run_eval(config, samples, Metered(), store, gen=GenerateConfig(), concurrency=1))
    shown = CliRunner().invoke(app, ["results", "r1", "--db", str(db)])
    assert shown.exit_code == 0, shown.output
    # 10 answered rows (the failed one has no usage), latencies 1..10 s: median 5 s, p95 10 s
    assert "tokens: 1,000 in / 50 out (10 rows) · latency p50 5 s, p95 10 s" in shown.output
    usage = json.loads(CliRunner().invoke(app, ["results", "r1", "--db", str(db), "--json"]).stdout)["usage"]
    assert usage == {"rows_with_tokens": 10, "prompt_tokens": 1000, "completion_tokens": 50,
                     "latency_median_s": 5.0, "latency_p95_s": 10.0}


def test_an_experiment_against_a_rejecting_endpoint_stops_in_its_first_arm(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong-key")
    data = write_items(tmp_path / "Med-Exam.jsonl", 30)
    server = ChatServer(failures=[Failure(401, message="invalid api key")] * 60)
    with serve(server) as base_url:
        result = CliRunner().invoke(app, ["experiment", "-m", "openai/m", "--suite", str(data), "--db",
                                          str(tmp_path / "runs.db"), "--base-url", base_url, "--run-id", "exp",
                                          "--treatment", "cot", "-c", "1", "--max-failures", "3"])
    message = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "stopped: 3 items in a row failed" in message and "rows of run exp-baseline are stored" in message
    assert "medgap experiment --run-id exp" in message and server.requests == 3


def test_logprob_runs_record_their_settings_and_how_close_each_call_was(tmp_path):
    """An API run in logprobs mode stores every answer-changing setting with the run, a margin per
    row, and `results` counts the rows decided by less than 0.1 nats."""
    data = write_items(tmp_path / "Med-Exam.jsonl", 3)
    db = str(tmp_path / "runs.db")
    close = [("C", -0.70), ("A", -0.75), ("B", -3.0)]  # C over A by 0.05 nats: a near tie
    server = ChatServer(written=[("答案", [("答案", -0.1)]), ("：", [("：", 0.0)]), ("C", close)], owned_by="me")
    with serve(server) as base_url:
        result = CliRunner().invoke(app, ["run", "-m", "openai/m", "--suite", str(data), "--db", db, "--base-url",
                                          base_url, "--run-id", "lp", "--choice-mode", "logprobs", "-i", "safety"])
    assert result.exit_code == 0, result.output
    asked = [body for body in server.bodies if "messages" in body]  # not the one-token cache flushes
    assert len(asked) == 3 and all(body["repeat_penalty"] == 1.0 and body["top_p"] == 1.0 for body in asked)
    summary = json.loads(CliRunner().invoke(app, ["results", "lp", "--db", db, "--json"]).stdout)
    settings = summary["settings"]
    assert (settings["choice_mode"], settings["temperature"], settings["max_tokens"]) == ("logprobs", 0.0, 512)
    assert (settings["repeat_penalty"], settings["logprob_method"]) == (1.0, "first_letter")
    assert settings["system_prompt_source"] == "sent (safety intervention)" and "医学" in settings["system_prompt"]
    assert "llama-cpp-python" in settings["backend"] and "served-model" in settings["model"]
    assert settings["server_cache"].startswith("emptied before every request")
    close_calls = summary["overall"]["metrics"]["close_calls"]
    assert (close_calls["value"], close_calls["n"]) == (3, 3)
    assert summary["overall"]["metrics"]["median_margin"]["value"] == pytest.approx(0.05)
    table = CliRunner().invoke(app, ["results", "lp", "--db", db]).output
    assert "decided by < 0.1 nats" in table and "3 of 3" in table
    rows = [json.loads(line) for line in CliRunner().invoke(app, ["export", "lp", "--db", db]).stdout.splitlines()]
    assert [row["extracted"] for row in rows] == ["C"] * 3
    assert all(row["details"]["logprob_margin"] == pytest.approx(0.05) for row in rows)


def test_limit_counts_items_in_all_and_limit_per_task_per_task(tmp_path):
    data = tmp_path / "two"
    data.mkdir()
    write_items(data / "Med-Exam.jsonl", 6)
    write_items(data / "Med-Other.jsonl", 6, source="Med-Other")
    db = str(tmp_path / "runs.db")
    for run_id, flags, items in (("total", ["--limit", "4"], 4), ("per-task", ["--limit-per-task", "4"], 8)):
        result = CliRunner().invoke(app, ["run", "-m", "mock/first", "--suite", str(data), "--db", db, "--run-id",
                                          run_id, "-q", "--dimension", "knowledge_qa", *flags])
        assert result.exit_code == 0, result.output
        shown = CliRunner().invoke(app, ["results", run_id, "--db", db, "--json"]).stdout
        assert json.loads(shown)["overall"]["items"] == items
    help_text = " ".join(CliRunner().invoke(app, ["run", "--help"]).output.split())
    assert "At most N items in all" in help_text and "At most N items per task" in help_text
