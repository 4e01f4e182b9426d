"""The error codebook: eight categories for a wrong or partially correct response (after the MedBench
error analysis, arXiv:2503.07306), each with a definition, a decision rule that separates it from
its neighbours and a Chinese example; and `ErrorLabel`, the label any labeller (rule, judge model,
human consensus) gives one response: one primary category, optional secondary ones.

The text follows the annotators' codebook, `medgap/web/codebook/ERROR_CODEBOOK.md` (the
specification: three annotators using it reached Fleiss' κ ≈ 0.9): the order of decision
(`DECISION_ORDER`) and its consequences (`CONSEQUENCES`) are shown to annotators and to the judge.

The order of CATEGORIES is the order shown to annotators and their keyboard shortcuts (1-8).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

Confidence = Literal["high", "medium", "low"]
LabelSource = Literal["rule", "judge", "consensus", "adjudicated"]


@dataclass(frozen=True)
class Category:
    key: str
    name: str
    name_zh: str
    definition: str
    definition_zh: str
    decision_rule: str
    example_zh: str


CATEGORIES: tuple[Category, ...] = (
    Category(
        key="omission",
        name="Omission",
        name_zh="遗漏",
        definition=(
            "The response leaves out content the task requires: key points of the reference answer, "
            "correct options of a multiple-answer item, or required fields. What it does say is right."
        ),
        definition_zh="回答缺少题目要求的内容（参考答案要点、多选题的正确选项、必填字段），已写出的内容本身没有错。",
        decision_rule=(
            "Missing but not wrong. If the gap is filled with false content, the primary category is "
            "Hallucination (Omission secondary); if nothing is answered at all, Unanswered; if the text "
            "was cut off by the length limit, Output Error."
        ),
        example_zh="问：简述急性阑尾炎的治疗原则。答：“应尽早行阑尾切除术。”——未提抗感染治疗及非手术治疗的适应证。",
    ),
    Category(
        key="hallucination",
        name="Hallucination",
        name_zh="幻觉",
        definition=(
            "The response states facts that are false or not supported by the case: fabricated findings, "
            "wrong drug/dose/mechanism facts, invented numbers or sources."
        ),
        definition_zh="回答陈述了错误的或病例不支持的事实：捏造的检查结果、错误的药物/剂量/机制、编造的数字或出处。",
        decision_rule=(
            "Needs a stated false fact: a bare wrong letter states none (Output Error). If it contradicts "
            "the case or question text given in the prompt, use Contextual Inconsistency; if each fact is "
            "right but the inference from them is wrong, use Causal Reasoning Deficiency."
        ),
        example_zh="答：“青霉素属于大环内酯类抗生素，可用于支原体肺炎。”",
    ),
    Category(
        key="format_mismatch",
        name="Format Mismatch",
        name_zh="格式不符",
        definition=(
            "The content may be right but the form is not what was asked: prose or several letters where "
            "one letter was asked, a missing required structure (JSON/tuples, record sections)."
        ),
        definition_zh="有答案但形式不符合题目要求：要求给出选项字母、术语、JSON/三元组或病历模板时却写成段落；单选题给出多个字母。",
        decision_rule=(
            "A recoverable answer in the wrong form. No answer at all is Unanswered; broken text "
            "(empty, cut off, looping, garbled) is Output Error."
        ),
        example_zh="题目要求只输出选项字母，模型答：“应首选青霉素治疗，因为该患者为链球菌感染……”，没有给出字母。",
    ),
    Category(
        key="causal_reasoning_deficiency",
        name="Causal Reasoning Deficiency",
        name_zh="因果推理不足",
        definition=(
            "The facts used are right but the reasoning from them is not: a wrong causal link between "
            "findings and diagnosis, skipped steps, wrong priorities, a misapplied rule or calculation."
        ),
        definition_zh="所用事实正确，但推理出错：症状体征与诊断之间因果关系错误、跳步、轻重缓急颠倒、规则或计算误用。",
        decision_rule=(
            "Right premises, wrong conclusion. A false premise is Hallucination; a premise misread from "
            "the given case is Contextual Inconsistency; a right but incomplete chain is Omission."
        ),
        example_zh="患者发热、右下腹压痛及反跳痛，模型推断“发热提示病毒感染，故诊断为病毒性肠炎”，忽略腹膜刺激征指向阑尾炎。",
    ),
    Category(
        key="contextual_inconsistency",
        name="Contextual Inconsistency",
        name_zh="上下文不一致",
        definition=(
            "The response contradicts or ignores information given in the question, case, passage or "
            "earlier turns, or contradicts itself."
        ),
        definition_zh="回答与题干、病例、阅读材料或前文对话中给出的信息相矛盾或忽视这些信息，或前后自相矛盾。",
        decision_rule=(
            "Conflict with the provided text (or with itself). Conflict only with general medical "
            "knowledge is Hallucination."
        ),
        example_zh="病例写明“青霉素过敏史”，模型仍建议“首选青霉素静脉滴注”。",
    ),
    Category(
        key="unanswered",
        name="Unanswered",
        name_zh="未回答",
        definition=(
            "No answer is committed: a refusal, an empty reply, only a disclaimer, 'cannot be determined', "
            "or hedging between options without choosing."
        ),
        definition_zh="没有给出答案：拒答、空回复、只有免责声明、“无法确定”，或在选项之间犹豫而不作选择。",
        decision_rule=(
            "Decided first. An empty reply is Unanswered; an answer in the wrong form is Format Mismatch; "
            "broken text (truncated before any answer, looping, garbled) is Output Error."
        ),
        example_zh="“抱歉，我无法回答这个问题，请咨询专业医生。”",
    ),
    Category(
        key="output_error",
        name="Output Error",
        name_zh="输出错误",
        definition=(
            "The text itself is broken: truncated mid-sentence by the length limit before any answer, "
            "garbled, repeating loops, wrong language, answering a different question; or, for a choice "
            "item, a wrong option given with no reasoning that would support a more specific label."
        ),
        definition_zh="文本本身有问题：在给出答案前被长度上限截断、乱码、循环重复、语言错误、答非所问；或选择题只给出错误选项而没有可支持更具体类别的推理。",
        decision_rule=(
            "Decided after Unanswered, before the content categories: broken text is an Output Error "
            "whatever else is wrong (other problems go to secondary). A bare wrong letter (`B`, `答案：B`) "
            "is an Output Error, not a Hallucination."
        ),
        example_zh="“患者应考虑考虑考虑考虑考虑考虑考虑考虑……”（重复至长度上限）",
    ),
    Category(
        key="medical_language_generation_deficiency",
        name="Deficiency in Medical Language Generation",
        name_zh="医学语言生成缺陷",
        definition=(
            "For generated clinical text: unprofessional or colloquial wording, non-standard terminology, "
            "disorganised structure, so that the text could not stand as clinical writing even where its "
            "facts are right."
        ),
        definition_zh="医学内容基本正确完整，但语言表达不达标：术语不规范或口语化、语体不当、结构混乱、作为病历/摘要/患者解释难以阅读。",
        decision_rule=(
            "How it is said, not what is said. If the meaning is wrong or incomplete, use the category "
            "of that content error instead."
        ),
        example_zh="病历写成“病人肚子疼了好几天，吃不下饭”，而非规范表述“腹痛3天，伴纳差”。",
    ),
)

CATEGORY_KEYS: tuple[str, ...] = tuple(c.key for c in CATEGORIES)

# how a label is decided (ERROR_CODEBOOK.md): shown to annotators above the categories, and to the judge
DECISION_ORDER = (
    ("Give every wrong or incomplete response ONE primary category (the error that most explains why it "
    "fails) and optionally secondary ones; a fully correct response is `correct` and gets no error."),
    ("Decide in this order: Unanswered → Output Error (broken text) → Format Mismatch → then the content "
    "categories."),
    "Each label carries a one-line justification that cites the response.",
)
CONSEQUENCES = (
    ("A bare wrong letter (`B`, `答案：B`) is Output Error, not Hallucination: nothing in it states a false "
    "fact. Hallucination needs a stated false fact."),
    "An empty reply is Unanswered.",
    ("An open answer that humans judge fully correct has no error, even where an automatic key-point "
    "matcher missed a paraphrase: a pre-label of Omission there is the matcher's error, not the model's."),
)
CONFIDENCE_LEVELS: tuple[str, ...] = ("high", "medium", "low")
_BY_KEY = {c.key: c for c in CATEGORIES}
# names a person or a judge model may use for a category, lower-cased -> key
_ALIASES = {
    **{c.key: c.key for c in CATEGORIES},
    **{c.name.lower(): c.key for c in CATEGORIES},
    **{c.name_zh: c.key for c in CATEGORIES},
    "omissions": "omission",
    "medical language generation deficiency": "medical_language_generation_deficiency",
}


def category(key: str) -> Category:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ValueError(f"unknown error category {key!r}; known: {', '.join(CATEGORY_KEYS)}") from None


def category_key(name: str) -> str | None:
    """The key for a category named by key, English or Chinese name; None when it names none."""
    text = name.strip().lower()
    return _ALIASES.get(text) or _ALIASES.get(text.replace(" ", "_")) or _ALIASES.get(text.replace("_", " "))


def codebook() -> list[dict]:
    """The codebook as plain dicts (for the annotation UI and the judge prompt), with shortcuts."""
    return [{**asdict(c), "shortcut": str(i)} for i, c in enumerate(CATEGORIES, start=1)]


def _check_key(value: str) -> str:
    category(value)
    return value


class ErrorLabel(BaseModel):
    """The error label of one response."""

    category: str
    secondary: list[str] = Field(default_factory=list)
    source: LabelSource = "rule"
    rule: str | None = None  # which rule fired, or "judge:<model>"
    rationale: str = ""
    confidence: Confidence = "medium"

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        return _check_key(value)

    @field_validator("secondary")
    @classmethod
    def _known_secondary(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_check_key(v) for v in value))

    @model_validator(mode="after")
    def _primary_not_secondary(self) -> ErrorLabel:
        self.secondary = [key for key in self.secondary if key != self.category]
        return self
