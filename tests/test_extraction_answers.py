"""Reading extraction answers out of the many ways models write them."""

import pytest

from medgap.scoring.extraction_answers import (
    ParseError,
    ShapeError,
    Vocabulary,
    clean,
    default_vocabulary,
    format_item,
    gold_items,
    parse_answer,
)

ENTITIES = [("疾病", "2型糖尿病"), ("症状", "口渴"), ("药物", "二甲双胍")]


@pytest.mark.parametrize(
    "text",
    [
        # MedBench / OpenCompass answer layout: one type per line
        "疾病：2型糖尿病\n症状：口渴\n药物：二甲双胍",
        "上述句子中的实体包含：\n疾病实体：2型糖尿病\n症状实体：口渴\n药物实体：二甲双胍\n医学检验项目实体：无",
        "[疾病]实体：2型糖尿病\n[症状]实体：口渴\n[药物]实体：二甲双胍",
        "**疾病**：2型糖尿病\n**症状**: 口渴\n**药物**：二甲双胍",
        "- 疾病：2型糖尿病\n- 症状：口渴\n- 药物：二甲双胍",
        # entity first
        "好的，以下是抽取结果：\n1. 2型糖尿病：疾病\n2. 口渴：症状\n3. 二甲双胍：药物",
        "2型糖尿病（疾病）、口渴（症状）、二甲双胍（药物）",
        "- 2型糖尿病 - 疾病\n- 口渴 - 症状\n- 二甲双胍 - 药物",
        "实体：2型糖尿病，类型：疾病\n实体：口渴，类型：症状\n实体：二甲双胍，类型：药物",
        "| 实体 | 类型 |\n|------|------|\n"
        "| 2型糖尿病 | 疾病 |\n| 口渴 | 症状 |\n| 二甲双胍 | 药物 |",
        # JSON in its common shapes
        '[{"type": "疾病", "entity": "2型糖尿病"}, {"type": "症状", "entity": "口渴"},'
        ' {"type": "药物", "entity": "二甲双胍"}]',
        '```json\n[{"实体": "2型糖尿病", "类型": "疾病"}, {"实体": "口渴", "类型": "症状"},'
        ' {"实体": "二甲双胍", "类型": "药物"}]\n```',
        '抽取结果如下：\n```json\n{"疾病": ["2型糖尿病"], "症状": ["口渴"], "药物": ["二甲双胍"], "设备": []}\n```'
        '\n以上。',
        '{"entities": [{"name": "2型糖尿病", "label": "疾病"}, {"name": "口渴", "label": "症状"},'
        ' {"name": "二甲双胍", "label": "药物"}]}',
        '{"2型糖尿病": "疾病", "口渴": "症状", "二甲双胍": "药物"}',
        '[["2型糖尿病", "疾病"], ["口渴", "症状"], ["药物", "二甲双胍"]]',
        "{'疾病': ['2型糖尿病'], '症状': ['口渴'], '药物': ['二甲双胍'],}",
        # a reasoning block before the answer, full-width characters in it
        "<think>先找疾病，再找症状。疾病：高血压？不对。</think>\n疾病：２型糖尿病\n症状：口渴\n药物：二甲双胍",
    ],
)
def test_entity_answers_in_every_layout_read_the_same(text):
    assert sorted(parse_answer(text, "entities")) == sorted(ENTITIES)


def test_an_entity_list_keeps_what_the_model_wrote_including_wrong_types_and_repeats():
    text = "疾病：2型糖尿病，口渴\n症状：口渴、口渴\n器官：胰腺"
    assert parse_answer(text, "entities") == [("疾病", "2型糖尿病"), ("疾病", "口渴"), ("症状", "口渴")]


def test_item_labels_extend_what_counts_as_a_type():
    vocab = Vocabulary.of(types=["解剖部位"])
    assert parse_answer("解剖部位：左下肢", "entities", vocab) == [("解剖部位", "左下肢")]
    with pytest.raises(ParseError):
        parse_answer("解剖部位：左下肢", "entities", default_vocabulary("entities"))


TRIPLES = [("胃溃疡", "临床表现", "上腹痛"), ("胃溃疡", "药物治疗", "奥美拉唑")]


@pytest.mark.parametrize(
    "text",
    [
        "(胃溃疡, 临床表现, 上腹痛)\n(胃溃疡, 药物治疗, 奥美拉唑)",
        "（胃溃疡，临床表现，上腹痛）（胃溃疡，药物治疗，奥美拉唑）",
        "1. 【胃溃疡，临床表现，上腹痛】\n2. 【胃溃疡，药物治疗，奥美拉唑】",
        "胃溃疡-临床表现-上腹痛\n胃溃疡 → 药物治疗 → 奥美拉唑",
        "胃溃疡 --临床表现--> 上腹痛\n胃溃疡 --药物治疗--> 奥美拉唑",
        '关系："临床表现"，头实体："胃溃疡"，尾实体："上腹痛"\n关系："药物治疗"，头实体："胃溃疡"，尾实体："奥美拉唑"',
        ("具有临床表现关系的头尾实体对如下：头实体为胃溃疡，尾实体为上腹痛。\n"
        "具有药物治疗关系的头尾实体对如下：头实体为胃溃疡，尾实体为奥美拉唑。"),
        "头实体：胃溃疡；关系：临床表现；尾实体：上腹痛\n头实体：胃溃疡；关系：药物治疗；尾实体：奥美拉唑",
        "| 头实体 | 关系 | 尾实体 |\n|---|---|---|\n| 胃溃疡 | 临床表现 | 上腹痛 |\n| 胃溃疡 | 药物治疗 | 奥美拉唑 |",
        '[["胃溃疡", "临床表现", "上腹痛"], ["胃溃疡", "药物治疗", "奥美拉唑"]]',
        ('```json\n[{"head": "胃溃疡", "relation": "临床表现", "tail": "上腹痛"},'
        ' {"subject": "胃溃疡", "predicate": "药物治疗", "object": "奥美拉唑"}]\n```'),
        ('{"triples": [{"头实体": "胃溃疡", "关系": "临床表现", "尾实体": "上腹痛"},'
        ' {"头实体": "胃溃疡", "关系": "药物治疗", "尾实体": "奥美拉唑"}]}'),
        '{"临床表现": [["胃溃疡", "上腹痛"]], "药物治疗": [{"头实体": "胃溃疡", "尾实体": "奥美拉唑"}]}',
        # relation written last or first: moved into the middle because it is a known relation
        "(胃溃疡, 上腹痛, 临床表现)\n(药物治疗, 胃溃疡, 奥美拉唑)",
    ],
)
def test_triple_answers_in_every_layout_read_the_same(text):
    assert sorted(parse_answer(text, "relations")) == sorted(TRIPLES)


def test_relation_names_with_brackets_survive_tuple_parsing():
    text = "(幽门螺杆菌感染, 相关（导致）, 胃溃疡)"
    assert parse_answer(text, "relations") == [("幽门螺杆菌感染", "相关(导致)", "胃溃疡")]


def test_event_fields_on_one_line_or_one_per_line():
    one_line = (
        "主体词：咳嗽；发生状态：否定；描述词：剧烈，阵发性；解剖部位：空\n"
        "主体词：胸痛；发生状态：；描述词：空；解剖部位：左侧胸部"
    )
    blocks = (
        "事件1：\n主体词：咳嗽\n发生状态：否定\n描述词：阵发性、剧烈\n解剖部位：无\n\n"
        "事件2：\n主体词：胸痛\n解剖部位：左侧胸部"
    )
    json_text = '[{"主体词": "咳嗽", "发生状态": "否定", "描述词": ["阵发性", "剧烈"], "解剖部位": []},' \
                ' {"主体词": "胸痛", "发生状态": "", "描述词": [], "解剖部位": ["左侧胸部"]}]'
    expected = [("咳嗽", "否定", "剧烈|阵发性", ""), ("胸痛", "", "", "左侧胸部")]
    for text in (one_line, blocks, json_text):
        assert parse_answer(text, "events") == expected


@pytest.mark.parametrize(
    "text",
    [
        "胃溃疡，十二指肠溃疡",
        "标准词：胃溃疡##十二指肠溃疡",
        "根据候选项，对应的标准术语为：\n- 胃溃疡\n- 十二指肠溃疡",
        '["胃溃疡", "十二指肠溃疡"]',
        '{"标准词": ["胃溃疡", "十二指肠溃疡"]}',
    ],
)
def test_normalised_terms(text):
    assert parse_answer(text, "normalization") == [("胃溃疡",), ("十二指肠溃疡",)]


def test_prose_instead_of_terms_is_a_format_error():
    with pytest.raises(ParseError, match="sentences"):
        parse_answer("该诊断描述的是胃部溃疡，应该对应胃溃疡这个标准术语。", "normalization")


@pytest.mark.parametrize(
    "text",
    ["年龄", "答案：年龄", "该筛选标准属于“年龄”类别。", '{"label": "年龄"}', "```json\n{\"类别\": \"年龄\"}\n```"],
)
def test_class_labels(text):
    assert parse_answer(text, "classification") == [("年龄",)]


def test_a_label_with_brackets_matches_across_widths():
    assert parse_answer("类别：体征（医生检测）", "classification") == [(clean("体征(医生检测）"),)]


def test_several_labels_without_a_marked_answer_is_a_format_error():
    with pytest.raises(ParseError, match="several labels"):
        parse_answer("这句话既涉及年龄也涉及性别。", "classification")


@pytest.mark.parametrize("text", ["无", "[]", "句子中没有医学实体。", "未识别到符合要求的实体", "答案：无"])
def test_an_explicit_none_is_an_empty_answer_not_an_error(text):
    assert parse_answer(text, "entities") == []


@pytest.mark.parametrize(
    "text, message",
    [
        ("我认为这个句子描述了患者的病情，需要进一步检查。", "no entities"),
        ('{"answer": 42}', "JSON not in a known entities layout"),
        ("", "empty response"),
        ("<think>想了很久", "no entities"),  # cut off while thinking: the thinking is read, and holds none
    ],
)
def test_text_without_an_answer_raises_parse_error(text, message):
    with pytest.raises(ParseError, match=message):
        parse_answer(text, "entities")


def test_normalisation_folds_width_case_space_quotes_and_trailing_punctuation():
    assert clean(" “ＣＴ 检查”。") == "ct检查"
    assert clean("2型糖尿病") != clean("Ⅱ型糖尿病")  # nothing beyond the listed folding is forgiven


def test_gold_in_medbench_layouts():
    assert gold_items([{"type": "疾病", "entity": "高血压"}], "entities") == [("疾病", "高血压")]
    assert gold_items('{"疾病": ["高血压"]}', "entities") == [("疾病", "高血压")]  # MedBench v3 JSON string
    assert gold_items("疾病：高血压", "entities") == [("疾病", "高血压")]
    assert gold_items([{"predicate": "病因", "subject": "肺结核", "object": "结核分枝杆菌"}], "relations") == [
        ("肺结核", "病因", "结核分枝杆菌")
    ]
    assert gold_items([{"entity": "胃溃疡", "type": "normalization"}], "normalization") == [("胃溃疡",)]
    assert gold_items("胃溃疡##胃出血", "normalization") == [("胃溃疡",), ("胃出血",)]
    assert gold_items("年龄", "classification") == [("年龄",)]
    with pytest.raises(ShapeError):
        gold_items([{"foo": "bar"}], "entities")
    with pytest.raises(ShapeError):
        gold_items(None, "relations")


def test_items_are_shown_readably():
    assert format_item("entities", ("疾病", "高血压")) == "高血压（疾病）"
    assert format_item("relations", ("肺结核", "病因", "结核分枝杆菌")) == "(肺结核, 病因, 结核分枝杆菌)"
    assert format_item("events", ("咳嗽", "否定", "", "")) == "主体词：咳嗽；发生状态：否定"


def test_unknown_extraction_type_is_rejected():
    with pytest.raises(ValueError, match="unknown extraction type"):
        parse_answer("x", "spans")


def test_several_types_on_one_line_switch_the_type():
    """Written by the embedded model on a demo item."""
    text = "微生物类：幽门螺杆菌，药物：奥美拉唑，药物：阿莫西林，药物：克拉霉素"
    assert parse_answer(text, "entities") == [
        ("微生物类", "幽门螺杆菌"), ("药物", "奥美拉唑"), ("药物", "阿莫西林"), ("药物", "克拉霉素")]
