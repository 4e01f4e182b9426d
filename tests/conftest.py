from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Real rows of each source in its own format, copied verbatim from the full data (see the SOURCE.md
# files there and tests/fixtures/make_fixtures.py). Tests never read anything outside the repository.
SOURCE_DATA = Path(__file__).resolve().parent / "fixtures" / "data"


@pytest.fixture(scope="session")
def source_data() -> Path:
    return SOURCE_DATA
