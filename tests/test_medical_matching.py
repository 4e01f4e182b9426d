"""The default `medical` key-point matcher follows KEYPOINT_COVERAGE.md (medgap/web/codebook/):
each rule of that text on answers written in the shapes real answers take, the `lexical` option
kept, and agreement with the labelled development set in bench/labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medgap.scoring import DEFAULT_MATCH, MATCH_METHODS
from medgap.scoring.matching import LexicalMatcher, get_matcher
from medgap.scoring.medical import MedicalMatcher, read_point, stated_diagnosis

LABELS = Path(__file__).resolve().parents[1] / "bench" / "labels" / "coverage.jsonl"


def covered(points: list[str], answer: str) -> list[bool]:
    return MedicalMatcher().match(points, answer).covered


def test_the_medical_matcher_is_the_default_and_lexical_stays_a_named_option():
    assert DEFAULT_MATCH == "medical" and {"medical", "lexical", "embedding", "judge"} <= set(MATCH_METHODS)
    assert isinstance(get_matcher("medical"), MedicalMatcher)
    assert isinstance(get_matcher("lexical"), LexicalMatcher)


@pytest.mark.parametrize("answer", [
    "诊断：右侧腹股沟斜疝嵌顿，并发肠梗阻。",
    "考虑为嵌顿性腹股沟斜疝合并肠梗阻",
    "1. 诊断\n嵌顿性右侧腹股沟斜疝；肠梗阻",
])
def test_a_diagnosis_stated_with_its_qualifiers_in_other_words_is_covered(answer):
    assert covered(["诊断：嵌顿性腹股沟斜疝合并肠梗阻"], answer) == [True]


@pytest.mark.parametrize("answer, why", [
    ("诊断：腹股沟疝。", "vaguer: 嵌顿性, 斜 and 合并肠梗阻 dropped"),
    ("诊断：腹股沟直疝嵌顿合并肠梗阻。", "a different entity (直疝)"),
    ("诊断：嵌顿性腹股沟斜疝。", "the component 合并肠梗阻 dropped"),
    ("", "an empty answer misses every point"),
])
def test_a_diagnosis_missing_a_qualifier_or_naming_another_entity_is_missed(answer, why):
    assert covered(["诊断：嵌顿性腹股沟斜疝合并肠梗阻"], answer) == [False], why


def test_the_codebook_examples_of_qualifiers():
    point = ["诊断：混合痔"]
    assert covered(point, "诊断：混合痔（Ⅱ度）") == [True]
    assert covered(point, "诊断：痔疮") == [False]  # 痔 for 混合痔: vaguer
    assert covered(point, "诊断：内痔") == [False]  # 内痔 for 混合痔: a different entity
    assert covered(["右侧额顶慢性硬膜下血肿"], "右额顶部慢性硬脑膜下血肿") == [True]  # side and stage kept
    assert covered(["右侧额顶慢性硬膜下血肿"], "左侧额顶慢性硬膜下血肿") == [False]  # the other side


def test_synonyms_abbreviations_and_more_specific_terms_count():
    assert covered(["高处坠落伤"], "患者自高空坠落后昏迷。") == [True]
    assert covered(["首选抗心律失常药物治疗"], "可予胺碘酮静脉推注复律。") == [True]
    assert covered(["诊断：慢性阻塞性肺疾病急性加重"], "诊断：COPD急性加重期") == [True]


def test_several_co_equal_parts_need_more_than_half_including_the_most_decisive():
    point = ["遗传性球形红细胞增多症，脾大、脾功能亢进"]
    assert covered(point, "遗传性球形红细胞增多症，合并脾肿大和脾功能亢进。") == [True]
    assert covered(point, "诊断：遗传性球形红细胞增多症伴脾大。") == [True]  # 2 of 3, the first included
    assert covered(point, "考虑遗传性球形红细胞增多症。") == [False]  # 1 of 3
    assert covered(point, "溶血性贫血，脾大，脾功能亢进。") == [False]  # 2 of 3 without the decisive one


def test_a_named_differential_needs_only_its_name_and_must_be_offered_as_one():
    points = ["急性蜂窝织炎：可见于下肢，临床表现与丹毒相似，但多伴有患处局部肿胀，皮肤变色区边界不清",
              "坏死性筋膜炎：病人全身症状较轻，局部皮下未触及捻发音"]
    assert covered(points, "鉴别诊断：①急性蜂窝织炎；②坏死性筋膜炎。") == [True, True]
    # named as the diagnosis while the differential section names others: contradicted, missed
    assert covered(points, "诊断：左下肢急性蜂窝织炎。鉴别：丹毒、深静脉血栓形成。") == [False, False]


def test_a_diagnosis_offered_only_as_a_differential_is_not_the_diagnosis():
    assert covered(["诊断：左下肢丹毒"], "诊断：左下肢蜂窝织炎。鉴别：左下肢丹毒、深静脉血栓形成。") == [False]


def test_evidence_is_judged_on_the_finding_even_under_a_wrong_diagnosis():
    points = ["CT：胆囊结石", "体格检查发现右上腹压痛"]
    answer = "诊断：慢性胆囊炎。依据：右上腹轻压痛，CT示胆囊内结石影。"
    assert covered(points, answer) == [True, True]


def test_how_points_are_read():
    assert read_point("诊断：嵌顿性腹股沟斜疝合并肠梗阻").kind == "diagnosis"
    assert read_point("急性蜂窝织炎：可见于下肢").kind == "named"
    assert read_point("壶腹癌或胰头癌：该病起病缓慢").parts == ("壶腹癌", "胰头癌")
    assert read_point("CT：胆囊结石").kind == "statement"  # evidence under a heading: the finding
    assert read_point("发的生长全赖于精和血").kind == "statement"  # not a disease term
    assert stated_diagnosis("诊断依据：右下腹痛。诊断为急性阑尾炎，鉴别诊断：…") == "急性阑尾炎"
    assert stated_diagnosis("鉴别诊断：丹毒") is None


def test_the_labelled_set_is_reproduced():
    """bench/labels/coverage.jsonl (real model answers and hand-written ones, labelled by the coverage
    rule): per-answer coverage correlates with the human labels (see bench/agreement.py for the
    full report per part)."""
    from scipy.stats import spearmanr

    lines = [json.loads(x) for x in LABELS.read_text(encoding="utf-8").splitlines() if x.strip()]
    assert sum(len(x["points"]) for x in lines) >= 150
    matcher, lexical = MedicalMatcher(), LexicalMatcher()
    human = [sum(x["covered"]) / len(x["points"]) for x in lines]
    auto = [sum(matcher.match(x["points"], x["answer"]).covered) / len(x["points"]) for x in lines]
    old = [sum(lexical.match(x["points"], x["answer"]).covered) / len(x["points"]) for x in lines]
    assert spearmanr(human, auto).statistic >= 0.8
    assert spearmanr(human, auto).statistic > spearmanr(human, old).statistic


def test_a_short_word_is_not_pieced_together_from_characters_far_apart():
    assert covered(["诊断：颈左后部痈"], "诊断：左后颈部痈。") == [True]  # 后部 reordered within a few characters
    assert covered(["新生儿肝炎：黄疸多为波动性"], "鉴别：新生儿黄疸；新生儿肝功能异常与胆道炎症。") == [False]


class ScriptedJudge:
    """A judge model that answers every request with one reply and records the points it was shown."""

    name = "scripted-judge"

    def __init__(self, reply: str) -> None:
        self.reply, self.shown = reply, []

    async def generate(self, request):
        from medgap.records import Response

        self.shown.append(request.messages[-1].content)
        return Response(text=self.reply)


def test_with_a_judge_configured_the_judge_settles_only_the_close_calls():
    import asyncio

    points = ["诊断：慢性硬膜下血肿", "1个月前有轻微头部外伤史，急起头痛并进行性加重"]
    answer = "诊断：慢性硬膜下血肿。依据：有头部外伤史，头痛加重。"
    alone = MedicalMatcher().match(points, answer)
    assert alone.covered == [True, True] and abs(alone.scores[1] - MedicalMatcher.THRESHOLD) < 0.12  # a close call
    judge = ScriptedJudge('{"covered": []}')  # the judge: the timing and the progression are not stated
    result = asyncio.run(get_matcher("medical", judge=judge).amatch(points, answer))
    assert result.covered == [True, False] and result.method == "medical"
    assert len(judge.shown) == 1 and "1. 1个月前" in judge.shown[0]
    assert "慢性硬膜下血肿" not in judge.shown[0].split("【参考要点】")[1].split("【考生回答】")[0]
    # a judge that never answers in form leaves the rules' decisions, with the error noted
    broken = asyncio.run(MedicalMatcher(judge=ScriptedJudge("不知道")).amatch(points, answer))
    assert broken.covered == [True, True] and broken.error


def test_a_heading_that_lists_co_equal_items_needs_more_than_half_of_them():
    point = ["气的升降出入平衡失调有四种最基本的变化：气逆、气陷、气闭、气脱。"]
    answer = "气机失调的最基本的变化类型包括：1. 气滞；2. 气逆；3. 气虚；4. 气郁。"  # 1 of the 4 listed
    assert covered(point, answer) == [False]
    assert covered(point, "其基本变化为气逆、气陷、气脱三种。") == [True]  # 3 of 4
