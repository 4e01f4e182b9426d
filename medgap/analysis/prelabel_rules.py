"""The codebook rules that pre-label a wrong or partially correct row
(`medgap/web/codebook/ERROR_CODEBOOK.md`) where the evidence is mechanical. Every label has a
confidence and a one-line rationale that cites the response.

Rules run in the codebook's order of decision; each yields findings, the first finding that may be
primary becomes the primary category and the others become secondary:

1. Unanswered      an empty reply; a refusal or hedge with no option chosen; a short refusal on a
                   free-text item.
2. Output Error    text cut off at the token limit before any answer, a loop, garbled characters,
                   leaked template tokens, a Chinese question answered without Chinese; and a bare
                   wrong option (`B`, `答案：B`): it states no fact, so it cannot be a Hallucination.
3. Format Mismatch an option's text without its letter, several letters on a single-answer item, the
                   expected term buried in prose, a record without any of its sections, a
                   parse/format error reported by the scorer.
4. Content         a wrong option argued for (reasoning that concludes with another option than it
                   supports is a Contextual Inconsistency; otherwise the stated facts are false:
                   Hallucination, or on a case worked to a conclusion, Causal Reasoning Deficiency);
                   a wrong diagnosis stated for a case (Causal Reasoning Deficiency); missed key
                   points (Omission, less confident when the matcher's decision was close); a wrong
                   fill-in term (Hallucination: it states a false fact); spurious extracted tuples
                   (Hallucination) or only missing ones (Omission); spans the record scorer flagged
                   as unsupported (Hallucination).

When no rule may name the primary category, a documented default applies with confidence "low", so
annotators (and `--judge`) know it is a guess. A free-text answer whose key points are all covered
but that still scored below full marks is a Deficiency in Medical Language Generation (low).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from medgap.analysis.reply_signs import clip, content, garbled, has_chinese, leaked_tokens, looping, refuses
from medgap.analysis.taxonomy import Confidence, ErrorLabel
from medgap.records import CHOICE_KINDS, Row, Sample


@dataclass(frozen=True)
class Finding:
    category: str
    rule: str
    confidence: Confidence
    rationale: str
    may_be_primary: bool = True


Rule = Callable[[Row, Sample | None, int | None], list[Finding]]

SHORT_ANSWER_CHARS = 60  # a free-text reply this short that refuses is a refusal, not an answer
SUBSTANTIVE_CHARS = 40  # an open answer this long that covers no point says something else instead
BARE_REPLY_CHARS = 12  # content characters besides the chosen letter(s) below which a reply is "bare"


def unanswered_rule(row: Row, sample: Sample | None, max_tokens: int | None) -> list[Finding]:
    """Decided first: no answer committed (empty, refusal, hedge). Choice replies without a letter
    are handled with their shape (`choice_shape`), which tells a hedge from option text."""
    text = row.response.text or ""
    if not text.strip():
        return [Finding("unanswered", "empty_reply", "high", "the reply is empty")]
    if row.kind not in CHOICE_KINDS and refuses(text) and len(content(text)) <= SHORT_ANSWER_CHARS:
        return [Finding("unanswered", "refusal", "high", f"a refusal instead of an answer: “{clip(text)}”")]
    return []


def answered(row: Row) -> bool:
    """Did the response commit to an answer before it stopped: a letter; for free text, a covered
    point or an answer at length?"""
    if row.kind in CHOICE_KINDS:
        return row.score.extracted is not None
    covered = row.score.details.get("covered")
    if isinstance(covered, list) and any(covered):
        return True
    # a free-text answer at length is an answer, even one that covers nothing
    return bool(row.score.value) or (row.kind != "fill" and len(content(row.response.text or "")) >= SUBSTANTIVE_CHARS)


def output_error_rule(row: Row, sample: Sample | None, max_tokens: int | None) -> list[Finding]:
    text = row.response.text or ""
    if not text.strip():
        return []
    tokens = row.response.completion_tokens
    findings = []
    if tokens is not None and max_tokens and tokens >= max_tokens:
        before = not answered(row)
        findings.append(
            Finding(
                "output_error",
                "truncated",
                "high" if before else "medium",
                f"cut off at the token limit ({tokens} of {max_tokens} tokens)"
                + (" before any answer" if before else " after answering"),
                may_be_primary=before,
            )
        )
    if looping(text):
        findings.append(Finding("output_error", "looping", "high", "the text repeats itself in a loop"))
    if garbled(text):
        findings.append(Finding("output_error", "garbled", "high", "garbled characters"))
    leaked = leaked_tokens(text)
    if leaked:
        findings.append(
            Finding(
                "output_error", "leaked_tokens", "medium", f"template tokens in the text: {', '.join(leaked)}"
            )
        )
    if (
        row.kind not in CHOICE_KINDS
        and sample is not None
        and has_chinese(sample.question)
        and not has_chinese(text)
        and len(content(text)) >= 40
    ):
        findings.append(
            Finding(
                "output_error", "wrong_language", "medium", "a Chinese question answered without any Chinese"
            )
        )
    return findings


def shape_rule(row: Row, sample: Sample | None, max_tokens: int | None) -> list[Finding]:
    if row.kind in CHOICE_KINDS:
        return choice_shape(row)
    text = row.response.text or ""
    reported = scorer_format_error(row)
    if reported is not None:
        return [reported]
    if row.kind == "fill":
        return fill_shape(row, sample)
    sections = record_sections(sample)
    if row.kind == "record" and len(sections) >= 2 and not any(content(s) in content(text) for s in sections):
        shown = ", ".join(clip(s, 12) for s in sections[:4])
        return [
            Finding(
                "format_mismatch",
                "no_record_sections",
                "medium",
                f"none of the record's sections ({shown}) appear",
            )
        ]
    return []


def scorer_format_error(row: Row) -> Finding | None:
    """The extraction and record scorers record `parse_error` (a message) / `format_error` when the
    response is not in the asked form."""
    details = row.score.details
    for key in ("parse_error", "format_error"):
        if details.get(key):
            said = details[key] if isinstance(details[key], str) else key.replace("_", " ")
            return Finding("format_mismatch", key, "high", f"not in the form asked for: {clip(said, 60)}")
    return None


def choice_shape(row: Row) -> list[Finding]:
    text = row.response.text or ""
    extracted = row.score.extracted
    if extracted is not None:
        if row.kind == "single" and len(extracted) > 1:
            return [
                Finding(
                    "format_mismatch",
                    "several_letters",
                    "high",
                    f"several letters ({extracted}) on a single-answer item",
                )
            ]
        return []
    if refuses(text, hedges=True):
        return [
            Finding(
                "unanswered",
                "no_letter_refusal",
                "high",
                f"no option chosen; the reply declines: “{clip(text)}”",
            )
        ]
    named = options_named(text, row.attempt.options)
    if len(named) == 1 or (named and row.kind == "multi"):
        confidence: Confidence = "high" if len(named) == 1 else "medium"
        return [
            Finding(
                "format_mismatch",
                "option_text_without_letter",
                confidence,
                f"answers with the text of option(s) {''.join(named)} but no letter",
            )
        ]
    if named:
        return [
            Finding(
                "unanswered",
                "hedge_between_options",
                "medium",
                f"discusses options {''.join(named)} without choosing one",
            )
        ]
    return [Finding("unanswered", "no_letter", "medium", "no option letter or option text in the reply")]


def options_named(text: str, options: dict[str, str]) -> list[str]:
    """Letters whose option text (two or more characters) appears in the reply."""
    reply = content(text)
    return [
        letter for letter, option in options.items() if len(content(option)) >= 2 and content(option) in reply
    ]


def fill_shape(row: Row, sample: Sample | None) -> list[Finding]:
    text = row.response.text or ""
    gold = content(sample.gold.text or "") if sample is not None and sample.gold is not None else ""
    reply = content(text)
    if gold and gold in reply:
        return [
            Finding(
                "format_mismatch",
                "term_in_prose",
                "high",
                "the expected term is in the reply but not as the answer asked for",
            )
        ]
    if gold and len(reply) > max(30, 4 * len(gold)):
        return [
            Finding(
                "format_mismatch",
                "prose_for_term",
                "low",
                f"{len(reply)} characters of prose where a short term was asked",
                may_be_primary=False,
            )
        ]
    return []


def record_sections(sample: Sample | None) -> list[str]:
    """Section names of a record item's gold structure (a dict's keys, or a list of names/objects)."""
    structure = sample.gold.structure if sample is not None and sample.gold is not None else None
    if isinstance(structure, dict):
        return [str(key) for key in structure]
    if isinstance(structure, list):
        names = []
        for entry in structure:
            if isinstance(entry, str):
                names.append(entry)
            elif isinstance(entry, dict):
                name = entry.get("section") or entry.get("name") or entry.get("title")
                if isinstance(name, str):
                    names.append(name)
        return names
    return []


_ANSWER_PHRASE = re.compile(r"(?:正确)?答案(?:是|为|应为|选)?\s*[：:]?|选项|选择|应选|故选|所以选|因此选|选")


def bare_reply(row: Row) -> bool:
    """A reply that is little more than its letter(s): `B`, `答案：B`, `选B。`."""
    rest = content(_ANSWER_PHRASE.sub("", row.response.text or ""))
    for letter in row.score.extracted or "":
        rest = rest.replace(letter.lower(), "", 1)
    return len(rest) <= BARE_REPLY_CHARS


def supported_letters(text: str, options: dict[str, str], chosen: str) -> list[str]:
    """Options other than the chosen ones that the reasoning endorses in so many words
    (`A项正确`, `B是对的`, `C符合`), used to catch reasoning that concludes against itself."""
    endorsed = []
    for letter in options:
        if letter in chosen:
            continue
        if re.search(rf"(?<![A-Za-z]){letter}(?:项|选项)?(?:是|为)?(?:正确|对的|符合题意|最符合|最佳)", text):
            endorsed.append(letter)
    return endorsed


def case_given(row: Row, sample: Sample | None) -> bool:
    return row.dimension == "complex_reasoning" or bool(sample is not None and sample.context)


def wrong_choice_rule(row: Row, sample: Sample | None, max_tokens: int | None) -> list[Finding]:
    """A committed wrong option: bare -> Output Error; argued -> the content categories."""
    extracted = row.score.extracted
    if row.kind not in CHOICE_KINDS or extracted is None or row.score.value:
        return []
    if row.kind == "single" and len(extracted) > 1:
        return []  # several letters: a format mismatch (shape_rule)
    gold = set(row.attempt.gold_letters or [])
    if row.kind == "multi" and set(extracted) < gold:
        return []  # a strict subset: an omission (omission_rule)
    text = row.response.text or ""
    if bare_reply(row):
        return [Finding("output_error", "bare_wrong_option", "high",
                        f"a bare wrong option (“{clip(text, 20)}”, gold {''.join(sorted(gold))}): no fact stated")]
    endorsed = supported_letters(text, row.attempt.options, extracted)
    if endorsed:
        return [Finding("contextual_inconsistency", "concludes_against_reasoning", "medium",
                        f"the reasoning endorses {''.join(endorsed)} but the answer is {extracted}: "
                        f"“{clip(text, 40)}”")]
    if case_given(row, sample):
        return [Finding("causal_reasoning_deficiency", "argued_wrong_option", "low",
                        f"reasons its way to a wrong option ({extracted}) on a case: “{clip(text, 40)}”")]
    return [Finding("hallucination", "argued_wrong_option", "medium",
                    f"argues for a wrong option ({extracted}) with false statements: “{clip(text, 40)}”")]


def wrong_diagnosis_rule(row: Row, sample: Sample | None, max_tokens: int | None) -> list[Finding]:
    """An open answer on a case that states a diagnosis other than the reference's: the findings are
    the case's, the inference from them is wrong (Causal Reasoning Deficiency)."""
    if row.kind != "open" or sample is None or not sample.context:
        return []
    from medgap.scoring.medical import read_point, stated_diagnosis

    details = row.score.details
    points, covered = details.get("points") or [], details.get("covered") or []
    missed_diagnoses = [p for p, c in zip(points, covered, strict=False) if not c and read_point(p).kind == "diagnosis"]
    covered_diagnoses = (c for p, c in zip(points, covered, strict=False) if read_point(p).kind == "diagnosis")
    if not missed_diagnoses or any(covered_diagnoses):
        return []
    said = stated_diagnosis(row.response.text or "")
    if not said or vaguer(said, missed_diagnoses[0]):
        return []  # no diagnosis, or the reference's stated less precisely (腹股沟疝 for 嵌顿性斜疝): an omission
    return [Finding("causal_reasoning_deficiency", "wrong_diagnosis", "medium",
                    f"diagnoses “{clip(said, 24)}” where the reference has “{clip(missed_diagnoses[0], 24)}”")]


def vaguer(said: str, reference: str) -> bool:
    """Is the stated diagnosis the reference's with parts left out (every character of it is in the
    reference: 腹股沟疝 / 嵌顿性腹股沟斜疝), rather than another entity (直疝, 蜂窝织炎)?"""
    from medgap.scoring.medical import normalize

    stated = set(content(normalize(said)))
    return bool(stated) and stated <= set(content(normalize(reference)))


def omission_rule(row: Row, sample: Sample | None, max_tokens: int | None) -> list[Finding]:
    details = row.score.details
    missed = [str(point) for point in details.get("missed") or []]
    if row.kind == "fill" and not any(details.get("found") or []):
        return []  # a fill-in answer with no right fact gave a wrong one instead: not an omission
    recall = details.get("recall")
    covered = details.get("covered")
    if (row.kind in ("open", "record") and isinstance(covered, list) and covered and not any(covered)
            and len(content(row.response.text or "")) >= SUBSTANTIVE_CHARS):
        return [Finding("hallucination", "nothing_covered", "low",
                        f"answers at length (“{clip(row.response.text or '', 30)}”) but states none of the "
                        f"{len(covered)} key points: what it says instead is likely wrong",)]
    if missed or (isinstance(recall, (int, float)) and recall < 1):
        shown = "; ".join(clip(point) for point in missed[:3]) + (" …" if len(missed) > 3 else "")
        total = len(details.get("covered") or []) or None
        count = f"{len(missed)} of {total}" if total else str(len(missed))
        confidence: Confidence = "high"
        if total and isinstance(recall, (int, float)) and recall >= 0.75:
            confidence = "low"  # most points covered: the misses may be the matcher's, not the model's
        return [
            Finding(
                "omission",
                "missed_key_points",
                confidence,
                f"missed {count} key points: {shown}" if missed else f"key-point recall {recall:.2f}",
            )
        ]
    fp, fn = details.get("fp"), details.get("fn")
    committed = row.score.extracted is not None or row.kind == "extraction"
    if row.kind == "single" or not committed or not isinstance(fn, int) or fn <= 0:
        return []
    if not fp:
        return [
            Finding(
                "omission",
                "subset_of_gold",
                "high",
                f"a strict subset of the answer: {fn} correct item(s) left out",
            )
        ]
    return [
        Finding(
            "omission", "subset_of_gold", "medium", f"{fn} correct item(s) left out", may_be_primary=False
        )
    ]


def wrong_term_rule(row: Row, sample: Sample | None, max_tokens: int | None) -> list[Finding]:
    """A fill-in answer with none of the expected facts states a false one; an extraction with
    tuples the text does not hold states unsupported facts."""
    details = row.score.details
    if row.kind == "fill" and not any(details.get("found") or []) and (row.response.text or "").strip():
        expected = sample.gold.text if sample is not None and sample.gold is not None else ""
        return [Finding("hallucination", "wrong_term", "medium",
                        f"states “{clip(row.response.text or '', 20)}” where “{clip(expected or '', 20)}” is expected")]
    if row.kind == "extraction" and isinstance(details.get("fp"), int) and details["fp"] > 0:
        spurious = "; ".join(clip(str(s), 20) for s in (details.get("spurious") or [])[:3])
        return [Finding("hallucination", "spurious_tuples", "medium",
                        f"{details['fp']} extracted item(s) the text does not hold: {spurious}")]
    return []


def hallucination_rule(row: Row, sample: Sample | None, max_tokens: int | None) -> list[Finding]:
    spans = [str(span) for span in row.score.details.get("hallucinated") or []]
    if not spans:
        return []
    shown = "; ".join(clip(span) for span in spans[:3])
    return [
        Finding(
            "hallucination",
            "unsupported_spans",
            "medium",
            f"{len(spans)} statement(s) not supported by the case: {shown}",
        )
    ]


RULES: list[Rule] = [unanswered_rule, output_error_rule, shape_rule, wrong_choice_rule, wrong_diagnosis_rule,
                     omission_rule, wrong_term_rule, hallucination_rule]


def default_finding(row: Row, sample: Sample | None) -> Finding:
    """The low-confidence guess when no rule may name the primary category (see the module docstring)."""
    if row.kind in CHOICE_KINDS or row.kind == "fill":
        answer = row.score.extracted or clip(row.response.text or "", 20)
        return Finding("output_error", "committed_wrong_answer", "low",
                       f"a wrong answer ({answer}) with nothing that supports a more specific label")
    if row.kind == "extraction":
        return Finding("hallucination", "unsupported_extraction", "low",
                       "extracted items that the given text does not support")
    return Finding(
        "medical_language_generation_deficiency",
        "content_covered",
        "low",
        "no missed key points or other mechanical evidence; the shortfall needs reading",
    )


def rule_label(row: Row, sample: Sample | None = None, max_tokens: int | None = None) -> ErrorLabel:
    """The rule-based pre-label of one wrong or partially correct row."""
    findings = [finding for rule in RULES for finding in rule(row, sample, max_tokens)]
    primary = next((f for f in findings if f.may_be_primary), None)
    if primary is None:
        primary = default_finding(row, sample)
        findings.insert(0, primary)
    secondary = [f.category for f in findings if f.category != primary.category]
    rationale = "; ".join(dict.fromkeys(f.rationale for f in [primary, *findings]))
    return ErrorLabel(
        category=primary.category,
        secondary=secondary,
        source="rule",
        rule=primary.rule,
        rationale=rationale,
        confidence=primary.confidence,
    )

