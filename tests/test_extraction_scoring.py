"""Extraction scoring: exact-match tuples, micro-F1 pooled over items, macro-F1 for class labels,
format errors, MedBench's IE answer layouts, and the written demo items."""

import json
from pathlib import Path

import pytest

from medgap.analysis.metrics import summarize
from medgap.datasets import load_file, medbench
from medgap.datasets.errors import DatasetError
from medgap.datasets.medbench_ie import adapt
from medgap.datasets.suites import PACKAGE_DATA
from medgap.kinds.aggregates import macro_f1
from medgap.records import Attempt, Gold, Response, Row, Sample, Source
from medgap.scoring import score
from medgap.scoring.extraction import extraction_type

WRITTEN = PACKAGE_DATA / "demo" / "medgap_written" / "extraction.jsonl"


def item(sample_id: str, answer, kind: str, task: str = "ie", labels=None) -> Sample:
    metadata = {"extraction_type": kind}
    if labels:
        metadata["labels"] = labels
    return Sample(id=sample_id, source=Source(dataset="fixture"), task=task, dimension="language_understanding",
                  kind="extraction", question="……", gold=Gold(structure=answer), metadata=metadata)


def row_for(sample: Sample, text: str) -> Row:
    attempt, response = Attempt(sample_id=sample.id), Response(text=text)
    return Row(run_id="run", sample_id=sample.id, permutation=0, task=sample.task, dimension=sample.dimension,
               kind=sample.kind, attempt=attempt, response=response, score=score(sample, attempt, response))


def entities(*pairs):
    return [{"type": t, "entity": e} for t, e in pairs]


def test_micro_f1_pools_tuples_over_items_against_hand_computed_values():
    one = item("a", entities(("疾病", "肺炎"), ("症状", "发热"), ("症状", "咳嗽")), "entities")
    two = item("b", entities(("药物", "阿莫西林"), ("药物", "布洛芬")), "entities")
    three = item("c", [{"subject": "肺炎", "predicate": "临床表现", "object": "发热"},
                       {"subject": "肺炎", "predicate": "药物治疗", "object": "阿莫西林"}], "relations")
    rows = [
        row_for(one, "疾病：肺炎\n症状：发热，头痛"),  # tp 2 (肺炎, 发热), fp 1 (头痛), fn 1 (咳嗽)
        row_for(two, "患者应该多休息。"),  # unreadable: tp 0, fp 0, fn 2
        row_for(three, "(肺炎, 临床表现, 发热)\n(肺炎, 药物治疗, 头孢)"),  # tp 1, fp 1, fn 1
    ]
    assert [(r.score.details["tp"], r.score.details["fp"], r.score.details["fn"]) for r in rows] == [
        (2, 1, 1), (0, 0, 2), (1, 1, 1)]
    # pooled: tp 3, fp 2, fn 4 -> precision 3/5, recall 3/7, F1 2*3/(2*3+2+4) = 0.5
    summary = summarize("run", "m", rows, [one, two, three])
    group = summary.dimensions["language_understanding"]
    assert group.value("precision") == pytest.approx(0.6)
    assert group.value("recall") == pytest.approx(3 / 7)
    assert group.value("micro_f1") == pytest.approx(0.5)
    format_errors = group.metrics["format_error_rate"]
    assert format_errors.count == 1 and format_errors.value == pytest.approx(1 / 3)
    f1 = group.metrics["micro_f1"]
    assert f1.ci_low is not None and f1.ci_high is not None and f1.ci_low <= 0.5 <= f1.ci_high
    # the row's own value is its item F1
    assert [r.score.value for r in rows] == pytest.approx([2 / 3, 0.0, 0.5])
    json.dumps(summary.model_dump(mode="json"))  # the results JSON stays serialisable


def test_unreadable_output_is_a_format_error_not_an_empty_answer():
    sample = item("a", entities(("疾病", "肺炎")), "entities")
    bad = row_for(sample, "这个句子讲的是一个肺部感染的病人。")
    assert bad.score.details["format_error"] is True
    assert "no entities" in bad.score.details["parse_error"]
    assert bad.score.details["missed"] == ["肺炎（疾病）"] and bad.score.details["covered"] == [False]
    assert bad.score.extracted is None and bad.score.value == 0.0
    empty_answer = row_for(sample, "句子中没有医学实体。")
    assert "format_error" not in empty_answer.score.details and empty_answer.score.extracted == ""
    assert (empty_answer.score.details["fp"], empty_answer.score.details["fn"]) == (0, 1)
    empty_reply = row_for(sample, "")
    assert empty_reply.score.details.get("empty_response") and "format_error" not in empty_reply.score.details


def test_an_item_with_no_gold_tuples_is_perfect_only_when_nothing_is_claimed():
    sample = item("a", [], "entities")
    assert row_for(sample, "无").score.value == 1.0
    assert row_for(sample, "药物：布洛芬").score.value == 0.0


def test_a_type_outside_the_items_list_is_read_and_counted_wrong():
    sample = item("a", entities(("药物", "布洛芬")), "entities", labels=["药物"])
    result = row_for(sample, "药物：布洛芬\n疾病：发热").score
    assert "format_error" not in result.details and (result.details["tp"], result.details["fp"]) == (1, 1)


def test_exact_match_requires_the_same_type_and_span():
    sample = item("a", entities(("疾病", "急性阑尾炎")), "entities")
    assert row_for(sample, "疾病：阑尾炎").score.details["tp"] == 0  # partial span
    assert row_for(sample, "症状：急性阑尾炎").score.details["tp"] == 0  # wrong type
    assert row_for(sample, "疾病：急性阑尾炎。").score.details["tp"] == 1  # punctuation is not content


def test_macro_f1_over_labels_against_hand_computed_values():
    # A: tp1 fn1 -> F1 2/3; B: tp1 fp1 -> F1 2/3; C: fn1 -> 0 (unreadable prediction adds no label)
    assert macro_f1([("A", "A"), ("A", "B"), ("B", "B"), ("C", None)]) == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert macro_f1([("A", "A")]) == 1.0


def test_classification_rows_report_macro_f1_and_labels():
    labels = ["年龄", "性别", "疾病"]
    samples = [item(f"c{i}", gold, "classification", labels=labels) for i, gold in enumerate(["年龄", "年龄", "性别"])]
    rows = [row_for(samples[0], "年龄"), row_for(samples[1], "答案：性别"), row_for(samples[2], "类别：性别")]
    assert [r.score.value for r in rows] == [1.0, 0.0, 1.0]
    assert rows[1].score.details["gold_label"] == "年龄" and rows[1].score.details["predicted_label"] == "性别"
    group = summarize("run", "m", rows, samples).dimensions["language_understanding"]
    # 年龄: tp1 fn1 -> 2/3; 性别: tp1 fp1 -> 2/3
    assert group.value("macro_f1") == pytest.approx(2 / 3)
    assert group.value("classification_accuracy") == pytest.approx(2 / 3)


def test_ungraded_items_keep_what_was_read_without_a_score():
    sample = item("a", None, "entities").model_copy(update={"gold": None})
    result = row_for(sample, "疾病：肺炎").score
    assert result.value is None and result.details["ungraded"] and result.extracted == "肺炎（疾病）"


def medbench_sample(source: str, answer, question: str = "请完成信息抽取任务……") -> Sample:
    record = {"question": question, "options": None, "answer": answer, "other": {"source": source, "id": 3}}
    return adapt(medbench.parse_record(record, path=Path(f"{source}.jsonl"), line=5, dimension=None))


def test_medbench_ie_sources_become_extraction_items_in_their_own_layouts():
    cmeee = medbench_sample("CMeEE", [{"type": "疾病", "entity": "肺炎"}, {"type": "症状", "entity": "发热"}])
    assert (cmeee.kind, cmeee.dimension, extraction_type(cmeee)) == ("extraction", "language_understanding", "entities")
    assert row_for(cmeee, "疾病：肺炎\n症状：发热").score.value == 1.0
    v3 = medbench_sample("CMeEE-V2", json.dumps({"疾病": ["肺炎"], "症状": ["发热"]}, ensure_ascii=False))
    assert v3.gold.structure == {"疾病": ["肺炎"], "症状": ["发热"]}
    assert row_for(v3, '```json\n{"疾病": ["肺炎"], "症状": ["发热", "咳嗽"]}\n```').score.details["fp"] == 1
    cmeie = medbench_sample("CMeIE", [{"predicate": "临床表现", "subject": "肺炎", "object": "发热"}])
    assert row_for(cmeie, '关系："临床表现"，头实体："肺炎"，尾实体："发热"').score.value == 1.0
    cdee = medbench_sample("CHIP-CDEE", [{"主体词": "咳嗽", "发生状态": "否定", "描述词": [], "解剖部位": []}])
    assert row_for(cdee, "主体词：咳嗽；发生状态：否定；描述词：空；解剖部位：空").score.value == 1.0
    cdn = medbench_sample("CHIP-CDN", "胃溃疡##胃出血")
    assert row_for(cdn, "胃出血，胃溃疡").score.value == 1.0
    ctc = medbench_sample("CHIP-CTC", "年龄")
    assert extraction_type(ctc) == "classification" and row_for(ctc, "年龄").score.value == 1.0
    ungraded = medbench_sample("CMeIE", "")
    assert ungraded.kind == "extraction" and ungraded.gold is None


def test_medbench_format_instructions_stay_in_the_question():
    question = (
        "请从句子中抽取实体，类型包括疾病、症状。\n## 问题\n患者发热三天。\n## 答案格式\n每类一行：类型：实体1，实体2"
    )
    sample = medbench_sample("CMeEE", [{"type": "症状", "entity": "发热"}], question=question)
    assert sample.question.startswith("请从句子中抽取实体") and "患者发热三天。" in sample.question
    assert sample.question.endswith("每类一行：类型：实体1，实体2")


def test_unreadable_medbench_gold_names_the_file_line_and_field():
    with pytest.raises(DatasetError) as raised:
        medbench_sample("CMeEE", [{"name": "肺炎"}])
    assert raised.value.field == "answer" and "entities" in str(raised.value)
    with pytest.raises(DatasetError, match="does not parse"):
        medbench_sample("CMeIE", '[{"predicate": "病因",')


def test_other_medbench_sources_are_left_alone():
    exam = medbench.parse_record({"question": "问题", "options": ["A. 甲", "B. 乙"], "answer": "A",
                                  "other": {"source": "Med-Exam", "id": 1}}, path=Path("x.jsonl"), line=1,
                                 dimension=None)
    assert adapt(exam) == exam


def gold_as_medbench_text(sample: Sample) -> str:
    """The gold answer written the way the item's question asks for it."""
    if extraction_type(sample) == "entities":
        by_type: dict[str, list[str]] = {}
        for entry in sample.gold.structure:
            by_type.setdefault(entry["type"], []).append(entry["entity"])
        return "\n".join(f"{kind}：{'，'.join(names)}" for kind, names in by_type.items()) or "无"
    return "\n".join(f"（{t['subject']}，{t['predicate']}，{t['object']}）" for t in sample.gold.structure)


def test_written_demo_items_are_well_formed_and_their_gold_scores_full_marks():
    samples = load_file(WRITTEN)
    assert len(samples) == 17 and {s.kind for s in samples} == {"extraction"}
    assert {s.dimension for s in samples} == {"language_understanding"}
    assert {extraction_type(s) for s in samples} == {"entities", "relations"}
    for sample in samples:
        labels = sample.metadata["original"]["labels"]
        assert all(label in sample.question for label in labels), sample.id
        used = {e.get("type") or e.get("predicate") for e in sample.gold.structure}
        assert used - {None} <= set(labels), sample.id
        # every gold span occurs in the sentence it was extracted from
        sentence = sample.question.split("句子：", 1)[1]
        spans = [e.get("entity") or e.get("subject") for e in sample.gold.structure]
        spans += [e["object"] for e in sample.gold.structure if "object" in e]
        assert all(span in sentence for span in spans), sample.id
        result = row_for(sample, gold_as_medbench_text(sample)).score
        assert result.value == 1.0 and not result.details.get("format_error"), sample.id
