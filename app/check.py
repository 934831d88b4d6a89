"""Checking the guide: claims -> evidence -> verdict -> correction, cached per claim.

The decision (see ../shared/models.md for what was measured): a three-way prompt to the small
LLM is unreliable, so support is a binary probe whose P("Yes") is read from the logits — "is
the claim fully supported by this passage?" — over the best few passages, plus a key-term
check: a claim whose specific terms (model names, modules, datasets) appear in no retrieved
passage is not supported, however fluent. An unsupported claim of what a model can do is
`not_in_papers`; any other is `contradicted` when the evidence covers its terms (the papers
discuss it and say otherwise), else `not_in_papers`.
Without an LLM (`--generator none`) similarity and term coverage stand in for the probe,
which is weaker and said so in the README.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from app import prompts
from app.answer import extractive_answer
from app.citations import backed_sentences, make_citation, resolve_citations
from app.claims import split_claims
from app.conversation import detect_language
from app.generators import Generator, NoGenerator, to_traditional
from app.glossary import expand_chinese_terms
from app.lexical import specific_terms, tokenize
from app.retrieve import HybridRetriever, mentioned_sources
from ingest.parse_guide import parse_guide_text, read_guide_text
from ingest.manifest import load_manifest
from studyguide.config import Settings
from studyguide.errors import UserError
from studyguide.types import Citation, Claim, ClaimVerdict, GuideAnswer, Passage, QuestionCheck, Verdict

CACHE_VERSION = 5
# Every setting a verdict depends on (which passages are retrieved, how they are judged): the
# cache key is built from these, so a changed one never serves a verdict made under another.
VERDICT_SETTINGS = ("embedder", "dense_k", "lexical_k", "rrf_k", "max_per_section", "overview_weight",
                    "abstain_min_similarity", "check_evidence_k", "support_threshold",
                    "support_threshold_no_llm", "contradiction_min_coverage")
# A correction is written from the best few passages (a lean prompt); an unsupported verdict
# then cites every passage it was judged on, for the student to check what was looked at.
CORRECTION_PASSAGES = 3
_BOLD = re.compile(r"\*\*")


@dataclass
class Judgement:
    verdict: Verdict
    support: float  # best support probability (or its no-LLM stand-in)
    passages: list[Passage]  # the passages the verdict rests on, best first
    supporting: int = 0  # how many of them clear the support threshold (a supported claim cites these)


def claim_for_judge(text: str) -> str:
    return _BOLD.sub("", text).strip()


# A claim of what a model *can* do or be used for. The papers report what they built and
# tested, so such a claim, unsupported, is usually one they don't discuss (not_in_papers);
# an unsupported claim of what a model *is*, uses or is trained on meets the paper's own full
# description of that model, and is contradicted. "只能" ("can only") restricts, it is not one.
_POSSIBILITY = re.compile(r"可以|能夠|能够|可用於|可用于|適合|适合|\b(can|could)\b(?!\s+only|'t|’t)|\bwell[- ]suited\b", re.IGNORECASE)


def states_a_possibility(*texts: str) -> bool:
    return any(_POSSIBILITY.search(t) for t in texts)


def missing_specific_terms(claim: str, passages: list[Passage]) -> list[str]:
    """The claim's specific terms (model names, modules, datasets) that no passage mentions.

    A term naming one of the papers' own models counts as present in that paper's passages,
    which say "our model" or "we" far more often than its name ("SAM2" in a guide claim would
    otherwise be missing from every SAM 2 passage and halve the claim's support)."""
    evidence_text = " ".join(p.chunk.text + " " + p.chunk.section for p in passages).lower()
    sources = {_bare_name(p.chunk.source) for p in passages}
    return [
        term for term in specific_terms(claim)
        if term.lower() not in evidence_text and _bare_name(term) not in sources
    ]


def _bigrams(text: str) -> set[str]:
    letters = re.sub(r"[^0-9a-z\u4e00-\u9fff]", "", text.lower())
    return {letters[i : i + 2] for i in range(len(letters) - 1)}


def echoes_claim(sentence: str, *claim_texts: str, ratio: float = 0.85) -> bool:
    """Whether a correction's sentence is the guide's claim written back (in either wording),
    which a citation would pass off as the paper's word. Near-verbatim only: a correction that
    negates the claim ("… can handle both images and videos") shares most of its words too."""
    own = _bigrams(sentence)
    return bool(own) and any(len(own & _bigrams(c)) / len(own) >= ratio for c in claim_texts if c)


def _bare_name(name: str) -> str:
    """"SAM 2", "SAM2", "sam-2" -> "sam2": one spelling of a model's name. Only the name: a
    paper's artefacts (iBOT, SA-1B, Hiera) are still terms its passages must mention."""
    return re.sub(r"[\s\-_]", "", name).lower()


def term_coverage(claim: str, passages: list[Passage]) -> float:
    """Share of the claim's lexical terms (Chinese via the glossary) found in the passages."""
    wanted = set(tokenize(claim))
    if not wanted:
        return 0.0
    seen = set()
    for passage in passages:
        seen |= set(tokenize(passage.chunk.text + " " + " ".join(passage.chunk.section_path)))
    return len(wanted & seen) / len(wanted)


class GuideChecker:
    def __init__(self, settings: Settings, retriever: HybridRetriever, generator: Generator):
        self.settings = settings
        self.retriever = retriever
        self.generator = generator
        self._guide: tuple[str, list[GuideAnswer]] | None = None

    # --- the guide
    def guide(self) -> tuple[str, list[GuideAnswer]]:
        if self._guide is None:
            path = self.settings.guide_path or load_manifest(self.settings.manifest_path).guide_path
            text = read_guide_text(path)
            self._guide = (text, parse_guide_text(text, str(path)))
        return self._guide

    def answer(self, number: int) -> GuideAnswer:
        text, answers = self.guide()
        if not 1 <= number <= len(answers):
            raise UserError(f"question {number}: the guide has questions 1 to {len(answers)}")
        return answers[number - 1]

    def claims(self, number: int) -> list[Claim]:
        text, _ = self.guide()
        return split_claims(self.answer(number), text)

    # --- one claim
    def evidence(self, claim_text: str, topic: str | None = None) -> list[Passage]:
        sources = mentioned_sources(claim_text) or ([topic] if topic in ("DINOv2", "SAM", "SAM 2") else None)
        query = claim_text + " " + " ".join(expand_chinese_terms(claim_text))
        return self.retriever.passages(query, k=self.settings.check_evidence_k, sources=sources)

    def in_english(self, claim_text: str) -> str:
        """The papers are English: a Chinese claim is judged (and searched) in English when an
        LLM can translate it; the original's English terms ride along for lexical matching."""
        if isinstance(self.generator, NoGenerator) or detect_language(claim_text) == "en":
            return claim_text
        english = self.generator.complete(prompts.translate_messages(claim_text), max_tokens=120).strip()
        return english or claim_text

    def judge(self, claim_text: str, passages: list[Passage], original: str = "") -> Judgement:
        """supported: the judge's best support probability clears the threshold (halved when the
        claim names things no passage mentions). Otherwise the claim's form, then its terms,
        decide between the two ways to be wrong: a claim of what a model can do or be used for
        (in the judged text or the `original` guide wording) is one the papers don't discuss
        (not_in_papers, see `_POSSIBILITY`); of the rest, one whose terms the evidence covers is
        about something the papers discuss — and they say otherwise (contradicted), one whose
        terms they barely use is not in the papers. On the 31 dev claims the form rule moved
        not_in_papers recall 4/10 -> 8/10 for contradicted 9/10 -> 7/10 (accuracy 0.645 -> 0.710).

        A second "does it contradict?" probe was tried and dropped: on the dev claims its
        P(Yes) tracked the support probe (0.82 vs 0.90, 0.47 vs 0.47 …) and told nothing new.
        So did a relevance probe ("does the passage discuss what the claim is about?") as the
        contradicted/not_in_papers split: 0.58, 0.70, 0.33 for contradicted dev claims against
        0.66, 0.62, 0.68 for not_in_papers ones. Nor did asking the model to restate what the
        passages say about the claim or reply NOT_IN_PAPERS (restated → contradicted): on the
        first 13 dev claims it answered NOT_IN_PAPERS every time, contradicted ones included.
        """
        text = claim_for_judge(claim_text)
        best = self.retriever.best_similarity(passages)
        if not passages or best < self.settings.abstain_min_similarity:
            return Judgement("not_in_papers", 0.0, passages)
        coverage = term_coverage(text, passages)
        missing_specific = missing_specific_terms(text, passages)
        supports = [self.generator.yes_probability(prompts.support_messages(text, p)) for p in passages]
        if supports and supports[0] is None:  # no LLM: similarity x term coverage stands in
            supports = [(p.dense or 0.0) * coverage for p in passages]
            threshold = self.settings.support_threshold_no_llm
        else:
            threshold = self.settings.support_threshold
        order = sorted(range(len(passages)), key=lambda i: -(supports[i] or 0.0))
        ranked = [passages[i] for i in order]
        penalty = 0.5 if missing_specific else 1.0
        scores = [(supports[i] or 0.0) * penalty for i in order]
        support = scores[0]
        if support >= threshold:
            return Judgement("supported", support, ranked, supporting=sum(x >= threshold for x in scores))
        if states_a_possibility(text, original):
            return Judgement("not_in_papers", support, ranked)
        verdict: Verdict = "contradicted" if coverage >= self.settings.contradiction_min_coverage else "not_in_papers"
        return Judgement(verdict, support, ranked)

    def correction(self, claim_text: str, judged_text: str, judgement: Judgement, language: str) -> tuple[str, list]:
        """What the paper says instead, in the guide's language; quotes are picked by the
        (English) judged text, which shares the papers' words.

        The LLM's correction keeps only its sentences that a passage backs (its own markers, or
        ones attached as for answers) and drops any that write the guide's claim back: on the
        dev claims the model often did ("主要使用了對比學習損失 …", with or without a marker),
        which a citation would have passed off as the paper's word. With nothing left, the
        papers' own closest sentences stand in. Asking for the
        correction through the answer prompt instead ("the guide claims …; what do the papers
        say?") was tried on the dev claims: no must-mention gain,
        and once it restated the wrong claim as what the paper says — so it is not used.
        Also tried and dropped: leading the citations with the best passage for the guide's
        question, sentences ranked by the question. Dev claims' must-mention rose (none 0.17 ->
        0.25, embedded 0.28 -> 0.36) but the public errata's fell (0.04 -> 0.00, 0.11 -> 0.08,
        evidence hit@5 0.60 -> 0.57): the guide's questions are broad ("briefly describe
        DINOv2's architecture"), and what answers them best is usually the introduction."""
        cited = judgement.passages[:CORRECTION_PASSAGES]
        if judgement.verdict == "supported":
            backing = judgement.passages[: max(1, judgement.supporting)]
            return "", [make_citation(n, p, judged_text) for n, p in enumerate(backing, start=1)]
        if not cited:
            lead = "論文中找不到相關內容。" if language == "zh-Hant" else "The papers have nothing on this."
            return lead, []
        text, citations = "", []
        if not isinstance(self.generator, NoGenerator):
            raw = self.generator.complete(
                prompts.correction_messages(
                    claim_for_judge(claim_text), judgement.verdict, cited, language, self.settings.context_char_budget
                ),
                max_tokens=200,
            )
            raw = to_traditional(raw) if language == "zh-Hant" else raw
            # Only what a passage backs, and none of the claim written back as the paper's word.
            raw = backed_sentences(raw, cited, self.retriever.index.lexical.idf,
                                   drop=lambda s: echoes_claim(s, claim_for_judge(claim_text), judged_text))
            text, citations = resolve_citations(raw, cited)
        if not citations:  # no LLM, or it cited nothing: the papers' own closest sentences
            raw = extractive_answer(judged_text, cited, language, self.retriever.index.lexical.idf, max_sentences=2)
            text, citations = resolve_citations(raw, cited)
        if not citations:  # no sentence shares a term with the claim: quote the best passage
            citations = [make_citation(1, cited[0], judged_text)]
            text = f"{'論文原文：' if language == 'zh-Hant' else 'The paper says:'} {citations[0].quote} [1]"
        # The rest of the evidence the verdict rests on, so a student can check it too.
        shown = {c.chunk_id for c in citations}
        for passage in judgement.passages:
            if passage.chunk.chunk_id not in shown:
                citations.append(make_citation(len(citations) + 1, passage, judged_text))
        return text, citations

    def check_claim(self, claim: Claim | str, topic: str | None = None) -> ClaimVerdict:
        if isinstance(claim, str):
            claim = Claim(question=0, text=claim, char_start=-1, char_end=-1)
        cached = self._cache_get(claim.text)
        if cached is not None:
            return _verdict_from_cache(claim, cached)
        judged_text = self.in_english(claim_for_judge(claim.text))
        passages = self.evidence(judged_text, topic)
        judgement = self.judge(judged_text, passages, original=claim_for_judge(claim.text))
        correction, citations = self.correction(claim.text, judged_text, judgement, detect_language(claim.text))
        result = ClaimVerdict(claim, judgement.verdict, correction, citations, judgement.support)
        self._cache_put(claim.text, result)
        return result

    # --- whole answers
    def check_question(self, number: int) -> QuestionCheck:
        answer = self.answer(number)
        return QuestionCheck(
            question=number,
            title=answer.question,
            claims=[self.check_claim(c, answer.topic) for c in self.claims(number)],
        )

    def check_questions(self, numbers: list[int], progress: bool = False) -> list[QuestionCheck]:
        iterator = tqdm(numbers, desc="checking the guide", unit="question") if progress else numbers
        return [self.check_question(n) for n in iterator]

    # --- cache by (claim, corpus, models)
    def _cache_key(self, claim_text: str) -> str:
        corpus = self.retriever.index.collection.name  # a new collection means a changed corpus
        identity = [CACHE_VERSION, claim_text, corpus, getattr(self.generator, "name", "?"),
                    *(getattr(self.settings, name) for name in VERDICT_SETTINGS)]
        return hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode()).hexdigest()

    def _cache_path(self, claim_text: str) -> Path:
        key = self._cache_key(claim_text)
        return Path(self.settings.check_cache) / key[:2] / f"{key}.json"

    def _cache_get(self, claim_text: str) -> dict | None:
        path = self._cache_path(claim_text)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _cache_put(self, claim_text: str, result: ClaimVerdict) -> None:
        path = self._cache_path(claim_text)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(_verdict_to_cache(result), ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)
        except OSError:
            pass  # a cache that can't be written only costs time


def _verdict_to_cache(result: ClaimVerdict) -> dict:
    return {
        "verdict": result.verdict,
        "correction": result.correction,
        "support": result.support,
        "citations": [
            {**c.to_json(), "section_number": c.section_number, "section_path": list(c.section_path)}
            for c in result.citations
        ],
    }


def _verdict_from_cache(claim: Claim, data: dict) -> ClaimVerdict:
    citations = [
        Citation(**{**c, "section_path": tuple(c.get("section_path", ()))}) for c in data["citations"]
    ]
    return ClaimVerdict(claim, data["verdict"], data["correction"], citations, data.get("support", 0.0))
