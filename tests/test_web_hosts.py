"""`medgap serve` and `medgap annotate` answer only requests addressed to the host they bound (no DNS
rebinding), and run ids containing "/" work in links."""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import quote

import pytest
from annotate_fixtures import build_run

from medgap.web.hosts import allowed_hosts, host_name


def get(port: int, path: str, host: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        connection.close()


def serving(app):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    return server, thread, server.servers[0].sockets[0].getsockname()[1]


@pytest.mark.parametrize("kind", ["serve", "annotate"])
def test_foreign_host_headers_are_refused(tmp_path, kind):
    db = tmp_path / "runs.db"
    run_id = "team/a-run"  # a "/" in the id
    build_run(db, run_id)
    if kind == "serve":
        from medgap.report.server import create_app

        app, path = create_app(db), "/runs/" + quote(run_id, safe="")
    else:
        from medgap.store import Store
        from medgap.web.annotate import create_app, prepare

        with Store(db) as store:
            prepare(store, run_id, annotators=2)
        app, path = create_app(db, run_id), "/"
    server, thread, port = serving(app)
    try:
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            status, page = get(port, path, host)
            assert status == 200, (host, page[:200])
        for host in (f"evil.example:{port}", "attacker.test", ""):
            status, page = get(port, path, host)
            assert status == 400 and "Host" in page, host
        if kind == "serve":
            status, index = get(port, "/", f"127.0.0.1:{port}")
            assert f'href="{path}"' in index
            assert get(port, path, f"127.0.0.1:{port}")[1].count(run_id) >= 1
    finally:
        server.should_exit = True
        thread.join(10)


def test_allowed_hosts_follow_the_bound_address():
    assert allowed_hosts("127.0.0.1") == {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts("192.168.1.5") == {"192.168.1.5"}
    assert allowed_hosts("0.0.0.0") is None  # every interface: the user chose to be reachable by any name
    assert host_name("[::1]:8765") == "::1" and host_name("Example.org:80") == "example.org"


def test_annotate_shows_the_links_of_a_run_whose_id_looks_like_markup(tmp_path, monkeypatch):
    import uvicorn
    from typer.testing import CliRunner

    from medgap.cli import load_commands

    db = tmp_path / "runs.db"
    build_run(db, "[/]")
    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options))
    result = CliRunner().invoke(load_commands(), ["annotate", "[/]", "--db", str(db), "--annotators", "2"])
    assert result.exit_code == 0, result.output
    assert "annotating run [/]:" in result.output and result.output.count("/#token=") == 3
    assert served["host"] == "127.0.0.1"
