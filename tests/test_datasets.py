"""Loaders: real rows of each source (tests/fixtures/data), MedBench fixtures, option encodings, bad input and
the generic format."""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from pathlib import Path

import pytest

from medgap.datasets import (
    FORMATS,
    DatasetError,
    FieldMap,
    cmb_clin,
    cmmlu,
    detect_format,
    generic,
    load_file,
    medbench,
    mtcmb,
)
from medgap.datasets.parsing import json_object, parse_options
from medgap.solvers.permutations import attempts_for

CMMLU_TEST_ROWS = {  # rows of the fixture files (tests/fixtures/data/cmmlu_medical/SOURCE.md)
    "anatomy": 21,
    "clinical_knowledge": 30,
    "college_medicine": 25,
    "college_medical_statistics": 20,
    "genetics": 19,
    "nutrition": 23,
    "professional_medicine": 29,
    "traditional_chinese_medicine": 19,
    "virology": 16,
}
CMMLU_TEST_TOTAL = sum(CMMLU_TEST_ROWS.values())


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def by_id(samples):
    return {sample.id: sample for sample in samples}


# --- real data -----------------------------------------------------------------------------------


def test_cmmlu_test_split_matches_source_counts(source_data):
    samples = load_file(source_data / "cmmlu_medical" / "test")
    assert len(samples) == CMMLU_TEST_TOTAL
    per_task = Counter(sample.task for sample in samples)
    assert per_task == {f"cmmlu-{subject}": n for subject, n in CMMLU_TEST_ROWS.items()}
    assert {sample.kind for sample in samples} == {"single"}
    assert {sample.dimension for sample in samples} == {"knowledge_qa"}
    assert all(list(s.options) == ["A", "B", "C", "D"] and len(s.gold.letters) == 1 for s in samples)
    assert len({sample.id for sample in samples}) == CMMLU_TEST_TOTAL


def test_cmmlu_row_keeps_source_row_index_and_licence(source_data):
    samples = by_id(cmmlu.load(source_data / "cmmlu_medical" / "test" / "clinical_knowledge.csv"))
    item = samples["cmmlu-clinical_knowledge/1"]
    assert item.question == "对评估肝硬化患者预后意义不大的是"
    assert item.options == {"A": "腹水", "B": "清蛋白", "C": "血电解质", "D": "凝血酶原时间"}
    assert item.gold.letters == ["C"]
    assert item.source.license == "CC BY-NC-SA 4.0"
    assert "CMMLU" in item.source.attribution


def test_cmmlu_root_directory_skips_dev_exemplars(source_data):
    assert len(load_file(source_data / "cmmlu_medical")) == CMMLU_TEST_TOTAL


def test_cmb_clin_cases_become_open_items_with_context(source_data):
    path = source_data / "cmb_clin" / "CMB-test-qa.json"
    cases = json.loads(path.read_text(encoding="utf-8"))
    samples = load_file(path)
    assert len(cases) == 52 and len(samples) == 147
    assert len({s.metadata["case_id"] for s in samples}) == 52
    assert {s.kind for s in samples} == {"open"} and {s.dimension for s in samples} == {"complex_reasoning"}
    first = by_id(samples)["cmb-clin/0-1"]
    assert first.context == cases[0]["description"].strip()
    assert first.question == "简述该病人的诊断及诊断依据。"
    assert first.gold.text.startswith("诊断：嵌顿性腹股沟斜疝合并肠梗阻。")
    assert first.gold.key_points == []
    assert first.source.license == "Apache-2.0"
    assert [s.metadata["turn"] for s in samples if s.metadata["case_id"] == "0"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("name", "count", "kind", "dimension"),
    [
        ("TCM-FT", 14, "open", "complex_reasoning"),
        ("TCM-SE-A", 14, "fill", "safety_ethics"),
        ("TCM-SE-B", 16, "single", "safety_ethics"),
        ("TCM-ED-A", 16, "single", "knowledge_qa"),
        ("TCM-ED-B", 16, "single", "knowledge_qa"),
    ],
)
def test_mtcmb_files_counts_kinds_dimensions(source_data, name, count, kind, dimension):
    samples = load_file(source_data / "mtcmb" / f"{name}.jsonl")
    assert len(samples) == count
    assert {s.kind for s in samples} == {kind}
    assert {s.dimension for s in samples} == {dimension}
    assert {s.task for s in samples} == {f"mtcmb-{name}"}
    assert all(s.source.license == "CC-BY 4.0" for s in samples)


def test_mtcmb_three_option_encodings_and_gold_shapes(source_data):
    folder = source_data / "mtcmb"
    ed_a = by_id(mtcmb.load(folder / "TCM-ED-A.jsonl"))["mtcmb-TCM-ED-A/0"]  # dict
    assert ed_a.options == {"A": "肝", "B": "心", "C": "脾", "D": "肺", "E": "肾"}
    assert ed_a.gold.letters == ["D"]
    ed_b = by_id(mtcmb.load(folder / "TCM-ED-B.jsonl"))["mtcmb-TCM-ED-B/63"]  # list of "A.text"
    assert ed_b.question == "下列药物中具有润肺清心，养阴生津功效的是"  # exam number "64." dropped
    assert ed_b.options == {"A": "石斛", "B": "生地", "C": "麦冬", "D": "黄精", "E": "天冬"}
    assert ed_b.metadata["original"]["question"].startswith("64.")
    se_b = by_id(mtcmb.load(folder / "TCM-SE-B.jsonl"))  # one inline string
    assert se_b["mtcmb-TCM-SE-B/1"].options == {"A": "胆南星", "B": "土鳖虫", "C": "艾叶", "D": "半夏"}
    assert se_b["mtcmb-TCM-SE-B/38"].options["B"] == "入丸散，每次0.3～0.9g"  # decimals don't split options
    se_a = by_id(mtcmb.load(folder / "TCM-SE-A.jsonl"))["mtcmb-TCM-SE-A/3"]
    assert se_a.gold.text == "0.1～0.3g" and se_a.options == {}
    ft = by_id(mtcmb.load(folder / "TCM-FT.jsonl"))["mtcmb-TCM-FT/1"]
    assert ft.gold.key_points[:3] == [
        "血瘀指血液的循行迟缓和流行失畅的病理状态",
        "血瘀形成原因包括气滞而血行闭阻",
        "气虚而血运迟缓",
    ]
    assert len(ft.gold.key_points) == 6


def test_mtcmb_html_entities_are_decoded(source_data):
    path = source_data / "mtcmb" / "TCM-ED-A.jsonl"
    assert "&#39;" in path.read_text(encoding="utf-8")
    samples = mtcmb.load(path)
    assert not any("&#39;" in text for s in samples for text in [s.question, *s.options.values()])


def test_detect_format_on_real_files(source_data):
    assert detect_format(source_data / "cmmlu_medical" / "test" / "anatomy.csv") == "cmmlu"
    assert detect_format(source_data / "cmb_clin" / "CMB-test-qa.json") == "cmb_clin"
    for name in ("TCM-FT", "TCM-SE-A", "TCM-SE-B", "TCM-ED-A", "TCM-ED-B"):
        assert detect_format(source_data / "mtcmb" / f"{name}.jsonl") == "mtcmb"


def test_registry_names_every_loader():
    assert set(FORMATS) == {"medbench", "cmmlu", "cmb_clin", "mtcmb", "generic"}
    assert FORMATS["medbench"].load is medbench.load and FORMATS["cmb_clin"].load is cmb_clin.load


# --- option encodings ----------------------------------------------------------------------------


def test_parse_options_encodings():
    expected = {"A": "甲", "B": "乙", "C": "丙"}
    assert parse_options({"A": "甲", "B": "乙", "C": "丙"}) == expected
    assert parse_options(["A. 甲", "B: 乙", "C．丙"]) == expected
    assert parse_options(["A、甲", "(B) 乙", "C：丙"]) == expected
    assert parse_options("A. 甲 B. 乙 C. 丙") == expected
    assert parse_options(["甲", "乙", "丙"]) == expected  # unlabelled: lettered in order
    assert parse_options(None) == {} and parse_options([]) == {}


@pytest.mark.parametrize(
    "value",
    [["A. x", "B. y", "D. z"], {"A": "x", "C": "y"}, "A. x C. y", ["A. x", "y"], ["A. x", "A. y"], ["A. x"]],
)
def test_parse_options_rejects_gaps_and_unlabelled(value):
    with pytest.raises(DatasetError) as info:
        parse_options(value)
    assert info.value.field == "options"


# --- MedBench ------------------------------------------------------------------------------------


def mb(question, options, answer, source="MedExam", item_id=1, **other):
    return {
        "question": question,
        "options": options,
        "answer": answer,
        "other": {"source": source, "id": item_id, **other},
    }


def test_medbench_choice_with_list_options(tmp_path):
    record = mb(
        "下列哪项是心肌梗死最早升高的标志物？",
        ["A. 肌红蛋白", "B: 肌钙蛋白I", "C．CK-MB", "D. LDH"],
        "A",
        item_id=7,
    )
    [sample] = medbench.load(write_jsonl(tmp_path / "MedExam.jsonl", [record]))
    assert sample.id == "medbench-MedExam/7"
    assert sample.task == "medbench-MedExam" and sample.dimension == "knowledge_qa"
    assert sample.kind == "single" and sample.gold.letters == ["A"]
    assert sample.options == {"A": "肌红蛋白", "B": "肌钙蛋白I", "C": "CK-MB", "D": "LDH"}
    assert sample.metadata["original"] == record and sample.metadata["line"] == 1
    assert sample.metadata["other"] == record["other"]
    assert sample.given_orders == []


def test_medbench_options_inside_question_after_preamble(tmp_path):
    question = (
        "以下是中国医师资格考试的单项选择题，请选出唯一正确的答案。\n请只输出选项字母。\n"
        "## 问题\n患者男，65岁，突发胸痛2小时。\n最可能的诊断是\nA. 急性心肌梗死\nB. 气胸\nC. 主动脉夹层\nD. 胃炎"
    )
    [sample] = medbench.load(
        write_jsonl(tmp_path / "t.jsonl", [mb(question, None, None, source="MedSafety")])
    )
    assert sample.question == "患者男，65岁，突发胸痛2小时。\n最可能的诊断是"
    assert sample.options == {"A": "急性心肌梗死", "B": "气胸", "C": "主动脉夹层", "D": "胃炎"}
    assert (
        sample.metadata["instruction"]
        == "以下是中国医师资格考试的单项选择题，请选出唯一正确的答案。\n请只输出选项字母。"
    )
    assert sample.dimension == "safety_ethics"
    assert sample.gold is None and sample.kind == "single"


def test_medbench_question_layout_with_options_heading_and_trailing_section(tmp_path):
    question = "请回答下题。\n## 问题：\n题干第一行\n## 选项\nA. 甲\nB. 乙\n## 答案格式\n只输出字母"
    [sample] = medbench.load(write_jsonl(tmp_path / "t.jsonl", [mb(question, None, "B")]))
    assert sample.question == "题干第一行" and sample.options == {"A": "甲", "B": "乙"}
    assert sample.metadata["instruction"] == "请回答下题。"
    assert sample.metadata["instruction_suffix"] == "## 答案格式\n只输出字母"


def test_medbench_multi_answer_gold(tmp_path):
    record = mb("关于高血压，正确的是", ["A. 甲", "B. 乙", "C. 丙", "D. 丁", "E. 戊"], "DCA")
    [sample] = medbench.load(write_jsonl(tmp_path / "t.jsonl", [record]))
    assert sample.kind == "multi" and sample.gold.letters == ["A", "C", "D"]


def test_medbench_null_answer_is_ungraded_and_multi_hint_sets_kind(tmp_path):
    records = [
        mb(
            "（多选题）下列属于β受体阻滞剂的是",
            ["A. 美托洛尔", "B. 硝苯地平", "C. 比索洛尔"],
            None,
            item_id=1,
        ),
        mb("简述急性阑尾炎的诊断依据。", None, None, source="CMB-Clin", item_id=2),
        mb("简述急性胰腺炎的治疗原则。", None, "禁食、补液、抑酸", source="CMB-Clin", item_id=3),
    ]
    samples = by_id(medbench.load(write_jsonl(tmp_path / "t.jsonl", records)))
    multi = samples["medbench-MedExam/1"]
    assert multi.gold is None and multi.kind == "multi"
    ungraded_open = samples["medbench-CMB-Clin/2"]
    assert ungraded_open.kind == "open" and ungraded_open.gold is None
    assert ungraded_open.dimension == "complex_reasoning"
    graded_open = samples["medbench-CMB-Clin/3"]
    assert graded_open.gold.text == "禁食、补液、抑酸"


def test_medbench_shuffled_repeats_become_one_sample_with_given_orders(tmp_path):
    texts = ["肌红蛋白", "肌钙蛋白I", "CK-MB", "LDH", "AST"]
    rng = random.Random(3)
    records = []
    for item_id, gold_text in ((101, "CK-MB"), (102, "AST")):
        for repeat in range(5):
            order = texts[:] if repeat == 0 else rng.sample(texts, len(texts))
            letters = "ABCDE"
            options = [f"{letters[i]}. {text}" for i, text in enumerate(order)]
            answer = letters[order.index(gold_text)]
            records.append(mb(f"题{item_id}：哪项正确？", options, answer, item_id=item_id))
    rng.shuffle(records)  # repeats need not be adjacent
    path = write_jsonl(tmp_path / "robust.jsonl", records)
    samples = by_id(medbench.load(path))
    assert set(samples) == {"medbench-MedExam/101", "medbench-MedExam/102"}
    for item_id, gold_text in ((101, "CK-MB"), (102, "AST")):
        sample = samples[f"medbench-MedExam/{item_id}"]
        mine = [r for r in records if r["other"]["id"] == item_id]
        first = mine[0]
        assert sample.options == {o[0]: o[3:] for o in first["options"]}  # first occurrence = original
        assert len(sample.given_orders) == 5
        assert sample.given_orders[0] == list(sample.options)
        for order, record in zip(sample.given_orders, mine, strict=True):
            assert [sample.options[letter] for letter in order] == [o[3:] for o in record["options"]]
        assert sample.options[sample.gold.letters[0]] == gold_text
        occurrences = sample.metadata["occurrences"]
        assert [o["original"] for o in occurrences] == mine
        # The runner asks the given orders, with gold remapped to each record's own answer letter.
        attempts = attempts_for(sample, k=1, seed=0)
        assert [a.gold_letters for a in attempts] == [[r["answer"]] for r in mine]


def test_medbench_repeat_with_conflicting_answer_is_an_error(tmp_path):
    records = [
        mb("题", ["A. x", "B. y", "C. z"], "A"),
        mb(
            "题",
            ["A. y", "B. x", "C. z"],
            "A",
        ),
    ]
    with pytest.raises(DatasetError) as info:
        medbench.load(write_jsonl(tmp_path / "t.jsonl", records))
    assert info.value.line == 2 and info.value.field == "answer"


def test_medbench_unknown_source_needs_dimension(tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", [mb("题", ["A. x", "B. y"], "A", source="NewTask2030")])
    with pytest.raises(DatasetError) as info:
        medbench.load(path)
    assert "--dimension" in str(info.value) and "NewTask2030" in str(info.value)
    assert info.value.field == "other.source" and info.value.line == 1
    [sample] = medbench.load(path, dimension="language_understanding")
    assert sample.dimension == "language_understanding"


def test_medbench_source_table_reads_spelling_variants():
    assert medbench.dimension_for("Med-Exam") == medbench.dimension_for("medexam") == "knowledge_qa"
    assert medbench.dimension_for("CHIP_CDN") == "language_understanding"
    assert medbench.dimension_for("IMCS-V2-MRG") == "language_generation"
    assert medbench.dimension_for("DrugCA") == "safety_ethics"
    assert medbench.dimension_for("DDx-advanced") == "complex_reasoning"


def test_medbench_source_table_knows_both_releases_and_opencompass_names():
    expected = {
        "Med-Exam": "knowledge_qa", "MedMC": "knowledge_qa", "MedSpeQA": "knowledge_qa", "MedHC": "knowledge_qa",
        "MedExam_V4": "knowledge_qa", "MedEthics_V4": "safety_ethics", "MedSafety_V4": "safety_ethics",
        "MedRxCheck_SCQ": "safety_ethics", "MedRxCheck_MSQ_V4": "safety_ethics",
        "CMB-Clin-extended": "complex_reasoning",
        "CMB-Clin-extended_V4": "complex_reasoning", "CMB-Clin": "complex_reasoning", "Med-Exam_test": "knowledge_qa",
        "Health_exam": "knowledge_qa", "SafetyBench": "safety_ethics", "Medicine_Counseling": "knowledge_qa",
        "CMeEE-V2": "language_understanding", "IMCS-V2-MRG": "language_generation",
    }
    assert {name: medbench.dimension_for(name) for name in expected} == expected
    for unknown in ("NewTask2030", "MedExamination", "V4", ""):
        assert medbench.dimension_for(unknown) is None, unknown


@pytest.mark.parametrize("written", [
    "A、希波克拉底B、盖伦C、维萨里D、哈维",
    "A.希波克拉底B.盖伦C.维萨里D.哈维",
    "A. 希波克拉底 B. 盖伦 C. 维萨里 D. 哈维",
    "(A)希波克拉底(B)盖伦(C)维萨里(D)哈维",
])
def test_options_on_one_line_with_or_without_spaces(tmp_path, written):
    expected = {"A": "希波克拉底", "B": "盖伦", "C": "维萨里", "D": "哈维"}
    assert parse_options(written) == expected
    in_text = mb(f"被誉为“西方医学之父”的是（ ）{written}", None, "A")
    on_next_line = mb(f"被誉为“西方医学之父”的是\n{written}\n答:", None, "A", item_id=2)
    for sample in medbench.load(write_jsonl(tmp_path / "t.jsonl", [in_text, on_next_line])):
        assert sample.options == expected and sample.gold.letters == ["A"]
        assert sample.question.startswith("被誉为“西方医学之父”的是")


def test_options_inside_option_texts_are_not_labels():
    assert parse_options("A.维生素B12B.叶酸C.铁剂D.维生素C") == {
        "A": "维生素B12", "B": "叶酸", "C": "铁剂", "D": "维生素C"
    }
    assert parse_options("A.维生素B.12缺乏B.叶酸缺乏") == {"A": "维生素B.12缺乏", "B": "叶酸缺乏"}
    assert parse_options("A. 0.3～0.9g B. 1～2g") == {"A": "0.3～0.9g", "B": "1～2g"}
    with pytest.raises(DatasetError):
        parse_options("分为A、B、C三级")


@pytest.mark.parametrize("example", [
    "问题：甲？\nA. 一\nB. 二\n答: B",
    "问题：甲？\nA. 一\nB. 二\n答:\nB",  # the example's answer on the line after "答:"
    "例题：甲？\nA. 一\nB. 二\n答案：B。解析：因为二。\n二是对的。",  # an explanation after it
])
def test_few_shot_examples_are_cut_off_the_stem(tmp_path, example):
    question = f"以下是单项选择题，请参照示例作答。\n{example}\n\n问题：目标题干？\nA. 甲\nB. 乙\n答:"
    [sample] = medbench.load(write_jsonl(tmp_path / "t.jsonl", [mb(question, None, "A")]))
    assert sample.question == "目标题干？" and sample.options == {"A": "甲", "B": "乙"}
    assert example in sample.metadata["instruction"] and sample.metadata["instruction_suffix"] == "答:"


def test_lettered_sub_questions_of_an_open_task_are_not_options(tmp_path):
    question = "病例：男，60岁，突发胸痛。\n请回答：\nA. 诊断及依据\nB. 进一步检查"
    records = [mb(question, None, None, source="CMB-Clin", item_id=1),
               mb(question, None, None, source="MedMC", item_id=2)]
    for sample in medbench.load(write_jsonl(tmp_path / "t.jsonl", records)):
        assert sample.kind == "open" and sample.options == {} and sample.question == question


def test_a_question_ending_in_answer_keeps_it(tmp_path):
    records = [mb("请写出本题的参考答案", None, None, source="MedHC")]
    [sample] = medbench.load(write_jsonl(tmp_path / "t.jsonl", records))
    assert sample.question == "请写出本题的参考答案"


def test_a_dialogue_with_answer_lines_is_not_a_few_shot_preamble(tmp_path):
    question = "问：最近总是头晕怎么办？\n答：建议测量血压。\n问：血压150/95，需要吃药吗？"
    [sample] = medbench.load(write_jsonl(tmp_path / "t.jsonl", [mb(question, None, None, source="MedDG")]))
    assert sample.kind == "open" and sample.question == question and "instruction" not in sample.metadata


def test_detect_format_medbench_and_generic(tmp_path):
    assert detect_format(write_jsonl(tmp_path / "a.jsonl", [mb("题", None, None)])) == "medbench"
    assert detect_format(write_jsonl(tmp_path / "b.jsonl", [{"question": "q", "answer": "x"}])) == "generic"


# --- bad input -----------------------------------------------------------------------------------


def bad_medbench_file(tmp_path: Path) -> Path:
    good = json.dumps(mb("题一", ["A. x", "B. y", "C. z", "D. w"], "B", item_id=1), ensure_ascii=False)
    lines = [
        good,
        '{"question": "题二", "options": ["A. x"',  # line 2: invalid JSON
        json.dumps(mb("题三", ["A. x", "B. y", "C. z", "D. w"], "F", item_id=3), ensure_ascii=False),
        json.dumps({"options": None, "answer": None, "other": {"source": "MedExam", "id": 4}}),
        json.dumps(mb("题五", ["A. x", "B. y", "D. z"], "A", item_id=5), ensure_ascii=False),
        "",
        json.dumps(mb("题七", ["A. x", "B. y"], "A", item_id=7), ensure_ascii=False),
    ]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_malformed_rows_name_file_line_and_field(tmp_path):
    path = bad_medbench_file(tmp_path)
    errors: list[DatasetError] = []
    samples = medbench.load(path, skip_bad=True, on_skip=errors.append)
    assert [s.id for s in samples] == ["medbench-MedExam/1", "medbench-MedExam/7"]
    assert [(e.line, e.field) for e in errors] == [(2, None), (3, "answer"), (4, "question"), (5, "options")]
    assert str(errors[1]) == f"{path}:3: field 'answer': unknown answer letter 'F' (options are A–D)"
    assert "invalid JSON" in str(errors[0]) and str(errors[0]).startswith(f"{path}:2:")
    assert "A, B, D" in errors[3].message


def test_malformed_row_stops_the_load_without_skip_bad(tmp_path):
    with pytest.raises(DatasetError) as info:
        medbench.load(bad_medbench_file(tmp_path))
    assert info.value.line == 2 and info.value.path == str(tmp_path / "data.jsonl")


def test_skipped_rows_are_logged_when_no_callback(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="medgap.datasets"):
        samples = medbench.load(bad_medbench_file(tmp_path), skip_bad=True)
    assert len(samples) == 2
    assert sum("skipped" in record.getMessage() for record in caplog.records) == 4


def test_cmmlu_bad_answer_reports_the_row_start_line(tmp_path):
    path = tmp_path / "anatomy.csv"
    path.write_text(
        ',Question,A,B,C,D,Answer\n0,"多行\n题干",a,b,c,d,A\n1,题,a,b,c,d,E\n2,题,a,b,c\n', encoding="utf-8"
    )
    errors: list[DatasetError] = []
    samples = cmmlu.load(path, skip_bad=True, on_skip=errors.append)
    assert [s.id for s in samples] == ["cmmlu-anatomy/0"] and samples[0].question == "多行\n题干"
    assert [(e.line, e.field) for e in errors] == [(4, "Answer"), (5, None)]
    assert "unknown answer letter 'E' (options are A–D)" in str(errors[0])
    assert "cells" in errors[1].message


def test_cmmlu_wrong_header_is_an_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("id,stem,answer\n1,q,A\n", encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        cmmlu.load(path)
    assert info.value.line == 1 and info.value.field == "header"


def test_cmb_clin_bad_pair_names_case_line_and_field(tmp_path):
    cases = [
        {
            "id": "1",
            "title": "t",
            "description": "病例一",
            "QA_pairs": [{"question": "问1", "answer": "答1"}],
        },
        {
            "id": "2",
            "title": "t",
            "description": "病例二",
            "QA_pairs": [{"question": "问1", "answer": "答1"}, {"question": "问2"}],
        },
    ]
    path = tmp_path / "clin.json"
    path.write_text(json.dumps(cases, ensure_ascii=False, indent=4), encoding="utf-8")
    second_case_line = path.read_text(encoding="utf-8").splitlines().index("    {", 2) + 1
    with pytest.raises(DatasetError) as info:
        cmb_clin.load(path)
    assert info.value.field == "QA_pairs[1].answer" and info.value.line == second_case_line
    errors: list[DatasetError] = []
    samples = cmb_clin.load(path, skip_bad=True, on_skip=errors.append)
    assert [s.id for s in samples] == ["cmb-clin/1-1", "cmb-clin/2-1"] and len(errors) == 1


def test_mtcmb_unknown_file_name_needs_dimension(tmp_path):
    path = write_jsonl(tmp_path / "herbs.jsonl", [{"id": 1, "question": "q", "answer": "x", "source": "s"}])
    with pytest.raises(DatasetError, match="--dimension"):
        mtcmb.load(path)
    assert mtcmb.load(path, dimension="safety_ethics")[0].kind == "fill"


def test_duplicate_ids_in_one_file_are_an_error(tmp_path):
    records = [
        {"id": 1, "question": "q1", "answer": "x", "source": "s"},
        {"id": 1, "question": "q2", "answer": "y", "source": "s"},
    ]
    with pytest.raises(DatasetError) as info:
        mtcmb.load(write_jsonl(tmp_path / "TCM-SE-A.jsonl", records))
    assert info.value.line == 2 and "first at line 1" in str(info.value)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        load_file(tmp_path / "absent.jsonl")
    with pytest.raises(DatasetError, match="unknown format"):
        load_file(write_jsonl(tmp_path / "a.jsonl", [{"question": "q"}]), format="medbnech")


def test_unknown_dimension_is_rejected(tmp_path):
    path = write_jsonl(
        tmp_path / "TCM-SE-A.jsonl", [{"id": 1, "question": "q", "answer": "x", "source": "s"}]
    )
    with pytest.raises(DatasetError, match="unknown dimension"):
        mtcmb.load(path, dimension="knowledge")


# --- generic -------------------------------------------------------------------------------------


def test_generic_jsonl_with_field_map(tmp_path):
    records = [
        {
            "qid": "a1",
            "stem": "哪项正确？",
            "choices": {"A": "x", "B": "y", "C": "z"},
            "label": "B,C",
            "area": "knowledge_qa",
        },
        {
            "qid": "a2",
            "stem": "解释发热机制。",
            "label": "体温调定点上移",
            "area": "complex_reasoning",
            "pts": "- 调定点\n- 产热增加",
        },
        {"qid": "a3", "stem": "填空：____", "label": "阿司匹林", "area": "safety_ethics", "type": "fill"},
    ]
    fields = FieldMap(
        id="qid",
        question="stem",
        options="choices",
        answer="label",
        dimension="area",
        kind="type",
        key_points="pts",
    )
    samples = by_id(load_file(write_jsonl(tmp_path / "mine.jsonl", records), fields=fields))
    choice = samples["mine/a1"]
    assert choice.kind == "multi" and choice.gold.letters == ["B", "C"] and choice.dimension == "knowledge_qa"
    essay = samples["mine/a2"]
    assert essay.kind == "open" and essay.gold.key_points == ["调定点", "产热增加"]
    assert samples["mine/a3"].kind == "fill" and samples["mine/a3"].gold.text == "阿司匹林"


def test_generic_csv_letter_columns_and_dimension_argument(tmp_path):
    path = tmp_path / "quiz.csv"
    path.write_text(
        "id,question,A,B,C,D,answer\n1,q1,a,b,c,d,D\n2,q2,a,b,c,,A\n3,q3,a,,c,d,A\n", encoding="utf-8"
    )
    with pytest.raises(DatasetError, match="--dimension"):
        generic.load(path)
    errors: list[DatasetError] = []
    samples = generic.load(path, dimension="knowledge_qa", skip_bad=True, on_skip=errors.append, task="quiz")
    assert [s.id for s in samples] == ["quiz/1", "quiz/2"]
    assert list(samples[1].options) == ["A", "B", "C"]  # trailing empty column = fewer options
    assert errors[0].line == 4 and errors[0].field == "B"


def test_generic_rejects_unknown_kind_and_missing_question(tmp_path):
    records = [
        {"question": "q", "kind": "essay", "dimension": "knowledge_qa"},
        {"prompt": "q", "dimension": "knowledge_qa"},
    ]
    errors: list[DatasetError] = []
    assert (
        generic.load(write_jsonl(tmp_path / "g.jsonl", records), skip_bad=True, on_skip=errors.append) == []
    )
    assert [(e.line, e.field) for e in errors] == [(1, "kind"), (2, "question")]


@pytest.mark.parametrize(("raw", "expected"), [
    ('{"q": "题", "n": 12345678901234567890}'.encode(), {"q": "题", "n": 12345678901234567890}),
    (b"\xef\xbb\xbf" + b'{"q": "BOM"}', {"q": "BOM"}),  # a UTF-8 BOM on the first line
    (b'{"q": "\\ud800"}', {"q": "\ud800"}),  # a lone surrogate escape: only the json module takes it
])
def test_json_lines_read_as_the_json_module_reads_them(raw, expected):
    assert json_object(raw) == expected


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"q": "\xff"}', "not valid UTF-8 (invalid start byte at byte 7)"),
    (b'{"q": 1,}', "invalid JSON: Expecting property name enclosed in double quotes (column 9)"),
    (b'["q"]', "expected a JSON object, found list"),
])
def test_a_bad_json_line_says_what_is_wrong(raw, message):
    with pytest.raises(DatasetError) as caught:
        json_object(raw)
    assert caught.value.message == message
