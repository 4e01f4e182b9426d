"""The generated report in a real browser, offline: charts render, filters change the visible rows,
and HTML or script in a model response is shown as text and never runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from medgap.report import report_for_runs, write_report
from tests.helpers import CHROMIUM, LAUNCH_ARGS, choice_sample
from tests.test_report import INJECTED, fixture_responses, fixture_samples, write_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report_file(tmp_path_factory) -> Path:
    """A run with three option orders (so every chart has data) and enough rows for three pages."""
    from medgap.store import Store

    folder = tmp_path_factory.mktemp("report")
    samples = fixture_samples() + [
        choice_sample(f"extra{i}", answer="ABCD"[i % 4], task="physiology") for i in range(25)
    ]
    correct = {"k0", "k1", "s0"} | {f"extra{i}" for i in range(0, 25, 2)}
    with Store(folder / "runs.db") as store:
        write_run(
            store, "browser", "mock/browser", fixture_responses(samples, correct), samples, permutations=3
        )
        html = report_for_runs(store, ["browser"])
    return write_report(html, folder / "out" / "report.html")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, report_file):
    context = browser.new_context(offline=True)
    page = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}") if msg.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report_file.as_uri())
    page.wait_for_selector("#rows-body tr.row")
    yield page
    assert problems == [], problems
    assert [url for url in requests if not url.startswith("file://")] == []  # nothing fetched
    context.close()


def visible_rows(page) -> int:
    return page.locator("#rows-body tr.row").count()


def statuses(page) -> set[str]:
    return set(page.eval_on_selector_all("#rows-body tr.row", "rows => rows.map(r => r.dataset.status)"))


def test_charts_render(page):
    boxes = page.eval_on_selector_all("svg.chart", "els => els.map(e => e.getBoundingClientRect().width)")
    assert len(boxes) >= 4  # dimensions, robustness, positional bias, error categories
    assert all(width > 300 for width in boxes)
    assert page.locator("#robustness svg rect").count() > 0
    assert page.locator("#errors svg rect").count() > 0


def test_filters_change_the_visible_rows(page):
    total = page.evaluate("JSON.parse(document.getElementById('medgap-data').textContent).rows.length")
    assert total == 36 * 3
    assert visible_rows(page) == 50  # first page
    page.click("#next")
    page.click("#next")
    assert visible_rows(page) == total - 100

    wrong = page.evaluate(
        "JSON.parse(document.getElementById('medgap-data').textContent)"
        ".rows.filter(r => r.status === 'wrong').length"
    )
    assert 50 < wrong < total
    page.select_option("#f-status", "wrong")
    assert visible_rows(page) == 50 and statuses(page) == {"wrong"}  # back to the first page
    assert page.locator("#rows-count").inner_text().startswith(f"显示 1–50 / {wrong}")

    page.select_option("#f-status", "error")
    assert visible_rows(page) == 3 and statuses(page) == {"error"}  # k4 under three orders

    page.select_option("#f-status", "")
    page.select_option("#f-task", "ethics")
    assert visible_rows(page) == 9
    page.select_option("#f-dimension", "knowledge_qa")
    assert visible_rows(page) == 0 and "No rows match" in page.locator("#rows-body").inner_text()

    page.select_option("#f-task", "")
    page.select_option("#f-dimension", "")
    categories = page.eval_on_selector_all("#f-category option", "os => os.map(o => o.value).filter(v => v)")
    labelled = [c for c in categories if c != "__none__"]
    assert labelled, "the error taxonomy labelled no row"
    page.select_option("#f-category", labelled[0])
    shown = visible_rows(page)
    assert 0 < shown < total and statuses(page) <= {"wrong", "unanswered", "partial"}


def test_injected_markup_is_shown_as_text_and_never_runs(page):
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 2  # the data block and the page's own script
    page.fill("#f-search", "pwned")
    assert visible_rows(page) == 3  # the injected response under three orders
    row = page.locator("#rows-body tr.row").first
    assert INJECTED in row.inner_text()
    row.click()
    assert row.get_attribute("aria-expanded") == "true"
    assert "</script><script>window.__pwned=2</script>" in row.inner_text()  # the dataset's question, too
    assert page.evaluate("window.__pwned") is None
