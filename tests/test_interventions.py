"""Each intervention changes the messages or the answer exactly as designed, seen through a model
that records every request and replies from a script."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from medgap.analysis.metrics import summarize_run
from medgap.evaluate import RunSetupError, plan_run
from medgap.models.base import GenerateConfig, Model, ModelRequest
from medgap.records import Gold, Message, Response, RunConfig, Sample, Source
from medgap.runner import ask, run_eval
from medgap.solvers import checklist, cot, json_output, prompts, retrieval, safety, verify
from medgap.solvers.interventions import INTERVENTIONS, InterventionSettings, build_chain, parse_names
from medgap.solvers.permutations import make_attempt
from medgap.store import Store
from tests.helpers import choice_sample


class Recorder(Model):
    """Answers from `reply(request, call_number)`; keeps every request."""

    def __init__(self, reply: Callable[[ModelRequest, int], str | Response] | list[str]) -> None:
        super().__init__("recorder")
        self.reply = reply if callable(reply) else (lambda request, i: reply[i])
        self.requests: list[ModelRequest] = []

    async def generate(self, request: ModelRequest) -> Response:
        self.requests.append(request.model_copy(deep=True))
        out = self.reply(request, len(self.requests) - 1)
        return out if isinstance(out, Response) else Response(text=out, prompt_tokens=10, completion_tokens=5,
                                                             latency_s=0.5)


def open_sample(sample_id: str = "case/1", context: str | None = "男，45岁，上腹痛3天。") -> Sample:
    return Sample(
        id=sample_id, source=Source(dataset="fixture"), task="open-task", dimension="complex_reasoning", kind="open",
        question="该患者最可能的诊断是什么？", context=context, gold=Gold(key_points=["急性胰腺炎"]),
    )


def fill_sample() -> Sample:
    return Sample(id="fill/1", source=Source(dataset="fixture"), task="fill-task", dimension="safety_ethics",
                  kind="fill", question="青霉素过敏者禁用____。", gold=Gold(text="阿莫西林"))


def drug_sample() -> Sample:
    return Sample(
        id="drug/1", source=Source(dataset="fixture"), task="drug", dimension="safety_ethics", kind="single",
        question="服用甲硝唑期间饮酒可能引起哪种反应？",
        options={"A": "双硫仑样反应", "B": "灰婴综合征", "C": "瑞氏综合征", "D": "5-羟色胺综合征"},
        gold=Gold(letters=["A"]),
    )


def run_one(names: list[str], sample: Sample, model: Recorder, *, choice_mode: str = "generate",
            permutation: int = 0, order: list[str] | None = None, settings: InterventionSettings | None = None):
    attempt = make_attempt(sample, permutation, order or list(sample.options))
    gen = GenerateConfig(choice_mode=choice_mode)
    response, notes = asyncio.run(ask(model, sample, attempt, build_chain(names, settings), gen))
    return attempt, response, notes


def plain_text(sample: Sample, attempt) -> str:
    return prompts.render(sample.kind, sample.question, attempt.options, sample.context)


# ------------------------------------------------------------------------------------------ registry

def test_every_level_1_to_3_intervention_is_registered_and_level_4_is_not():
    assert {"checklist", "cot", "json", "fewshot"} == {n for n, i in INTERVENTIONS.items() if i.level == 1}
    assert {"retrieval", "safety"} == {n for n, i in INTERVENTIONS.items() if i.level == 2}
    assert {"self_consistency", "verify", "vote"} == {n for n, i in INTERVENTIONS.items() if i.level == 3}
    assert not any(i.level == 4 for i in INTERVENTIONS.values())


def test_names_parse_and_unknown_or_repeated_names_are_refused():
    assert parse_names("plain") == [] and parse_names(None) == []
    assert parse_names(" checklist, cot ") == ["checklist", "cot"]
    with pytest.raises(ValueError, match="unknown intervention 'magic'"):
        parse_names("checklist,magic")
    with pytest.raises(ValueError, match="named twice"):
        parse_names("cot,cot")
    with pytest.raises(ValueError, match="unknown intervention"):
        build_chain(["nope"])


def test_no_intervention_sends_the_plain_prompt_once():
    sample = choice_sample("q1", answer="B")
    model = Recorder(["答案：B"])
    attempt, response, notes = run_one([], sample, model)
    sent = [m.model_dump() for m in model.requests[0].messages]
    assert sent == [{"role": "user", "content": plain_text(sample, attempt)}]
    assert response.text == "答案：B" and notes == {}


# ------------------------------------------------------------------------------------------ level 1

def test_checklist_lists_the_five_clinical_points_for_a_case():
    sample = open_sample()
    model = Recorder(["诊断：急性胰腺炎"])
    attempt, _, notes = run_one(["checklist"], sample, model)
    (message,) = model.requests[0].messages
    assert message.content == plain_text(sample, attempt) + checklist.CLINICAL
    for point in ("1. 诊断：", "2. 诊断依据：", "3. 鉴别诊断：", "4. 进一步检查：", "5. 治疗："):
        assert point in message.content
    assert notes == {"checklist": "clinical"}


def test_checklist_variants_for_open_choice_and_fill_items():
    bare = open_sample(context=None)
    model = Recorder(["要点"])
    attempt, _, notes = run_one(["checklist"], bare, model)
    assert model.requests[0].messages[0].content == plain_text(bare, attempt) + checklist.ANSWER_POINTS
    assert notes["checklist"] == "open"

    choice = choice_sample("q1", answer="C")
    model = Recorder(["A错误… 答案：C"])
    attempt, _, notes = run_one(["checklist"], choice, model, choice_mode="logprobs")
    assert model.requests[0].messages[0].content == plain_text(choice, attempt) + checklist.OPTIONS
    # analyse-then-answer needs written text: letter log-probabilities would skip the analysis
    assert model.requests[0].config.choice_mode == "generate"
    assert notes == {"checklist": "choice", "choice_mode": "generate"}

    fill = fill_sample()
    model = Recorder(["阿莫西林"])
    attempt, _, notes = run_one(["checklist"], fill, model)
    assert model.requests[0].messages[0].content == plain_text(fill, attempt)
    assert notes == {"checklist": "not_applicable"}


def test_cot_asks_for_reasoning_and_keeps_the_answer_format():
    choice = choice_sample("q1", answer="A")
    model = Recorder(["先分析……答案：A"])
    attempt, _, notes = run_one(["cot"], choice, model)
    content = model.requests[0].messages[0].content
    assert content == plain_text(choice, attempt) + cot.CHOICE
    assert content.endswith("最后一行以“答案：X”的格式给出答案。")
    model = Recorder(["……"])
    attempt, _, _ = run_one(["cot"], open_sample(), model)
    assert model.requests[0].messages[0].content == plain_text(open_sample(), attempt) + cot.OPEN
    model = Recorder(["阿莫西林"])
    attempt, _, notes = run_one(["cot"], fill_sample(), model)
    assert model.requests[0].messages[0].content == plain_text(fill_sample(), attempt)
    assert notes == {"cot": "not_applicable"}


def test_prompt_steps_apply_in_the_order_named():
    sample = choice_sample("q1")
    model = Recorder(["答案：A"])
    attempt, _, _ = run_one(["checklist", "cot"], sample, model)
    assert model.requests[0].messages[0].content == plain_text(sample, attempt) + checklist.OPTIONS + cot.CHOICE


def test_json_valid_reply_becomes_the_answer_the_scorer_reads():
    sample = choice_sample("q1", answer="C")
    model = Recorder(['```json\n{"reasoning": "C 对", "answer": "C"}\n```'])
    attempt, response, notes = run_one(["json"], sample, model)
    assert len(model.requests) == 1
    sent = model.requests[0].messages[0].content
    instruction = json_output.INSTRUCTION.format(schema=json_output.schema_for_kind("single"))
    assert sent == plain_text(sample, attempt) + instruction
    assert response.text == "答案：C"
    raw = '```json\n{"reasoning": "C 对", "answer": "C"}\n```'
    assert notes["json"] == {"valid": True, "repaired": False, "raw": raw}


def test_json_invalid_reply_gets_one_repair_that_names_the_problem():
    sample = choice_sample("q1", answer="B")
    model = Recorder(["我认为答案是B", '{"answer": "B"}'])
    _, response, notes = run_one(["json"], sample, model)
    assert len(model.requests) == 2
    first, repair = model.requests[0].messages, model.requests[1].messages
    assert repair[: len(first)] == first
    assert repair[len(first)] == Message(role="assistant", content="我认为答案是B")
    assert repair[-1].role == "user" and "不是一个合法的 JSON 对象" in repair[-1].content
    assert response.text == "答案：B"
    assert notes["json"]["valid"] and notes["json"]["repaired"]
    assert response.latency_s == pytest.approx(1.0) and response.completion_tokens == 10  # both calls counted


def test_json_still_invalid_after_repair_is_kept_and_flagged_as_a_format_error():
    sample = choice_sample("q1", answer="B")
    model = Recorder(['{"answer": "AB"}', '{"answer": "B", "confidence": 0.9}'])
    _, response, notes = run_one(["json"], sample, model)
    assert len(model.requests) == 2  # exactly one repair
    assert "单选题" in model.requests[1].messages[-1].content  # the first problem, named
    assert response.text == '{"answer": "B", "confidence": 0.9}'
    assert notes["json"]["valid"] is False and "confidence" in notes["json"]["error"]
    assert notes["format_error"].startswith("no valid JSON answer")


def test_json_validation_rules():
    sample = choice_sample("m1", answer="AC", kind="multi")

    def state_of(s):
        return type("S", (), {"sample": s, "attempt": make_attempt(s, 0, list(s.options))})()

    state = state_of(sample)
    assert json_output.parse_reply('{"answer": "CA"}', state).answer == "AC"
    assert json_output.parse_reply('<think>A 和 C 都对</think>\n{"answer": "AC"}', state).answer == "AC"
    for bad, problem in [('{"answer": "A,C"}', "只能由选项字母"), ('{"answer": "AE"}', "只能由选项字母"),
                         ('{"answer": "AA"}', "重复"), ('{"reasoning": "x"}', "缺少"), ('["A"]', "JSON 对象"),
                         ('答案：{"answer": "A"}', "合法的 JSON"), ('{"answer": ""}', "非空")]:
        with pytest.raises(json_output.InvalidAnswer, match=problem):
            json_output.parse_reply(bad, state)
    open_state = state_of(open_sample())
    assert json_output.parse_reply('{"answer": "急性胰腺炎"}', open_state).answer == "急性胰腺炎"


def test_fewshot_shows_same_subject_dev_exemplars_as_earlier_turns():
    sample = choice_sample("cmmlu-anatomy/36", answer="A", task="cmmlu-anatomy")
    model = Recorder(["答案：A"])
    attempt, _, notes = run_one(["fewshot"], sample, model)
    messages = model.requests[0].messages
    assert [m.role for m in messages] == ["user", "assistant"] * 3 + ["user"]
    assert messages[-1].content == plain_text(sample, attempt)
    assert notes["fewshot"]["examples"] == ["cmmlu-anatomy/0", "cmmlu-anatomy/1", "cmmlu-anatomy/2"]
    assert messages[0].content.startswith(prompts.templates()["single"].split("\n")[0])
    assert "壁胸膜的分部不包括" in messages[0].content and messages[1].content == "答案：B"  # dev row 0 of anatomy


def test_fewshot_never_shows_the_item_itself(tmp_path):
    pool = tmp_path / "dev"
    pool.mkdir()
    (pool / "anatomy.csv").write_text(
        ",Question,A,B,C,D,Answer\n"
        "0,同一个题目？,甲,乙,丙,丁,A\n"
        "1,同 一个 题目？,甲,乙,丙,丁,A\n"  # same text up to whitespace, other id
        "2,别的题目一,甲,乙,丙,丁,B\n"
        "3,别的题目二,甲,乙,丙,丁,C\n", encoding="utf-8")
    item = choice_sample("cmmlu-anatomy/0", task="cmmlu-anatomy").model_copy(update={"question": "同一个题目？"})
    model = Recorder(["答案：A"])
    _, _, notes = run_one(["fewshot"], item, model, settings=InterventionSettings(fewshot_pool=str(pool), shots=5))
    assert notes["fewshot"]["examples"] == ["cmmlu-anatomy/2", "cmmlu-anatomy/3"]
    sent = "\n".join(m.content for m in model.requests[0].messages[:-1])
    assert "同一个题目" not in sent and "同 一个 题目" not in sent


def test_fewshot_leaves_an_item_alone_when_no_exemplar_of_its_kind_exists():
    model = Recorder(["急性胰腺炎"])
    attempt, _, notes = run_one(["fewshot"], open_sample(), model)
    assert [m.content for m in model.requests[0].messages] == [plain_text(open_sample(), attempt)]
    assert notes["fewshot"]["examples"] == []


# ------------------------------------------------------------------------------------------ level 2

def test_safety_preamble_is_the_system_message():
    sample = choice_sample("q1")
    model = Recorder(["答案：A"])
    attempt, _, notes = run_one(["safety"], sample, model)
    messages = model.requests[0].messages
    assert messages == [
        Message(role="system", content=safety.PREAMBLE),
        Message(role="user", content=plain_text(sample, attempt)),
    ]
    assert notes == {"safety": "system_preamble"}
    # with few-shot turns the preamble still comes first, the item last
    model = Recorder(["答案：A"])
    run_one(["fewshot", "safety"], choice_sample("cmmlu-anatomy/36", task="cmmlu-anatomy"), model)
    assert model.requests[0].messages[0].role == "system" and len(model.requests[0].messages) == 8


def test_retrieval_puts_the_right_passages_with_sources_before_the_item():
    sample = drug_sample()
    model = Recorder(["答案：A"])
    attempt, _, notes = run_one(["retrieval"], sample, model)
    content = model.requests[0].messages[0].content
    assert content.endswith(plain_text(sample, attempt))
    assert notes["retrieval"]["passages"][0] == "drug_contraindications#甲硝唑（Metronidazole）"
    assert "[1] 常用药物禁忌证与重要相互作用 > 甲硝唑（Metronidazole）（来源：drug_contraindications.md）" in content
    assert "双硫仑样反应" in content.split("———")[0]
    assert content.startswith(retrieval.HEADER.split("{passages}")[0])


def test_retrieval_finds_the_same_passages_under_every_option_order():
    sample = drug_sample()
    notes = [run_one(["retrieval"], sample, Recorder(["答案：A"]), permutation=i, order=order)[2]["retrieval"]
             for i, order in enumerate([["A", "B", "C", "D"], ["D", "C", "B", "A"]])]
    assert notes[0] == notes[1]


# ------------------------------------------------------------------------------------------ level 3

def test_self_consistency_samples_with_distinct_seeds_and_keeps_the_majority():
    sample = choice_sample("q1", answer="B")
    replies = {0: "答案：B", 1: "答案：C", 2: "答案：C", 3: "答案：B", 4: "分析……答案：B"}
    model = Recorder(lambda request, i: replies[request.config.seed])
    _, response, notes = run_one(["self_consistency"], sample, model, choice_mode="logprobs")
    assert len(model.requests) == 5
    assert sorted(r.config.seed for r in model.requests) == [0, 1, 2, 3, 4]
    assert {r.config.temperature for r in model.requests} == {0.7}
    assert {r.config.choice_mode for r in model.requests} == {"generate"}
    assert response.text == "答案：B"  # the first B sample (seed 0)
    vote = notes["self_consistency"]
    assert vote["votes"] == {"B": 3, "C": 2} and vote["chosen"] == 0 and vote["answers"] == ["B", "C", "C", "B", "B"]
    assert response.latency_s == pytest.approx(2.5)


def test_self_consistency_tie_goes_to_the_answer_given_first_and_non_answers_do_not_vote():
    sample = choice_sample("q1", answer="B")
    replies = {0: "无法确定", 1: "答案：C", 2: "答案：B", 3: "答案：B", 4: "答案：C"}
    model = Recorder(lambda request, i: replies[request.config.seed])
    _, response, notes = run_one(["self_consistency"], sample, model)
    assert notes["self_consistency"]["votes"] == {"C": 2, "B": 2}
    assert response.text == "答案：C" and notes["self_consistency"]["chosen"] == 1


def test_self_consistency_keeps_the_medoid_of_free_text_answers():
    texts = {0: "急性胰腺炎，依据上腹痛和淀粉酶升高。", 1: "急性胰腺炎，依据上腹痛、淀粉酶升高。",
             2: "考虑心肌梗死。", 3: "急性胰腺炎，依据为上腹痛和血淀粉酶升高。", 4: "急性胆囊炎。"}
    model = Recorder(lambda request, i: texts[request.config.seed])
    _, response, notes = run_one(["self_consistency"], open_sample(), model)
    assert notes["self_consistency"]["chosen"] in (0, 1, 3)
    assert response.text == texts[notes["self_consistency"]["chosen"]]
    agreement = notes["self_consistency"]["agreement"]
    assert max(agreement) == agreement[notes["self_consistency"]["chosen"]] and agreement[2] < agreement[0]


def test_json_inside_self_consistency_parses_every_sample():
    sample = choice_sample("q1", answer="A")
    model = Recorder(lambda request, i: '{"answer": "A"}')
    _, response, notes = run_one(["json", "self_consistency"], sample, model)
    assert len(model.requests) == 5 and response.text == "答案：A"
    assert notes["self_consistency"]["votes"] == {"A": 5}
    assert all(n["json"]["valid"] for n in notes["self_consistency"]["sample_notes"])


def test_verify_shows_the_draft_and_passages_and_scores_the_revision():
    sample = drug_sample()
    model = Recorder(["答案：B", "资料[1]说明甲硝唑可致双硫仑样反应，修订：答案：A"])
    attempt, response, notes = run_one(["verify"], sample, model)
    assert len(model.requests) == 2
    first, second = model.requests[0].messages, model.requests[1].messages
    assert [m.content for m in first] == [plain_text(sample, attempt)]
    assert second[:2] == [first[0], Message(role="assistant", content="答案：B")]
    assert second[2].content.startswith("请核对你上面的回答") and "甲硝唑（Metronidazole）" in second[2].content
    assert model.requests[1].config.choice_mode == "generate"
    assert response.text.endswith("答案：A")
    assert notes["verify"]["changed"] is True and notes["verify"]["draft"] == "答案：B"
    assert notes["verify"]["passages"][0] == "drug_contraindications#甲硝唑（Metronidazole）"


def test_verify_keeps_the_draft_when_the_revision_call_fails():
    model = Recorder(lambda request, i: "答案：A" if i == 0 else Response(error="HTTP 500"))
    _, response, notes = run_one(["verify"], drug_sample(), model)
    assert response.text == "答案：A" and response.error is None
    assert notes["verify"]["error"] == "HTTP 500" and "changed" not in notes["verify"]


def test_vote_asks_at_least_five_orders_and_leaves_the_chain_alone():
    config, _ = plan_run("mock/first", "demo", interventions="vote", limit=1)
    assert config.permutations == 5 and config.extra["vote"] == "permutations"
    sample = choice_sample("q1")
    model = Recorder(["答案：A"])
    attempt, _, notes = run_one(["vote"], sample, model)
    assert model.requests[0].messages[0].content == plain_text(sample, attempt) and notes == {}


# ------------------------------------------------------------------------------------------ runs

def test_plan_run_records_prompts_and_settings_and_refuses_unknown_names(monkeypatch):
    monkeypatch.setenv("MEDGAP_KB", "/some/kb.json")
    config, _ = plan_run("mock/first", "demo", interventions="checklist,verify", limit=1)
    assert config.interventions == ["checklist", "verify"]
    assert config.prompts["checklist.clinical"] == checklist.CLINICAL
    assert config.prompts["verify.revise"] == verify.REVISE
    assert config.extra["intervention_settings"]["kb"] == "/some/kb.json"
    with pytest.raises(RunSetupError, match="unknown intervention 'wizardry'"):
        plan_run("mock/first", "demo", interventions="wizardry")


def test_notes_reach_the_stored_row_details(tmp_path):
    samples = [drug_sample()]
    model = Recorder(lambda request, i: '{"answer": "A"}')
    config = RunConfig(run_id="r", model="recorder", suite="fixture", interventions=["retrieval", "json"])
    with Store(tmp_path / "runs.db") as store:
        store.save_run(config)
        store.save_samples("r", samples)
        asyncio.run(run_eval(config, samples, model, store, gen=GenerateConfig(), concurrency=1,
                             solvers=build_chain(config.interventions)))
        (row,) = store.rows("r")
        assert summarize_run(store, "r").overall.value("accuracy") == 1.0
    assert row.score.value == 1.0 and row.response.text == "答案：A"
    assert row.score.details["json"]["valid"] is True
    assert row.score.details["retrieval"]["passages"][0].startswith("drug_contraindications#甲硝唑")
