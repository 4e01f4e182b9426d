"""Record scoring: section splitting on the headings models write, coverage, key-point recall within
sections, ROUGE-L, possible hallucinations, MedBench's record layouts and the written demo records."""

import asyncio
from pathlib import Path

import pytest

from medgap.analysis.metrics import summarize
from medgap.datasets import load_file, medbench
from medgap.datasets.errors import DatasetError
from medgap.datasets.medbench_ie import adapt
from medgap.datasets.suites import PACKAGE_DATA
from medgap.records import Attempt, Gold, Response, Row, Sample, Source
from medgap.scoring import score
from medgap.scoring.medical import MedicalMatcher
from medgap.scoring.record import (
    DBMHG_SECTIONS,
    IMCS_SECTIONS,
    arabic_numbers,
    join_sections,
    score_record_async,
    split_sections,
    suspect_spans,
)

WRITTEN = PACKAGE_DATA / "demo" / "medgap_written" / "records.jsonl"

EXPECTED = {"主诉": "咳嗽3天", "现病史": "夜间明显", "辅助检查": "血常规正常", "既往史": "无", "诊断": "急性支气管炎",
            "建议": "多饮水"}


@pytest.mark.parametrize(
    "text",
    [
        "主诉：咳嗽3天\n现病史：夜间明显\n辅助检查：血常规正常\n既往史：无\n诊断：急性支气管炎\n建议：多饮水",
        "主诉:咳嗽3天\n现病史:夜间明显\n辅助检查:血常规正常\n既往史:无\n诊断:急性支气管炎\n建议:多饮水",
        "【主诉】咳嗽3天\n【现病史】夜间明显\n【辅助检查】血常规正常\n【既往史】无\n【诊断】急性支气管炎\n【建议】多饮水",
        ("**主诉**：咳嗽3天\n**现病史**：夜间明显\n**辅助检查**：血常规正常\n"
         "**既往史**：无\n**诊断**：急性支气管炎\n**建议**：多饮水"),
        ("**主诉：** 咳嗽3天\n**现病史：** 夜间明显\n**辅助检查：** 血常规正常\n"
         "**既往史：** 无\n**诊断：** 急性支气管炎\n**建议：** 多饮水"),
        ("1. 主诉：咳嗽3天\n2. 现病史：夜间明显\n3. 辅助检查：血常规正常\n"
         "4. 既往史：无\n5. 诊断：急性支气管炎\n6. 建议：多饮水"),
        ("一、主诉：咳嗽3天\n二、现病史：夜间明显\n三、辅助检查：血常规正常\n"
         "四、既往史：无\n五、诊断：急性支气管炎\n六、建议：多饮水"),
        ("## 主诉\n咳嗽3天\n\n## 现病史\n夜间明显\n\n## 辅助检查\n血常规正常\n\n## 既往史\n无\n\n"
         "## 诊断\n急性支气管炎\n\n## 建议\n多饮水"),
        # variants of the heading names
        "主诉：咳嗽3天\n现病史：夜间明显\n检查：血常规正常\n既往史：无\n初步诊断：急性支气管炎\n处理意见：多饮水",
        "主诉：咳嗽3天\n现病史：夜间明显\n检查结果：血常规正常\n过去史：无\n诊断结果：急性支气管炎\n治疗建议：多饮水",
        # a preamble, and several sections on one line
        ("好的，根据对话整理病历如下：\n\n主诉：咳嗽3天。现病史：夜间明显。辅助检查：血常规正常。既往史：无。"
        "诊断：急性支气管炎。建议：多饮水。"),
    ],
)
def test_sections_are_split_on_the_headings_models_write(text):
    sections = {name: content.rstrip("。") for name, content in split_sections(text).items()}
    assert sections == EXPECTED


def test_heading_words_inside_sentences_do_not_start_sections():
    text = "现病史：曾在外院诊断为支气管炎，建议多喝水。\n诊断依据：夜间咳嗽。\n建议患者复查"
    assert split_sections(text) == {"现病史": text.removeprefix("现病史：")}


def test_repeated_and_folded_sections_are_joined():
    assert split_sections("既往史：体健\n过敏史：青霉素过敏") == {"既往史": "体健\n青霉素过敏"}


def test_source_section_sets():
    assert IMCS_SECTIONS == ("主诉", "现病史", "辅助检查", "既往史", "诊断", "建议")
    assert DBMHG_SECTIONS == ("主诉", "现病史", "既往史", "个人史", "婚育史", "家族史")


DIALOGUE = (
    "医生：孩子咳嗽几天了？\n患者：3天了，晚上咳得厉害，前天烧到三十八度五，吃了布洛芬退了。\n"
    "医生：查过血吗？\n患者：血常规白细胞正常。\n医生：以前喘过吗？\n患者：没有，也不过敏。\n"
    "医生：考虑急性支气管炎，用氨溴索化痰，多喝水。"
)
SECTIONS = {
    "主诉": "咳嗽3天。",
    "现病史": "患儿3天前出现咳嗽，夜间明显；前天发热，最高38.5℃，服布洛芬后热退。",
    "辅助检查": "血常规：白细胞正常。",
    "既往史": "无喘息史，无过敏史。",
    "诊断": "急性支气管炎。",
    "建议": "氨溴索化痰，多饮水。",
}
POINTS = ["主诉：咳嗽3天", "现病史：夜间咳嗽明显", "现病史：最高体温38.5℃", "现病史：服布洛芬后热退",
          "辅助检查：血常规白细胞正常", "既往史：无喘息史", "既往史：无过敏史", "诊断：急性支气管炎",
          "建议：氨溴索化痰", "建议：多饮水"]


def record_item(sections=SECTIONS, points=POINTS, **gold) -> Sample:
    return Sample(id="r1", source=Source(dataset="fixture"), task="mrg", dimension="language_generation", kind="record",
                  question=f"医患对话：\n{DIALOGUE}\n\n请书写病历。",
                  gold=Gold(structure=sections, key_points=points, **gold))


def scored(sample: Sample, text: str):
    return score(sample, Attempt(sample_id=sample.id), Response(text=text))


def test_a_complete_record_scores_full_marks():
    result = scored(record_item(), join_sections(SECTIONS))
    details = result.details
    assert result.value == 1.0 and details["section_coverage"] == 1.0
    assert details["covered"] == [True] * len(POINTS) and details["missed"] == [] and details["points"] == POINTS
    assert details["rouge_l"] == pytest.approx(1.0)
    assert details["hallucinated"] == []


@pytest.mark.parametrize("dropped", list(SECTIONS))
def test_a_record_missing_a_section_loses_exactly_that_section(dropped):
    sample = record_item()
    full = scored(sample, join_sections(SECTIONS)).details
    partial = scored(sample, join_sections({k: v for k, v in SECTIONS.items() if k != dropped})).details
    assert partial["sections_missing"] == [dropped]
    assert partial["section_coverage"] == pytest.approx(5 / 6)
    assert partial["section_recall"][dropped] == 0.0
    assert {k: v for k, v in partial["section_recall"].items() if k != dropped} == {
        k: v for k, v in full["section_recall"].items() if k != dropped}
    assert partial["missed"] == [p for p in POINTS if p.startswith(dropped + "：")]
    assert partial["recall"] == pytest.approx(5 / 6)


def test_points_count_only_in_their_own_section():
    sections = dict(SECTIONS)
    sections["诊断"] = "待定。"
    sections["现病史"] += "考虑急性支气管炎。"  # the diagnosis written into the history does not count
    details = scored(record_item(), join_sections(sections)).details
    assert details["missed"] == ["诊断：急性支气管炎"] and details["section_recall"]["诊断"] == 0.0


def test_points_are_derived_from_reference_sections_when_none_are_given():
    sample = record_item(points=[])
    details = scored(sample, join_sections(SECTIONS)).details
    assert details["points"] and all(details["covered"])
    none_history = record_item(sections={**SECTIONS, "既往史": "无。"}, points=[])
    details = scored(none_history, join_sections({**SECTIONS, "既往史": "否认"})).details
    assert "既往史" not in details["section_recall"]  # a 'none' section has no points; presence is checked
    assert details["section_coverage"] == 1.0


def test_prose_without_headings_is_a_format_error():
    details = scored(record_item(), "孩子是急性支气管炎，多喝水，用点氨溴索就好了。").details
    assert details["format_error"] is True and "heading" in details["parse_error"]
    assert details["section_coverage"] == 0.0 and not any(details["covered"])


def test_invented_numbers_drugs_tests_and_diagnoses_are_flagged():
    sections = dict(SECTIONS)
    sections["现病史"] = "患儿3天前出现咳嗽，夜间明显；前天发热，最高39.2℃，服布洛芬后热退。"
    sections["辅助检查"] = "血常规：白细胞正常。胸片：肺纹理增粗。C反应蛋白升高。"
    sections["诊断"] = "支气管肺炎。"
    sections["建议"] = "阿奇霉素口服，多饮水，复查血常规。"
    suspects = scored(record_item(), join_sections(sections)).details["hallucinated"]
    assert {"39.2℃", "胸片", "肺炎", "阿奇霉素"} <= set(suspects)
    assert any("升高" in s for s in suspects)
    assert not {"38.5℃", "布洛芬", "血常规", "3天"} & set(suspects)


def test_support_reads_chinese_numerals_and_the_reference():
    assert arabic_numbers("三十八度五，两次，十二岁") == "38.5度，2次，12岁"
    assert suspect_spans("最高38.5℃，咳嗽2次", "烧到三十八度五，咳了两次") == []
    assert arabic_numbers("一天七八次，一九九八年") == "1天7-8次，1998年"
    assert suspect_spans("每日7-8次", "一天七八次") == []
    assert suspect_spans("每日6-8次", "一天七八次") == ["6-8次"]  # 6 is nowhere in the support
    assert suspect_spans("每日6-8次", "一天七八次\n参考：每日6-8次") == []
    assert suspect_spans("1. 主诉：咳嗽\n2. 现病史：……", "咳嗽") == []  # list numbering is not a claim


def test_medbench_record_layouts():
    mrg = [{"type": name, "entity": text} for name, text in SECTIONS.items()]
    record = {"question": f"{DIALOGUE}\n请根据对话生成诊疗报告。", "options": None, "answer": mrg,
              "other": {"source": "IMCS-V2-MRG", "id": 9}}
    sample = adapt(medbench.parse_record(record, path=Path("IMCS-V2-MRG.jsonl"), line=2, dimension=None))
    assert (sample.kind, sample.dimension) == ("record", "language_generation")
    details = scored(sample, join_sections(SECTIONS)).details
    assert details["sections_required"] == list(SECTIONS) and details["section_coverage"] == 1.0
    text_gold = {**record, "other": {"source": "DBMHG", "id": 1},
                 "answer": "主诉：胸闷2周\n现病史：活动后胸闷\n既往史：高血压\n个人史：吸烟\n婚育史：已婚\n家族史：无"}
    history = adapt(medbench.parse_record(text_gold, path=Path("DBMHG.jsonl"), line=3, dimension=None))
    assert scored(history, "主诉：胸闷2周").details["sections_required"] == list(DBMHG_SECTIONS)
    with pytest.raises(DatasetError, match="no sections"):
        adapt(medbench.parse_record({**text_gold, "answer": "患者胸闷"}, path=Path("DBMHG.jsonl"), line=4,
                                    dimension=None))


def test_async_scoring_matches_inline_scoring():
    sample = record_item()
    text = join_sections({k: v for k, v in SECTIONS.items() if k != "诊断"})
    inline = scored(sample, text)
    later = asyncio.run(score_record_async(sample, Attempt(sample_id="r1"), Response(text=text), MedicalMatcher()))
    assert later == inline


def test_record_rows_aggregate_into_coverage_recall_and_rouge():
    sample = record_item()
    texts = [join_sections(SECTIONS), join_sections({k: v for k, v in SECTIONS.items() if k != "建议"})]
    rows = []
    for index, text in enumerate(texts):
        attempt, response = Attempt(sample_id=f"r{index}"), Response(text=text)
        rows.append(Row(run_id="run", sample_id=f"r{index}", permutation=0, task="mrg",
                        dimension="language_generation", kind="record", attempt=attempt, response=response,
                        score=score(sample, attempt, response)))
    group = summarize("run", "m", rows, [sample]).dimensions["language_generation"]
    assert group.value("section_coverage") == pytest.approx((1 + 5 / 6) / 2)
    assert group.value("record_recall") == pytest.approx((1 + 5 / 6) / 2)
    assert group.metrics["record_recall"].n == 2 and 0 < (group.value("record_rouge_l") or 0) <= 1


def test_written_demo_records_are_consistent_with_their_dialogues():
    samples = load_file(WRITTEN)
    assert len(samples) == 10 and {s.kind for s in samples} == {"record"}
    for sample in samples:
        sections = sample.gold.structure
        assert tuple(sections) in (IMCS_SECTIONS, DBMHG_SECTIONS), sample.id
        assert all(name in sample.question for name in sections), sample.id  # the question asks for them
        result = scored(sample, join_sections(sections))
        assert result.value == 1.0 and result.details["section_coverage"] == 1.0, sample.id
        # the reference invents nothing: every number, drug, test and diagnosis is in the dialogue
        dialogue = sample.question.split("\n\n请根据")[0]
        assert suspect_spans(join_sections(sections), dialogue) == [], sample.id


def test_sections_written_as_labelled_name_and_content_are_found():
    """A layout the embedded model really wrote, copying the prompt's wording."""
    text = "部分名称：主诉\n内容：心慌、怕热3个月。\n\n部分名称：现病史\n内容：体重下降5公斤。"
    assert split_sections(text) == {"主诉": "心慌、怕热3个月。", "现病史": "体重下降5公斤。"}
