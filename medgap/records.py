"""The typed records everything else passes around and persists.

Data flows one way: a `Sample` is asked as an `Attempt` (one option order), the model returns a
`Response`, scoring turns the three into a `Score`, and the store keeps a `Row` per
(sample, permutation).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

Dimension = Literal[
    "knowledge_qa",
    "language_understanding",
    "language_generation",
    "complex_reasoning",
    "safety_ethics",
]
DIMENSIONS: tuple[str, ...] = Dimension.__args__  # type: ignore[attr-defined]

DIMENSION_LABELS_ZH = {
    "knowledge_qa": "医学知识问答",
    "language_understanding": "医学语言理解",
    "language_generation": "医学语言生成",
    "complex_reasoning": "复杂医学推理",
    "safety_ethics": "医疗安全和伦理",
}



def known_kind(kind: str) -> str:
    """A sample kind that some `KindSpec` handles (`medgap/kinds/`)."""
    from medgap.kinds import spec_for  # the kinds import these records

    spec_for(kind)  # raises ValueError naming the known kinds
    return kind


Kind = Annotated[str, AfterValidator(known_kind)]  # "single", "multi", "open", "fill", ... (medgap/kinds/)
CHOICE_KINDS = ("single", "multi")


class Source(BaseModel):
    """Where a sample came from, with the credit its licence asks for."""

    dataset: str
    attribution: str = ""
    license: str = ""
    path: str | None = None
    line: int | None = None  # 1-based line (JSONL/CSV) or array index (JSON)


class Gold(BaseModel):
    """The expected answer; which fields are set depends on the sample's kind."""

    letters: list[str] | None = None  # choice items, sorted
    text: str | None = None  # reference answer (open), expected string (fill)
    key_points: list[str] = Field(default_factory=list)  # open / record items
    structure: Any = None  # extraction tuples or record sections

    @property
    def reference(self) -> str:
        """The expected answer as text: the reference (or expected string), else its key points one per line."""
        return self.text or "\n".join(self.key_points)


class Sample(BaseModel):
    """One evaluation item."""

    id: str
    source: Source
    task: str
    dimension: Dimension
    kind: Kind
    question: str
    context: str | None = None
    options: dict[str, str] = Field(default_factory=dict)  # letter -> text, in original order
    gold: Gold | None = None  # None: ungraded (e.g. MedBench public test files)
    # Option orders given by the source itself (MedBench robustness files repeat an item
    # under several orders); each order lists original letters in the order asked.
    given_orders: list[list[str]] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_choice(self) -> bool:
        return self.kind in CHOICE_KINDS


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class Attempt(BaseModel):
    """A sample as asked: which option order, and the exact messages sent."""

    sample_id: str
    permutation: int = 0  # 0 = original order
    order: list[str] = Field(default_factory=list)  # original letters, in the order shown
    options: dict[str, str] = Field(default_factory=dict)  # letter -> text, as asked
    gold_letters: list[str] | None = None  # gold remapped to the asked letters
    messages: list[Message] = Field(default_factory=list)


class Response(BaseModel):
    """What the model returned for one call."""

    text: str = ""
    logprobs: dict[str, float] | None = None  # option letter -> log-probability
    latency_s: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None  # set when the call failed after retries
    # Other replies given for the same prompt that commit to something else (replay: a predictions
    # file answering one question twice, differently); robustness counts the item as inconsistent.
    alternatives: list[str] = Field(default_factory=list)
    truncated: bool = False  # the reply was longer than the run's --max-reply-bytes and was cut there


class Score(BaseModel):
    """Scoring of one attempt."""

    extracted: str | None = None  # choice: sorted letters ("ACE"); None = unanswered
    value: float | None = None  # None: ungraded or not scorable
    details: dict[str, Any] = Field(default_factory=dict)  # f1, covered/missed points, ...


class Row(BaseModel):
    """The unit stored, exported and analysed: attempt + response + score."""

    run_id: str
    sample_id: str
    permutation: int
    task: str
    dimension: Dimension
    kind: Kind
    attempt: Attempt
    response: Response
    score: Score
    # the settings this row was asked with: the model and generation settings as sent, and the digest
    # of the run's whole configuration (rows of one run all carry the same one)
    settings: dict[str, Any] = Field(default_factory=dict)

    @property
    def errored(self) -> bool:
        return self.response.error is not None

    @property
    def graded(self) -> bool:
        """Answered and scored: counts towards the metrics (not a failed call, not ungraded)."""
        return self.response.error is None and self.score.value is not None

    @property
    def unanswered(self) -> bool:
        return self.kind in CHOICE_KINDS and self.response.error is None and self.score.extracted is None


class AnswerSettings(BaseModel):
    """Every setting that can change an answer, as the run applied it: one record, stored with the
    run, shown by `medgap results --json` and the report. Compare two runs' records to see why the
    same model answered differently."""

    choice_mode: str
    temperature: float
    top_p: float
    max_tokens: int
    repeat_penalty: float | None = None  # None: not sent; the server's own default applies
    seed: int | None = None
    # the system prompt the model saw: as sent, or the chat template's default written out
    system_prompt: str | None = None
    system_prompt_source: str = "none"  # "sent", "chat template default", "none", "server's chat template (unknown)"
    assistant_prefix: str | None = None  # what the answer continues in log-prob scoring ("答案：")
    logprob_method: str | None = None
    chat_template: dict[str, Any] | None = None  # origin, sha256, default system prompt
    server_cache: str | None = None  # how a server's prompt cache is kept from changing answers
    model: str = ""  # model file hash, or the endpoint's model id
    backend: str = ""  # backend and version


class RunConfig(BaseModel):
    """Everything needed to reproduce a run."""

    run_id: str
    model: str
    suite: str
    seed: int = 0
    permutations: int = 1
    limit: int | None = None  # items in all
    limit_per_task: int | None = None
    interventions: list[str] = Field(default_factory=list)
    match: str = "medical"
    generation: dict[str, Any] = Field(default_factory=dict)  # temperature, max_tokens, ...
    prompts: dict[str, str] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    created: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)
    answer_settings: AnswerSettings | None = None  # None: a run stored before medgap recorded them

    @model_validator(mode="before")
    @classmethod
    def _limit_was_per_task(cls, data: Any) -> Any:
        """Runs stored before `limit_per_task` existed meant it by `limit`."""
        if isinstance(data, dict) and "limit" in data and "limit_per_task" not in data:
            data = {**data, "limit_per_task": data["limit"], "limit": None}
        return data
