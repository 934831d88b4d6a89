"""Checking the guide: claims -> evidence -> verdict -> correction, cached per claim.

The decision (see ../shared/models.md for what was measured): a three-way prompt to the small
LLM is unreliable, so support is a binary probe whose P("Yes") is read from the logits — "is
the claim fully supported by this passage?" — over the best few passages, plus a key-term
check: a claim whose specific terms (model names, modules, datasets) appear in no retrieved
passage is not supported, however fluent. An unsupported claim of what a model can do is
`not_in_papers`; any other is `contradicted` when the evidence covers its terms (the papers
discuss it and say otherwise), else `not_in_papers`. A correction quotes the papers' sentences
closest to the question the claim answers (`GuideChecker.correction`). Without an LLM (`--generator none`)
similarity and term coverage stand in for the probe, which is weaker and said so in the README.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings
from tqdm import tqdm

from app import prompts
from app.citations import best_quote, make_citation, resolve_citations, sentence_spans
from app.claims import split_claims
from app.conversation import detect_language
from app.generators import Generator, NoGenerator
from app.glossary import expand_chinese_terms
from app.lexical import specific_terms, tokenize
from app.retrieve import HybridRetriever, mentioned_sources
from ingest.parse_guide import parse_guide_text, read_guide_text
from ingest.manifest import load_manifest
from studyguide.config import Settings
from studyguide.errors import UserError
from studyguide.types import Citation, Claim, ClaimVerdict, GuideAnswer, Passage, QuestionCheck, Verdict

CACHE_VERSION = 10
# Every setting a verdict depends on (which passages are retrieved, how they are judged): the
# cache key is built from these, so a changed one never serves a verdict made under another.
VERDICT_SETTINGS = ("embedder", "dense_k", "lexical_k", "rrf_k", "max_per_section", "overview_weight",
                    "abstain_min_similarity", "check_evidence_k", "support_threshold",
                    "support_threshold_no_llm", "contradiction_min_coverage")
# A correction quotes this many sentences; an unsupported verdict then
# cites every passage it was judged on, for the student to check what was looked at.
CORRECTION_SENTENCES = 3
# How a correction opens, by verdict and the guide's language; the paper's sentences follow.
CORRECTION_LEADS = {
    ("contradicted", "zh-Hant"): "論文的說法不同：",
    ("not_in_papers", "zh-Hant"): "論文沒有這樣說；最接近的段落寫的是：",
    ("contradicted", "en"): "The paper says otherwise:",
    ("not_in_papers", "en"): "The papers do not say this; the closest passages say:",
}
# Table rows, formulas and captions read as noise when quoted as "what the paper says".
_NOT_PROSE = re.compile(r"\$\$|\||^\s*(Table|Figure|Fig\.)\s*\d", re.IGNORECASE)
_BOLD = re.compile(r"\*\*")


@dataclass
class Judgement:
    verdict: Verdict
    support: float  # best support probability (or its no-LLM stand-in)
    passages: list[Passage]  # the passages the verdict rests on, best first
    supporting: int = 0  # how many of them clear the support threshold (a supported claim cites these)
    question: str | None = None  # the question the claim answers (asked for an unsupported claim)


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


def closest_sentences(query: str, passages: list[Passage], embedder: Embeddings, k: int) -> list[tuple[int, str]]:
    """The k prose sentences of the passages closest in meaning to `query`, best first, as
    (passage index, verbatim sentence); a sentence repeated by overlapping chunks counts once."""
    candidates: list[tuple[int, str]] = []
    seen: set[str] = set()
    for n, passage in enumerate(passages):
        text = passage.chunk.text
        for start, end in sentence_spans(text):
            sentence = text[start:end]
            if len(sentence) >= 40 and sentence not in seen and not _NOT_PROSE.search(sentence):
                seen.add(sentence)
                candidates.append((n, sentence))
    if not candidates:
        return []
    wanted = np.asarray(embedder.embed_query(query))
    similarity = np.asarray(embedder.embed_documents([s for _, s in candidates])) @ wanted
    return [candidates[i] for i in np.argsort(-similarity, kind="stable")[:k]]


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
        Nor, in the end, whether a judged passage answers the question the claim answers
        (`claim_question`; P("Yes") to "does the passage answer the question?" at least 0.85 ->
        contradicted): on the 19 unsupported dev claims it got 16 right where these rules get
        14 (dev accuracy 0.742 -> 0.806), but its window there was narrow (0.83-0.87), and on the
        public claims accuracy fell 0.633 -> 0.500 (not_in_papers 8 -> 5 of 9 right,
        contradicted 3 -> 2 of 10; 2026-12-04).
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

    def claim_question(self, judged_text: str) -> str | None:
        """The question the claim answers ("DINOv2 uses contrastive learning" -> "What type of
        loss is used in the training of DINOv2?"), or None without an LLM or when the reply is
        not a question (a small model sometimes answers instead of asking)."""
        if isinstance(self.generator, NoGenerator):
            return None
        reply = self.generator.complete(prompts.claim_question_messages(judged_text), max_tokens=40).strip()
        first = reply.splitlines()[0].strip() if reply else ""
        return first if first.endswith("?") and len(first) > 10 else None

    def correction(
        self, judged_text: str, judgement: Judgement, language: str, topic: str | None = None
    ) -> tuple[str, list]:
        """What the paper says instead, in the paper's own words: the sentences closest in
        meaning to the question the claim answers (`judgement.question`, asked by `assess`), from
        the judged passages and those retrieved for that question, quoted verbatim with their
        markers behind a one-line lead in the guide's language (see `closest_sentences`). Without
        an LLM the claim itself stands in for the question, over the judged passages only.

        Why the question: the sentences closest to a wrong claim are about the wrong thing, or
        are the paper's broad summary ("We can attribute the strong performance of the DINOv2
        family …"), while the question's passages hold the answer. On the 20 unsupported dev
        claims (judgements replayed, `evals/dev_replay.py`), must-mention 0.55 (claim, judged
        passages) -> 0.63 (question, judged passages) -> 0.77 (question, both sets; six claims
        up, none down); question + claim similarity 0.68, the question's passages alone 0.67
        and fewer gold sections cited (0.31 vs 0.63). One short generation, ~2 s. On the public
        claims must-mention went 0.158 -> 0.096-0.132 and evidence hit@5 0.767 -> 0.700-0.767
        in two runs (the quoted question passages come first among the citations).

        Tried and not kept (2026-12-04): comparing sentences without the model names, so that
        a question naming DINOv2 is not closest to "In this work, we present DINOv2 …" (dev
        0.675 -> 0.702 on 19 claims with the same questions; abstract and introduction
        sentences quoted 10 -> 6 of 57), but public must-mention 0.096 -> 0.070 and hit@5
        0.700 -> 0.667, under its guard.

        Not written by the LLM: on the 31 dev claims the 1.5B model's corrections were in English
        whatever the prompt asked, 12 of 21 said only "The paper(s) do not state / contradict
        this claim." and 3 wrote the guide's wrong claim back as the paper's word ("… the main use
        of contrastive learning loss"). Quoted sentences covered more of what a correction must
        mention (0.33 for the LLM's backed sentences), and are verbatim."""
        if judgement.verdict == "supported":
            backing = judgement.passages[: max(1, judgement.supporting)]
            return "", [make_citation(n, p, judged_text) for n, p in enumerate(backing, start=1)]
        if not judgement.passages:
            lead = "論文中找不到相關內容。" if language == "zh-Hant" else "The papers have nothing on this."
            return lead, []
        question = judgement.question
        candidates = list(judgement.passages)
        if question:
            judged_ids = {p.chunk.chunk_id for p in candidates}
            candidates += [p for p in self.evidence(question, topic) if p.chunk.chunk_id not in judged_ids]
        wanted = question or judged_text
        picked = closest_sentences(wanted, candidates, self.retriever.index.embedder, CORRECTION_SENTENCES)
        if not picked:  # no prose sentence at all (a table, a formula): quote the best passage
            picked = [(0, best_quote(candidates[0].chunk.text, wanted))]
        opening, closing = ("「", "」") if language == "zh-Hant" else ("\u201c", "\u201d")
        quoted = " ".join(f"{opening}{sentence}{closing} [{n + 1}]" for n, sentence in picked)
        text, citations = resolve_citations(f"{CORRECTION_LEADS[judgement.verdict, language]} {quoted}", candidates)
        # The rest of the evidence the verdict rests on, so a student can check it too.
        shown = {c.chunk_id for c in citations}
        for passage in judgement.passages:
            if passage.chunk.chunk_id not in shown:
                citations.append(make_citation(len(citations) + 1, passage, judged_text))
        return text, citations

    def assess(self, claim_text: str, topic: str | None = None) -> tuple[str, Judgement]:
        """The claim as judged (English when an LLM translated it) and its verdict, uncached:
        everything `check_claim` decides before the correction is written."""
        judged_text = self.in_english(claim_for_judge(claim_text))
        passages = self.evidence(judged_text, topic)
        judgement = self.judge(judged_text, passages, original=claim_for_judge(claim_text))
        if judgement.verdict != "supported" and judgement.passages:
            judgement.question = self.claim_question(judged_text)  # what the correction answers
        return judged_text, judgement

    def check_claim(self, claim: Claim | str, topic: str | None = None) -> ClaimVerdict:
        if isinstance(claim, str):
            claim = Claim(question=0, text=claim, char_start=-1, char_end=-1)
        cached = self._cache_get(claim.text)
        if cached is not None:
            return _verdict_from_cache(claim, cached)
        judged_text, judgement = self.assess(claim.text, topic)
        correction, citations = self.correction(judged_text, judgement, detect_language(claim.text), topic)
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
