"""The `medical` key-point matcher (the default): reproduces how people decide that an answer covers a
point, as written in `medgap/web/codebook/KEYPOINT_COVERAGE.md`.

A point is first read for what it claims (`read_point`):

- a **diagnosis** (`诊断：X`, or a short disease term such as `左侧嗜铬细胞瘤`): its parts, split on
  `，、；` and joiners (`合并`, `伴`, `并发`), are terms to find. A term is found when the answer states
  every word of it (type, stage, side, component included: `嵌顿性`, `慢性`, `右侧`, `多发`) within
  one sentence, so `腹股沟疝` or `直疝` does not cover `嵌顿性腹股沟斜疝`. A diagnosis made of several
  parts (`遗传性球形红细胞增多症，脾大、脾功能亢进`) is covered when more than half of them are found,
  the first (the most decisive) included. Diagnoses are looked for outside the answer's differential
  section, so `鉴别：丹毒` does not cover `诊断：丹毒`.
- a **named entity with an explanation** (`急性蜂窝织炎：多伴有局部肿胀…`, a differential): the name is
  the core claim; the explanation is not required. Where the answer has a differential section, the
  name is looked for there.
- **evidence under a heading** (`CT：胆囊结石`, `实验室检查：血常规及肝功能正常`): judged on the finding
  after the heading.
- anything else is a statement (a finding, an action, a mechanism): covered when enough of its
  content words and character bigrams occur near one another in the answer (the lexical score of
  `matching.LexicalMatcher`, with the medical synonym table and a medical word list for jieba),
  at a threshold calibrated on the development labels (`bench/labels`, dev part: 0.33, where the
  reference-against-itself check still covers 100% of points and other items' references 1.8% /
  0.7% on CMB-Clin / TCM-FT). A statement that lists three or more short co-equal findings is
  covered when more than half of them are found.

With a judge configured (`--match medical --judge MODEL`), the statements the rules find close (score
within JUDGE_MARGIN of the threshold) are asked of the judge; everything else stays rule-decided.

Text on both sides is normalised first: full-width folding, the synonym table of
`medgap/scoring/synonyms.py` plus the clinical spellings in EXTRA_SYNONYMS (硬脑膜 = 硬膜, 右侧 = 右…).
Everything is string work on jieba tokens: no model, several hundred answers a second.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medgap.scoring.keypoints import point_body
from medgap.scoring.matching import (
    STOPWORDS,
    Matcher,
    MatchResult,
    Profile,
    contrast_weights,
    jieba_tokenizer,
    sentence_windows,
    sentences,
)
from medgap.scoring.synonyms import normalize_synonyms

if TYPE_CHECKING:
    from medgap.models.base import Model
    from medgap.records import Sample

WORDS_FILE = Path(__file__).with_name("medical_words.txt")

# spelling variants of clinical writing not in synonyms.SYNONYMS (kept apart so `lexical` is unchanged)
EXTRA_SYNONYMS: dict[str, tuple[str, ...]] = {
    "硬膜": ("硬脑膜",),
    "右": ("右侧",),
    "左": ("左侧",),
    "双": ("双侧",),
    "气液平": ("气液平面", "液气平面", "液气平", "液平面", "液平"),
    "皮脂囊肿": ("皮脂腺囊肿",),
    "肿大": ("肿胀增大", "增大"),
    "升高": ("增高", "偏高", "增多"),
    "降低": ("减低", "偏低", "下降", "减少"),
    "白细胞": ("血象",),
    "手术": ("手术治疗", "外科治疗"),
    "切除": ("切除术",),
    "结石": ("结石症",),
    "发热": ("发烧",),
    "高处坠落": ("高空坠落", "高处跌落", "高空跌落"),
}

# a more specific term covers the general one (KEYPOINT_COVERAGE.md: 胺碘酮 covers 抗心律失常药物): the
# general term is added after each specific one in the answer (never in the point)
HYPONYMS: dict[str, tuple[str, ...]] = {
    "抗心律失常药物": ("胺碘酮", "利多卡因", "普罗帕酮", "美托洛尔", "索他洛尔", "维拉帕米", "地尔硫䓬", "腺苷",
                       "普萘洛尔"),
    "抗生素": ("青霉素", "头孢", "阿莫西林", "左氧氟沙星", "莫西沙星", "阿奇霉素", "克林霉素", "万古霉素", "甲硝唑",
               "亚胺培南", "美罗培南", "哌拉西林", "β-内酰胺类", "内酰胺类", "喹诺酮类", "大环内酯类"),
    "抗凝": ("肝素", "华法林", "利伐沙班", "达比加群", "低分子肝素"),
    "利尿剂": ("呋塞米", "氢氯噻嗪", "螺内酯", "托拉塞米"),
    "糖皮质激素": ("地塞米松", "泼尼松", "甲泼尼龙", "氢化可的松"),
    "手术": ("切除术", "切开", "根治术", "修补术", "吻合", "引流术", "栓塞", "腔镜", "腹腔镜", "开颅"),
    "影像学检查": ("ct", "磁共振", "超声", "x线", "胸片", "造影"),
}

# a point `NAME：explanation` whose NAME is one of these (or contains one of the markers) is evidence:
# the finding after the colon is the claim
EVIDENCE_HEADINGS = (
    "实验室检查", "辅助检查", "体格检查", "查体", "专科检查", "影像学检查", "影像学", "病史", "主诉", "现病史",
    "既往史", "个人史", "家族史", "诊断依据", "病理", "病理检查", "血常规", "尿常规", "肝功能", "心电图",
    "核素显像", "内镜", "胃镜", "结肠镜", "x线", "胸片", "ct", "mri", "磁共振", "超声", "多普勒超声",
    "彩超", "b超", "dsa", "cta", "mra", "pet-ct", "治疗", "手术治疗", "术后治疗", "药物治疗", "靶向药物",
    "鉴别诊断", "处理", "建议",
)
EVIDENCE_MARKERS = ("检查", "超声", "ct", "mri", "显像", "造影", "化验", "病史", "治疗", "检验", "x线", "平片")
DIFFERENTIAL_HEADING = re.compile(r"^\s*(?:鉴别诊断要点|鉴别诊断|鉴别)\s*[：:]\s*")
DIAGNOSIS_HEADING = re.compile(r"^\s*(?:初步诊断|临床诊断|最可能的诊断|诊断)\s*[：:]\s*")
NAMED = re.compile(r"^\s*([^：:，,。；;]{1,24}?)\s*[：:]\s*(.+)$", re.DOTALL)
DISEASE_END = re.compile(
    r"(?:病|症|炎|瘤|癌|疝|痈|疖|结石|丹毒|骨折|梗塞|坏死|贫血|综合征|梗阻|畸形|闭锁|亢进|不全|衰竭|积液|积水|"
    r"出血|增生|狭窄|脱垂|破裂|穿孔|扭转|感染|中毒|硬化|结核|损伤|囊肿|血肿|脓肿|梗死|反流|溃疡|功能减退|血症|肿大|脾大|肝大)$"
)
LIST_ELEMENT_CHARS = 10
PART_SPLIT = re.compile(r"[，,、；;]|合并|并发|伴有|伴发|伴")
LIST_SPLIT = re.compile(r"[，,、；;]|及|和|以及|或")
DIFFERENTIAL = re.compile(r"鉴别")
SECTION_END = re.compile(r"\n\s*\n|(?:治疗|处理|进一步检查|检查|建议|诊断依据)\s*[：:]")
EXTRA_STOPWORDS = frozenset(
    ["病人", "患者", "病儿", "主因", "就诊", "发现", "表现", "可见", "示", "存在", "出现", "具有", "一般", "多",
     "常", "较", "有助于", "情况", "方面", "相关", "进一步", "明显", "目前", "应当", "能够", "能", "会", "要",
     "所致", "引起", "导致", "作为", "通过", "根据", "结合", "属于", "称为", "称", "又", "还", "更", "最", "多为"]
)


@cache
def tokenizer():
    """A jieba tokenizer of its own with the medical word list (the shared default one, used by
    `lexical` and retrieval, keeps its dictionary)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    for line in WORDS_FILE.read_text(encoding="utf-8").splitlines():
        word = line.strip()
        if word and not word.startswith("#"):
            tok.add_word(word, freq=200000)
    return tok


@cache
def _extra_pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    to_canonical = {v: c for c, variants in EXTRA_SYNONYMS.items() for v in variants}
    to_canonical.update({c: c for c in EXTRA_SYNONYMS})  # a canonical form is never rewritten inside
    alternatives = [re.escape(v) for v in sorted(to_canonical, key=len, reverse=True)]
    return re.compile("|".join(alternatives)), to_canonical


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    pattern, to_canonical = _extra_pattern()
    return pattern.sub(lambda m: to_canonical[m.group(0)], normalize_synonyms(text))


_CONTENT_RUN = re.compile(r"[0-9a-z\u4e00-\u9fff.]+")
_CONTENT_CHAR = re.compile(r"[0-9a-z\u4e00-\u9fff]")


def content_tokens(normalized: str, medical: bool = True) -> list[str]:
    """Content words of normalised text: the medical word list's cut for terms (`medical`), jieba's
    default cut (shorter words) for statements."""
    out = []
    for token in (tokenizer() if medical else jieba_tokenizer()).lcut(normalized):
        if not _CONTENT_CHAR.search(token) or token in STOPWORDS or token in EXTRA_STOPWORDS:
            continue
        if len(token) > 2 and token.endswith("性"):  # 嵌顿性 -> 嵌顿, 遗传性 -> 遗传 (急性 stays)
            token = token[:-1]
        out.append(token)
    return out


@lru_cache(maxsize=65536)
def med_profile(text: str) -> Profile:
    normalized = normalize(text)
    tokens = frozenset(content_tokens(normalized, medical=False))
    bigrams = frozenset(run[i : i + 2] for run in _CONTENT_RUN.findall(normalized) for i in range(max(1, len(run) - 1)))
    return Profile(tokens, bigrams)


# reading a point -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """What a point claims: `kind` is diagnosis | named | differentials | items (listed after a
    heading) | list | statement; `parts` the terms or findings to look for (the first is the most
    decisive)."""

    kind: str
    parts: tuple[str, ...]


FINDING_VERB = re.compile(r"示|见|显示|提示|考虑|表现|出现|发现|可能|所致|引起|导致")


def is_disease_term(text: str) -> bool:
    """A short name of a disease (`左侧嗜铬细胞瘤`), not a finding about one (`胃镜示反流性食管炎`)."""
    text = text.strip(" 。；;，,")
    return (1 < len(text) <= 24 and not re.search(r"[。；;：:（(]", text) and not FINDING_VERB.search(text)
            and bool(DISEASE_END.search(text)))


def is_evidence_heading(name: str) -> bool:
    key = normalize(name).strip()
    return key in EVIDENCE_HEADINGS or any(marker in key for marker in EVIDENCE_MARKERS)


@lru_cache(maxsize=16384)
def read_point(point: str) -> Claim:
    diagnosis = DIAGNOSIS_HEADING.match(point)
    if diagnosis:
        return Claim("diagnosis", split_parts(point[diagnosis.end():]))
    differential = DIFFERENTIAL_HEADING.match(point)
    if differential:  # `鉴别诊断：肾错构瘤，肾淋巴瘤，肾上腺肿瘤`: co-equal differentials
        return Claim("differentials", split_parts(point[differential.end():]))
    body = point_body(point).strip()
    named = NAMED.match(body)
    if named:
        name, rest = named.group(1).strip(), named.group(2).strip()
        if is_evidence_heading(name):
            return read_statement(rest)
        if is_disease_term(name) or len(name) <= 12:
            return Claim("named", split_alternatives(name))
        listed = read_statement(rest)
        if listed.kind == "list":  # `…四种最基本的变化：气逆、气陷、气闭、气脱`: the listed items are the claim
            return Claim("items", listed.parts)
    parts = split_parts(body)
    if parts and all(is_disease_term(p) or len(p) <= 6 for p in parts) and is_disease_term(parts[0]):
        return Claim("diagnosis", parts)
    return read_statement(body)


def split_parts(text: str) -> tuple[str, ...]:
    return tuple(p.strip(" 。.") for p in PART_SPLIT.split(text) if _CONTENT_CHAR.search(p.lower()))


def split_alternatives(name: str) -> tuple[str, ...]:
    """`壶腹癌或胰头癌` names two entities; either one names the differential."""
    return tuple(p.strip() for p in re.split(r"或|/|、", name) if p.strip())


def read_statement(text: str) -> Claim:
    elements = [e.strip(" 。.") for e in LIST_SPLIT.split(text) if _CONTENT_CHAR.search(e.lower())]
    if len(elements) >= 3 and all(len(e) <= LIST_ELEMENT_CHARS for e in elements):
        return Claim("list", tuple(elements))
    return Claim("statement", (text,))


# reading an answer ---------------------------------------------------------------------------------

@cache
def _hyponym_pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    general = {normalize(v): g for g, specific in HYPONYMS.items() for v in specific}
    return re.compile("|".join(re.escape(v) for v in sorted(general, key=len, reverse=True))), general


def with_general_terms(normalized: str) -> str:
    """`…胺碘酮…` -> `…胺碘酮抗心律失常药物…`: an answer naming a specific drug or procedure states the class."""
    pattern, general = _hyponym_pattern()
    return pattern.sub(lambda m: m.group(0) + general[m.group(0)], normalized)


class Answer:
    """An answer normalised once: its sentences, the part outside and inside its differential section."""

    def __init__(self, text: str) -> None:
        text = with_general_terms(normalize(text))
        self.text = text
        self.sentences = [normalize(s) for s in sentences(text)]
        differential, rest = split_differential(text)
        self.differential = [normalize(s) for s in sentences(differential)]
        self.main = [normalize(s) for s in sentences(rest)]
        said = stated_diagnosis(text)
        self.diagnosis = [normalize(said)] if said else []  # what the answer gives as its diagnosis
        self.profiles = [med_profile(s) for s in self.sentences]
        self.lengths = [len(s) for s in self.sentences]

    def windows(self, min_chars: float):
        """(profile, text) of runs of consecutive sentences, each as short as reaches `min_chars`."""
        for window, start, end in sentence_windows(self.profiles, self.lengths, min_chars):
            yield window, "".join(self.sentences[start : end + 1])


def split_differential(text: str) -> tuple[str, str]:
    """(differential section, the rest): from a `鉴别` mention to the next blank line or heading."""
    start = DIFFERENTIAL.search(text)
    if not start:
        return "", text
    end = SECTION_END.search(text, start.end())
    stop = end.start() if end else len(text)
    return text[start.start():stop], text[: start.start()] + text[stop:]


def _token_in(token: str, sentence: str) -> bool:
    """A word of a term in a sentence: as written; a short word (2-3 characters) with its characters
    reordered close together (后部 in 左后颈部); a long word with most of its bigrams, its head (the last
    one) included (硬膜下血肿 / 硬膜下的血肿, but not 新生儿肝炎 / 新生儿肝功能异常)."""
    if token in sentence:
        return True
    if len(token) <= 3:  # the characters reordered, close together (not scattered over a long sentence)
        span = len(token) + 2
        return any(all(ch in sentence[i : i + span] for ch in token) for i in range(max(1, len(sentence) - span + 1)))
    grams = [token[i : i + 2] for i in range(len(token) - 1)]  # the head (last bigram) must be there
    return grams[-1] in sentence and sum(g in sentence for g in grams) >= 0.75 * len(grams)


@lru_cache(maxsize=16384)
def term_words(term: str) -> tuple[tuple[str, ...], ...]:
    """The words of a term under the medical cut and under jieba's default cut (either may split an
    unlisted term oddly: 胃镜示反流性食管炎 -> 示反/流性)."""
    normalized = normalize(term)
    cuts = {tuple(content_tokens(normalized, medical)) for medical in (True, False)}
    return tuple(cut for cut in cuts if cut) or ((normalized,),)


def term_found(term: str, sentences_: Sequence[str]) -> bool:
    """Every word of `term` (qualifiers included) stated in one sentence."""
    normalized = normalize(term)
    cuts = term_words(term)
    for sentence in sentences_:
        if normalized in sentence or any(all(_token_in(t, sentence) for t in cut) for cut in cuts):
            return True
    return False


def more_than_half(found: Sequence[bool], decisive_first: bool = True) -> bool:
    if not found:
        return False
    if len(found) == 1:
        return found[0]
    return sum(found) * 2 > len(found) and (found[0] or not decisive_first)


@lru_cache(maxsize=65536)
def sub_words(word: str) -> tuple[str, ...]:
    """The shorter words inside a long one (胆囊结石 -> 胆囊, 结石), by jieba's search-engine cut."""
    if len(word) < 4:
        return ()
    return tuple(w for w in jieba_tokenizer().lcut_for_search(word) if len(w) >= 2 and w != word and w in word)


def word_in(word: str, tokens: frozenset[str], text: str) -> bool:
    """A point's word in a window: as a word, inside the text, or by all its shorter words."""
    if word in tokens or word in text:
        return True
    parts = sub_words(word)
    return bool(parts) and all(part in text for part in parts)


def window_score(point: Profile, window: Profile, text: str, weights=None) -> float:
    """Like `matching.lexical_score`: the weighted share of the point's words found in the window
    (as a word, or inside the window's text: 结石 in 结石影), averaged with the weighted share of its
    character bigrams."""
    token_weights, bigram_weights = weights or ({t: 1.0 for t in point.tokens}, {b: 1.0 for b in point.bigrams})
    parts = []
    total = sum(token_weights.get(t, 1.0) for t in point.tokens)
    if total:
        parts.append(sum(token_weights.get(t, 1.0) for t in point.tokens if word_in(t, window.tokens, text)) / total)
    total = sum(bigram_weights.get(b, 1.0) for b in point.bigrams)
    if total:
        parts.append(sum(bigram_weights.get(b, 1.0) for b in point.bigrams if b in window.bigrams) / total)
    return sum(parts) / len(parts) if parts else 0.0


# the matcher ---------------------------------------------------------------------------------------

class MedicalMatcher(Matcher):
    """See the module docstring. `threshold` applies to statements (lexical score), `element_threshold`
    to each finding of a listed statement."""

    name = "medical"
    THRESHOLD = 0.33
    ELEMENT_THRESHOLD = 0.60
    WINDOW_FACTOR, WINDOW_EXTRA = 1.5, 10

    #: with a judge, statements scoring within this of the threshold are asked of the judge
    JUDGE_MARGIN = 0.12

    def __init__(self, threshold: float | None = None, element_threshold: float | None = None,
                 judge: Model | None = None) -> None:
        self.threshold = self.THRESHOLD if threshold is None else threshold
        self.element_threshold = self.ELEMENT_THRESHOLD if element_threshold is None else element_threshold
        self.judge = judge

    def close_calls(self, points: Sequence[str], result: MatchResult) -> list[int]:
        """Statements and lists whose score is within JUDGE_MARGIN of the threshold: where the rules
        are least sure."""
        return [i for i, (point, score) in enumerate(zip(points, result.scores or [], strict=False))
                if read_point(point).kind in ("statement", "list") and abs(score - self.threshold) < self.JUDGE_MARGIN]

    async def amatch(self, points: Sequence[str], answer: str, sample: Sample | None = None) -> MatchResult:
        """The rules' decisions; with a judge, the close calls are the judge's (a judge that fails
        leaves the rules' decisions, noted in `error`)."""
        result = self.match(points, answer, sample)
        judge = self.judge
        close = self.close_calls(points, result) if judge is not None and answer.strip() else []
        if judge is None or not close:
            return result
        from medgap.scoring.matching import JudgeMatcher

        judged = await JudgeMatcher(judge).amatch([points[i] for i in close], answer, sample)
        if judged.covered is None:
            return MatchResult(self.name, result.covered, result.scores, error=judged.error, raw=judged.raw)
        covered = list(result.covered or [])
        for i, decision in zip(close, judged.covered, strict=False):
            covered[i] = decision
        return MatchResult(self.name, covered, result.scores, raw=judged.raw)

    def match(self, points: Sequence[str], answer: str, sample: Sample | None = None) -> MatchResult:
        if not answer.strip():
            return MatchResult(self.name, [False] * len(points), [0.0] * len(points))
        parsed = Answer(answer)
        profiles = [med_profile(point_body(p)) for p in points]
        weights = contrast_weights(profiles)
        covered, scores = [], []
        for point, profile_, weight in zip(points, profiles, weights, strict=True):
            ok, value = self.decide(point, profile_, weight, parsed)
            covered.append(ok)
            scores.append(round(value, 4))
        return MatchResult(self.name, covered, scores)

    def decide(self, point: str, point_profile: Profile, weights, answer: Answer) -> tuple[bool, float]:
        claim = read_point(point)
        if claim.kind == "diagnosis":
            where = answer.main or answer.sentences
            found = [term_found(part, where) for part in claim.parts]
            return more_than_half(found), sum(found) / len(found)
        if claim.kind == "named":
            named = self.differential_found(claim.parts, answer)
            return named, float(named)
        if claim.kind == "differentials":
            each = [self.differential_found((part,), answer) for part in claim.parts]
            return more_than_half(each, decisive_first=False), sum(each) / len(each)
        if claim.kind == "items":
            found = [self.element_found(e, answer) for e in claim.parts]
            return more_than_half(found, decisive_first=False), sum(found) / len(found)
        if claim.kind == "list":
            found = [self.element_found(e, answer) for e in claim.parts]
            whole = self.statement_score(point_profile, weights, answer, len(point_body(point)))
            covered = more_than_half(found, decisive_first=False) or whole >= self.threshold
            return covered, max(sum(found) / len(found), whole)
        value = self.statement_score(med_profile(claim.parts[0]), weights, answer, len(claim.parts[0]))
        return value >= self.threshold, value

    @staticmethod
    def differential_found(names: Sequence[str], answer: Answer) -> bool:
        """A differential (any of its alternative names) offered by the answer: in its differential
        section, or anywhere but as the diagnosis it gives."""
        return any(term_found(name, answer.differential) for name in names) or (
            any(term_found(name, answer.sentences) for name in names)
            and not any(term_found(name, answer.diagnosis) for name in names))

    def element_found(self, element: str, answer: Answer) -> bool:
        """One finding of a list: a short one (up to 4 characters) by its characters within one
        sentence, a longer one by its lexical score."""
        normalized = normalize(element)
        core = "".join(_CONTENT_CHAR.findall(normalized))
        if len(core) <= 4:
            return any(all(ch in sentence for ch in core) for sentence in answer.sentences)
        return self.statement_score(med_profile(element), None, answer, len(element)) >= self.element_threshold

    def statement_score(self, profile_: Profile, weights, answer: Answer, chars: int) -> float:
        min_chars = chars * self.WINDOW_FACTOR + self.WINDOW_EXTRA
        return max((window_score(profile_, window, text, weights) for window, text in answer.windows(min_chars)),
                   default=0.0)

    def describe(self) -> dict[str, Any]:
        described = {"method": self.name, "threshold": self.threshold, "element_threshold": self.element_threshold}
        if self.judge is not None:
            described.update(judge=self.judge.name, judge_margin=self.JUDGE_MARGIN)
        return described


_STATED = re.compile(r"(?:(?<!鉴别)(?:初步诊断|诊断为|诊断是|诊断考虑|最可能的诊断是|诊断|考虑为|考虑是)"
                     r"|(?:^|(?<=[。\n]))\s*考虑)"
                     r"\s*[：:为是]?\s*"
                     r"([^。；;\n，,（(]{2,30})")


def stated_diagnosis(answer: str) -> str | None:
    """The diagnosis an answer states (`诊断：急性阑尾炎`, `考虑为胆囊结石`), outside its differential
    section and not a `诊断依据` heading; None when it states none."""
    _, main = split_differential(answer)
    for match in _STATED.finditer(main):
        said = match.group(1).strip()
        if said.startswith(("依据", "要点", "及")) or not _CONTENT_CHAR.search(said.lower()):
            continue
        return said
    return None
