"""Answer extraction from what real chat models write for Chinese medical choice questions."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medgap.cli import COMMAND_MODULES, load_commands
from medgap.scoring.choice_answer import extract_choice, extract_records

ARRHYTHMIA = {"A": "利多卡因", "B": "普罗帕酮", "C": "胺碘酮", "D": "维拉帕米", "E": "腺苷"}
HYPERTENSION = {
    "A": "ACE抑制剂",
    "B": "β受体阻滞剂",
    "C": "钙通道阻滞剂",
    "D": "噻嗪类利尿剂",
    "E": "α受体阻滞剂",
}
ANTIPLATELET = {"A": "阿司匹林", "B": "阿司匹林肠溶片", "C": "氯吡格雷", "D": "华法林"}
IMAGING = {"A": "B超", "B": "CT", "C": "HBV DNA定量", "D": "血常规"}
TCM = {"A": "石斛", "B": "生地", "C": "麦冬", "D": "黄精", "E": "天冬"}
FOUR = {"A": "甲状腺功能亢进症", "B": "单纯性甲状腺肿", "C": "桥本甲状腺炎", "D": "亚急性甲状腺炎"}
OPTION_NAMES_LETTERS = {"A": "t检验", "B": "方差分析", "C": "A，B和C均对", "D": "秩和检验"}
ORGANS = {"A": "肝", "B": "脉", "C": "冲脉", "D": "心", "E": "肾"}
SYMPTOMS = {"A": "发热", "B": "咳嗽", "C": "胸痛", "D": "腹泻", "E": "咯血"}

ANALYSIS_THEN_MARKER = (
    "患者老年男性，突发心悸2小时，心电图示宽QRS心动过速，伴血压下降，考虑室性心动过速合并血流动力学不稳定。\n\n"
    "逐项分析：\n"
    "A. 利多卡因：属于Ib类抗心律失常药，可用于室性心律失常，但不是首选。\n"
    "B. 普罗帕酮：Ic类药物，器质性心脏病患者禁用，B项错误。\n"
    "C. 胺碘酮：广谱抗心律失常药，对心功能影响小，适用于器质性心脏病合并室速。\n"
    "D. 维拉帕米：钙通道阻滞剂，宽QRS心动过速禁用，D项错误。\n"
    "E. 腺苷：主要用于室上速的终止。\n\n"
    "综上所述，本题答案是C。"
)
GPT4_STYLE = (
    "**答案：C. 胺碘酮**\n\n**解析：**\n"
    "- **A. 利多卡因**：主要用于急性心肌梗死后的室性心律失常，疗效不如胺碘酮。\n"
    "- **B. 普罗帕酮**：有负性肌力作用，心功能不全者禁用。\n"
    "- **D. 维拉帕米**：可加重低血压，宽QRS心动过速禁用。\n"
    "- **E. 腺苷**：对室速无效。\n\n因此，C是最佳选择。"
)
ANSWER_FIRST = (
    "C。解析：A项利多卡因主要用于室性早搏；B项普罗帕酮为Ic类药物；D项维拉帕米可致低血压，因此不选。"
)
QWEN_STYLE = (
    "答案：C\n\n解析：本题考查抗心律失常药物的选择。患者合并心力衰竭，A项利多卡因疗效有限，"
    "B项普罗帕酮有负性肌力作用，D项维拉帕米禁用于心衰患者，故正确答案为C。"
)
GLM_STYLE = (
    "根据题目描述，患者存在器质性心脏病，因此正确答案是 C. 胺碘酮。胺碘酮对心功能抑制轻，是此类患者的首选。"
)
TEXT_ONLY_COT = (
    "让我们逐项分析：\n"
    "A. 利多卡因：主要用于室性心律失常，但对心功能有一定抑制。\n"
    "B. 普罗帕酮：禁用于器质性心脏病。\n"
    "C. 胺碘酮：对心功能影响小。\n"
    "D. 维拉帕米：可导致低血压。\n\n"
    "综上，最合适的药物是胺碘酮。"
)
COT_FINAL_LINE = (
    "**题目分析：**\n患者有心衰病史（EF 30%），现出现持续性室速，血压尚稳定。\n\n**选项分析：**\n"
    "- A. 利多卡因：对室速有效，但心衰患者疗效一般。\n"
    "- B. 普罗帕酮：Ic类，有明显负性肌力作用，心衰患者禁用。\n"
    "- C. 胺碘酮：III类，负性肌力作用小。\n"
    "- D. 维拉帕米：会加重心衰，禁用。\n\n**结论：**\n\n**C. 胺碘酮**"
)
THINK_THEN_ANSWER = (
    "<think>\n好的，我现在要解决这道题。题目问的是心衰合并室速首选什么药。首先看A选项利多卡因，"
    "它主要用于室性心律失常，可能是A？不过B选项普罗帕酮有负性肌力作用，应该排除。"
    "C选项胺碘酮对心功能影响小……嗯，所以应该是C。再确认一下D选项维拉帕米，心衰禁用。\n</think>\n\n"
    "答案：C"
)
THINK_UNCLOSED = (
    "<think>\n嗯，这题问的是心衰合并室速的首选药物。A选项利多卡因可以用于室性心律失常，"
    "B选项普罗帕酮有负性肌力作用，C选项胺碘酮……我需要再想想，D选项维拉帕米"
)

CASES = [
    # bare letters and explicit answer markers
    ("B", ARRHYTHMIA, False, "B"),
    ("B.", ARRHYTHMIA, False, "B"),
    ("C。", ARRHYTHMIA, False, "C"),
    ("（C）", ARRHYTHMIA, False, "C"),
    ("\n\n  D\n", ARRHYTHMIA, False, "D"),
    ("Ｂ", ARRHYTHMIA, False, "B"),
    ("**B**", ARRHYTHMIA, False, "B"),
    ("C. 胺碘酮", ARRHYTHMIA, False, "C"),
    ("C 胺碘酮", ARRHYTHMIA, False, "C"),
    ("C选项。", ARRHYTHMIA, False, "C"),
    ("答案：B", ARRHYTHMIA, False, "B"),
    ("答案:B", ARRHYTHMIA, False, "B"),
    ("答案是B", ARRHYTHMIA, False, "B"),
    ("答案：Ｃ", ARRHYTHMIA, False, "C"),
    ("答案为C项", ARRHYTHMIA, False, "C"),
    ("答案：“C”", ARRHYTHMIA, False, "C"),
    ("正确答案是（C）", ARRHYTHMIA, False, "C"),
    ("正确答案应该是B。", ARRHYTHMIA, False, "B"),
    ("正确选项：C", ARRHYTHMIA, False, "C"),
    ("【正确答案】C", ARRHYTHMIA, False, "C"),
    ("【答案】E", ARRHYTHMIA, False, "E"),
    ("参考答案：D", ARRHYTHMIA, False, "D"),
    ("答：B", ARRHYTHMIA, False, "B"),
    ("本题答案为C", ARRHYTHMIA, False, "C"),
    ("答案是：**C. 胺碘酮**", ARRHYTHMIA, False, "C"),
    ("**答案**：\n\nC. 胺碘酮", ARRHYTHMIA, False, "C"),
    ("选B", ARRHYTHMIA, False, "B"),
    ("应选B", ARRHYTHMIA, False, "B"),
    ("故选D", ARRHYTHMIA, False, "D"),
    ("故本题选C。", ARRHYTHMIA, False, "C"),
    ("选择：C", ARRHYTHMIA, False, "C"),
    ("答案选C", ARRHYTHMIA, False, "C"),
    ("B选项正确", ARRHYTHMIA, False, "B"),
    ("C为正确答案。", ARRHYTHMIA, False, "C"),
    ("正确的是选项C。", ARRHYTHMIA, False, "C"),
    ("最终答案：$\\boxed{C}$", ARRHYTHMIA, False, "C"),
    # English
    ("The answer is (B).", ARRHYTHMIA, False, "B"),
    ("Answer: D", ARRHYTHMIA, False, "D"),
    ("**Final Answer: C**", ARRHYTHMIA, False, "C"),
    ("The correct answer is C. Amiodarone is preferred in heart failure.", ARRHYTHMIA, False, "C"),
    ("Option B is correct because propafenone ...", ARRHYTHMIA, False, "B"),
    ("I would choose E.", ARRHYTHMIA, False, "E"),
    # JSON
    ('{"answer": "C"}', ARRHYTHMIA, False, "C"),
    ('```json\n{"answer": "C", "explanation": "胺碘酮对心功能影响小"}\n```', ARRHYTHMIA, False, "C"),
    ('{"答案": ["A","C"]}', SYMPTOMS, True, "AC"),
    ('{"答案": "A、C、E"}', SYMPTOMS, True, "ACE"),
    ('{"answer": "胺碘酮"}', ARRHYTHMIA, False, "C"),
    ('好的，结果如下：{"reason": "心衰禁用负性肌力药", "answer": "C"}', ARRHYTHMIA, False, "C"),
    ('{"analysis": {"A": "可用于室速", "D": "心衰禁用"}, "answer": "C"}', ARRHYTHMIA, False, "C"),  # nested
    ('{"answer": "C", "reason": "A{略}D"}', ARRHYTHMIA, False, "C"),  # braces inside a string
    # think blocks
    (THINK_THEN_ANSWER, ARRHYTHMIA, False, "C"),
    ("<think>\nA不对，B也不对，D也可以排除。\n</think>\n\n**答案：C**", ARRHYTHMIA, False, "C"),
    ("嗯，先看A选项……B选项……\n</think>\n\nC", ARRHYTHMIA, False, "C"),
    (THINK_UNCLOSED, ARRHYTHMIA, False, None),
    ("<think>A选项错误，B选项看起来也不对，可能是C", ARRHYTHMIA, False, None),
    ("<think>逐项排除后，所以答案是C。</think>", ARRHYTHMIA, False, "C"),
    # reasoning first, conclusion last
    ("A项错误，B项错误，因此答案是C", ARRHYTHMIA, False, "C"),
    (ANALYSIS_THEN_MARKER, ARRHYTHMIA, False, "C"),
    (GLM_STYLE, ARRHYTHMIA, False, "C"),
    ("A还是C呢？A的副作用较多，综合考虑答案是C。", ARRHYTHMIA, False, "C"),
    ("在A和C之间比较，最终选择C。", ARRHYTHMIA, False, "C"),
    ("排除A、B、D、E，选C。", ARRHYTHMIA, False, "C"),
    ("不选A，应选C。", ARRHYTHMIA, False, "C"),
    ("A选项错误，B选项错误，C选项正确，D选项错误。", ARRHYTHMIA, False, "C"),
    ("我认为是B。", ARRHYTHMIA, False, "B"),
    (COT_FINAL_LINE, ARRHYTHMIA, False, "C"),
    (COT_FINAL_LINE.replace("**C. 胺碘酮**", "C"), ARRHYTHMIA, False, "C"),
    ("故选C，D项错误在于其负性肌力作用。", ARRHYTHMIA, False, "C"),
    ("根据以上分析，最可能的是(C)。", ARRHYTHMIA, False, "C"),
    (
        "A. 利多卡因 —— 不适用\nB. 普罗帕酮 —— 不适用\nC. 胺碘酮 —— 适用\nD. 维拉帕米 —— 禁用\n\n故选C",
        ARRHYTHMIA,
        False,
        "C",
    ),
    # answer first, explanation mentions other letters
    (ANSWER_FIRST, ARRHYTHMIA, False, "C"),
    (QWEN_STYLE, ARRHYTHMIA, False, "C"),
    (GPT4_STYLE, ARRHYTHMIA, False, "C"),
    ("C\n\n解析：本题考查抗心律失常药。若选A，则疗效不足；选B会加重心衰。", ARRHYTHMIA, False, "C"),
    ("答案：C\n解析：A项说法正确的不多，D项错误。", ARRHYTHMIA, False, "C"),
    ("答案：B。\n\n温馨提示：以上内容仅供参考，具体用药请咨询医生。", ARRHYTHMIA, False, "B"),
    # letters inside words are not option letters
    ("ACE抑制剂是糖尿病肾病患者降压的首选，因为其能减少蛋白尿。", HYPERTENSION, False, "A"),
    ("答案：B\n\n解析：ACE抑制剂可致干咳，β受体阻滞剂适用于合并心绞痛者。", HYPERTENSION, False, "B"),
    ("首选ACE抑制剂。", HYPERTENSION, False, "A"),
    ("患者CT示胰腺周围渗出，B超提示胆囊结石，考虑急性胆源性胰腺炎，答案：D", ARRHYTHMIA, False, "D"),
    ("HBV DNA定量是判断病毒复制活跃程度的指标，故选C。", IMAGING, False, "C"),
    ("首选B超。", IMAGING, False, "A"),
    ("维生素C缺乏会导致坏血病，因此答案是A。", ARRHYTHMIA, False, "A"),
    ("B超提示肝内多发占位，需进一步检查。", ARRHYTHMIA, False, None),
    ("B超", IMAGING, False, "A"),
    ("答案：B超", IMAGING, False, "A"),
    ("首选CT检查。", IMAGING, False, "B"),
    ("答案：A. B超", IMAGING, False, "A"),
    ("A，B和C均对", OPTION_NAMES_LETTERS, False, "C"),
    ("经过分析，正确答案应为A，B和C均对。", OPTION_NAMES_LETTERS, False, "C"),
    ("DNA", ARRHYTHMIA, False, None),
    ("CT", FOUR, False, None),
    # option text without a letter
    ("首选胺碘酮。", ARRHYTHMIA, False, "C"),
    ("胺碘酮", ARRHYTHMIA, False, "C"),
    (TEXT_ONLY_COT, ARRHYTHMIA, False, "C"),
    ("C选项胺碘酮是正确的。", ARRHYTHMIA, False, "C"),
    ("首选阿司匹林肠溶片。", ANTIPLATELET, False, "B"),
    ("首选阿司匹林。", ANTIPLATELET, False, "A"),
    ("阿司匹林和氯吡格雷都可以", ANTIPLATELET, False, None),
    ("麦冬具有润肺清心、养阴生津的功效，答案为麦冬。", TCM, False, "C"),
    ("桥本甲状腺炎", FOUR, False, "C"),
    ("肾", ORGANS, False, "E"),
    ("与舌没有直接联系的脏是肾。", ORGANS, False, "E"),
    ("冲脉", ORGANS, False, "C"),
    ("答案为冲脉。", ORGANS, False, "C"),
    ("肾阳虚者多见腰膝酸软。", ORGANS, False, None),
    # multi-answer forms
    ("A、B、E", SYMPTOMS, True, "ABE"),
    ("ACE", SYMPTOMS, True, "ACE"),
    ("A和C", SYMPTOMS, True, "AC"),
    ("A,C", SYMPTOMS, True, "AC"),
    ("答案：AC", SYMPTOMS, True, "AC"),
    ("答案：ABE", SYMPTOMS, True, "ABE"),
    ("答案：E、A、B", SYMPTOMS, True, "ABE"),
    ("正确答案为A、C、E。", SYMPTOMS, True, "ACE"),
    ("本题正确的选项有：A、B、D。", SYMPTOMS, True, "ABD"),
    ("选ACD", SYMPTOMS, True, "ACD"),
    ("答案：A，C，D\n\n解析：腹泻不是肺炎的典型表现，B项也不全面。", SYMPTOMS, True, "ACD"),
    ("A项正确；B项错误；C项正确；D项错误；E项正确。", SYMPTOMS, True, "ACE"),
    ("A、C、E都正确。", SYMPTOMS, True, "ACE"),
    ("正确的是选项C和选项E。", SYMPTOMS, True, "CE"),
    ("A项和C项正确，其余错误。", SYMPTOMS, True, "AC"),
    ("以上选项中，A、B、E正确，C、D错误。", SYMPTOMS, True, "ABE"),
    ("The answers are A and C.", SYMPTOMS, True, "AC"),
    ("肺结核的典型症状包括发热、咳嗽和咯血，答案：ABE", SYMPTOMS, True, "ABE"),
    # a single-answer item answered with two letters is not a single answer
    ("答案：AC", ARRHYTHMIA, False, "AC"),
    ("A项正确，C项正确", ARRHYTHMIA, False, "AC"),
    ("ACE", ARRHYTHMIA, False, "ACE"),
    # refusals and hedges
    ("我无法回答", ARRHYTHMIA, False, None),
    ("请咨询医生", ARRHYTHMIA, False, None),
    ("抱歉，作为一个AI语言模型，我无法提供医疗诊断建议。如有不适，请咨询专业医生。", ARRHYTHMIA, False, None),
    ("可能是A也可能是C", ARRHYTHMIA, False, None),
    ("答案可能是A，也可能是C，需要结合更多临床资料。", ARRHYTHMIA, False, None),
    ("答案是A或C", ARRHYTHMIA, False, None),
    ("可以选A，也可以选C", ARRHYTHMIA, False, None),
    ("这道题A和C都有可能，需要更多临床信息才能判断。", ARRHYTHMIA, False, None),
    ("I'm not sure about this one.", ARRHYTHMIA, False, None),
    # nothing to read, or letters that were not asked
    ("", ARRHYTHMIA, False, None),
    (None, ARRHYTHMIA, False, None),
    ("   \n", ARRHYTHMIA, False, None),
    ("答案：E", FOUR, False, None),
    ("患者诊断明确，建议尽快手术治疗。", ARRHYTHMIA, False, None),
    ("A. 利多卡因\nB. 普罗帕酮\nC. 胺碘酮\nD. 维拉帕米", FOUR, False, None),
    ("答案是A吗？还需要再看看。", ARRHYTHMIA, False, None),
]


@pytest.mark.parametrize(("response", "options", "multi", "expected"), CASES)
def test_extract_choice(
    response: str | None, options: dict[str, str], multi: bool, expected: str | None
) -> None:
    assert extract_choice(response, options, multi=multi) == expected


def test_only_asked_letters_count() -> None:
    three = {"A": "利多卡因", "B": "普罗帕酮", "C": "胺碘酮"}
    assert extract_choice("答案：D", three) is None
    assert extract_choice("答案：C", three) == "C"


def test_letters_beyond_e() -> None:
    options = {letter: f"药物{letter}" for letter in "ABCDEFGH"}
    assert extract_choice("答案：G", options) == "G"
    assert extract_choice("答案：B、F、H", options, multi=True) == "BFH"


def test_single_item_with_disagreeing_standalone_letters_is_unanswered() -> None:
    assert extract_choice("先看A。再看C。", ARRHYTHMIA) is None


def test_extraction_is_fast_enough_for_a_run() -> None:
    responses = [text for text, *_ in CASES if text] * 20
    started = time.process_time()
    for text in responses[:2000]:
        extract_choice(text, ARRHYTHMIA)
    assert len(responses) >= 2000
    assert time.process_time() - started < 0.2


def real_choice_items(data: Path) -> list[tuple[dict[str, str], str]]:
    items = []
    for line in (data / "mtcmb" / "TCM-ED-A.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        items.append((record["options"], record["answer"]))
    for path in sorted((data / "cmmlu_medical" / "test").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            items += [
                ({letter: row[letter] for letter in "ABCD"}, row["Answer"]) for row in csv.DictReader(handle)
            ]
    return items


ANSWER_STYLES = {
    "marker": lambda options, gold: f"答案：{gold}",
    "letter and text": lambda options, gold: f"{gold}. {options[gold]}",
    "analysis then marker": lambda options, gold: (
        "逐项分析：\n"
        + "\n".join(
            f"{letter}. {text}：{'正确' if letter == gold else '错误'}。" for letter, text in options.items()
        )
        + f"\n\n综上所述，答案是{gold}。"
    ),
    "answer first": lambda options, gold: (
        f"{gold}。解析："
        + "；".join(f"{letter}项{text}不符合题意" for letter, text in options.items() if letter != gold)
    ),
    "option text only": lambda options, gold: options[gold],
}


@pytest.mark.parametrize("style", ANSWER_STYLES)
def test_real_items_answered_in_common_styles(source_data: Path, style: str) -> None:
    """Real option sets (TCM organs, statistics options that name letters, "B 类纤维"…) answered with
    the gold option: every one must come back as exactly the gold letter."""
    make = ANSWER_STYLES[style]
    items = real_choice_items(source_data)
    wrong = [
        (make(options, gold), gold)
        for options, gold in items
        if extract_choice(make(options, gold), options) != gold
    ]
    assert len(items) > 200
    assert wrong == []


# extract_records and the `medgap extract` command

RECORDS = [
    {"id": "q1", "options": ARRHYTHMIA, "response": "答案：C", "type": "single"},
    {"id": "q2", "options": SYMPTOMS, "response": "A、B、E", "type": "multi"},
    {"id": "q3", "options": ARRHYTHMIA, "response": "我无法回答", "type": "single"},
    {"id": "q4", "options": ARRHYTHMIA, "response": None, "type": "single"},
]


def jsonl(records: list[object]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def test_extract_records_adds_the_field_and_keeps_the_record() -> None:
    out = list(extract_records(jsonl(RECORDS).splitlines(), "preds.jsonl"))
    assert [record["extracted"] for record in out] == ["C", "ABE", None, None]
    assert out[0]["id"] == "q1" and out[0]["options"] == ARRHYTHMIA


def test_extract_records_skips_blank_lines() -> None:
    lines = ["", jsonl(RECORDS[:1]), "   "]
    assert [record["extracted"] for record in extract_records(lines, "x.jsonl")] == ["C"]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"options": {"A": "x"}, "response": "A"', "preds.jsonl:2: invalid JSON"),
        ('["A"]', "preds.jsonl:2: expected a JSON object"),
        ('{"options": {"A": "x"}, "type": "single"}', "preds.jsonl:2: missing field 'response'"),
        ('{"options": ["A. x"], "response": "A", "type": "single"}', "preds.jsonl:2: field 'options'"),
        ('{"options": {"A": "x"}, "response": 3, "type": "single"}', "preds.jsonl:2: field 'response'"),
        ('{"options": {"A": "x"}, "response": "A", "type": "open"}', "preds.jsonl:2: field 'type'"),
    ],
)
def test_extract_records_names_file_line_and_field(bad_line: str, message: str) -> None:
    lines = [jsonl(RECORDS[:1]), bad_line]
    with pytest.raises(ValueError) as excinfo:
        list(extract_records(lines, "preds.jsonl"))
    assert str(excinfo.value).startswith(message)


def invoke(*args: str, stdin: str | None = None):
    return CliRunner().invoke(load_commands(), ["extract", *args], input=stdin)


def test_extract_is_a_registered_command() -> None:
    assert "extract" in COMMAND_MODULES


def test_cli_writes_records_with_extracted_letters(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "preds.jsonl").write_text(jsonl(RECORDS), encoding="utf-8")
    result = invoke("preds.jsonl")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [json.loads(line)["extracted"] for line in lines] == ["C", "ABE", None, None]
    assert "胺碘酮" in lines[0]  # ensure_ascii=False


def test_cli_reads_stdin() -> None:
    result = invoke("-", stdin=jsonl(RECORDS[:2]))
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["extracted"] for line in result.stdout.splitlines()] == ["C", "ABE"]


def test_cli_malformed_line_reports_file_line_and_field(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    bad = {"options": {"A": "x"}, "response": "A", "type": "essay"}
    (tmp_path / "bad.jsonl").write_text(jsonl([RECORDS[0], RECORDS[1], bad]), encoding="utf-8")
    result = invoke("bad.jsonl")
    assert result.exit_code == 1
    assert "bad.jsonl:3" in result.stderr
    assert "'type'" in result.stderr


def test_cli_invalid_json_line(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.jsonl").write_text(jsonl(RECORDS[:1]) + "{not json\n", encoding="utf-8")
    result = invoke("broken.jsonl")
    assert result.exit_code == 1
    assert "broken.jsonl:2: invalid JSON" in result.stderr


def test_command_modules_name_every_registered_command() -> None:
    """`medgap CMD` imports only COMMAND_MODULES[CMD]: the map must know every command's module."""
    app = load_commands()
    registered = {(c.name or c.callback.__name__): c.callback.__module__ for c in app.registered_commands}
    registered.update({g.name: g.typer_instance.registered_commands[0].callback.__module__
                       for g in app.registered_groups})
    assert {name: f"medgap.cli.{module}" for name, module in COMMAND_MODULES.items()} == registered


def test_the_console_command_runs_a_module_with_a_single_command(tmp_path) -> None:
    """`medgap extract` loads only medgap.cli.extract; the app must still take `extract` as a command name."""
    (tmp_path / "preds.jsonl").write_text(jsonl(RECORDS[:2]), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "medgap", "extract", "preds.jsonl"], cwd=tmp_path, check=False,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["extracted"] for line in done.stdout.splitlines()] == ["C", "ABE"]


# --- the README's table of tested forms ----------------------------------------------------------

README_OPTIONS = {"A": "发热", "B": "咳嗽", "C": "皮疹", "D": "关节痛", "E": "盗汗"}


def readme_forms() -> list[tuple[str, str, str, str | None]]:
    """(form, item kind, reply, extracted) for each row of the README's table of tested forms."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| form | item | reply | extracted |"):].split("\n\n", 1)[0].splitlines()[2:]
    forms = []
    for line in table:
        form, kind, reply, extracted = (cell.strip() for cell in line.strip("|").split(" | "))
        expected = None if extracted == "none" else extracted.strip("`")
        forms.append((form, kind, reply.strip("`").replace("\\n", "\n"), expected))
    return forms


def test_readme_table_of_extraction_forms_is_what_the_extractor_does():
    forms = readme_forms()
    assert len(forms) >= 25
    for form, kind, reply, extracted in forms:
        assert extract_choice(reply, README_OPTIONS, multi=kind == "multi") == extracted, form


def test_lower_case_letters_count_only_where_they_can_only_be_letters():
    options = {"A": "甲", "B": "乙", "C": "丙", "D": "丁", "E": "戊"}
    assert extract_choice("(b)", options) == "B" and extract_choice("a、c", options, multi=True) == "AC"
    assert extract_choice("ace", options, multi=True) == "ACE"
    assert extract_choice("answer: b", options) == "B" and extract_choice("答案是c。", options) == "C"
    for reply in ("dead", "bed", "a bed", "答案：b超", "this is a test", "The answer is a bit tricky",
                  "选择a型血的患者"):
        assert extract_choice(reply, options, multi=True) is None, reply


def test_listing_every_option_is_not_an_answer_unless_introduced():
    lines = "\n".join(f"{letter}. {text}" for letter, text in README_OPTIONS.items())
    assert extract_choice(lines, README_OPTIONS, multi=True) is None
    assert extract_choice("答案：\n" + lines, README_OPTIONS, multi=True) == "ABCDE"
    assert extract_choice("A. 发热\nB. 咳嗽", README_OPTIONS) is None  # two options on a single-answer item
