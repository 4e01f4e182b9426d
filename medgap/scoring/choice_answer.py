"""Answer extraction for choice items: which option letters a free-text answer commits to.

Readers run in priority order and the first one with a verdict decides. A verdict is the letters
found, or HEDGE when the answer declines or names options without choosing (scored as unanswered).
Order: the chosen options listed one per line with their texts > an answer the text starts with
("C。解析：A项…", "答案：C", a JSON reply) > the last explicit
marker ("…因此答案是C", "故选D", "C项正确") > JSON inside the text > refusal/hedge > a last line that is
just the answer > standalone letters > option texts without letters ("首选胺碘酮"; for a multi-answer item a list,
"发热、咳嗽、盗汗"). Lower-case letters count where they can only be letters ("b", "答案：b"); "(A)(C)(E)"
reads as "ACE".
Inside a <think> block only an explicit marker counts, and only when no answer follows the block.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from medgap.scoring.reply import answer_part, json_values_in

HEDGE = ""  # verdict: the answer commits to no option
Verdict = str | None  # letters, HEDGE, or None when a reader finds nothing

# Every alternation below starts with a literal (or the letter class): the regex engine then skips
# ahead to candidate positions instead of trying each one (about 10x faster on long answers).
_CJK = r"\u3400-\u9fff"
# Words that may follow a letter inside an answer ("C项", "C选项", "C正确", "C是…", "C为…").
_CJK_AFTER_LETTER = "项选正是为对符都均因所故即的"
# After a letter: the option is being ruled out or questioned, not chosen.
_RULED_OUT = r"[ \t]*(?:选?项)?[ \t]*(?:是|为)?[ \t]*(?:错误|错|不正确|不对|不符|有误|排除|吗|\?)|[ \t]*不"
_SEPARATOR = r"[ \t]*(?:[、,;/&+]|以及|和|及|与|或者|或|还是|and|or)[ \t]*|[ \t]+"
_JOINT = rf"(?:选?项)?(?:{_SEPARATOR})(?:选项)?"  # between two letters of one answer

_CN_MARKER = (
    r"答(?:案|(?=[ \t]*:))|正确的?选项|最佳选项|最终选项"
    r"|正确的(?=[ \t]*(?:是|有|为))|符合题意的(?=[ \t]*(?:是|有|为))"
    r"|选项(?=[ \t]*(?:应该|应|就)?[ \t]*(?:是|为))"
    r"|选(?<!不选)(?<!不应选)(?<!不能选)(?<!不可选)(?<!不要选)(?:择|用)?"
)
_EN_MARKER = r"Answers?|answers?|ANSWER|option is|choice is|choose|select|pick|go with|boxed\{(?:\\text\{)?"
_MARKER_FILLER = (
    r"(?:[ \t]+(?:is|are|would be|should be))?"
    r"[ \t]*(?:应该|应当|应|就|即|当|则)?[ \t]*(?:是|为|有|选择|选)?[ \t]*[:】\]」)]*\s*"
    r"(?:选项|(?i:option))?[ \t]*[(\[【「\"'“‘$]?[ \t]*"
)
_CN_ENDORSED = (
    r"[ \t]*(?:选项|项)?[ \t]*(?:都|均|皆)?(?:是|为|才是)?[ \t]*(?:正确|对|最佳|最合适|最恰当|符合题意)的?"
    r"(?:答案|选项|选择)?(?=[ \t]*(?:$|[。.,;!、)\n]))"
)
_EN_ENDORSED = r"\s+(?i:is\s+(?:the\s+)?(?:correct|right|best))"

# Full-width forms that answers use (Ｂ, ：, （C）) -> ASCII, and markdown emphasis dropped.
_FULLWIDTH_ALNUM = re.compile("[０-９Ａ-Ｚａ-ｚ]")
_ASCII_FORMS = (
    ("：", ":"),
    ("，", ","),
    ("（", "("),
    ("）", ")"),
    ("．", "."),
    ("；", ";"),
    ("？", "?"),
    ("！", "!"),
    ("［", "["),
    ("］", "]"),
    ("\u3000", " "),
    ("*", ""),
    ("\u200b", ""),
)

LEADING_JUNK = re.compile(r"[\s>#\"'“‘「【(\[$]*")


def _junk_end(text: str) -> int:
    """Where `text` starts after leading quotes, brackets, markdown marks and spaces."""
    match = LEADING_JUNK.match(text)
    assert match is not None  # the pattern matches the empty string
    return match.end()


ITEM_STYLE = re.compile(r"[ \t]*[.、:)][ \t]*\S")  # "A. 利多卡因…": an option being discussed
DECLINE = re.compile(
    r"无法(?:回答|作答|确定|判断|选择|给出|提供)|不能(?:回答|确定|判断|提供|给出)|不确定|难以(?:确定|判断)"
    r"|都有?可能|均有?可能|请您?(?:咨询|就医|向医生)|建议您?(?:咨询|就医|向医生)"
    r"|I cannot|I can't|I am unable|I'm unable|not sure|consult a doctor|consult your doctor"
)
HEDGE_SEPARATOR = re.compile(r"或|还是|\bor\b")
ANSWER_KEYS = (
    "answer",
    "answers",
    "答案",
    "正确答案",
    "correct_answer",
    "final_answer",
    "choice",
    "选项",
    "选择",
)
CONCLUSION = re.compile(
    r"因此|所以|故|综上|答案|首选|最佳|应选|选择|应该是|应为|最可能|诊断为|考虑为|Therefore|therefore|answer|Answer"
)
SENTENCE_END = re.compile(r"[。!?;\n]")


@dataclass(frozen=True)
class _Patterns:
    """The regexes for one set of option letters (a letter class that holds only asked letters)."""

    prefix_marker: re.Pattern[str]  # "答案是C", "故选D", "The answer is (B)"
    endorsed: re.Pattern[str]  # "C项正确", "C为正确答案", "Option C is correct"
    leading: re.Pattern[str]  # a letter answer at the very start: "C。解析…", "A、B、E"
    token: re.Pattern[str]  # a letter standing alone as a clause: "…最可能的是C。"
    line_item: re.Pattern[str]  # "A. …" at a line start (an option-by-option analysis)
    letter_hedge: re.Pattern[str]  # "可能是A也可能是C", "可以选A，也可以选C"


@lru_cache(maxsize=32)
def _patterns(letters: str) -> _Patterns:
    letter = f"[{letters}]"
    # Checked after the first letter, so that patterns still start with the letter class (see above).
    not_in_word = rf"(?<![A-Za-z0-9]{letter})"
    alone = rf"{not_in_word}(?:(?<![{_CJK}]{letter})|(?<=[是为选即项]{letter}))"
    marker_end = rf"(?!{_RULED_OUT})(?=$|[^A-Za-z0-9{_CJK}]|[{_CJK_AFTER_LETTER}])"
    # The whole group or nothing: backtracking must not cut "A、C、E都正确" down to "A、C".
    leading_end = (
        rf"(?!{_JOINT}{letter})(?!{_RULED_OUT})"
        rf"(?=[ \t]*(?:$|\n|[。.,;!:、)\]】」\"'”’$])|[ \t]+[^\x00-\x7f]|选?项[ \t]*(?:$|\n|[。,;!]))"
    )
    token_end = rf"(?!{_RULED_OUT})(?=[ \t]*(?:$|\n|[。,;!?)\]】」\"'”’$]|[.、](?![ \t]*\S)))"
    return _Patterns(
        prefix_marker=re.compile(
            rf"(?:{_CN_MARKER}|{_EN_MARKER}){_MARKER_FILLER}{_group(letter)}{marker_end}"
        ),
        endorsed=re.compile(rf"{_group(letter, not_in_word)}(?:{_CN_ENDORSED}|{_EN_ENDORSED})"),
        leading=re.compile(_group(letter) + leading_end),
        token=re.compile(_group(letter, alone) + token_end),
        line_item=re.compile(rf"^[ \t>#-]*(?:选项)?({letter})(?:选?项)?[ \t]*[.、:)]", re.MULTILINE),
        letter_hedge=re.compile(
            rf"{letter}(?:[^。\n]{{0,15}}?也可[能以]?是?选?|[ \t]*(?:或者|或|还是|or)[ \t]*(?:是|选)?)"
            rf"[ \t]*{letter}(?![ \t]*[都均]?[不错])"
        ),
    )


def _group(letter: str, after_first: str = "") -> str:
    """One or more option letters: "C", "ACE", "A、C、E", "A项和C项", "选项A、选项C", "A or C"."""
    return rf"(?P<letters>{letter}{after_first}(?:(?:{_JOINT})?{letter})*)"


@dataclass(frozen=True)
class _Item:
    options: dict[str, str]  # upper-case letter -> option text
    patterns: _Patterns
    multi: bool


Reader = Callable[[str, _Item], Verdict]


_PLAIN_ANSWER = re.compile(r"\s*答案[：:]\s*([A-Z])[。.]?\s*")


def extract_choice(text: str | None, options: dict[str, str], multi: bool = False) -> str | None:
    """Free text -> the option letters the answer commits to, sorted and joined ("ACE"), or None when
    nothing is committed (unanswered).

    Only letters present in options count. `multi` marks a multi-answer item: standalone letters that
    differ add up there, while on a single-answer item they cancel out (no answer)."""
    if text and (plain := _PLAIN_ANSWER.fullmatch(text)) and (letters := plain[1]) in options and len(letters) == 1:
        return letters  # "答案：C" as asked: most replies of a model that follows the prompt
    keys = {key.strip().upper(): key for key in options if _is_letter(key.strip())}
    if not text or not keys:
        return None
    body, concluded = answer_part(_normalize(text))
    body = _capital_letters(body, set(keys))
    item = _Item(
        {letter: options[key] for letter, key in keys.items()}, _patterns("".join(sorted(keys))), multi
    )
    verdict = _first_verdict(body, item) if concluded else _last_prefix_marker(body, item)
    if not verdict:
        return None
    return "".join(sorted({keys[letter] for letter in verdict}))


def _is_letter(key: str) -> bool:
    return len(key) == 1 and key.isascii() and key.isalpha()


def _normalize(text: str) -> str:
    text = _FULLWIDTH_ALNUM.sub(lambda match: chr(ord(match.group()) - 0xFEE0), text)
    for wide, narrow in _ASCII_FORMS:
        text = text.replace(wide, narrow)
    return _BRACKETED_RUN.sub(lambda match: "".join(_CAPITAL.findall(match.group())), text)


# "(A)(C)(E)": one answer of three letters, each in brackets -> "ACE".
_BRACKETED_RUN = re.compile(r"(?:\([ \t]*[A-Z][ \t]*\)[ \t]*){2,}")
_CAPITAL = re.compile(r"[A-Z]")
# A reply that is only lower-case letters ("b", "(b)", "a、c"), or one after an answer marker
# ("答案：b", "选b", "answer: b"): the letters are meant as option letters.
_LOWER_REPLY = re.compile(r"[ \t>#\"'“(\[]*([a-z](?:[ \t]*[、,;/和及]?[ \t]*[a-z])*)[ \t.。)\]”\"']*")
_LOWER_AFTER_MARKER = re.compile(
    r"(?:(?:答案|选项|选择|选)[ \t]*(?:是|为|应为|应选)?[ \t]*:?|(?i:answer)[ \t]*:)[ \t]*\(?([a-z])(?![A-Za-z0-9])"
)


def _capital_letters(body: str, letters: set[str]) -> str:
    """Lower-case option letters where they can only be option letters, in capitals."""
    whole = _LOWER_REPLY.fullmatch(body.strip())
    found = [char for char in whole.group(1) if char.isalpha()] if whole else []
    # distinct option letters, and in order when written together ("ace"; not "dead" or "bed")
    together = whole is not None and len(whole.group(1)) == len(found)
    apart = whole is not None and not re.search("[a-z]{2}", whole.group(1))
    if found and all(char.upper() in letters for char in found) and len(set(found)) == len(found) and (
        apart or together and found == sorted(found)
    ):
        return body.upper()

    def capital(match: re.Match[str]) -> str:
        letter = match.group(1)
        if letter.upper() not in letters:
            return match.group()
        text = match.group()
        return text[: match.start(1) - match.start()] + letter.upper() + text[match.end(1) - match.start() :]

    return _LOWER_AFTER_MARKER.sub(capital, body)


def _first_verdict(body: str, item: _Item) -> Verdict:
    for read in _READERS:
        verdict = read(body, item)
        if verdict is not None:
            return verdict
    return None


def _letters(match: re.Match[str], item: _Item) -> str:
    """The letters a group match commits to; an option whose own text starts there ("B超", "C 类纤维",
    "A、B和C均对") is that option, not its letters."""
    named = _option_starting_at(match.string, match.start("letters"), item)
    if named:
        return named
    group = match.group("letters")
    if HEDGE_SEPARATOR.search(group):
        return HEDGE
    return "".join(char for char in group if char.isalpha() and char.isupper())


def _option_starting_at(text: str, start: int, item: _Item) -> str | None:
    found = []
    for letter, option in item.options.items():
        option = _option_text(option)
        option = option[_junk_end(option) :]  # "$A，B，C$均对" as shown after "$"
        if option[:1].isascii() and option[:1].isalpha() and text.startswith(option, start):
            found.append((len(option), letter))
    return max(found)[1] if found else None


def _read_leading(body: str, item: _Item) -> Verdict:
    """An answer the text starts with wins over letters its explanation mentions later."""
    start = _junk_end(body)
    if body.startswith(("{", "```"), start):
        return _read_json(body, item)
    marker = item.patterns.prefix_marker.match(body, start)
    if marker:
        return _letters(marker, item)
    lead = item.patterns.leading.match(body, start)
    if lead is None or _opens_option_analysis(body, lead.end(), item):
        return None
    return _letters(lead, item)


def _opens_option_analysis(body: str, end: int, item: _Item) -> bool:
    """ "A. 利多卡因：…\\nB. …": the text walks through the options rather than answering first."""
    if not ITEM_STYLE.match(body, end):
        return False
    return len({match.group(1) for match in item.patterns.line_item.finditer(body)}) > 1


def _is_line_item(line: str, item: _Item) -> bool:
    return item.patterns.line_item.match(line) is not None


def _last_prefix_marker(body: str, item: _Item) -> Verdict:
    matches = list(item.patterns.prefix_marker.finditer(body))
    last = matches[-1] if matches else None
    if last is None:
        return None
    hedge = item.patterns.letter_hedge.search(body, max(0, last.start() - 20))
    if hedge and hedge.end() >= last.end():
        return HEDGE
    return _letters(last, item)


def _read_markers(body: str, item: _Item) -> Verdict:
    """The last explicit answer marker (reasoning precedes the conclusion); else every "X正确"."""
    verdict = _last_prefix_marker(body, item)
    if verdict is not None:
        return verdict
    endorsed = "".join(_letters(match, item) for match in item.patterns.endorsed.finditer(body))
    return endorsed or None


def _read_json(body: str, item: _Item) -> Verdict:
    verdict = None
    for _, _, data in json_values_in(body):
        if isinstance(data, dict):
            verdict = _json_answer(data, item) or verdict
    return verdict


def _json_answer(data: dict, item: _Item) -> str | None:
    by_key = {str(key).lower(): value for key, value in data.items()}
    value = next((by_key[key] for key in ANSWER_KEYS if key in by_key), None)
    values = value if isinstance(value, list) else [value]
    found = "".join(_value_letters(entry, item) for entry in values if isinstance(entry, str))
    return found or None


def _value_letters(value: str, item: _Item) -> str:
    value = value.strip()
    lead = item.patterns.leading.match(value)
    if lead:
        return _letters(lead, item)
    return "".join(letter for letter, text in item.options.items() if _option_text(text) == value)


def _read_decline(body: str, item: _Item) -> Verdict:
    if DECLINE.search(body) or item.patterns.letter_hedge.search(body):
        return HEDGE
    return None


def _read_final_line(body: str, item: _Item) -> Verdict:
    """A last line that is just the answer ("C", "C. 胺碘酮") after text that is not listing options."""
    before, _, last = body.rstrip().rpartition("\n")
    before = before.rstrip()
    if before and _is_line_item(before[before.rfind("\n") + 1 :], item):
        return None
    lead = item.patterns.leading.match(last, _junk_end(last))
    if lead is None:
        return None
    letters = _letters(lead, item)
    rest = last[lead.end() :].strip(" \t.、:)]】。")
    if not rest or (len(letters) == 1 and rest == _option_text(item.options[letters])):
        return letters
    return None


def _read_tokens(body: str, item: _Item) -> Verdict:
    """Letters standing alone; a single-answer item needs them all to agree."""
    found = [_letters(match, item) for match in item.patterns.token.finditer(body)]
    if not found:
        return None
    if HEDGE in found:
        return HEDGE
    if item.multi:
        return "".join(found)
    return found[0] if len(set(found)) == 1 else None


def _read_option_text(body: str, item: _Item) -> Verdict:
    """An option named by its text ("首选胺碘酮"), in the concluding or the first sentence."""
    texts = sorted(
        ((letter, _option_text(text)) for letter, text in item.options.items()),
        key=lambda pair: -len(pair[1]),
    )
    whole = body.strip().rstrip("。.")
    exact = [letter for letter, text in texts if text == whole]
    if len(exact) == 1:
        return exact[0]
    for part in _committed_parts(body, item):
        named = _options_named(part, texts)
        if len(named) == 1:
            return named
    return None


@lru_cache(maxsize=4096)
def _option_text(text: str) -> str:
    return _normalize(text).strip().rstrip("。.")


def _committed_parts(body: str, item: _Item) -> Iterator[str]:
    """The concluding sentence, then the first one unless it opens an option-by-option analysis."""
    matches = list(CONCLUSION.finditer(body))
    last = matches[-1] if matches else None
    if last is not None:
        yield _sentence_from(body, last.start())
    start = len(body) - len(body.lstrip())
    if not _is_line_item(body[start:], item):
        yield _sentence_from(body, start)


def _sentence_from(body: str, start: int) -> str:
    end = SENTENCE_END.search(body, start)
    return body[start : end.start() if end else len(body)]


def _options_named(part: str, texts: list[tuple[str, str]]) -> str:
    """Letters whose option text appears in part; longer texts first, so that an option whose text
    is inside another's ("阿司匹林" in "阿司匹林肠溶片") only counts where it appears on its own."""
    named = []
    for letter, text in texts:
        if len(text) == 1:
            if _names_one_character(part, text):
                named.append(letter)
        elif text and text in part:
            named.append(letter)
            part = part.replace(text, "\0")
    return "".join(sorted(named))


def _names_one_character(part: str, text: str) -> bool:
    """One-character options (肝, 肾, 心) count only as a whole answer: "答案为肾。", not "肾阳虚"."""
    start = part.find(text)
    while start >= 0:
        before = part[start - 1] if start else " "
        after = part[start + 1 : start + 2] or " "
        if before in "是为选: " and after in "。.,;!) ":
            return True
        start = part.find(text, start + 1)
    return False


# A line that only introduces the answer: "答案：", "正确答案是：", "应选:".
_INTRO_LINE = re.compile(
    r"[ \t>#]*(?:正确|最终)?(?:答案|选项|选择)?[ \t]*(?:应该|应)?[ \t]*(?:是|为|选|有)?[ \t]*[:]?[ \t]*"
)
_LISTED_OPTION = re.compile(r"[ \t>#*-]*([A-Z])[ \t]*[.、:)][ \t]*(\S.*?)[ \t]*")


def _read_option_lines(body: str, item: _Item) -> Verdict:
    """The chosen options listed one per line with their letters and texts ("A. 发热\nB. 咳嗽\nE. 盗汗"),
    optionally after a line like "答案：". Every option listed with its own text is a restatement
    of the question, not an answer, unless such a line introduces it."""
    lines = [line for line in body.strip().splitlines() if line.strip()]
    introduced = len(lines) > 1 and bool(_INTRO_LINE.fullmatch(lines[0])) and not _LISTED_OPTION.fullmatch(lines[0])
    listed = lines[1:] if introduced else lines
    if len(listed) < 2 and not introduced:
        return None
    letters = []
    for line in listed:
        match = _LISTED_OPTION.fullmatch(line)
        if match is None or match.group(1) not in item.options or match.group(1) in letters:
            return None
        if _option_text(match.group(2)) != _option_text(item.options[match.group(1)]):
            return None
        letters.append(match.group(1))
    if not introduced and len(letters) == len(item.options):
        return None
    if len(letters) > 1 and not item.multi:
        return HEDGE
    return "".join(letters)


_TEXT_LIST_SEPARATOR = re.compile(r"[ \t]*(?:[、,;/]|以及|和|及|与)[ \t]*|[ \t]+")
_LIST_INTRO = re.compile(
    r"^.*?(?:答案|选项|选择|应选|选)[ \t]*(?:应该|应)?[ \t]*(?:是|为|有)?[ \t]*[:]?[ \t]*", re.DOTALL
)


def _read_text_list(body: str, item: _Item) -> Verdict:
    """A multi-answer reply naming options by their texts only: "发热、咳嗽、盗汗", "答案：发热和盗汗"."""
    if not item.multi:
        return None
    text = body.strip().rstrip("。.!")
    if "\n" in text:
        return None
    text = _LIST_INTRO.sub("", text, count=1) if _LIST_INTRO.match(text) else text
    by_text = {_option_text(option): letter for letter, option in item.options.items()}
    parts = [part for part in _TEXT_LIST_SEPARATOR.split(text) if part]
    if len(parts) < 2 or any(_option_text(part) not in by_text for part in parts):
        return None
    return "".join(sorted({by_text[_option_text(part)] for part in parts}))


_READERS: tuple[Reader, ...] = (
    _read_option_lines,
    _read_leading,
    _read_markers,
    _read_json,
    _read_decline,
    _read_final_line,
    _read_tokens,
    _read_text_list,
    _read_option_text,
)

RECORD_TYPES = ("single", "multi")


def extract_records(lines: Iterable[str], source: str) -> Iterator[dict]:
    """JSONL records with `options`, `response` and `type` -> the same records with `extracted` added.
    Blank lines are skipped; a bad record raises ValueError naming source, 1-based line and field."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _parse_record(line, f"{source}:{number}")
        multi = record["type"] == "multi"
        yield {**record, "extracted": extract_choice(record["response"], record["options"], multi=multi)}


def _parse_record(line: str, where: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: invalid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(record, dict):
        # ValueError, not TypeError: a wrong JSON shape is bad input like any other bad record.
        raise ValueError(f"{where}: expected a JSON object, got {_shown(record)}")  # noqa: TRY004
    for field, is_valid, expected in _RECORD_FIELDS:
        if field not in record:
            raise ValueError(f"{where}: missing field {field!r}")
        if not is_valid(record[field]):
            raise ValueError(f"{where}: field {field!r} must be {expected}, got {_shown(record[field])}")
    return record


def _valid_options(value: object) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(_is_letter(key) and isinstance(text, str) for key, text in value.items())
    )


_RECORD_FIELDS: tuple[tuple[str, Callable[[object], bool], str], ...] = (
    ("options", _valid_options, "a non-empty object mapping option letters to texts"),
    ("response", lambda value: value is None or isinstance(value, str), "a string or null"),
    ("type", lambda value: value in RECORD_TYPES, "'single' or 'multi'"),
)


def _shown(value: object, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
