"""Signs in a reply's text that the pre-label rules read: a loop, garbled characters, leaked template
tokens, a refusal; and `content` / `clip` to compare and quote replies."""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter

# Declining to answer. HEDGE_MARKERS alone count only where no option was chosen: a free-text answer
# often ends with "建议咨询专业医生" after answering.
REFUSAL_MARKERS = (
    "无法回答",
    "不能回答",
    "无法作答",
    "无法确定",
    "不能确定",
    "无法判断",
    "难以判断",
    "无法给出",
    "不能给出",
    "无法提供",
    "不能提供",
    "无法选择",
    "不予回答",
    "抱歉",
    "对不起",
    "作为一个ai",
    "作为ai",
    "作为人工智能",
    "作为语言模型",
    "i cannot",
    "i can't",
    "i'm sorry",
)
HEDGE_MARKERS = ("请咨询", "建议咨询", "请就医", "sorry")
LEAKED_TOKENS = ("<|im_end|>", "<|im_start|>", "<|endoftext|>", "<|eot_id|>", "</s>", "<unk>", "[PAD]")
MOJIBAKE = ("锟斤拷", "烫烫烫", "屯屯屯")

_REPEATED_UNIT = re.compile(r"(.{2,60}?)\1{4,}", re.DOTALL)
_CHINESE = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"\w")
_NOT_CONTENT = re.compile(r"[\s\W_]+")


def looping(text: str) -> bool:
    """The text repeats itself: a unit of 2-60 characters five times in a row (20+ characters), most
    lines being copies of one line, or a long text that compresses like a loop."""
    for match in _REPEATED_UNIT.finditer(text):
        unit = match.group(1)
        if _WORD.search(unit) and (len(match.group(0)) >= 20 or len(match.group(0)) >= 8 * len(unit)):
            return True
    lines = [line.strip() for line in text.splitlines() if len(line.strip()) >= 4]
    if len(lines) >= 6:
        _, most = Counter(lines).most_common(1)[0]
        if most >= 3 and most * 2 >= len(lines):
            return True
    raw = text.encode("utf-8")
    return len(raw) >= 400 and len(zlib.compress(raw)) / len(raw) < 0.12


def has_chinese(text: str) -> bool:
    return _CHINESE.search(text) is not None


def garbled(text: str) -> bool:
    """Replacement/control/private-use characters, classic mojibake, or Latin-1-decoded UTF-8."""
    if any(marker in text for marker in MOJIBAKE):
        return True
    broken = sum(
        1
        for ch in text
        if ch == "\ufffd" or (unicodedata.category(ch) in ("Cc", "Co", "Cn") and ch not in "\n\r\t")
    )
    if broken >= 3 or (text and broken / len(text) > 0.02):
        return True
    latin1 = sum(1 for ch in text if "\u0080" <= ch <= "\u00ff")
    letters = sum(1 for ch in text if ch.isalpha())
    return not has_chinese(text) and letters >= 10 and latin1 / letters > 0.2


def leaked_tokens(text: str) -> list[str]:
    return [token for token in LEAKED_TOKENS if token in text]


def refuses(text: str, hedges: bool = False) -> bool:
    lowered = text.lower()
    markers = REFUSAL_MARKERS + HEDGE_MARKERS if hedges else REFUSAL_MARKERS
    return any(marker in lowered for marker in markers)


def content(text: str) -> str:
    """Text without whitespace and punctuation, for containment tests."""
    return _NOT_CONTENT.sub("", text).lower()


def clip(text: str, limit: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
