"""Secrets never leave the process: a proxy page echoing the Authorization header with status 200,
credentials in the model string, keys in error bodies; checked on every path (terminal, database
file, export, `medgap runs`, the report)."""

from __future__ import annotations

import html
import subprocess

import pytest
from cli_process import environment, medgap, write_items
from servers import ChatServer, Failure, serve

from medgap.redact import redact, register

KEY = "sk-live-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
PASSWORD = "pa55-w0rd-xyzzy"


def echo_page(headers: dict[str, str]) -> str:
    """What a misconfigured proxy answers: its error page, with the request headers in it."""
    dump = "".join(f"<tr><td>{name}</td><td>{html.escape(value)}</td></tr>" for name, value in headers.items())
    return f"<html><body><h1>502 upstream unavailable</h1><table>{dump}</table></body></html>"


def files_contain(folder, secret: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and secret.encode() in path.read_bytes():
            found.append(str(path))
    return found


@pytest.mark.parametrize("text", [
    f"Authorization: Bearer {KEY}",
    f"authorization=Bearer%20{KEY}",
    f'{{"api_key": "{KEY}"}}',
    f"x-api-key: {KEY}",
    f"https://user:{PASSWORD}@proxy.example/v1",
    f"openai/m?base_url=http://me:{PASSWORD}@10.0.0.2:8000/v1",
])
def test_redact_removes_keys_and_url_credentials(text):
    cleaned = redact(text)
    assert KEY not in cleaned and PASSWORD not in cleaned and "[redacted]" in cleaned


def test_redact_removes_a_registered_key_anywhere():
    register("plain-secret-value-42")
    assert redact("the server said plain-secret-value-42!") == "the server said [redacted]!"


def test_an_echoing_proxy_page_leaks_the_key_nowhere(tmp_path):
    data = write_items(tmp_path / "Med-Exam.jsonl", 6)
    db = tmp_path / "runs.db"
    server = ChatServer(page=echo_page)
    env = environment(OPENAI_API_KEY=KEY)
    with serve(server) as base_url:
        ran = subprocess.run(medgap("run", "-m", "openai/m?max_retries=0", "--suite", data, "--db", db, "--run-id",
                                    "r", "--base-url", base_url, "--max-failures", "3", "-c", "1"),
                             env=env, cwd=tmp_path, check=False, capture_output=True, text=True, timeout=120)
    assert server.authorizations[0] == f"Bearer {KEY}"  # the key was sent, and echoed back
    terminal = ran.stdout + ran.stderr
    assert ran.returncode == 1 and "malformed completion" in terminal and "[redacted]" in terminal
    assert_nowhere(tmp_path, db, "r", terminal, KEY)


def test_credentials_in_the_model_string_are_stored_nowhere(tmp_path):
    data = write_items(tmp_path / "Med-Exam.jsonl", 4)
    db = tmp_path / "runs.db"
    server = ChatServer(reply="答案：C", page=echo_page)
    with serve(server) as base_url:
        host = base_url.removeprefix("http://")
        model = f"openai/m?base_url=http://user:{PASSWORD}@{host}&max_retries=0"
        ran = subprocess.run(medgap("run", "-m", model, "--suite", data, "--db", db, "--run-id", "r",
                                    "--max-failures", "2", "-c", "1"),
                             env=environment(), cwd=tmp_path, check=False, capture_output=True, text=True, timeout=120)
    assert server.authorizations[0].startswith("Basic ")  # the credentials were used (and echoed back)
    assert_nowhere(tmp_path, db, "r", ran.stdout + ran.stderr, PASSWORD)


def assert_nowhere(tmp_path, db, run_id: str, terminal: str, secret: str) -> None:
    """Not on the terminal, in the database files, the export, `medgap runs` or the report."""
    env = environment()
    exported = subprocess.run(medgap("export", run_id, "--db", db), env=env, check=False, capture_output=True,
                              text=True, timeout=60)
    listed = subprocess.run(medgap("runs", "--db", db), env=env, check=False, capture_output=True, text=True,
                            timeout=60)
    report = subprocess.run(medgap("report", run_id, "--db", db, "-o", tmp_path / "report.html"), env=env,
                            check=False, capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0 and listed.returncode == 0 and report.returncode == 0, report.stderr
    assert "[redacted]" in exported.stdout
    for text in (terminal, exported.stdout, listed.stdout, listed.stderr):
        assert secret not in text
    assert (tmp_path / "report.html").exists()
    assert files_contain(tmp_path, secret) == []  # the database, its WAL, the report


def test_a_rejected_key_in_an_error_body_is_not_cut_in_half(tmp_path, monkeypatch):
    """Error bodies are cut at 300 characters: redaction comes first, so no prefix of the key survives."""
    from medgap.models.openai import snippet

    body = ("x" * 280 + f" Bearer {KEY} trailing").encode()
    assert KEY[:10] not in snippet(body)


def test_a_401_echo_is_redacted_in_the_terminal_and_the_rows(tmp_path):
    data = write_items(tmp_path / "Med-Exam.jsonl", 4)
    db = tmp_path / "runs.db"
    server = ChatServer(failures=[Failure(401, message=f"invalid key {KEY}")] * 10)
    with serve(server) as base_url:
        ran = subprocess.run(medgap("run", "-m", "openai/m", "--suite", data, "--db", db, "--base-url", base_url,
                                    "--max-failures", "2", "-c", "1"),
                             env=environment(OPENAI_API_KEY=KEY), cwd=tmp_path, check=False, capture_output=True,
                             text=True, timeout=120)
    assert ran.returncode == 1 and "HTTP 401" in ran.stderr
    assert KEY not in ran.stdout + ran.stderr and files_contain(tmp_path, KEY) == []


def test_one_redaction_masks_secret_fields_and_keeps_names_of_variables():
    from medgap.redact import MARK, redact_value

    config = {"backend": {"api_key": "abc", "api_key_env": "OPENAI_API_KEY", "timeout": 30,
                          "headers": {"Authorization": "xyz"}}, "note": "ok"}
    assert redact_value(config) == {"backend": {"api_key": MARK, "api_key_env": "OPENAI_API_KEY", "timeout": 30,
                                                "headers": {"Authorization": MARK}}, "note": "ok"}
