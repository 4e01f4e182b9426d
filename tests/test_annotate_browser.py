"""The annotation app in a real browser: three annotators label with mouse and keyboard, one closes
the tab midway and finds the labels kept, consensus and adjudication appear, HTML and script in a
model response are shown as text and never run, and a link without a valid token gets nothing."""

from __future__ import annotations

import pytest

from medgap.store import Store
from medgap.web.annotate import prepare
from tests.annotate_fixtures import RUN_ID, build_run, serve_app
from tests.helpers import CHROMIUM, LAUNCH_ARGS

KEYS = {
    "omission": "1",
    "hallucination": "2",
    "format_mismatch": "3",
    "causal_reasoning_deficiency": "4",
    "contextual_inconsistency": "5",
    "unanswered": "6",
    "output_error": "7",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sync_api():
    api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return api


@pytest.fixture(scope="module")
def browser(sync_api):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def served(tmp_path):
    db = build_run(tmp_path / "runs.db")
    with Store(db) as store:
        tokens = prepare(store, RUN_ID).tokens
    with serve_app(db) as base:
        yield base, tokens


class Person:
    """One annotator's browser context; collects page errors and console errors (CSP violations)."""

    def __init__(self, browser, base: str, token: str, expect) -> None:
        self.context = browser.new_context()
        self.link = f"{base}/#token={token}"
        self.expect = expect
        self.problems: list[str] = []
        self.page = None
        self.open()

    def open(self) -> None:
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on(
            "console",
            lambda msg: self.problems.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        self.page.goto(self.link)
        self.page.wait_for_selector("body[data-ready='true']", timeout=10_000)

    def at(self, position: int) -> None:
        self.expect(self.page.locator("#position")).to_have_text(f"{position} / 6")

    def key(self, category: str) -> None:
        self.page.keyboard.press(KEYS[category])
        self.expect(self.button(category)).to_have_attribute("aria-pressed", "true")

    def button(self, category: str):
        return self.page.locator(f"#categories button[data-key='{category}']")

    def next(self, position: int) -> None:
        self.page.keyboard.press("n")
        self.at(position)

    def label_all(self, categories: list[str]) -> None:
        for position, category in enumerate(categories, start=1):
            self.at(position)
            self.key(category)
            if position < len(categories):
                self.next(position + 1)

    def finish(self) -> None:
        self.page.click("#finish")
        self.page.click("#finish")  # the second click confirms
        self.expect(self.page.locator("#message")).to_contain_text("Finished")

    def status(self):
        return self.page.locator("#status")

    def close(self) -> None:
        self.context.close()
        assert self.problems == [], self.problems


def test_three_annotators_consensus_and_adjudication(browser, served, sync_api):
    expect = sync_api.expect
    base, tokens = served

    one = Person(browser, base, tokens["annotator1"], expect)
    one.at(1)
    page = one.page
    assert page.locator("#prelabel-box").is_hidden()  # hidden by default against anchoring
    page.keyboard.press("h")
    expect(page.locator("#prelabel-box")).to_be_visible()
    expect(page.locator("#prelabel")).to_contain_text("输出错误 Output Error")  # a bare wrong letter
    expect(page.locator("#prelabel")).to_contain_text("confidence high")
    page.keyboard.press("h")
    expect(page.locator("#prelabel-box")).to_be_hidden()
    expect(page.locator("#codebook")).to_contain_text("因果推理不足 Causal Reasoning Deficiency")
    expect(page.locator("#codebook")).to_contain_text("A bare wrong letter")  # the codebook's consequences
    one.button("hallucination").click()  # the mouse
    expect(one.button("hallucination")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#saved")).to_contain_text("Saved")
    one.next(2)
    one.key("unanswered")
    expect(page.locator("#progress")).to_contain_text("2 / 6 labelled")
    page.close()  # the tab is closed midway ...

    one.open()  # ... and opened again from the same link: it resumes at the first unlabelled item
    page = one.page
    one.at(3)
    page.keyboard.press("p")
    one.at(2)
    expect(one.button("unanswered")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#progress")).to_contain_text("2 / 6 labelled")
    one.next(3)

    # item 3 carries HTML and script in the question and the response: shown as text, never run
    expect(page.locator("#response")).to_contain_text('<script>window.__xss = "script"</script><img src=x')
    expect(page.locator("#question")).to_contain_text("<img src=x onerror=")
    assert page.locator("#item img, #item script, #item b").count() == 0
    assert page.evaluate("window.__xss") is None

    one.key("hallucination")
    for position, category in [(4, "omission"), (5, "omission"), (6, "output_error")]:
        one.next(position)
        one.key(category)
    page.keyboard.press("Shift+2")  # a secondary category from the keyboard
    expect(page.locator("#secondary input[data-key='hallucination']")).to_be_checked()
    expect(page.locator("#saved")).to_contain_text("输出错误 Output Error")
    one.finish()
    expect(page.locator("#reveal")).to_be_visible()
    expect(one.status()).to_contain_text("Pending")
    assert page.evaluate("window.__xss") is None

    two = Person(browser, base, tokens["annotator2"], expect)
    expect(two.page.locator("#saved")).to_have_text("Not labelled yet.")  # annotator1's labels are not shown
    assert two.page.locator("#reveal").is_hidden()
    two.label_all(
        ["hallucination", "unanswered", "contextual_inconsistency", "omission", "omission", "output_error"]
    )
    two.finish()

    three = Person(browser, base, tokens["annotator3"], expect)
    three.label_all(
        [
            "causal_reasoning_deficiency",
            "unanswered",
            "format_mismatch",
            "omission",
            "omission",
            "output_error",
        ]
    )
    three.finish()
    assert three.page.evaluate("window.__xss") is None

    one.page.reload()
    one.page.wait_for_selector("body[data-ready='true']")
    one.at(1)
    expect(one.status()).to_have_text("Consensus (majority): 幻觉 Hallucination")
    expect(one.page.locator("#others")).to_contain_text(
        "annotator3: 因果推理不足 Causal Reasoning Deficiency"
    )
    one.page.click("#item-list button[data-index='2']")
    one.at(3)
    expect(one.status()).to_have_text("No majority: needs adjudication.")
    assert one.button("omission").is_disabled()  # finished: labels locked

    judge = Person(browser, base, tokens["adjudicator"], expect)
    judge.at(3)  # opens on the item that needs adjudication
    expect(judge.page.locator("#others li")).to_have_count(3)
    expect(judge.page.locator("#agreement")).to_contain_text("Fleiss' κ")
    expect(judge.page.locator("#progress")).to_have_text("1 to adjudicate")
    judge.key("contextual_inconsistency")
    expect(judge.status()).to_have_text("Adjudicated: 上下文不一致 Contextual Inconsistency")
    expect(judge.page.locator("#progress")).to_have_text("0 to adjudicate")
    judge.page.keyboard.press("p")
    judge.at(2)
    assert judge.button("unanswered").is_disabled()  # agreed items need no adjudication
    assert judge.page.evaluate("window.__xss") is None

    one.page.click("#item-list button[data-index='2']")
    one.page.reload()
    one.page.wait_for_selector("body[data-ready='true']")
    one.page.click("#item-list button[data-index='2']")
    expect(one.status()).to_have_text("Adjudicated: 上下文不一致 Contextual Inconsistency")
    for person in (one, two, three, judge):
        person.close()


def test_a_link_without_a_valid_token_shows_nothing(browser, served, sync_api):
    base, _ = served
    context = browser.new_context()
    page = context.new_page()
    responses = []
    page.on("response", lambda response: responses.append((response.url, response.status)))
    page.goto(f"{base}/#token=forged-token")
    sync_api.expect(page.locator("#message")).to_contain_text("not valid (401)")
    assert page.locator("#app").is_hidden()
    assert page.locator("#response").inner_text() == ""
    assert (f"{base}/api/session", 401) in responses
    page.goto(f"{base}/")
    sync_api.expect(page.locator("#message")).to_contain_text("No token")
    context.close()
