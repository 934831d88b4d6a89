"""The study guide -> its 50 answers, each with its question, topic, bullets and span.

The guide opens with a numbered list of the 50 questions, then repeats each as a `### N. …`
heading followed by its answer. Any other `###` heading (answer 20 has "### Prompt的影響：")
belongs to the answer it stands in.
"""

from __future__ import annotations

import re
from pathlib import Path

from studyguide.errors import SourceError
from studyguide.types import GuideAnswer

EXPECTED_ANSWERS = 50
_ANSWER_HEADING = re.compile(r"^###\s+(\d{1,2})\.\s*(.+?)\s*$", re.MULTILINE)
_BULLET = re.compile(r"^\s*[-*]\s+(.+?)\s*$", re.MULTILINE)


def topic_of(number: int) -> str:
    if number <= 15:
        return "DINOv2"
    if number <= 30:
        return "SAM"
    if number <= 40:
        return "SAM 2"
    return "multimodal"


def read_guide_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError as exc:
        raise SourceError(f"{path}: guide file not found; fix [guide] file in the manifest or --guide") from exc
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: guide is not valid UTF-8 (byte {exc.start}); save it as UTF-8") from exc
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the guide ({exc.strerror})") from exc


def parse_guide_text(text: str, origin: str = "guide") -> list[GuideAnswer]:
    headings = list(_ANSWER_HEADING.finditer(text))
    answers: list[GuideAnswer] = []
    for i, match in enumerate(headings):
        number = int(match.group(1))
        body_start = match.end() + 1
        body_end = headings[i + 1].start() if i + 1 < len(headings) else len(text)
        raw_body = text[body_start:body_end]
        lead = len(raw_body) - len(raw_body.lstrip())
        body = raw_body.strip()
        answers.append(
            GuideAnswer(
                number=number,
                question=match.group(2),
                topic=topic_of(number),
                text=body,
                bullets=tuple(b for b in _BULLET.findall(body) if b.strip()),
                char_start=body_start + lead,
                char_end=body_start + lead + len(body),
            )
        )
    numbers = [a.number for a in answers]
    if numbers != list(range(1, EXPECTED_ANSWERS + 1)):
        missing = sorted(set(range(1, EXPECTED_ANSWERS + 1)) - set(numbers))
        raise SourceError(
            f"{origin}: expected answers numbered 1..{EXPECTED_ANSWERS} under '### N.' headings, "
            f"found {len(answers)}" + (f" (missing {missing[:5]})" if missing else " (out of order)")
        )
    return answers


def parse_guide(path: Path) -> list[GuideAnswer]:
    text = read_guide_text(path)
    if not text.strip():
        raise SourceError(f"{path}: the guide is empty")
    return parse_guide_text(text, str(path))
