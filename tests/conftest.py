from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Real rows of each source in its own format, copied verbatim from the full data (see the SOURCE.md
# files there and tools/make_fixtures.py). Tests never read anything outside the repository.
SOURCE_DATA = Path(__file__).resolve().parent / "fixtures" / "data"


@pytest.fixture(scope="session")
def source_data() -> Path:
    return SOURCE_DATA


@pytest.fixture(scope="session")
def postgres_server():
    """URL of a PostgreSQL server for the store tests: $MEDGAP_TEST_POSTGRES (.ci/run starts one), else a
    throwaway cluster started here; skips with the reason when neither is possible."""
    import os

    from tests import postgres_cluster

    pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed (pip install 'medgap[distributed]')")
    url = os.environ.get(postgres_cluster.ENV)
    if url:
        yield url
        return
    reason = postgres_cluster.why_unavailable()
    if reason:
        pytest.skip(reason)
    url, folder = postgres_cluster.start()
    try:
        yield url
    finally:
        postgres_cluster.stop(folder)


@pytest.fixture
def pg_url(postgres_server):
    """A fresh, empty database on the test server for one test (dropped afterwards)."""
    import uuid

    import psycopg

    name = f"medgap_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
