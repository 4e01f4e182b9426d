"""Failure signatures -> interventions to try (`medgap diagnose`).

A run's facts are its metrics (`summarize_run`) and its error distribution (`error_distribution`:
primary categories of the wrong rows), per scope — overall and per dimension:

    metrics.<key>            e.g. metrics.accuracy, metrics.robustness, metrics.positional_bias.p_value
    errors.n                 wrong rows labelled
    errors.shares.<category> share of those rows, e.g. errors.shares.omission
    errors.counts.<category> their number
    errors.weighted_shares.<category>  the share with each label weighed by its confidence
                             (`errors.CONFIDENCE_WEIGHTS`: human 1, high 1, medium 0.7, low 0.3);
                             the built-in rules read these
    errors.low_counts.<category>       low-confidence pre-labels among them

Each rule in RULES (the one table of signatures and thresholds; `--rules FILE.yaml` changes it)
compares one fact with a threshold in one scope, provided enough observations stand behind it
(`support` >= `min_support`). A rule that fires is a finding: the numbers, a 95% interval where one
exists, and the interventions to try in order. Findings are ranked by how far past the threshold
they are (relative to it); the plan lists each intervention once, in the order the ranked findings
name them. A finding on an error category that rests mostly on low-confidence pre-labels (more than
`REVIEW_SHARE` of that category's labels are guesses) is marked `to_review`: it is listed after the
confident findings and adds nothing to the plan until people (or a judge) have checked those labels.
Level 4 (causal reasoning) is research: its rule names the signature and what is known, and suggests
no intervention as a fix.
"""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from medgap.analysis.metrics import GroupSummary, RunSummary, summarize_run
from medgap.analysis.stats import proportion_ci
from medgap.records import DIMENSIONS
from medgap.solvers.interventions import INTERVENTIONS

Op = Literal[">", ">=", "<", "<="]
OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
EACH_DIMENSION = "each_dimension"
REVIEW_SHARE = 0.5  # a finding whose labels are more than this share low-confidence is "to review"


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    signature: str  # what the user reads
    metric: str  # dotted path into the scope's facts
    op: Op
    threshold: float
    scope: str = "overall"  # "overall", "each_dimension", or one dimension key
    support: str | None = None  # dotted path to the number of observations behind the metric
    min_support: int = Field(default=1, ge=0)
    level: int = Field(ge=1, le=4)  # the ladder level the first remedy sits on (4 = research)
    interventions: list[str] = Field(default_factory=list)  # ranked: try the first first
    advice: str = ""
    enabled: bool = True

    @field_validator("scope")
    @classmethod
    def _known_scope(cls, scope: str) -> str:
        if scope not in ("overall", EACH_DIMENSION, *DIMENSIONS):
            raise ValueError(f"scope must be overall, {EACH_DIMENSION} or a dimension ({', '.join(DIMENSIONS)})")
        return scope

    @field_validator("interventions")
    @classmethod
    def _known_interventions(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in INTERVENTIONS]
        if unknown:
            raise ValueError(f"unknown intervention {unknown[0]!r} (known: {', '.join(INTERVENTIONS)})")
        return names


LEVEL4_ADVICE = (
    "Level 4 (causal reasoning) is open research: no prompt or retrieval step is known to fix wrong "
    "inference from correct facts. What is known: chain-of-thought and self-consistency help some "
    "multi-step items but do not make the reasoning causally sound; process supervision, "
    "reasoning-trace fine-tuning and knowledge-graph-grounded inference are being studied. "
    "Test any of them with `medgap experiment` before relying on it."
)

RULES: list[Rule] = [
    Rule(id="omission", signature="omissions dominate the errors", metric="errors.weighted_shares.omission", op=">",
         threshold=0.40, support="errors.n", min_support=10, level=1, interventions=["checklist", "retrieval"],
         advice="Answers are right as far as they go but skip required points: make the model enumerate "
                "the answer points (Level 1 checklist); if points are still missing, supply knowledge (Level 2)."),
    Rule(id="hallucination_generation", signature="hallucinations dominate generation errors",
         metric="errors.weighted_shares.hallucination", op=">", threshold=0.60, scope="language_generation",
         support="errors.n", min_support=10, level=3, interventions=["verify", "retrieval"],
         advice="Generated text asserts false facts: check the draft against retrieved sources and revise "
                "(retrieval-backed verification), or put the sources in the prompt."),
    Rule(id="hallucination", signature="false facts dominate the errors", metric="errors.weighted_shares.hallucination",
         op=">", threshold=0.60, support="errors.n", min_support=10, level=2,
         interventions=["retrieval", "verify", "fewshot"],
         advice="Most wrong answers commit to a false fact (on choice items: a confidently wrong option): "
                "the knowledge is missing — retrieve it, or verify the answer against it."),
    Rule(id="low_robustness", signature="answers change with the option order", metric="metrics.robustness",
         op="<", threshold=0.85, support="metrics.robustness_n", min_support=10, level=3,
         interventions=["vote", "checklist"],
         advice="Under 85% of items keep their answer across option orders: vote over orders (permutation "
                "voting), or constrain the model to judge every option on its content (checklist)."),
    Rule(id="positional_bias", signature="choices follow the option position", metric="metrics.positional_bias.p_value",
         op="<", threshold=0.01, support="metrics.positional_bias.n", min_support=30, level=3,
         interventions=["vote", "checklist"],
         advice="Chosen positions differ from gold positions beyond chance (chi-square): average the "
                "position out by voting over option orders."),
    Rule(id="format_mismatch", signature="answers in the wrong format", metric="errors.weighted_shares.format_mismatch",
         op=">", threshold=0.10, support="errors.n", min_support=10, level=1, interventions=["json"],
         advice="Over 10% of the errors are answers in the wrong shape: ask for strict structured output."),
    Rule(id="unanswered", signature="many items left unanswered", metric="metrics.unanswered", op=">",
         threshold=0.05, support="metrics.unanswered_n", min_support=20, level=1, interventions=["json", "cot"],
         advice="The model often commits to no option: a required JSON answer field, or reasoning that "
                "ends in an answer, makes it commit."),
    Rule(id="output_error", signature="broken output or bare wrong options",
         metric="errors.weighted_shares.output_error",
         op=">", threshold=0.15, support="errors.n", min_support=10, level=1, interventions=["cot"],
         advice="Truncated, looping or garbled replies: raise --max-tokens, check the chat template and stop "
                "tokens, and lower the temperature before trying any intervention. Wrong options given bare "
                "(`答案：B`, as every log-probability answer is) say nothing of why they are wrong: ask for the "
                "reasoning (cot, in generate mode) to see which error lies behind them."),
    Rule(id="contextual_inconsistency", signature="answers contradict the given case",
         metric="errors.weighted_shares.contextual_inconsistency", op=">", threshold=0.30, support="errors.n",
         min_support=10, level=1, interventions=["checklist", "cot"],
         advice="Answers contradict the case or passage in the prompt: make the model lay out the "
                "evidence from the case (诊断依据) before concluding."),
    Rule(id="generation_deficiency", signature="poor medical writing",
         metric="errors.weighted_shares.medical_language_generation_deficiency", op=">", threshold=0.30,
         support="errors.n", min_support=10, level=1, interventions=["fewshot", "checklist"],
         advice="Content is covered but the text falls short as medical writing: show worked examples "
                "and a fixed structure."),
    Rule(id="safety", signature="weak on safety and ethics", metric="metrics.accuracy", op="<", threshold=0.80,
         scope="safety_ethics", support="metrics.accuracy_n", min_support=20, level=2,
         interventions=["safety", "retrieval"],
         advice="Safety and ethics items are missed: add the safety preamble, and contraindication "
                "knowledge through retrieval."),
    Rule(id="causal_reasoning", signature="causal reasoning deficiency dominates",
         metric="errors.weighted_shares.causal_reasoning_deficiency", op=">", threshold=0.40, scope=EACH_DIMENSION,
         support="errors.n", min_support=10, level=4, interventions=[], advice=LEVEL4_ADVICE),
]


# evaluating ----------------------------------------------------------------------------------------

def lookup(facts: dict, path: str) -> Any:
    value: Any = facts
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def metric_facts(group: GroupSummary) -> dict[str, Any]:
    """A group's figures as rules name them: `<metric>` (its value), `<metric>_n`, `<metric>_ci_low`,
    `<metric>_ci_high`, the row counts, and what the kinds report beside their metrics
    (e.g. `positional_bias.p_value`)."""
    facts: dict[str, Any] = {"rows": group.rows, "items": group.items, "errors": group.errors}
    for details in group.details.values():
        facts.update(details.model_dump())
    for name, estimate in group.metrics.items():
        facts.update({name: estimate.value, f"{name}_n": estimate.n, f"{name}_ci_low": estimate.ci_low,
                      f"{name}_ci_high": estimate.ci_high})
    return facts


def scope_facts(summary: RunSummary, errors: dict | None) -> dict[str, dict]:
    """{"overall": facts, "<dimension>": facts} from a run summary and its error distribution."""
    errors = errors or {}
    scopes = {"overall": {"metrics": metric_facts(summary.overall), "errors": errors.get("overall")}}
    for dimension, group in summary.dimensions.items():
        scopes[dimension] = {"metrics": metric_facts(group), "errors": (errors.get("dimensions") or {}).get(dimension)}
    return scopes


def scopes_of(rule: Rule, scopes: dict[str, dict]) -> list[str]:
    if rule.scope == EACH_DIMENSION:
        return [d for d in DIMENSIONS if d in scopes]
    return [rule.scope]


def interval(facts: dict, path: str, value: float) -> tuple[float | None, float | None]:
    """A 95% interval for the fact: exact binomial for error shares, the metric's own CI otherwise."""
    if ".weighted_shares." in path:  # effective counts: each label weighed by its confidence
        n = lookup(facts, path.split(".weighted_shares.")[0] + ".weighted_n")
        count = lookup(facts, path.replace(".weighted_shares.", ".weighted_counts."))
        if isinstance(n, (int, float)) and isinstance(count, (int, float)) and round(n):
            return proportion_ci(min(round(count), round(n)), round(n))
    elif ".shares." in path:
        n = lookup(facts, path.split(".shares.")[0] + ".n")
        count = lookup(facts, path.replace(".shares.", ".counts."))
        if isinstance(n, int) and isinstance(count, int) and n:
            return proportion_ci(count, n)
    low, high = lookup(facts, f"{path}_ci_low"), lookup(facts, f"{path}_ci_high")
    return (low, high) if isinstance(low, (int, float)) and isinstance(high, (int, float)) else (None, None)


def margin(rule: Rule, value: float) -> float:
    """How far past the threshold, relative to it (how strongly the signature shows)."""
    scale = abs(rule.threshold) or 1.0
    return abs(value - rule.threshold) / scale


def check(rule: Rule, scope: str, facts: dict) -> tuple[dict | None, str | None]:
    """(finding, None) when the rule fires, (None, None) when it does not, (None, reason) when it
    could not be checked."""
    value = lookup(facts, rule.metric)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None, f"{rule.metric} not measured"
    support = lookup(facts, rule.support) if rule.support else None
    if rule.support and (not isinstance(support, (int, float)) or support < rule.min_support):
        return None, f"only {support or 0} observations behind {rule.metric} (rule needs {rule.min_support})"
    if not OPS[rule.op](value, rule.threshold):
        return None, None
    low, high = interval(facts, rule.metric, value)
    return {
        "rule": rule.id,
        "signature": rule.signature,
        "scope": scope,
        "metric": rule.metric,
        "value": float(value),
        "op": rule.op,
        "threshold": rule.threshold,
        "ci_low": low,
        "ci_high": high,
        "support": support,
        "level": rule.level,
        "interventions": [{"name": n, "level": INTERVENTIONS[n].level} for n in rule.interventions],
        "advice": rule.advice,
        "margin": margin(rule, float(value)),
        **review(facts, rule.metric),
    }, None


def review(facts: dict, path: str) -> dict:
    """For a finding on an error category: how many of its labels are low-confidence guesses, and
    whether that makes it `to_review` (more than REVIEW_SHARE of them)."""
    for marker in (".weighted_shares.", ".shares."):
        if marker in path:
            base, category = path.split(marker)
            count = lookup(facts, f"{base}.counts.{category}")
            low = lookup(facts, f"{base}.low_counts.{category}")
            if isinstance(count, int) and isinstance(low, int) and count:
                return {"labels": count, "low_confidence": low, "low_confidence_share": low / count,
                        "to_review": low / count > REVIEW_SHARE}
    return {"to_review": False}


def diagnose(summary: RunSummary, errors: dict | None, rules: list[Rule] | None = None) -> dict:
    """Findings (ranked), the plan of interventions, and the rules that could not be checked."""
    scopes = scope_facts(summary, errors)
    findings, unchecked = [], []
    for rule in rules if rules is not None else RULES:
        if not rule.enabled:
            continue
        for scope in scopes_of(rule, scopes):
            if scope not in scopes:
                unchecked.append({"rule": rule.id, "scope": scope, "reason": "no rows in this dimension"})
                continue
            finding, reason = check(rule, scope, scopes[scope])
            if finding:
                findings.append(finding)
            elif reason and rule.scope != EACH_DIMENSION:
                unchecked.append({"rule": rule.id, "scope": scope, "reason": reason})
    findings.sort(key=lambda f: (f["to_review"], -f["margin"]))
    for rank, finding in enumerate(findings, start=1):
        finding["rank"] = rank
    plan: list[str] = []
    for finding in findings:
        if not finding["to_review"]:
            plan += [i["name"] for i in finding["interventions"] if i["name"] not in plan]
    research = LEVEL4_ADVICE if any(f["level"] == 4 for f in findings) else None
    return {"run_id": summary.run_id, "model": summary.model, "suite": summary.suite,
            "findings": findings, "plan": plan, "unchecked": unchecked, "research": research}


def diagnose_run(store, run_id: str, rules: list[Rule] | None = None) -> dict:
    from medgap.analysis.errors import error_distribution

    return diagnose(summarize_run(store, run_id), error_distribution(store, run_id), rules)


# rules files ---------------------------------------------------------------------------------------

class RulesFileError(ValueError):
    def __init__(self, message: str, path: Path, line: int | None = None, field: str | None = None) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {f'field {field!r}: ' if field else ''}{message}")


def load_rules(path: str | Path, base: list[Rule] | None = None) -> list[Rule]:
    """The rule table after a YAML file's changes:

        replace: false        # true: only the rules below, the built-in table is dropped
        rules:
          - id: omission       # an existing id: change the fields given
            threshold: 0.3
          - id: low_robustness
            enabled: false
          - id: my_rule        # a new id: a whole rule (signature, metric, op, threshold, level…)
            ...
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except OSError as exc:
        raise RulesFileError(f"cannot read: {exc}", path) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise RulesFileError(f"invalid YAML: {exc.problem}", path, line) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list):
        raise RulesFileError("expected a mapping with a 'rules' list", path, 1, "rules")
    unknown = sorted(set(raw) - {"replace", "rules"})
    if unknown:
        raise RulesFileError("unknown top-level key", path, _key_line(node, unknown[0]), unknown[0])
    lines = _item_lines(node)
    table = {} if raw.get("replace") else {r.id: r for r in (base if base is not None else RULES)}
    for index, entry in enumerate(raw["rules"]):
        line = lines[index] if index < len(lines) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise RulesFileError("each rule is a mapping with an 'id'", path, line, f"rules[{index}].id")
        current = table.get(entry["id"])
        merged = {**(current.model_dump() if current else {}), **entry}
        try:
            table[entry["id"]] = Rule.model_validate(merged)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "?"
            raise RulesFileError(first["msg"], path, line, f"rules[{index}].{field}") from None
    return list(table.values())


def _item_lines(node) -> list[int]:
    if node is None or not hasattr(node, "value"):
        return []
    for key, value in node.value:
        if key.value == "rules" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _key_line(node, name: str) -> int | None:
    for key, _ in getattr(node, "value", []):
        if key.value == name:
            return key.start_mark.line + 1
    return None

