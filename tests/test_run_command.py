"""`medgap run` when things go wrong: an endpoint that refuses every request, paths with brackets."""

from __future__ import annotations

import json

from servers import ChatServer, Failure, serve
from typer.testing import CliRunner

from medgap.cli import load_commands
from medgap.store import Store

app = load_commands()


def write_items(path, n: int):
    lines = [json.dumps({"question": f"第{i}题：首选的处理措施是", "options": ["A. 甲", "B. 乙", "C. 丙", "D. 丁"],
                         "answer": "C", "other": {"source": "Med-Exam", "id": i}}, ensure_ascii=False)
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
    assert "stopped: 5 requests in a row failed" in message and "HTTP 401" in message
    assert "--run-id r" in message and "wrong-key" not in message
    assert server.requests < 10  # not 60 hopeless requests
    with Store(db) as store:
        assert store.completed_keys("r") == set() and store.count_rows("r") >= 5


def test_error_messages_show_brackets_in_paths_as_they_are(tmp_path):
    db = tmp_path / "a[" / "b]" / "runs.db"  # "[/b]" would read as a closing markup tag
    result = CliRunner().invoke(app, ["results", "some-run", "--db", str(db)])
    assert result.exit_code == 1
    assert str(db) in "".join(result.output.split("\n"))
