"""replay/: answers read back from a MedBench-format predictions file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from medgap.datasets import medbench
from medgap.models import get_model
from medgap.models.base import ModelRequest
from medgap.models.replay import ReplayModel
from medgap.records import Attempt, Message, Response, Sample, Source
from medgap.solvers.permutations import attempts_for

OPTIONS = {"A": "肝硬化", "B": "肝囊肿", "C": "胆结石", "D": "胃炎"}
PREAMBLE = "你是一名经验丰富的医生，请回答下面的单项选择题。"


def medbench_line(question: str, answer: str | None, other_id: int | None = None, options=None,
                  source: str = "Med-Exam") -> dict:
    line = {"passage": None, "question": question, "options": options, "answer": answer}
    if other_id is not None:
        line["other"] = {"source": source, "id": other_id}
    return line


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def request_for(question: str, options: dict[str, str] | None = None, other_id: int | None = None) -> ModelRequest:
    """A request as a non-MedBench loader would make it (`metadata["other_id"]` or nothing)."""
    options = options or {}
    metadata = {"other_id": other_id} if other_id is not None else {}
    sample = Sample(id=f"s{other_id}", source=Source(dataset="test"), task="exam", dimension="knowledge_qa",
                    kind="single" if options else "open", question=question, options=options, metadata=metadata)
    attempt = Attempt(sample_id=sample.id, order=list(options), options=options)
    return ModelRequest(messages=[Message(role="user", content=question)], attempt=attempt, sample=sample)


def requests_from_loader(path: Path) -> list[ModelRequest]:
    """Every attempt of a MedBench file, as the runner would ask it."""
    requests = []
    for sample in medbench.load(path):
        for attempt in attempts_for(sample, k=1, seed=0):
            messages = [Message(role="user", content=sample.question)]
            requests.append(ModelRequest(messages=messages, attempt=attempt, sample=sample))
    return requests


def answer(model: ReplayModel, request: ModelRequest) -> Response:
    return asyncio.run(model.generate(request))


def test_matches_by_other_id(tmp_path):
    path = write_jsonl(tmp_path / "preds.jsonl", [
        medbench_line("门静脉高压最常见的病因是？", "答案：A", 1, [f"{k}: {v}" for k, v in OPTIONS.items()]),
        medbench_line("急性心梗最典型的症状是？", "答案：B", 2),
    ])
    model = get_model(f"replay/{path}", timeout=120.0)
    assert isinstance(model, ReplayModel)
    # the id wins even when the question was written differently
    assert answer(model, request_for("2. 急性心梗最典型的症状是", other_id=2)).text == "答案：B"
    assert answer(model, request_for("门静脉高压最常见的病因是？", OPTIONS, other_id=1)).text == "答案：A"


def test_matches_by_question_when_there_is_no_id(tmp_path):
    path = write_jsonl(tmp_path / "preds.jsonl", [
        medbench_line("高血压患者如何进行生活方式干预？（简述）", "限盐、减重、戒烟限酒、规律运动。"),
        medbench_line("急性心梗最典型的症状是？", "答案：B", 2),
    ])
    model = ReplayModel(str(path))
    reply = answer(model, request_for(" 高血压患者如何进行生活方式干预？\n（简述）"))  # whitespace does not matter
    assert reply.error is None and reply.text == "限盐、减重、戒烟限酒、规律运动。"
    # a request without an id still finds a line that has one, by its question
    assert answer(model, request_for("急性心梗最典型的症状是？")).text == "答案：B"


def test_each_option_order_of_a_medbench_file_gets_its_own_reply(tmp_path):
    """A MedBench robustness file repeats an item under shuffled orders, options written into the
    question; the loader merges the repeats into one sample, replay answers each order."""
    orders = [["A", "B", "C", "D"], ["C", "A", "D", "B"], ["D", "C", "B", "A"]]
    test_lines, prediction_lines = [], []
    for order in orders:
        shown = "\n".join(f"{chr(ord('A') + i)}. {OPTIONS[letter]}" for i, letter in enumerate(order))
        question = f"{PREAMBLE}\n## 问题\n门静脉高压最常见的病因是？\n{shown}"
        test_lines.append(medbench_line(question, "", 7))
        asked_letter = chr(ord("A") + order.index("A"))  # where 肝硬化 sits in this order
        prediction_lines.append(medbench_line(question, f"答案：{asked_letter}", 7))
    test_lines.append(medbench_line(f"{PREAMBLE}\n## 问题\n急性心梗最典型的症状是？\nA. 头痛\nB. 胸痛", "", 8))
    requests = requests_from_loader(write_jsonl(tmp_path / "Med-Exam.jsonl", test_lines))
    assert [r.attempt.permutation for r in requests] == [0, 1, 2, 0]  # one sample, three given orders
    model = ReplayModel(str(write_jsonl(tmp_path / "preds.jsonl", prediction_lines)))
    replies = [answer(model, request) for request in requests]
    assert [r.text for r in replies[:3]] == ["答案：A", "答案：B", "答案：D"]
    # every reply names 肝硬化 in the order it was asked
    for request, reply in zip(requests, replies[:3], strict=False):
        assert request.attempt.options[reply.text[-1]] == "肝硬化"
    assert replies[3].error is not None and replies[3].error.startswith("replay: no prediction for other.id 8")


def test_an_order_the_file_does_not_have_is_not_answered(tmp_path):
    shown = [f"{letter}. {text}" for letter, text in OPTIONS.items()]
    model = ReplayModel(str(write_jsonl(tmp_path / "preds.jsonl", [
        medbench_line("门静脉高压最常见的病因是？", "答案：A", 7, shown)])))
    shuffled = dict(zip("ABCD", ["肝囊肿", "肝硬化", "胆结石", "胃炎"], strict=True))
    reply = answer(model, request_for("门静脉高压最常见的病因是？", shuffled, 7))
    assert reply.error is not None and "order asked" in reply.error


def test_same_id_in_two_tasks_is_told_apart(tmp_path):
    path = write_jsonl(tmp_path / "preds.jsonl", [
        medbench_line("门静脉高压最常见的病因是？", "答案：A", 1, ["A. 肝硬化", "B. 胃炎"], source="Med-Exam"),
        medbench_line("请简述高血压的生活方式干预。", "限盐。", 1, source="MedHC"),
    ])
    model = ReplayModel(str(path))
    assert answer(model, request_for("请简述高血压的生活方式干预。", other_id=1)).text == "限盐。"
    loaded = requests_from_loader(write_jsonl(tmp_path / "MedHC.jsonl", [
        medbench_line("请简述高血压的生活方式干预（另一种写法）。", "", 1, source="MedHC")]))
    assert answer(model, loaded[0]).text == "限盐。"  # by other.source, though the question differs


def test_missing_prediction_is_an_error_not_a_wrong_answer(tmp_path):
    path = write_jsonl(tmp_path / "preds.jsonl", [medbench_line("急性心梗最典型的症状是？", "答案：B", 2),
                                                 medbench_line("空答案的题", None, 5)])
    model = ReplayModel(str(path))
    missing = answer(model, request_for("不存在的问题", OPTIONS, other_id=99))
    assert missing.text == "" and missing.error is not None
    assert missing.error.startswith("replay: no prediction for other.id 99")
    null = answer(model, request_for("空答案的题", other_id=5))
    assert null.error is not None and "line 2" in null.error


def test_a_question_answered_twice_differently_keeps_both_answers(tmp_path):
    """The first answer is the reply; the other goes to `alternatives` (robustness counts the item
    as inconsistent). Answers that commit to the same letters are no conflict."""
    path = write_jsonl(tmp_path / "preds.jsonl", [
        medbench_line("同一个问题", "甲"), medbench_line("同一个问题", "乙"),
        medbench_line("门静脉高压最常见的病因是？", "答案：A", 7, [f"{k}. {v}" for k, v in OPTIONS.items()]),
        medbench_line("门静脉高压最常见的病因是？", "A", 7, [f"{k}. {v}" for k, v in OPTIONS.items()]),
    ])
    model = ReplayModel(str(path))
    reply = answer(model, request_for("同一个问题"))
    assert reply.error is None and reply.text == "甲" and reply.alternatives == ["乙"]
    same = answer(model, request_for("门静脉高压最常见的病因是？", OPTIONS, 7))
    assert same.text == "答案：A" and same.alternatives == []


def test_bad_json_names_file_and_line(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text('{"question": "q1", "answer": "A"}\n\n{"question": "q2", "answer": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"preds\.jsonl:3: invalid JSON"):
        ReplayModel(str(path))


def test_bad_fields_name_file_line_and_field(tmp_path):
    path = write_jsonl(tmp_path / "preds.jsonl", [{"question": "q1", "answer": "A"}, {"question": "q2"}])
    with pytest.raises(ValueError, match=r"preds\.jsonl:2: field 'answer': missing"):
        ReplayModel(str(path))
    write_jsonl(path, [{"question": "q1", "answer": ["A"]}])
    with pytest.raises(ValueError, match=r"preds\.jsonl:1: field 'answer': must be the model's reply"):
        ReplayModel(str(path))
    write_jsonl(path, [["q1", "A"]])
    with pytest.raises(ValueError, match=r"preds\.jsonl:1: expected a JSON object"):
        ReplayModel(str(path))


def test_missing_file_and_description(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        ReplayModel(str(tmp_path / "nope.jsonl"))
    path = write_jsonl(tmp_path / "preds.jsonl", [medbench_line("q", "A", 1)])
    described = ReplayModel(str(path)).describe()
    assert described["predictions"] == 1 and len(described["sha256"]) == 64


def test_lines_without_ids_match_whichever_side_carries_the_options(tmp_path):
    """The data writes the options into the question; the predictions keep them in `options`,
    add a preamble and an answer prompt: both sides read the same stem and options."""
    shown = "\n".join(f"{k}. {v}" for k, v in OPTIONS.items())
    data = write_jsonl(tmp_path / "Med-Exam.jsonl", [
        {"question": f"门静脉高压最常见的病因是？\n{shown}", "options": None, "answer": "A",
         "other": {"source": "Med-Exam"}}])
    predictions = write_jsonl(tmp_path / "preds.jsonl", [
        {"question": "请回答下面的单项选择题。\n## 问题\n门静脉高压最常见的病因是\n答:",
         "options": [f"{k}. {v}" for k, v in OPTIONS.items()], "answer": "答案：A"}])
    [request] = requests_from_loader(data)
    assert answer(ReplayModel(str(predictions)), request).text == "答案：A"


def test_an_open_question_with_lettered_sub_questions_matches_a_line_without_task(tmp_path):
    """Old CMB-Clin: no `other.id`; the data's task keeps "A. …\nB. …" in the question (open), the
    prediction line names no task. Both sides still compute one key."""
    question = "病例：男，60岁，突发胸痛。\n请回答：\nA. 诊断及依据\nB. 进一步检查"
    data = write_jsonl(tmp_path / "CMB-Clin.jsonl", [
        {"question": question, "options": None, "answer": "", "other": {"source": "CMB-Clin"}}])
    predictions = write_jsonl(tmp_path / "preds.jsonl",
                              [{"question": question + "\n答:", "answer": "急性心梗；心电图。"}])
    [request] = requests_from_loader(data)
    assert request.sample.kind == "open"
    assert answer(ReplayModel(str(predictions)), request).text == "急性心梗；心电图。"
