"""Scoring of record items (MedBench 医学语言生成: IMCS-V2-MRG, DBMHG): a dialogue in, a medical
record out.

1. Sections. The reference and the model's record are split into named sections. Headings are read
   in the ways records are written — `主诉：`, `主诉:`, `【主诉】`, `**主诉**`, `**主诉：**`, `## 主诉`,
   `1. 主诉`, `（一）主诉：`, a heading alone on its line, or several `名称：内容` on one line after
   `。；` — and variants fold to one name (初步诊断 -> 诊断, 处理意见/治疗建议 -> 建议, 检查 -> 辅助检查,
   过敏史 -> 既往史, …; see SECTION_ALIASES). IMCS-V2-MRG asks for 主诉/现病史/辅助检查/既往史/诊断/
   建议, DBMHG for 一诉五史 (主诉/现病史/既往史/个人史/婚育史/家族史); the required sections of an
   item are those of its reference.
2. Scores. `section_coverage`: share of required sections present (a section with no content counts
   as missing). Key-point recall within each section: the section's points (given, or derived from
   the reference section by `keypoints.split_reference`) are matched against the model's section of
   the same name only; a missing section covers none of its points; the row's `recall` (its value)
   is the mean over sections (macro). A reference section that only says none (`无`, `否认`, `不详`)
   has no points: its presence is all that is checked. `rouge_l`: ROUGE-L F between the whole
   records. Details `covered`/`missed`/`points` list points as open items do.
3. Possible hallucinations (details `hallucinated`): numbers, drug names, test names and results,
   and diagnoses in the model's record that appear neither in the dialogue nor in the reference
   record. They are suspects for a reviewer, not verdicts.

Gold: `Gold.structure` as `{section: text}` (a value may be `{"text": …, "key_points": […]}`) or
MedBench's `[{"type": section, "entity": text}]`; else `Gold.text` split as above. `Gold.key_points`
written `节名：要点` are assigned to that section; points without a known section prefix are checked
against the whole record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from medgap.records import Attempt, Response, Sample, Score
from medgap.scoring.keypoints import split_reference
from medgap.scoring.matching import Matcher, MatchResult, jieba_tokenizer, match_many
from medgap.scoring.open import default_matcher
from medgap.scoring.reply import body_of
from medgap.scoring.rouge import rouge_l
from medgap.scoring.synonyms import normalize_synonyms

IMCS_SECTIONS = ("主诉", "现病史", "辅助检查", "既往史", "诊断", "建议")
DBMHG_SECTIONS = ("主诉", "现病史", "既往史", "个人史", "婚育史", "家族史")

# canonical name -> headings written for it (the canonical name itself included)
SECTION_ALIASES: dict[str, tuple[str, ...]] = {
    "主诉": ("主诉", "主述", "就诊原因"),
    "现病史": ("现病史", "现病史摘要", "现病", "病史摘要"),
    "辅助检查": ("辅助检查", "辅助检查结果", "检查", "检查结果", "已做检查", "相关检查", "实验室检查", "检验结果",
                 "化验结果", "辅检", "检查情况"),
    "既往史": ("既往史", "既往病史", "既往", "过去史", "过敏史", "手术史", "外伤史", "输血史", "预防接种史",
               "既往史及过敏史"),
    "诊断": ("诊断", "初步诊断", "诊断结果", "临床诊断", "可能诊断", "考虑诊断", "诊断意见", "印象", "初步印象",
             "疾病诊断"),
    "建议": ("建议", "处理意见", "治疗建议", "诊疗建议", "处理建议", "医生建议", "医嘱", "处理", "处置", "治疗方案",
             "治疗意见", "诊疗计划", "治疗计划", "诊疗意见"),
    "个人史": ("个人史", "个人生活史", "生活史"),
    "婚育史": ("婚育史", "婚姻史", "生育史", "月经婚育史", "婚育及月经史", "月经史", "婚姻生育史"),
    "家族史": ("家族史", "家族病史", "家族遗传史"),
    # not asked by either source, but recognised so its text does not run into the section before it
    "体格检查": ("体格检查", "查体", "体检", "专科检查"),
}
CANONICAL = {alias: name for name, aliases in SECTION_ALIASES.items() for alias in aliases}
_ALIAS_ALT = "|".join(sorted(map(re.escape, CANONICAL), key=len, reverse=True))
_HEADING = re.compile(
    r"(?:^|(?<=[。；;！!？?]))[ \t]*"
    r"(?:#{1,6}[ \t]*)?"
    r"(?:(?:\d{1,2}|[一二三四五六七八九十]{1,2})[ \t]*[.、．)）][ \t]*"
    r"|[（(](?:\d{1,2}|[一二三四五六七八九十]{1,2})[)）][ \t]*|[-*•·][ \t]+)?"
    r"(?P<open>\*\*|【|\[|〖)?[ \t]*"
    rf"(?P<name>{_ALIAS_ALT})"
    r"[ \t]*(?P<close>\*\*|】|\]|〗)?[ \t]*(?P<colon>[：:])?[ \t]*(?:\*\*|】)?",
    re.MULTILINE,
)
# Models sometimes copy the prompt's "部分名称：内容" literally: "部分名称：主诉\n内容：……".
_LABELLED_HEADING = re.compile(r"^[ \t]*(?:部分名称|部分|标题)[ \t]*[：:][ \t]*", re.MULTILINE)
_CONTENT_LABEL = re.compile(r"^[ \t]*内容[ \t]*[：:][ \t]*", re.MULTILINE)
_NONE_SECTION = re.compile(r"^(?:无|否认|不详|暂无|未提及|未诉|无特殊|没有|未知|不清楚|无殊)[^\n]{0,12}$")
_TRIM = " \t\r\n\u3000*#-—"


def canonical_section(name: str) -> str:
    """`初步诊断` -> `诊断`; unknown names come back stripped."""
    stripped = re.sub(r"[\s*#【】\[\]〖〗：:]", "", name)
    return CANONICAL.get(stripped, stripped)


def split_sections(text: str) -> dict[str, str]:
    """The named sections of a record, in order of first appearance; text before the first heading
    is dropped and repeated sections are joined."""
    text = _CONTENT_LABEL.sub("", _LABELLED_HEADING.sub("", text))
    headings = [m for m in _HEADING.finditer(text) if _is_heading(m, text)]
    sections: dict[str, str] = {}
    for index, match in enumerate(headings):
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        content = text[match.end():end].strip(_TRIM)
        name = CANONICAL[match["name"]]
        sections[name] = f"{sections[name]}\n{content}".strip() if sections.get(name) else content
    return sections


def _is_heading(match: re.Match[str], text: str) -> bool:
    if match["colon"] or (match["open"] and match["close"]):
        return True
    line_end = text.find("\n", match.end())
    rest = text[match.end(): line_end if line_end >= 0 else len(text)]
    line_start = text.rfind("\n", 0, match.start()) + 1
    return not rest.strip() and not text[line_start:match.start()].strip()


def join_sections(sections: dict[str, str]) -> str:
    return "\n".join(f"{name}：{content}" for name, content in sections.items())


def is_none_section(text: str) -> bool:
    return bool(_NONE_SECTION.match(text.strip().rstrip("。.")))


# the reference ------------------------------------------------------------------------------------


@dataclass
class Reference:
    sections: dict[str, str]  # required section -> reference text
    points: dict[str, list[str]] = field(default_factory=dict)  # section ('' = whole record) -> points

    @property
    def text(self) -> str:
        return join_sections(self.sections)


class RecordGoldError(ValueError):
    """A record item's gold that has no sections."""


def reference_of(sample: Sample) -> Reference:
    gold = sample.gold
    if gold is None:
        raise RecordGoldError(f"item {sample.id} has no gold")
    given_points: dict[str, list[str]] = {}
    structure = gold.structure
    if isinstance(structure, list):  # MedBench: [{"type": "主诉", "entity": "…"}]
        try:
            structure = {str(entry["type"]): str(entry["entity"]) for entry in structure}
        except (KeyError, TypeError):
            raise RecordGoldError(f"item {sample.id}: gold list entries need 'type' and 'entity'") from None
    if isinstance(structure, dict):
        sections = {}
        for raw_name, value in structure.items():
            name = canonical_section(str(raw_name))
            if isinstance(value, dict):
                sections[name] = str(value.get("text") or "").strip()
                if value.get("key_points"):
                    given_points[name] = [str(p) for p in value["key_points"]]
            else:
                sections[name] = str(value or "").strip()
    elif structure is None and gold.text:
        sections = split_sections(gold.text)
    else:
        raise RecordGoldError(f"item {sample.id}: record gold must be a section map, a list or sectioned text")
    if not sections:
        raise RecordGoldError(f"item {sample.id}: no sections found in the gold record")
    reference = Reference(sections)
    reference.points = section_points(sections, given_points, gold.key_points)
    return reference


def section_points(sections: dict[str, str], given: dict[str, list[str]], flat: list[str]) -> dict[str, list[str]]:
    """Points per section. Points given (per section, or flat `节名：要点`, a flat point without a known
    section going to '' = the whole record) are used as they are; only when none are given are they
    derived from each reference section's text."""
    points: dict[str, list[str]] = {name: list(items) for name, items in given.items()}
    for point in flat:
        name = _point_section(point)[0]
        if name in given:
            continue
        points.setdefault(name if name in sections else "", []).append(point)
    if points:
        return points
    for name, text in sections.items():
        if not is_none_section(text):
            derived = split_reference(text)
            if derived:
                points[name] = derived
    return points


def _point_section(point: str) -> tuple[str, str]:
    match = re.match(r"^\s*[【\[]?([^：:】\]]{1,8})[】\]]?\s*[：:]\s*(.+)$", point)
    if match and canonical_section(match[1]) in SECTION_ALIASES:
        return canonical_section(match[1]), match[2]
    return "", point


def _point_text(point: str) -> str:
    """A point without its section prefix, for matching."""
    return _point_section(point)[1] or point


# hallucination suspects -----------------------------------------------------------------------------

_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9
}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NUMBER_SPAN = re.compile(
    r"(?<![A-Za-z0-9.])\d+(?:\.\d+)?(?:\s*(?:/|-|~|～)\s*\d+(?:\.\d+)?)?\s*"
    r"(?:℃|°C|度|天|日|周|个月|月|年|岁|小时|分钟|次|mg|g|ml|mmHg|kg|%|个|片|粒|袋|支|斤|cm|mm)?",
    re.IGNORECASE,
)
_DIAGNOSIS_END = re.compile(
    r"(?:炎|病|症|癌|瘤|综合征|综合症|感染|骨折|结石|出血|梗死|梗塞|衰竭|不全|溃疡|贫血|哮喘|疝|积液|囊肿|息肉|增生|过敏)$"
)
_DRUG_END = re.compile(
    r"(?:霉素|沙星|西林|头孢\w*|洛尔|地平|普利|沙坦|他汀|拉唑|替丁|咪唑|康唑|韦|单抗|胰岛素|布洛芬|氨基酚|"
    r"片|胶囊|颗粒|注射液|口服液|糖浆|滴剂|软膏|乳膏|喷雾剂|气雾剂|栓|丸|冲剂|混悬液)$"
)
_TEST_END = re.compile(
    r"(?:常规|功能|造影|镜|试验|检测|化验|超|CT|ct|MRI|mri|心电图|血糖|血脂|胸片|X光|x光|核酸|抗体|培养)$"
)
_GENERIC_TERMS = frozenset((
    "疾病", "病情", "症状", "病史", "毛病", "发病", "病因", "病人", "病程", "病例", "病变", "患病", "生病", "看病",
    "得病", "此病", "该病", "本病", "并发症", "后遗症", "适应症", "禁忌症", "炎症", "不全", "过敏", "病症", "症候",
    "急症", "重症", "药片", "一片", "半片", "检查", "化验", "相关", "功能",
))
_CONTENT_TOKEN = re.compile(r"[0-9A-Za-z\u4e00-\u9fff]")
_CJK_WORD = re.compile(r"[\u4e00-\u9fff]+")
_DRUG_NAME_ENDS = "唑星素林平尔酚芬松铵钾钠索胺定酮"
_DRUG_VERBS = frozenset((
    "口服", "服用", "服", "予", "给予", "使用", "用", "吃", "加用", "改用", "静滴", "静脉", "外用", "联合", "及", "和",
    "与", "或", "每日", "每天", "并", "可", "可以", "建议", "继续", "需", "需要", "停", "停用", "的", "了", "后", "前",
    "以", "为", "是", "有", "无",
))
# a result word -> the character that says the same in plain speech (淋巴细胞比例高)
_RESULT_WORDS = {"升高": "高", "偏高": "高", "增高": "高", "降低": "低", "偏低": "低", "阳性": "阳性", "阴性": "阴性"}
MAX_SUSPECTS = 20


def arabic_numbers(text: str) -> str:
    """Chinese numerals as digits (三十八 -> 38, 两 -> 2, 七八 -> 7-8) and `38度5` as 38.5, for comparing
    numbers."""
    converted = _CN_NUMBER.sub(lambda m: _cn_value(m.group()), text)
    return re.sub(r"(\d+)度(\d)(?!\d)", r"\1.\2度", converted)


def _cn_value(numeral: str) -> str:
    if not any(unit in numeral for unit in "十百"):
        digits = [_CN_DIGITS[char] for char in numeral]
        if len(digits) == 2 and digits[1] > digits[0]:
            return f"{digits[0]}-{digits[1]}"  # 七八次, 三五分钟: an approximate range
        return "".join(map(str, digits))  # 一九九八
    total, current = 0, 0
    for char in numeral:
        if char in _CN_DIGITS:
            current = _CN_DIGITS[char]
        elif char == "十":
            total += (current or 1) * 10
            current = 0
        elif char == "百":
            total += (current or 1) * 100
            current = 0
    return str(total + current)


def _number_values(text: str) -> set[str]:
    return {_canonical_number(n) for n in _NUMBER.findall(arabic_numbers(text))}


def _canonical_number(number: str) -> str:
    return number.rstrip("0").rstrip(".") if "." in number else number.lstrip("0") or "0"


def suspect_spans(record: str, support: str, sections: dict[str, str] | None = None) -> list[str]:
    """Numbers, drugs, tests, test results and diagnoses in `record` found nowhere in `support`
    (the dialogue plus the reference record)."""
    support_norm = normalize_synonyms(support)
    support_numbers = _number_values(support)
    advice = (sections or {}).get("建议", "")
    suspects: list[str] = []
    converted = arabic_numbers(record)
    for match in _NUMBER_SPAN.finditer(converted):
        if _is_enumeration(match, converted):
            continue
        values = {_canonical_number(n) for n in _NUMBER.findall(match.group())}
        if values - support_numbers:
            suspects.append(match.group().strip())
    tokens = [t.strip() for t in jieba_tokenizer().lcut(record) if t.strip()]
    for index, word in enumerate(tokens):
        if _DRUG_END.search(word):
            if index + 1 < len(tokens) and _DRUG_END.search(tokens[index + 1]):
                continue  # 奥美拉唑|肠溶|胶囊: the dosage form after it ends the name
            word = drug_name(tokens, index)
        if len(word) < 2 or word in _GENERIC_TERMS or _NUMBER.fullmatch(word):
            continue
        is_test = bool(_TEST_END.search(word))
        if is_test and word in advice:
            continue  # a test recommended, not a result claimed
        if is_test or _DIAGNOSIS_END.search(word) or (_DRUG_END.search(word) and len(word) >= 3):
            if not _supported(word, support_norm):
                suspects.append(word)
        elif word in _RESULT_WORDS:
            subject = next((t for t in reversed(tokens[:index]) if _CONTENT_TOKEN.search(t)), "")
            if not _result_supported(subject, word, support_norm):
                suspects.append(f"{subject}{word}")
    unique = list(dict.fromkeys(suspects))
    longest = [span for span in unique if not any(span != other and span in other for other in unique)]
    return longest[:MAX_SUSPECTS]


def drug_name(tokens: list[str], index: int, limit: int = 12) -> str:
    """The drug name ending at tokens[index], joined back from the fragments jieba cuts rare names
    into (甲|巯|咪唑, 头孢|克|肟|颗粒): earlier tokens are joined while they are short CJK fragments or
    end like a drug name, and are not a verb such as 口服."""
    word = tokens[index]
    for previous in reversed(tokens[:index]):
        fragment = _CJK_WORD.fullmatch(previous) and (len(previous) <= 2 or previous[-1] in _DRUG_NAME_ENDS)
        if not fragment or previous in _DRUG_VERBS or len(word) + len(previous) > limit:
            break
        word = previous + word
    return word.lstrip("予用服") if len(word) > 3 else word


def _is_enumeration(match: re.Match[str], record: str) -> bool:
    """`1.` / `2、` list numbering at a line start, not a claim."""
    text = match.group().strip()
    start = match.start()
    before = record[:start].rsplit("\n", 1)[-1].strip(" \t*#")
    after = record[match.end(): match.end() + 1]
    return not before and text.isdigit() and after in (".", "、", "．", ")", "）")


def _result_supported(subject: str, word: str, support_norm: str) -> bool:
    """`比例升高` is supported when the support says the subject goes that way nearby (`比例高`)."""
    core = _RESULT_WORDS[word]
    subject = normalize_synonyms(subject)
    if not subject.strip():
        return word in support_norm
    return any(core in support_norm[m.end(): m.end() + 6] for m in re.finditer(re.escape(subject), support_norm))


def _supported(word: str, support_norm: str) -> bool:
    normalized = normalize_synonyms(word)
    if normalized in support_norm or (len(normalized) > 2 and normalized.rstrip("病症") in support_norm):
        return True
    parts = [p for p in jieba_tokenizer().lcut_for_search(normalized) if len(p) >= 2 and p != normalized]
    return bool(parts) and all(p in support_norm for p in parts) and len("".join(parts)) >= len(normalized)


# scoring --------------------------------------------------------------------------------------------


def dialogue_of(sample: Sample) -> str:
    return "\n".join(part for part in (sample.context, sample.question) if part)


@dataclass
class _Draft:
    """A record row scored up to the key-point matching."""

    score: Score
    jobs: list[tuple[str, list[str], str]]  # (section, its points, the model's text for it)


def _draft(sample: Sample, response: Response) -> _Draft | Score:
    body = body_of(response.text)
    produced = split_sections(body)
    details: dict[str, Any] = {"sections_found": list(produced)}
    if body and not produced:
        details.update(format_error=True, parse_error="no record section headings (主诉：, 【现病史】, …) found")
    if sample.gold is None:
        return Score(value=None, details={**details, "ungraded": True})
    try:
        reference = reference_of(sample)
    except RecordGoldError as exc:
        return Score(details={**details, "unscored": str(exc)})
    required = list(reference.sections)
    present = [name for name in required if produced.get(name, "").strip()]
    details["sections_required"] = required
    details["sections_missing"] = [name for name in required if name not in present]
    details["section_coverage"] = len(present) / len(required)
    details["rouge_l"] = rouge_l(body, reference.text) or 0.0
    details["hallucinated"] = suspect_spans(body, f"{dialogue_of(sample)}\n{reference.text}", produced)
    jobs = [(name, points, body if name == "" else produced.get(name, ""))
            for name, points in reference.points.items() if points]
    details["points"] = [point for _, points, _ in jobs for point in points]
    return _Draft(Score(details=details), jobs)


def _finish(draft: _Draft, results: list[MatchResult | None], method: str) -> Score:
    """Per-point decisions -> covered (list[bool] aligned with points, as open items), missed, the
    recall of each section and their mean (the row's value). A matcher that could not decide (a
    judge without a valid reply) leaves the value None with a judge_error, as for open items."""
    score, details = draft.score, draft.score.details
    details["match_method"] = method
    covered: list[bool] = []
    per_section: dict[str, float] = {}
    for (name, points, _), result in zip(draft.jobs, results, strict=True):
        if result is None:  # nothing written for the section
            decisions = [False] * len(points)
        elif result.covered is None:
            details.update(covered=None, missed=None, recall=None, judge_error=result.error)
            score.value = None
            return score
        else:
            decisions = result.covered
        covered += decisions
        per_section[name or "全文"] = sum(decisions) / len(points)
    details["covered"] = covered
    details["missed"] = [point for point, hit in zip(details["points"], covered, strict=True) if not hit]
    details["section_recall"] = per_section
    details["recall"] = sum(per_section.values()) / len(per_section) if per_section else details["section_coverage"]
    score.value = details["recall"]
    return score


def _queries(draft: _Draft) -> list[tuple[list[str], str] | None]:
    """What to match per section; None for a section the model did not write (nothing covered)."""
    return [([_point_text(p) for p in points], text) if text.strip() else None for _, points, text in draft.jobs]


def score_record(sample: Sample, attempt: Attempt, response: Response, matcher: Matcher | None = None) -> Score:
    """Inline scoring with a synchronous matcher (the default `medical` one unless given)."""
    draft = _draft(sample, response)
    if isinstance(draft, Score):
        return draft
    matcher = matcher or default_matcher()
    results = [matcher.match(*query, sample) if query else None for query in _queries(draft)]
    return _finish(draft, results, matcher.name)


async def score_record_async(sample: Sample, attempt: Attempt, response: Response, matcher: Matcher,
                             concurrency: int = 4) -> Score:
    """Scoring with any matcher, the judge included (one call per written section)."""
    if response.error is not None:
        return Score(details={"error": True})
    draft = _draft(sample, response)
    if isinstance(draft, Score):
        return draft
    queries = _queries(draft)
    asked = [(points, text, sample) for query in queries if query for points, text in [query]]
    answers = iter(await match_many(matcher, asked, concurrency=concurrency))
    return _finish(draft, [next(answers) if query else None for query in queries], matcher.name)
