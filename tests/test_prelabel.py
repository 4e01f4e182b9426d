"""Pre-labels of wrong answers: each rule on realistic responses, the documented low-confidence
default, the judge model (a real HTTP endpoint), stored labels reused, consensus preferred, and the
`medgap errors` distribution."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import medgap.cli.annotate  # registers `annotate` on the app
import medgap.cli.errors  # noqa: F401  (registers `errors`)
from medgap.analysis.errors import error_distribution, is_wrong, label_run, load_error_labels, row_digest
from medgap.analysis.prelabel_judge import parse_error_verdict
from medgap.analysis.prelabel_rules import rule_label
from medgap.analysis.reply_signs import garbled, looping
from medgap.analysis.taxonomy import CATEGORIES, CATEGORY_KEYS, ErrorLabel, codebook
from medgap.cli.app import app
from medgap.models.base import Model, ModelRequest
from medgap.records import Gold, Response
from medgap.store import Store
from medgap.store.annotations import AnnotationStore, HumanLabel
from tests.annotate_fixtures import RUN_ID, build_run, choice, open_item, row_for
from tests.servers import ChatServer, serve

REFUSAL = "抱歉，我无法回答这个问题，请咨询专业医生。"


def label(sample, text, **row):
    """The rule label of `text` as the answer to `sample`, in a run capped at 512 tokens."""
    return rule_label(row_for(sample, text, **row), sample, max_tokens=512)


# ------------------------------------------------------------------------------------ codebook
def test_codebook_has_the_eight_categories_with_definitions_rules_and_chinese_examples():
    assert CATEGORY_KEYS == (
        "omission",
        "hallucination",
        "format_mismatch",
        "causal_reasoning_deficiency",
        "contextual_inconsistency",
        "unanswered",
        "output_error",
        "medical_language_generation_deficiency",
    )
    assert [c.name_zh for c in CATEGORIES] == [
        "遗漏",
        "幻觉",
        "格式不符",
        "因果推理不足",
        "上下文不一致",
        "未回答",
        "输出错误",
        "医学语言生成缺陷",
    ]
    for entry in codebook():
        assert entry["definition"] and entry["decision_rule"] and entry["definition_zh"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in entry["example_zh"])
    assert [e["shortcut"] for e in codebook()] == [str(i) for i in range(1, 9)]
    with pytest.raises(ValueError, match="unknown error category"):
        ErrorLabel(category="knowledge_error")


# ------------------------------------------------------------------------------- unanswered
def test_a_refusal_without_a_letter_is_unanswered():
    result = label(choice("q", "C"), REFUSAL)
    assert (result.category, result.confidence, result.rule) == ("unanswered", "high", "no_letter_refusal")


def test_a_hedge_naming_no_option_is_unanswered_with_medium_confidence():
    result = label(choice("q", "C"), "根据题干信息，需要结合临床进一步评估，目前尚不能下结论。")
    assert (result.category, result.confidence) == ("unanswered", "medium")


def test_a_short_refusal_to_an_open_question_is_unanswered():
    sample = open_item("o", ["嵌顿性腹股沟斜疝", "急诊手术"])
    result = label(
        sample,
        "作为AI，我无法提供诊断，请咨询专业医生。",
        value=0.0,
        details={"missed": ["嵌顿性腹股沟斜疝", "急诊手术"], "covered": [False, False], "recall": 0.0},
    )
    assert result.category == "unanswered" and "omission" in result.secondary


def test_an_answer_ending_with_advice_to_see_a_doctor_is_not_a_refusal():
    sample = open_item("o", ["嵌顿性腹股沟斜疝", "急诊手术"])
    result = label(
        sample,
        "考虑嵌顿性腹股沟斜疝，建议咨询专业医生。",
        value=0.5,
        details={"missed": ["急诊手术"], "covered": [True, False], "recall": 0.5},
    )
    assert result.category == "omission" and "unanswered" not in result.secondary


# -------------------------------------------------------------------------- format mismatch
def test_prose_naming_one_option_without_its_letter_is_format_mismatch():
    result = label(choice("q", "C"), "血电解质的变化对评估肝硬化患者的预后意义不大。")
    assert (result.category, result.confidence) == ("format_mismatch", "high")
    assert "C" in result.rationale


def test_several_letters_on_a_single_answer_item_is_format_mismatch():
    result = label(choice("q", "C"), "答案：AC", extracted="AC")
    assert result.category == "format_mismatch" and result.rule == "several_letters"


def test_a_parse_error_reported_by_the_extraction_scorer_is_format_mismatch():
    sample = open_item("e", ["甲硝唑"], dimension="language_understanding", kind="extraction")
    result = label(sample, "药物有甲硝唑，剂量每次0.4g。", details={"parse_error": "no JSON array found"})
    assert (result.category, result.confidence) == ("format_mismatch", "high")


def test_a_refusal_the_extraction_scorer_could_not_parse_is_unanswered():
    sample = open_item(
        "ner", ["幽门螺杆菌（微生物类）"], dimension="language_understanding", kind="extraction"
    )
    details = {
        "format_error": True,
        "parse_error": "no entities found in any known layout",
        "tp": 0,
        "fp": 0,
        "fn": 5,
    }
    assert label(sample, REFUSAL, details=details).category == "unanswered"
    prose = label(sample, "文中提到了幽门螺杆菌感染，需要根除治疗。", details={"format_error": True, "fn": 1})
    assert (prose.category, prose.rule) == ("format_mismatch", "format_error")


def test_the_expected_term_buried_in_prose_is_format_mismatch():
    sample = choice("f", "A").model_copy(
        update={"kind": "fill", "options": {}, "gold": Gold(text="0.1～0.3g")}
    )
    result = label(
        sample, "根据药典，附子的用量一般为0.1～0.3g，需先煎久煎以降低毒性。", value=0.0, details={}
    )
    assert result.category == "format_mismatch" and result.rule == "term_in_prose"


def test_a_record_written_as_prose_without_its_sections_is_format_mismatch():
    sample = open_item(
        "r",
        ["腹痛3天"],
        dimension="language_generation",
        kind="record",
        structure={"主诉": "腹痛3天", "现病史": "……", "初步诊断": "急性阑尾炎"},
    )
    result = label(
        sample,
        "病人肚子疼了三天，考虑阑尾炎，建议手术。",
        value=0.4,
        details={"missed": ["腹痛3天"], "covered": [False], "recall": 0.0},
    )
    assert result.category == "format_mismatch" and "omission" in result.secondary
    ok = label(
        sample,
        "主诉：腹痛3天。现病史：……初步诊断：急性阑尾炎。",
        value=0.4,
        details={"missed": ["腹痛3天"], "covered": [False], "recall": 0.0},
    )
    assert ok.category == "omission"


# ------------------------------------------------------------------------------ output error
def test_an_empty_response_is_unanswered():
    """ERROR_CODEBOOK.md: an empty reply is Unanswered (not an Output Error), for every kind."""
    result = label(choice("q", "A"), "  \n")
    assert (result.category, result.rule, result.confidence) == ("unanswered", "empty_reply", "high")
    sample = open_item("o", ["急诊手术"])
    empty_open = label(sample, "", value=0.0, details={"missed": ["急诊手术"], "covered": [False], "recall": 0.0})
    assert empty_open.category == "unanswered"


def test_a_response_cut_at_the_token_limit_before_any_answer_is_an_output_error():
    result = label(
        choice("q", "A"), "首先分析各个选项：A项腹水是肝硬化失代偿期的表现，", completion_tokens=512
    )
    assert (result.category, result.rule) == ("output_error", "truncated")
    # an open answer cut off after it had answered is judged on its content; the cut is secondary
    sample = open_item("o", ["嵌顿性腹股沟斜疝", "急诊手术"])
    after = label(sample, "诊断为嵌顿性腹股沟斜疝。治疗上", value=0.5, completion_tokens=512,
                  details={"covered": [True, False], "missed": ["急诊手术"], "recall": 0.5})
    assert after.category == "omission" and "output_error" in after.secondary
    below = label(
        choice("q", "A"), "首先分析各个选项：A项腹水是肝硬化失代偿期的表现，", completion_tokens=100
    )
    assert below.category != "output_error"


@pytest.mark.parametrize(
    "text",
    [
        "患者应考虑" + "考虑" * 30,
        "诊断：急性阑尾炎。\n" + "建议完善血常规、腹部超声检查。\n" * 8,
        "答案是" + "A。B。C。D。" * 10,
    ],
)
def test_looping_text_is_an_output_error(text):
    assert looping(text)
    assert label(choice("q", "A"), text).category == "output_error"


@pytest.mark.parametrize(
    "text", ["诊断为\ufffd\ufffd\ufffd性肝炎", "锟斤拷锟斤拷锟斤拷", "Ã¨Â¯Å Ã¦â€“Â­Ã¯Â¼Å¡Ã¨â€šÂºÃ§â€šÅ½"]
)
def test_garbled_text_is_an_output_error(text):
    assert garbled(text)
    assert label(choice("q", "A"), text).rule == "garbled"


def test_an_english_answer_to_a_chinese_open_question_is_an_output_error():
    sample = open_item("o", ["急诊手术"])
    result = label(
        sample,
        "The patient most likely has an incarcerated inguinal hernia and needs surgery.",
        value=0.5,
        details={"missed": ["急诊手术"], "covered": [False], "recall": 0.0},
    )
    assert (result.category, result.rule) == ("output_error", "wrong_language")


def test_real_reference_answers_are_not_taken_for_loops_or_garbage(source_data):
    """No false alarms on real clinical prose, enumerations and all (CMB-Clin reference answers)."""
    cases = json.loads((source_data / "cmb_clin" / "CMB-test-qa.json").read_text(encoding="utf-8"))
    answers = [pair["answer"] for case in cases for pair in case["QA_pairs"]]
    assert len(answers) > 100
    assert [a[:40] for a in answers if looping(a) or garbled(a)] == []


# ---------------------------------------------------------------------------------- omission
def test_missed_key_points_are_an_omission_listing_what_was_missed():
    sample = open_item("o", ["嵌顿性腹股沟斜疝", "肠梗阻", "急诊手术"])
    result = label(
        sample,
        "诊断为嵌顿性腹股沟斜疝。",
        value=1 / 3,
        details={"covered": [True, False, False], "missed": ["肠梗阻", "急诊手术"], "recall": 1 / 3},
    )
    assert (result.category, result.confidence) == ("omission", "high")
    assert "2 of 3" in result.rationale and "肠梗阻" in result.rationale


def test_a_strict_subset_of_the_gold_letters_is_an_omission():
    result = label(choice("m", "ACD", kind="multi"), "答案：AC", extracted="AC")
    assert (result.category, result.rule) == ("omission", "subset_of_gold")


def test_wrong_and_missing_letters_put_omission_second():
    result = label(choice("m", "ACD", kind="multi"), "答案：AB", extracted="AB")
    assert result.category == "output_error" and result.secondary == ["omission"]


# ----------------------------------------------------------------------------- hallucination
def test_spans_flagged_by_the_record_scorer_are_hallucination():
    sample = open_item("r", ["腹痛3天"], dimension="language_generation", kind="record")
    covered = label(
        sample,
        "主诉：腹痛3天，伴发热39℃。",
        value=0.8,
        details={"covered": [True], "missed": [], "recall": 1.0, "hallucinated": ["发热39℃"]},
    )
    assert (covered.category, covered.confidence) == ("hallucination", "medium")
    missed = label(
        sample,
        "主诉：发热39℃。",
        value=0.2,
        details={"covered": [False], "missed": ["腹痛3天"], "recall": 0.0, "hallucinated": ["发热39℃"]},
    )
    assert missed.category == "omission" and missed.secondary == ["hallucination"]


# ----------------------------------------------------------------------- committed wrong answers
@pytest.mark.parametrize("text", ["B", "答案：B", "答案：B。", "正确答案是（B）", "选B"])
def test_a_bare_wrong_letter_is_an_output_error_not_a_hallucination(text):
    """ERROR_CODEBOOK.md: a bare wrong letter states no false fact, whatever the dimension."""
    for sample in (choice("q", "A"), choice("q", "A", dimension="complex_reasoning"),
                   choice("q", "A", dimension="language_understanding", context="患者既往有青霉素过敏史。")):
        result = label(sample, text, extracted="B")
        assert (result.category, result.confidence, result.rule) == ("output_error", "high", "bare_wrong_option")
        assert "B" in result.rationale  # cites the response


def test_a_wrong_letter_argued_with_false_facts_is_a_hallucination():
    text = "青霉素属于大环内酯类抗生素，可用于支原体肺炎，故答案：B"
    result = label(choice("q", "A"), text, extracted="B")
    assert (result.category, result.rule) == ("hallucination", "argued_wrong_option")
    assert "大环内酯" in result.rationale


def test_reasoning_that_endorses_one_option_and_answers_another_is_contextual_inconsistency():
    text = "分析：A项正确，肝硬化失代偿期可出现腹水；B项为代偿期表现。答案：B"
    result = label(choice("q", "A"), text, extracted="B")
    assert (result.category, result.rule) == ("contextual_inconsistency", "concludes_against_reasoning")


def test_a_wrong_letter_reasoned_from_a_case_is_a_causal_reasoning_guess():
    text = "患者发热、右下腹压痛，发热提示病毒感染，故选B。"
    result = label(choice("q", "A", dimension="complex_reasoning"), text, extracted="B")
    assert (result.category, result.confidence) == ("causal_reasoning_deficiency", "low")


def test_a_wrong_fill_term_states_a_false_fact():
    sample = choice("f", "A").model_copy(
        update={"kind": "fill", "options": {}, "gold": Gold(text="0.1～0.3g")}
    )
    details = {"facts": ["0.1～0.3g"], "found": [False], "missed": ["0.1～0.3g"]}  # as the fill scorer writes
    result = label(sample, "3～9g", value=0.0, details=details)
    assert (result.category, result.rule) == ("hallucination", "wrong_term") and "3～9g" in result.rationale


def test_a_fill_answer_with_some_facts_missing_is_an_omission():
    sample = choice("f", "A").model_copy(
        update={"kind": "fill", "options": {}, "gold": Gold(text="有大毒；0.1～0.3g")}
    )
    details = {"facts": ["有大毒", "0.1～0.3g"], "found": [True, False], "missed": ["0.1～0.3g"]}
    assert label(sample, "有大毒", value=0.0, details=details).category == "omission"


def test_an_open_answer_covering_every_point_but_scored_low_is_a_language_deficiency():
    sample = open_item("o", ["腹痛3天"], dimension="language_generation")
    result = label(
        sample, "病人肚子疼了三天。", value=0.6, details={"covered": [True], "missed": [], "recall": 1.0}
    )
    assert (result.category, result.confidence) == ("medical_language_generation_deficiency", "low")


def test_which_rows_count_as_wrong():
    sample = open_item("o", ["腹痛"])
    assert is_wrong(row_for(sample, "x", value=0.5))
    assert is_wrong(row_for(sample, "x", value=1.0, details={"recall": 0.5}))
    assert not is_wrong(row_for(sample, "x", value=1.0, details={"recall": 1.0}))
    assert not is_wrong(row_for(sample, "", value=None, error="HTTP 500 after 5 retries"))
    assert not is_wrong(row_for(sample, "x", value=None))  # ungraded


# ------------------------------------------------------------------------------------ judge
def test_judge_replies_are_parsed_strictly():
    assert parse_error_verdict(
        '```json\n{"category": "幻觉", "secondary": ["omission", "bogus"], "rationale": "剂量错误"}\n```'
    ) == ("hallucination", ["omission"], "剂量错误")
    assert (
        parse_error_verdict('分析如下：{"category": "Causal Reasoning Deficiency", "rationale": "推理链断裂"}')[
            0
        ]
        == "causal_reasoning_deficiency"
    )
    assert parse_error_verdict(  # a reasoning judge's drafts inside <think> are not its verdict
        '<think>也许是 {"category": "omission"}？</think>{"category": "hallucination", "rationale": "剂量错误"}'
    ) == ("hallucination", [], "剂量错误")
    assert parse_error_verdict('{"category": "knowledge_error"}') is None
    assert parse_error_verdict("我认为是幻觉") is None
    assert (
        parse_error_verdict('{"category": "omission", "rationale": "' + "很长" * 300 + '"}')[2].__len__() <= 200
    )


class ScriptedJudge(Model):
    def __init__(self, reply: str) -> None:
        super().__init__("scripted")
        self.reply, self.asked = reply, []

    async def generate(self, request: ModelRequest) -> Response:
        self.asked.append(request.sample.id)
        assert "codebook" in request.messages[0].content and "【模型回答】" in request.messages[1].content
        return Response(text=self.reply)


def test_the_judge_labels_only_rows_without_strong_evidence_and_is_not_asked_twice(tmp_path):
    db = build_run(tmp_path / "runs.db")
    judge = ScriptedJudge(
        '{"category": "contextual_inconsistency", "secondary": [], "rationale": "与题干矛盾"}'
    )
    with Store(db) as store:
        report = label_run(store, RUN_ID, judge=judge)
        assert judge.asked == ["k3"]  # the one wrong letter argued in text (a bare one is certain)
        assert (report.judged, report.ruled) == (1, 6)
        labels = load_error_labels(store, RUN_ID)
        assert labels[("k3", 0)].source == "judge" and labels[("k3", 0)].rationale == "与题干矛盾"
        assert labels[("k3", 0)].rule == "judge:scripted"
        assert labels[("k1", 0)].source == "rule" and labels[("k1", 0)].category == "output_error"
        assert labels[("k2", 0)].source == "rule"  # mechanical evidence: not sent
        again = ScriptedJudge('{"category": "omission"}')
        report = label_run(store, RUN_ID, judge=again)
        assert again.asked == [] and (report.reused, report.ruled) == (1, 5)


def test_an_unusable_judge_reply_keeps_the_rule_label(tmp_path):
    db = build_run(tmp_path / "runs.db")
    with Store(db) as store:
        report = label_run(store, RUN_ID, judge=ScriptedJudge("I think it is a knowledge error."))
        assert report.judge_failed == 1 and report.judged == 0
        assert load_error_labels(store, RUN_ID)[("k3", 0)].rule == "argued_wrong_option"


def test_errors_command_with_a_judge_behind_an_openai_compatible_endpoint(tmp_path, monkeypatch):
    db = build_run(tmp_path / "runs.db")
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    server = ChatServer(
        reply='{"category": "causal_reasoning_deficiency", "secondary": [], "rationale": "推理错误"}'
    )
    with serve(server) as base_url:
        result = CliRunner().invoke(
            app,
            ["errors", RUN_ID, "--db", str(db), "--judge", "openai/judge", "--base-url", base_url, "--json"],
        )
    assert result.exit_code == 0, result.output
    assert server.requests == 1
    counts = json.loads(result.stdout)["overall"]["counts"]
    assert counts["causal_reasoning_deficiency"] == 1 and counts["hallucination"] == 0
    assert json.loads(result.stdout)["sources"] == {"judge": 1, "rule": 5}


# ------------------------------------------------------------------------ storage and output
def test_a_changed_row_is_labelled_again_and_human_consensus_wins(tmp_path):
    db = build_run(tmp_path / "runs.db")
    with Store(db) as store:
        label_run(store, RUN_ID)
        row = next(r for r in store.rows(RUN_ID) if r.sample_id == "k1")
        changed = row.model_copy(
            update={
                "response": Response(text=REFUSAL),
                "score": row.score.model_copy(update={"extracted": None}),
            }
        )
        assert row_digest(changed) != row_digest(row)
        store.write_rows([changed])
        assert load_error_labels(store, RUN_ID)[("k1", 0)].category == "unanswered"
        notes = AnnotationStore(store)
        notes.save_items(RUN_ID, [("k1", 0)])
        for name in ("annotator1", "annotator2", "annotator3"):
            notes.issue_token(RUN_ID, name, "annotator")
        for name, cat in (
            ("annotator1", "format_mismatch"),
            ("annotator2", "format_mismatch"),
            ("annotator3", "unanswered"),
        ):
            notes.set_label(RUN_ID, ("k1", 0), name, HumanLabel(category=cat))
        chosen = load_error_labels(store, RUN_ID)[("k1", 0)]
        assert (chosen.category, chosen.source) == ("format_mismatch", "consensus")


def test_errors_json_is_the_distribution_per_dimension(tmp_path):
    db = build_run(tmp_path / "runs.db")
    result = CliRunner().invoke(app, ["errors", RUN_ID, "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["overall"]["counts"]) == set(CATEGORY_KEYS) == set(data["overall"]["shares"])
    assert data["overall"]["counts"]["omission"] == 2 and data["overall"]["n"] == 6
    assert data["dimensions"]["knowledge_qa"]["counts"] == {
        **dict.fromkeys(CATEGORY_KEYS, 0),
        "output_error": 1,  # k1, a bare wrong letter
        "hallucination": 1,  # k3, a wrong letter among other text
        "unanswered": 1,
        "omission": 1,
    }
    assert data["dimensions"]["complex_reasoning"]["shares"]["unanswered"] == 0.5  # o2, an empty reply
    assert sum(data["overall"]["shares"].values()) == pytest.approx(1.0)
    with Store(db) as store:
        assert error_distribution(store, RUN_ID)["overall"] == data["overall"]
        assert AnnotationStore(store).prelabels(RUN_ID)  # stored for re-runs and the report


def test_errors_table_and_unknown_run(tmp_path):
    db = build_run(tmp_path / "runs.db")
    result = CliRunner().invoke(app, ["errors", RUN_ID, "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "遗漏" in result.stdout and "医学知识问答" in result.stdout and "2 (33%)" in result.stdout
    missing = CliRunner().invoke(app, ["errors", "nope", "--db", str(db)])
    assert missing.exit_code == 1 and "no run 'nope'" in missing.stderr


# ------------------------------------------------------------------ open answers (issue 14 rules)
CASE = "病人，男，49岁，解大便后右下腹痛并自扪及包块3小时。"


def case_item(points):
    return open_item("c", points).model_copy(update={"context": CASE})


def test_a_case_answered_with_another_diagnosis_is_a_causal_reasoning_deficiency():
    sample = case_item(["诊断：嵌顿性腹股沟斜疝合并肠梗阻", "右下腹痛并自扪及包块3小时"])
    details = {"points": sample.gold.key_points, "covered": [False, True], "missed": [sample.gold.key_points[0]],
               "recall": 0.5}
    other = label(sample, "诊断：急性阑尾炎。依据：右下腹痛并自扪及包块3小时。", value=0.5, details=details)
    assert (other.category, other.rule) == ("causal_reasoning_deficiency", "wrong_diagnosis")
    assert "急性阑尾炎" in other.rationale
    # the same diagnosis said less precisely is an omission, not a wrong inference
    vaguer = label(sample, "诊断：腹股沟疝。依据：右下腹痛并自扪及包块3小时。", value=0.5, details=details)
    assert vaguer.category == "omission"


def test_an_open_answer_at_length_that_covers_no_point_is_a_low_confidence_hallucination():
    sample = open_item("o", ["血瘀指血液的循行迟缓和流行失畅的病理状态", "气滞而血行闭阻"])
    details = {"points": sample.gold.key_points, "covered": [False, False], "missed": sample.gold.key_points,
               "recall": 0.0}
    text = "血瘀是指血液中的脂肪过多，常见于肥胖人群，主要由饮食不节引起，可以通过多喝水和运动改善，一般不需要治疗。"
    result = label(sample, text, value=0.0, details=details)
    assert (result.category, result.confidence, result.rule) == ("hallucination", "low", "nothing_covered")


def test_an_open_answer_cut_off_after_answering_is_judged_on_its_content_and_near_misses_are_low_confidence():
    sample = open_item("o", ["甲", "乙", "丙", "丁"])
    details = {"points": ["甲", "乙", "丙", "丁"], "covered": [True, True, True, False], "missed": ["丁"],
               "recall": 0.75}
    result = label(sample, "甲、乙、丙，以及", value=0.75, details=details, completion_tokens=512)
    assert result.category == "omission" and result.confidence == "low"  # 3 of 4 covered: maybe the matcher's miss
    assert "output_error" in result.secondary


def test_export_carries_each_rows_error_label(tmp_path):
    import medgap.cli.run  # noqa: F401  (registers `export`)

    db = build_run(tmp_path / "runs.db")
    result = CliRunner().invoke(app, ["export", RUN_ID, "--db", str(db), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    lines = {line["item_id"]: line for line in map(json.loads, result.stdout.splitlines())}
    assert (lines["k1"]["error_category"], lines["k1"]["error_confidence"], lines["k1"]["error_source"]) == (
        "output_error", "high", "rule")
    assert lines["o2"]["error_category"] == "unanswered"
    assert lines["ok"]["error_category"] is None and lines["ok"]["error_source"] is None  # a correct row
