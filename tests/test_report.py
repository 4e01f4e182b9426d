"""`medgap report`: the page holds what a reader relies on (numbers with CIs, charts, rows, the run
configuration), escapes every piece of model and dataset text, and leaves out what is not there."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request

import pytest
from typer.testing import CliRunner

from medgap.analysis.experiments import compare_runs
from medgap.analysis.metrics import summarize_run
from medgap.cli import COMMAND_MODULES
from medgap.cli.app import app
from medgap.kinds.base import Estimate
from medgap.records import Response, Row, RunConfig
from medgap.report import build_report, collect_run, report_for_runs, write_report
from medgap.report.collect import Comparison, paired_diffs, row_status
from medgap.report.page import script_json
from medgap.report.sections.errors import finding_card
from medgap.scoring import score
from medgap.solvers.permutations import attempts_for
from medgap.store import Store
from tests.helpers import choice_sample

INJECTED = "答案：B <img src=x onerror=window.__pwned=1><script>window.__pwned=1</script></script>"
EVIL_QUESTION = "下列哪项正确？</script><script>window.__pwned=2</script>"
SECRET = "sk-do-not-leak-123"


def answer_for(sample_id: str, correct: bool, gold: str) -> str:
    return f"答案：{gold}" if correct else f"答案：{'B' if gold != 'B' else 'C'}"


def write_run(
    store: Store,
    run_id: str,
    model: str,
    responses: dict[str, Response],
    samples,
    permutations=1,
    extra: dict | None = None,
) -> None:
    """Store a run the way the runner would, with the given response per sample id (same for every order)."""
    config = RunConfig(
        run_id=run_id,
        model=model,
        suite="fixture-suite",
        seed=7,
        permutations=permutations,
        prompts={"single": "请回答 <选择题> {question}"},
        versions={"medgap": "test"},
        generation={"temperature": 0.0, "max_tokens": 64},
        created="2025-01-02T03:04:05+00:00",
        extra={"backend": {"base_url": "http://localhost:1", "api_key": SECRET}, **(extra or {})},
    )
    store.save_run(config)
    store.save_samples(run_id, samples)
    store.write_rows(
        Row(
            run_id=run_id,
            sample_id=sample.id,
            permutation=attempt.permutation,
            task=sample.task,
            dimension=sample.dimension,
            kind=sample.kind,
            attempt=attempt,
            response=responses[sample.id],
            score=score(sample, attempt, responses[sample.id]),
        )
        for sample in samples
        for attempt in attempts_for(sample, permutations, config.seed)
    )


def fixture_samples():
    samples = [choice_sample(f"k{i}", answer="ABCD"[i % 4], task="anatomy") for i in range(6)]
    samples += [
        choice_sample(f"s{i}", answer="A", dimension="safety_ethics", task="ethics") for i in range(3)
    ]
    samples.append(choice_sample("evil", answer="B", task="anatomy"))
    samples[-1].question = EVIL_QUESTION
    ungraded = choice_sample("nogold", answer="A", task="anatomy")
    ungraded.gold = None
    samples.append(ungraded)
    return samples


def fixture_responses(samples, correct_ids: set[str]) -> dict[str, Response]:
    out = {}
    for s in samples:
        gold = "".join(s.gold.letters) if s.gold else "A"
        out[s.id] = Response(text=answer_for(s.id, s.id in correct_ids, gold))
    out["evil"] = Response(text=INJECTED)
    out["k4"] = Response(error="HTTP 500 after 5 retries")
    out["k5"] = Response(text="抱歉，我无法回答这个问题。")
    return out


def make_store(path, permutations=1) -> Store:
    """A store with run "r1": right on k0, k1, s0, s1; wrong on k2, k3, s2; the injected response on
    "evil" (scored right: it answers B); k4 failed; k5 refused; "nogold" has no gold."""
    store = Store(path)
    samples = fixture_samples()
    write_run(
        store,
        "r1",
        "mock/fixture",
        fixture_responses(samples, {"k0", "k1", "s0", "s1"}),
        samples,
        permutations=permutations,
    )
    return store


def data_block(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="medgap-data">(.*?)</script>', html, re.DOTALL)
    assert match, "rows data block missing"
    return json.loads(match.group(1))


@pytest.fixture
def store(tmp_path):
    store = make_store(tmp_path / "runs.db")
    yield store
    store.close()


def test_model_and_dataset_text_is_escaped_everywhere(store):
    html = report_for_runs(store, ["r1"])
    assert "<img src=x" not in html
    assert "<script>window.__pwned" not in html
    assert html.count("</script>") == 2  # the data block and the page script, nothing injected
    rows = {r["id"]: r for r in data_block(html)["rows"]}
    assert rows["evil"]["response"] == INJECTED  # kept verbatim, shown as text by the script
    assert rows["evil"]["question"] == EVIL_QUESTION
    assert "&lt;选择题&gt;" in html  # prompts in the configuration are escaped too


def test_script_json_cannot_close_its_script_block():
    text = script_json({"x": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"x": "</script><!-- & \u2028"}


def test_page_is_self_contained(store):
    html = report_for_runs(store, ["r1"])
    assert not re.search(r"<(?:script|img|link|iframe)[^>]*\s(?:src|href)=", html)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert html.count("<svg") >= 2  # dimension chart and positional bias at least


def test_headline_numbers_come_with_confidence_intervals(store):
    accuracy = summarize_run(store, "r1").overall.metrics["accuracy"]
    assert accuracy.value is not None and accuracy.ci_low is not None and accuracy.ci_high is not None
    html = report_for_runs(store, ["r1"])
    overview = html.split('id="overview"')[1].split("</section>")[0]
    assert f"{accuracy.value * 100:.1f}%" in overview
    assert f"95% CI {accuracy.ci_low * 100:.1f}% – {accuracy.ci_high * 100:.1f}%" in overview
    assert "Failed calls" in overview and 'class="card warn"' in overview  # one call failed
    assert "Tokens" not in overview  # the fixture backend reports no usage


def test_overview_shows_the_tokens_the_backend_reported(tmp_path):
    samples = [choice_sample(f"k{i}") for i in range(4)]
    responses = {s.id: Response(text="答案：A", prompt_tokens=1200, completion_tokens=30, latency_s=0.5)
                 for s in samples}
    with Store(tmp_path / "runs.db") as store:
        write_run(store, "r1", "openai/x", responses, samples)
        overview = report_for_runs(store, ["r1"]).split('id="overview"')[1].split("</section>")[0]
    assert "Tokens" in overview and ">4,920<" in overview and "4,800 prompt + 120 completion" in overview
    assert "p50 0.5 s" in overview


def test_each_row_carries_its_correctness(store):
    rows = {r["id"]: r for r in data_block(report_for_runs(store, ["r1"]))["rows"]}
    assert rows["k0"]["status"] == "correct" and rows["k0"]["score"] == 1.0
    assert rows["k2"]["status"] == "wrong" and rows["k2"]["extracted"] == "B"
    assert rows["k4"]["status"] == "error" and rows["k4"]["error"].startswith("HTTP 500")
    assert rows["k5"]["status"] == "unanswered"
    assert rows["nogold"]["status"] == "ungraded" and rows["nogold"]["gold"] == ""
    assert rows["k2"]["gold"] == "C" and "A. k2 选项内容 A" in rows["k2"]["options"]


def test_wrong_rows_get_an_error_category_and_a_stacked_chart(store):
    run = collect_run(store, "r1")
    categories = {r["id"]: r["category"] for r in run.rows}
    assert categories["k2"] and categories["k5"]  # wrong and unanswered rows are labelled
    assert categories["k0"] is None  # right rows are not
    assert sum(sum(c.values()) for c in run.error_counts.values()) == sum(1 for c in categories.values() if c)
    html = build_report([run])
    assert 'id="errors"' in html and "Error categories per dimension" in html


def test_sections_without_data_leave_a_note(tmp_path):
    with Store(tmp_path / "runs.db") as store:
        samples = fixture_samples()[:9]
        right = {s.id: Response(text=f"答案：{''.join(s.gold.letters)}") for s in samples}
        write_run(store, "perfect", "mock/perfect", right, samples)
        html = report_for_runs(store, ["perfect"])
    assert 'id="errors"' not in html and 'id="diagnosis"' not in html
    notes = html.split('id="missing"')[1].split("</section>")[0]
    assert "no wrong or partially correct rows to label" in notes
    assert "no failure signature" in notes
    assert data_block(html)["categories"] == {}


def test_diagnosis_findings_of_the_run_are_shown(tmp_path):
    with make_store(tmp_path / "three.db", permutations=3) as store:
        run = collect_run(store, "r1")
    signatures = [finding["signature"] for finding in run.diagnosis]
    assert "answers change with the option order" in signatures and "diagnosis" not in run.notes
    section = build_report([run]).split('id="diagnosis"')[1].split("</section>")[0]
    assert "<h4>answers change with the option order</h4>" in section
    assert "<li>vote</li>" in section  # the interventions to try, by name


def test_robustness_and_position_sections_need_several_orders(tmp_path):
    with make_store(tmp_path / "one.db") as single:
        html = report_for_runs(single, ["r1"])
    assert 'id="robustness"' not in html and "--permutations 3" in html
    with make_store(tmp_path / "three.db", permutations=3) as three:
        html = report_for_runs(three, ["r1"])
        robustness = summarize_run(three, "r1").overall.value("robustness") or 0.0
    section = html.split('id="robustness"')[1].split("</section>")[0]
    assert "<svg" in section and "Robustness" in section
    assert f"{robustness * 100:.1f}%" in section
    position = html.split('id="position"')[1].split("</section>")[0]
    assert "第1位" in position and "χ²" in position


def test_configuration_is_there_to_reproduce_the_run_and_secrets_are_not(store):
    html = report_for_runs(store, ["r1"])
    config = html.split('id="config"')[1].split("</section>")[0]
    for expected in (
        "mock/fixture",
        "fixture-suite",
        "2025-01-02T03:04:05+00:00",
        "medgap test",
        "temperature",
    ):
        assert expected in config
    assert "medgap run --model mock/fixture --suite fixture-suite --seed 7 --permutations 1" in config
    assert SECRET not in html and "[redacted]" in config


def test_several_runs_give_a_ranked_leaderboard_and_side_by_side_charts(tmp_path):
    with make_store(tmp_path / "runs.db") as store:
        samples = fixture_samples()
        write_run(
            store, "strong", "mock/strong", fixture_responses(samples, {s.id for s in samples}), samples
        )
        html = report_for_runs(store, ["r1", "strong"])
    board = html.split('id="leaderboard"')[1].split("</section>")[0]
    assert board.index("<code>strong</code>") < board.index("<code>r1</code>")
    dims = html.split('id="dimensions"')[1].split("</section>")[0]
    assert "mock/strong" in dims and "mock/fixture" in dims  # one series per run in the legend
    assert dims.count('class="run-block"') == 2  # a table per run
    errors = html.split('id="errors"')[1].split("</section>")[0]
    assert errors.count('class="panel"') == 2 and 'viewBox="0 0 560' in errors  # side by side, narrower
    assert {r["run"] for r in data_block(html)["rows"]} == {"r1", "strong"}
    assert 'id="f-run"' in html


def test_comparison_shows_paired_differences_with_intervals(store):
    result = {
        "overall": {},
        "dimensions": {
            "knowledge_qa": {
                "accuracy": {
                    "a": 0.5,
                    "b": 0.75,
                    "diff": 0.25,
                    "ci_low": 0.05,
                    "ci_high": 0.45,
                    "p_value": 0.012,
                    "test": "mcnemar <exact>",
                    "a_only": 1,
                    "b_only": 4,
                }
            }
        }
    }
    diffs = paired_diffs(result)
    assert diffs[0]["label"] == ["knowledge_qa", "accuracy"]
    run = collect_run(store, "r1")
    html = build_report([run], Comparison(a="r1", b="r1", diffs=diffs))
    section = html.split('id="compare"')[1].split("</section>")[0]
    assert "+25.0 pp" in section and "[+5.0, +45.0]" in section and "0.012" in section
    assert "医学知识问答 · 准确率" in section and "Knowledge QA · Accuracy" in section
    assert "mcnemar &lt;exact&gt;" in section and "<svg" in section


def test_compare_of_two_stored_runs_shows_their_paired_differences(tmp_path):
    with make_store(tmp_path / "runs.db") as store:
        samples = fixture_samples()
        write_run(store, "b", "mock/b", fixture_responses(samples, {s.id for s in samples}), samples)
        html = report_for_runs(store, ["r1", "b"], compare=True)
        result = compare_runs(store, "r1", "b")
        with pytest.raises(ValueError, match="exactly two runs"):
            report_for_runs(store, ["r1"], compare=True)
    expected = result["overall"]["accuracy"]
    section = html.split('id="compare"')[1].split("</section>")[0]
    overall = re.search(r"<tr><td>总体 · 准确率.*?</tr>", section)
    assert overall, "no row for overall accuracy"
    assert f"{expected['diff'] * 100:+.1f} pp" in overall.group(0) and expected["diff"] > 0
    assert f"[{expected['ci_low'] * 100:+.1f}, {expected['ci_high'] * 100:+.1f}]" in overall.group(0)
    assert "医学知识问答 · 准确率" in section and "mcnemar_exact" in section
    assert f"the {result['items']} items both answered" in section and result["items"] == len(samples)


def test_compare_of_runs_without_shared_items_is_an_error(tmp_path):
    with make_store(tmp_path / "runs.db") as store:
        other = [choice_sample("x1", answer="A", task="anatomy")]
        write_run(store, "other", "mock/other", {"x1": Response(text="答案：A")}, other)
        with pytest.raises(ValueError, match="no items in common"):
            report_for_runs(store, ["r1", "other"], compare=True)


def test_findings_of_any_shape_are_escaped():
    card = finding_card(
        {"title": "<b>弱项</b>", "dimension": "safety_ethics", "interventions": ["<i>cot</i>"]}
    )
    assert "&lt;b&gt;弱项&lt;/b&gt;" in card and "医疗安全和伦理" in card and "&lt;i&gt;cot&lt;/i&gt;" in card
    assert "<b>" not in card and "<i>" not in card


def test_row_status_separates_partial_from_wrong(store):
    row = store.rows("r1")[0]
    row.score.value = 0.5
    assert row_status(row) == "partial"


def test_write_report_creates_parent_folders(tmp_path):
    path = write_report("<html></html>", tmp_path / "a" / "b" / "report.html")
    assert path.read_text(encoding="utf-8") == "<html></html>"


def test_cli_writes_the_report_and_reports_unknown_runs(tmp_path):
    make_store(tmp_path / "runs.db").close()
    assert "report" in COMMAND_MODULES
    import medgap.cli.report  # noqa: F401  (registers the commands)

    runner = CliRunner()
    out = tmp_path / "reports" / "nested" / "r1.html"
    result = runner.invoke(app, ["report", "r1", "--db", str(tmp_path / "runs.db"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and "mock/fixture" in out.read_text(encoding="utf-8")
    result = runner.invoke(app, ["report", "nope", "--db", str(tmp_path / "runs.db"), "-o", str(out)])
    assert result.exit_code == 1 and "no run 'nope'" in result.output
    result = runner.invoke(
        app, ["report", "r1", "--compare", "--db", str(tmp_path / "runs.db"), "-o", str(out)]
    )
    assert result.exit_code == 1 and "exactly two runs" in result.output


def test_max_rows_caps_the_table_and_says_so(store):
    run = collect_run(store, "r1", max_rows=3)
    assert len(run.rows) == 3 and run.rows_total == 11
    assert "first 3 of 11 rows" in build_report([run])


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def test_serve_lists_runs_and_builds_reports(tmp_path):
    import uvicorn

    from medgap.report.server import create_app

    make_store(tmp_path / "runs.db").close()
    server = uvicorn.Server(
        uvicorn.Config(create_app(tmp_path / "runs.db"), host="127.0.0.1", port=0, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://127.0.0.1:{port}"
        status, index = fetch(base + "/")
        assert status == 200 and 'href="/runs/r1"' in index and "mock/fixture" in index
        status, page = fetch(base + "/runs/r1")
        assert status == 200 and "<svg" in page and "<img src=x" not in page
        assert fetch(base + "/runs/missing")[0] == 404
        assert fetch(base + "/report?run=r1&compare=true")[0] == 400
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_open_ended_scores_and_diagnosis_render_when_present(store):
    run = collect_run(store, "r1")
    recall = Estimate(value=0.625, n=4, ci_low=0.5, ci_high=0.75)
    run.summary.tasks["anatomy"].metrics.update({"macro_recall": recall, "rouge_l": Estimate(value=0.41, n=4)})
    run.summary.overall.metrics["macro_recall"] = recall
    run.summary.tasks["ethics"].metrics.update(
        {"record_recall": Estimate(value=0.3, n=2), "section_coverage": Estimate(value=0.9, n=2)})
    run.diagnosis = [
        {"title": "安全伦理薄弱", "dimension": "safety_ethics", "interventions": ["safety_reminder"]}
    ]
    html = build_report([run])
    section = html.split('id="open"')[1].split("</section>")[0]
    assert "<svg" in section and "62.5%" in section and "41.0%" in section and "anatomy" in section
    records = section.split("<h4>Medical records</h4>")[1]  # a chart per kind of task, with its own tasks
    assert "30.0%" in records and "90.0%" in records and "anatomy" not in records
    assert "95% CI 50.0% – 75.0%" in html.split('id="overview"')[1].split("</section>")[0]
    diagnosis = html.split('id="diagnosis"')[1].split("</section>")[0]
    assert "安全伦理薄弱" in diagnosis and "safety_reminder" in diagnosis


def test_answer_settings_and_close_calls_are_shown(tmp_path):
    from medgap.records import AnswerSettings

    samples = [choice_sample(f"q{i}", answer="A") for i in range(3)]
    margins = {"q0": {"A": -0.70, "B": -0.75}, "q1": {"A": -0.1, "B": -3.0}, "q2": {"B": -0.2, "A": -0.25}}
    with Store(tmp_path / "runs.db") as store:
        write_run(store, "lp", "local/default", {k: Response(text="", logprobs=v) for k, v in margins.items()}, samples)
        config = store.run_config("lp")
        config.answer_settings = AnswerSettings(
            choice_mode="logprobs", temperature=0.0, top_p=1.0, max_tokens=64, repeat_penalty=1.0, seed=0,
            system_prompt="You are <Qwen>.", system_prompt_source="chat template default", assistant_prefix="答案：",
            model="m.gguf sha256:abc", backend="llama-cpp-python 0.3.36")
        store.save_run(config)
        html = report_for_runs(store, ["lp"])
    section = html.split('id="config"')[1].split("</section>")[0]
    assert "Answer setting: system prompt" in section and "You are &lt;Qwen&gt;." in section
    assert "Answer setting: assistant prefix" in section and "答案：" in section and "sha256:abc" in section
    overview = html.split('id="overview"')[1].split("</section>")[0]
    assert "Close calls" in overview and "of 3 rows decided by log-probabilities" in overview
    assert re.search(r'card-value">2<', overview)  # q0 and q2: 0.05 nats apart
