"""A guide answer -> the claims it makes, each with its exact span in the guide file.

Units are bullets and sentences; a sentence that joins two statements with "，但" / "，而" /
"；" is split there, because the guide often pairs a true statement with a false one.
List lead-ins ("具體工作方式如下：") and bare headings are not claims.
"""

from __future__ import annotations

import re

from studyguide.types import Claim, GuideAnswer

_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]?")
_CLAUSE_BREAK = re.compile(r"[，,]\s*(?=但|而|然而|不過)|；|;")
# A bullet marker, then an optional bold topic label ("**數據增強策略（…）**：") that names
# what the bullet is about rather than claiming anything.
_BULLET_PREFIX = re.compile(r"^\s*(?:(?:[-*]|\d+\.)\s+)?(?:\*\*[^*\n]{1,60}\*\*\s*[：:]\s*)?")
_HEADING_ONLY = re.compile(r"^\s*(#+\s.*|\*\*[^*]+\*\*[：:]?)\s*$")
_CJK = re.compile(r"[\u4e00-\u9fff]")
MIN_CLAIM_CJK = 8


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in " \t#：:，,、":
        start += 1
    while end > start and text[end - 1] in " \t\n":
        end -= 1
    return start, end


def _is_claim(span_text: str) -> bool:
    if _HEADING_ONLY.match(span_text):
        return False
    stripped = span_text.rstrip()
    if stripped.endswith(("：", ":")) and len(_CJK.findall(stripped)) < 40:
        return False  # a lead-in to a list, not a statement
    return len(_CJK.findall(span_text)) >= MIN_CLAIM_CJK or len(span_text.split()) >= 6


def split_claims(answer: GuideAnswer, guide_text: str) -> list[Claim]:
    """Claims in reading order; `guide_text[c.char_start:c.char_end] == c.text` for each."""
    claims: list[Claim] = []
    base = answer.char_start
    body = guide_text[answer.char_start : answer.char_end]
    for line_match in re.finditer(r"[^\n]+", body):
        line = line_match.group(0)
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        line_start = line_match.start()
        offset = _BULLET_PREFIX.match(line).end()
        for sentence in _SENTENCE.finditer(line, offset):
            pieces = []
            cursor = sentence.start()
            for brk in _CLAUSE_BREAK.finditer(line, sentence.start(), sentence.end()):
                pieces.append((cursor, brk.start()))
                cursor = brk.end()
            pieces.append((cursor, sentence.end()))
            for start, end in pieces:
                start, end = _trim(line, start, end)
                text = line[start:end]
                if text and _is_claim(text):
                    absolute = base + line_start + start
                    claims.append(Claim(answer.number, text, absolute, absolute + len(text)))
    return claims
