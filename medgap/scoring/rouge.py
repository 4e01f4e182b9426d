"""ROUGE-L the way MedBench (OpenCompass `medbench.py`) computes it for generation tasks.

Both texts are cut by a BERT-style basic tokenizer — every CJK character is a token, Latin words and
numbers stay whole, each punctuation mark is a token, lower case — then joined with spaces and
scored by `rouge-chinese` (summary-level LCS, sentences cut at `。！？`); the F value is reported.

One deliberate difference: OpenCompass skips a pair whose prediction is empty; per item that would
drop the worst answers from the average, so here an empty answer scores 0.
"""

from __future__ import annotations

import unicodedata
from functools import cache


def _is_cjk(char: str) -> bool:
    cp = ord(char)
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_dropped(char: str) -> bool:
    """NUL, replacement character and control/format/private-use characters (tab and newline are whitespace)."""
    return ord(char) in (0, 0xFFFD) or (char not in "\t\n\r" and unicodedata.category(char).startswith("C"))


def medbench_tokens(text: str) -> list[str]:
    """CJK characters one by one, Latin words and numbers whole, punctuation marks apart, lower case."""
    spaced = []
    for char in text:
        if _is_dropped(char):
            continue
        if char.isspace():
            spaced.append(" ")
        elif _is_cjk(char):
            spaced.append(f" {char} ")
        else:
            spaced.append(char)
    tokens: list[str] = []
    for word in "".join(spaced).split():
        word = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")
        current = ""
        for char in word:
            if _is_punctuation(char):
                if current:
                    tokens.append(current)
                tokens.append(char)
                current = ""
            else:
                current += char
        if current:
            tokens.append(current)
    return tokens


@cache
def _rouge():
    from rouge_chinese import Rouge

    return Rouge(metrics=["rouge-l"])


def rouge_l(answer: str, reference: str) -> float | None:
    """ROUGE-L F of `answer` against `reference`; None when there is no reference to compare with."""
    reference_tokens = medbench_tokens(reference)
    if not reference_tokens:
        return None
    answer_tokens = medbench_tokens(answer)
    if not answer_tokens:
        return 0.0
    scores = _rouge().get_scores(" ".join(answer_tokens), " ".join(reference_tokens))
    return float(scores[0]["rouge-l"]["f"])
