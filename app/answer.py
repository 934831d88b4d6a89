"""Retrieved passages -> a cited Answer, by an LLM or, with `--generator none`, extractively."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from app import prompts
from app.citations import attach_markers, corroborate_markers, resolve_citations, sentence_spans
from app.generators import Generator, NoGenerator, to_traditional
from app.lexical import tokenize
from studyguide.config import Settings
from studyguide.types import Answer, GuideExcerpt, Passage

ABSTAIN_TEXT = {
    "en": "The papers don't say: none of the DINOv2, SAM or SAM 2 passages I found answers this.",
    "zh-Hant": "論文沒有提到：在 DINOv2、SAM、SAM 2 三篇論文中找不到能回答這個問題的段落。",
}
EXTRACTIVE_LEAD = {
    "en": "From the papers:",
    "zh-Hant": "論文原文（英文）中的相關內容：",
}
# A model that writes "the passages do not mention …" instead of the sentinel is abstaining too.
_SAYS_NOT_COVERED = re.compile(
    r"NOT_IN_PAPERS|(passages?|papers?|context|text)\s+(do(es)?\s+not|don't|doesn't)\s+(mention|say|contain|provide|specify|state|include)|"
    r"not (mentioned|provided|specified|stated) in the (passages?|papers?|context)|"
    r"(沒有|没有|未)(提到|提及|說明|说明|提供|記載|包含)|無法(從|根据|根據)",
    re.IGNORECASE,
)
_ASKS_NUMBER = re.compile(r"how (many|much|long|large|fast)|what (fps|frame rate|accuracy|weight|value)|多少|幾|几|比例|數值", re.IGNORECASE)


@dataclass
class Draft:
    """What the answer layer knows before generation: the prompt and its passages."""

    question: str
    standalone: str
    language: str
    passages: list[Passage]
    guide: list[GuideExcerpt]
    abstain_reason: str | None  # set when retrieval already shows nothing relevant


class Answerer:
    def __init__(
        self,
        settings: Settings,
        generator: Generator,
        idf: Callable[[str], float],
        similarity: Callable[[list[str], list[str]], list[list[float]]] | None = None,
    ):
        self.settings = settings
        self.generator = generator
        self.idf = idf
        self.similarity = similarity  # (texts, chunk ids) -> cosine matrix, see ChunkIndex.similarities

    @property
    def extractive(self) -> bool:
        return isinstance(self.generator, NoGenerator)

    def stream(self, draft: Draft) -> Iterator[str]:
        """Answer text pieces as they are generated (the UI shows them live)."""
        if draft.abstain_reason or self.extractive:
            yield self._final_text_without_llm(draft)
            return
        messages = prompts.answer_messages(
            draft.standalone, draft.passages, draft.language, self.settings.context_char_budget
        )
        yield from self.generator.stream(messages, max_tokens=self.settings.max_new_tokens)

    def finish(self, draft: Draft, raw_text: str) -> Answer:
        """Turn generated (or extractive) text into the cited Answer."""
        if draft.abstain_reason or _SAYS_NOT_COVERED.search(raw_text) and not _has_markers(raw_text):
            return self._abstained(draft)
        if draft.language == "zh-Hant":
            # before the markers are checked: the glossary that maps the answer's Chinese words
            # to the papers' English speaks Traditional, and the model drifts to Simplified
            raw_text = to_traditional(raw_text)
        if _content_chars(raw_text) < 8:
            # The model produced only markers or an echo of the prompt: fall back to the
            # extractive answer rather than show nothing.
            raw_text = self._final_text_without_llm(draft)
        elif not self.extractive:
            raw_text = corroborate_markers(raw_text, draft.passages, self.idf)
        text, citations = resolve_citations(raw_text, draft.passages)
        if not citations:  # the model answered but forgot its markers: find what backs each sentence
            attached = attach_markers(
                raw_text, draft.passages, self.idf, similarity=self._similarity_to(draft.passages),
                similarity_weight=self.settings.attach_similarity_weight,
            )
            text, citations = resolve_citations(attached, draft.passages)
        if not citations:  # an uncited answer is not grounded: say so rather than guess
            return self._abstained(draft)
        return Answer(
            question=draft.question,
            standalone_question=draft.standalone,
            language=draft.language,
            answer=text,
            abstained=False,
            citations=citations,
            guide=draft.guide,
            passages=draft.passages,
        )

    def _similarity_to(self, passages: list[Passage]) -> Callable[[list[str]], list[list[float]]] | None:
        if self.similarity is None:
            return None
        ids = [p.chunk.chunk_id for p in passages]
        return lambda sentences: self.similarity(sentences, ids)

    def answer(self, draft: Draft) -> Answer:
        return self.finish(draft, "".join(self.stream(draft)))

    # --- no LLM
    def _final_text_without_llm(self, draft: Draft) -> str:
        if draft.abstain_reason:
            return prompts.NOT_IN_PAPERS
        context = draft.standalone[len(draft.question):] if draft.standalone != draft.question else ""
        return extractive_answer(draft.question, draft.passages, draft.language, self.idf, context)

    def _abstained(self, draft: Draft) -> Answer:
        return Answer(
            question=draft.question,
            standalone_question=draft.standalone,
            language=draft.language,
            answer=ABSTAIN_TEXT[draft.language],
            abstained=True,
            citations=[],
            guide=draft.guide,
            passages=draft.passages,
        )


def _content_chars(text: str) -> int:
    """Letters and CJK characters outside citation markers and passage tags."""
    bare = re.sub(r"\[\d{1,2}\]|<[^>]+>", "", text)
    return len(re.findall(r"[A-Za-z\u4e00-\u9fff]", bare))


def _has_markers(text: str) -> bool:
    return bool(re.search(r"\[\d{1,2}\]", text)) and "NOT_IN_PAPERS" not in text


def extractive_answer(
    question: str,
    passages: list[Passage],
    language: str,
    idf: Callable[[str], float],
    context: str = "",
    max_sentences: int = 4,
    per_passage: int = 2,
) -> str:
    """The best-matching sentences of the top passages, each with its [n] marker.

    Sentences are scored by the rarity (IDF) of the question terms they share, so "shot
    change" outweighs "SAM"; terms that only come from the conversation count less.
    """
    asked = set(tokenize(question))
    recalled = set(tokenize(context)) - asked
    wants_number = bool(_ASKS_NUMBER.search(question))
    candidates: list[tuple[float, int, str]] = []
    seen: set[str] = set()
    for n, passage in enumerate(passages, start=1):
        text = passage.chunk.text
        for start, end in sentence_spans(text):
            sentence = text[start:end]
            if len(sentence) < 25 or sentence.count("|") > 3 or sentence in seen:
                continue
            seen.add(sentence)  # overlapping chunks repeat sentences
            terms = set(tokenize(sentence))
            score = sum(idf(t) for t in terms & asked) + 0.4 * sum(idf(t) for t in terms & recalled)
            score /= 1 + 0.1 * len(terms) ** 0.5
            score += 1.5 * bool(wants_number and re.search(r"\d", sentence))
            score += 1.0 / n  # retrieval rank still matters
            candidates.append((score, n, sentence))
    picked: list[tuple[float, int, str]] = []
    taken: dict[int, int] = {}
    for candidate in sorted(candidates, key=lambda c: -c[0]):
        if taken.get(candidate[1], 0) < per_passage:
            picked.append(candidate)
            taken[candidate[1]] = taken.get(candidate[1], 0) + 1
        if len(picked) == max_sentences:
            break
    if not picked:
        return prompts.NOT_IN_PAPERS
    # Keep the paper's reading order within the answer for readability.
    picked.sort(key=lambda c: (c[1], passages[c[1] - 1].chunk.text.find(c[2])))
    body = " ".join(f"{sentence} [{n}]" for _, n, sentence in picked)
    return f"{EXTRACTIVE_LEAD[language]} {body}"
