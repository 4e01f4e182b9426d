import json

import pytest

from medgap.records import Gold, Sample, Source
from medgap.scoring.keypoints import (
    OverrideError,
    apply_overrides,
    is_heading,
    key_points,
    key_points_source,
    point_body,
    split_reference,
    write_points,
)


@pytest.fixture(scope="module")
def clin(source_data):
    cases = json.loads((source_data / "cmb_clin" / "CMB-test-qa.json").read_text(encoding="utf-8"))
    return {(case["id"], i): pair["answer"] for case in cases for i, pair in enumerate(case["QA_pairs"])}


@pytest.fixture(scope="module")
def ft(source_data):
    lines = (source_data / "mtcmb" / "TCM-FT.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def open_sample(sample_id="x", text=None, points=()):
    return Sample(id=sample_id, source=Source(dataset="t"), task="t", dimension="complex_reasoning", kind="open",
                  question="问题", gold=Gold(text=text, key_points=list(points)))


def test_circled_enumeration_after_headed_sections(clin):
    # 诊断：… 诊断依据：①…④ — the heading alone is dropped, a line wrapped after "，" is joined back
    assert split_reference(clin[("0", 0)]) == [
        "诊断：嵌顿性腹股沟斜疝合并肠梗阻",
        "右下腹痛并自扪及包块3小时",
        "有腹胀、呕吐，类似肠梗阻表现；腹部平片可见阶梯状液平，考虑肠梗阻可能；腹部B超考虑，腹部包块内可能为肠管可能",
        "有轻度毒性反应或是中毒反应，如 T 37.8℃，P 101次／分，白细胞中性分类78％",
        "腹股沟区包块位于腹股沟韧带上内方",
    ]


def test_parenthesised_numbers_keep_each_item_whole(clin):
    points = split_reference(clin[("0", 1)])
    assert [p.split("：")[0] for p in points] == [
        "睾丸鞘膜积液", "交通性鞘膜积液", "精索鞘膜积液", "隐睾", "急性肠梗阻",
        "此外，腹股沟区肿块还应与以下疾病鉴别:肿大的淋巴结、动（静）脉瘤、"
        "软组织肿瘤、脓肿、圆韧带囊肿、子宫内膜异位症等",
    ]
    # the item's internal "；" and sentences stay in one point
    assert points[1].count("。") == 3


def test_nested_sections_drop_headings_and_keep_decimals(clin):
    points = split_reference(clin[("4", 0)])
    assert points[0] == "诊断：原发性甲状旁腺功能亢进"
    assert "实验室检查：血钙3.1mmol/L，甲状旁腺素450pg/ml" in points  # 3.1 is not a "3." marker
    assert "多普勒超声：右侧甲状腺下极背面可探及一低回声肿块，大小约1.5cm×1cm，形态规则" in points
    assert points[-1].startswith("继发性甲状旁腺功能亢进：")
    assert not any(p.startswith(("诊断依据", "鉴别诊断")) for p in points)


def test_inline_arabic_enumeration(clin):
    points = split_reference(clin[("9", 1)])
    assert points[:4] == ["左侧嗜铬细胞瘤", "高血压病", "糖尿病", "高血压病史"]


def test_unenumerated_paragraph_is_split_into_sentences(clin):
    points = split_reference(clin[("0", 2)])
    assert len(points) == 7
    assert points[0] == "嵌顿性疝原则上需要紧急手术治疗，以防止疝内容物坏死并解除伴发的肠梗阻"


def test_ascii_parentheses_and_numbered_lines(clin):
    assert split_reference(clin[("21", 2)]) == [
        "治疗时注意卧床休息，抬高患肢。局部可用50%硫酸镁液湿敷或采用中药外敷",
        "全身应用抗菌药物，如静脉滴注β-内酰胺类抗生素",
        "积极治疗与丹毒相关的足癣，避免复发",
    ]
    points = split_reference(clin[("22", 1)])  # "1.胸部影像学…\n2.必要时…" after a lead sentence
    assert points[0] == "临床应首选胸部CT扫描进一步确定诊断"
    assert len(points) == 6 and points[-1].startswith("气管镜、食管镜、纵隔镜")


def test_answer_letter_of_a_choice_question_is_not_a_point(clin):
    points = split_reference(clin[("71", 0)])
    assert points and not any("答案" in p for p in points)


def test_chinese_numerals_and_bullets():
    text = "一、病因：外感风寒。\n二、治法：辛温解表；\n- 方用麻黄汤\n• 注意发汗不宜太过"
    assert split_reference(text) == ["病因：外感风寒", "治法：辛温解表", "方用麻黄汤", "注意发汗不宜太过"]


def test_every_real_reference_yields_clean_points(clin):
    for key, answer in clin.items():
        points = split_reference(answer)
        assert points, key
        for point in points:
            assert point == point.strip() and not is_heading(point), (key, point)
            assert not point.endswith(("。", "；", "，")), (key, point)
        assert len(points) == len(set(points)), key


def test_mtcmb_bullets_are_the_source_points(ft):
    for record in ft:
        bullets = [line[2:].strip().rstrip("。；") for line in record["points"].splitlines() if line.strip()]
        assert split_reference(record["points"]) == bullets, record["id"]


def test_point_body_strips_generic_headings_only():
    assert point_body("诊断：胆囊结石") == "胆囊结石"
    assert point_body("诊断依据：老年男性病人") == "老年男性病人"
    assert point_body("睾丸鞘膜积液：鞘膜积液所呈现的肿块") == "睾丸鞘膜积液：鞘膜积液所呈现的肿块"
    assert point_body("诊断：") == "诊断："


def test_key_points_prefer_the_source_list():
    sample = open_sample(text="①甲。②乙。", points=["给定要点"])
    assert key_points(sample) == ["给定要点"] and key_points_source(sample) == "given"
    derived = open_sample(text="①甲病；②乙病")
    assert key_points(derived) == ["甲病", "乙病"] and key_points_source(derived) == "derived"
    assert key_points(Sample(id="u", source=Source(dataset="t"), task="t", dimension="knowledge_qa", kind="open",
                             question="q")) == []


def test_overrides_replace_points_and_round_trip(tmp_path):
    samples = [open_sample("a", text="①甲病；②乙病"), open_sample("b", text="丙病。")]
    path = tmp_path / "points.jsonl"
    assert write_points(samples, path) == 2
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"id": "a", "points": ["甲病", "乙病"]}
    lines[0]["points"] = ["甲病（修订）"]
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    updated = apply_overrides(samples, path)
    assert key_points(updated[0]) == ["甲病（修订）"] and key_points_source(updated[0]) == "override"
    assert key_points(updated[1]) == ["丙病"]
    assert key_points(samples[0]) == ["甲病", "乙病"]  # the input samples are not modified


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "a", "points": ["x"]}\nnot json\n', ":2: not valid JSON"),
        ('{"id": "a"}\n', ":1: field 'points' must be a non-empty list"),
        ('{"id": "a", "points": ["x", ""]}\n', ":1: field 'points'"),
        ('{"points": ["x"]}\n', ":1: field 'id'"),
        ('{"id": "a", "points": ["x"]}\n{"id": "a", "points": ["y"]}\n', ":2: field 'id' repeats"),
        ('{"id": "zzz", "points": ["x"]}\n', "names items not in the data: zzz"),
    ],
)
def test_bad_override_files_name_file_line_and_field(tmp_path, content, message):
    path = tmp_path / "over.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(OverrideError) as caught:
        apply_overrides([open_sample("a", text="甲")], path)
    assert str(path) in str(caught.value) and message in str(caught.value)
