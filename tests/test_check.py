"""Checking the guide: claim spans, verdict contract, cache, errata report (fast preset)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from app.claims import split_claims
from app.report import render_html, render_markdown
from ingest.parse_guide import parse_guide
from studyguide.cli import main

GUIDE = Path(__file__).resolve().parent.parent / "corpus" / "study_guide.md"


@pytest.fixture(scope="module")
def guide():
    return GUIDE.read_text(encoding="utf-8"), parse_guide(GUIDE)


def test_claims_are_exact_spans_of_the_guide(guide):
    text, answers = guide
    total = 0
    for answer in answers:
        for claim in split_claims(answer, text):
            assert text[claim.char_start : claim.char_end] == claim.text
            assert answer.char_start <= claim.char_start < claim.char_end <= answer.char_end
            total += 1
    assert total > 300


def test_compound_sentence_is_split_at_but(guide):
    text, answers = guide
    claims = [c.text for c in split_claims(answers[0], text)]
    assert "DINOv1和DINOv2都使用了對比學習（Contrastive Learning）的方法" in claims
    assert not any(c.endswith("：") for c in claims)  # list lead-ins are not claims
    assert not any(c.startswith("**數據增強策略") for c in claims)  # bullet labels are not claims


def test_check_question_contract_and_cache(fast_assistant):
    started = time.perf_counter()
    first = fast_assistant.check(1)
    cold = time.perf_counter() - started
    payload = first.to_json()
    assert payload["question"] == 1 and payload["title"].startswith("請簡述DINOv2")
    assert payload["claims"]
    for claim in payload["claims"]:
        assert set(claim) == {"text", "verdict", "correction", "citations"}
        assert claim["verdict"] in ("supported", "contradicted", "not_in_papers")
        for c in claim["citations"]:
            assert c["quote"] in fast_assistant.index.chunk(c["chunk_id"]).text
        if claim["verdict"] != "supported":
            assert claim["correction"]
    started = time.perf_counter()
    second = fast_assistant.check(1)
    assert second.to_json() == payload
    assert time.perf_counter() - started < max(0.5, cold / 3)


def test_generic_advice_is_not_supported(fast_assistant):
    result = fast_assistant.checker.check_claim("使用數據增強來避免過擬合是一個好方法。")
    assert result.verdict != "supported"


def test_report_escapes_and_lists_every_claim(fast_assistant):
    results = [fast_assistant.check(1)]
    md = render_markdown(results)
    assert "## 1. 請簡述DINOv2" in md and md.count("- **") == len(results[0].claims)
    html = render_html(results)
    assert html.count("<tr class=") == len(results[0].claims)
    assert "<script" not in html


def test_cli_check_json_and_report(fast_settings, fast_index, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("STUDYGUIDE_DB", str(fast_settings.db_dir))
    monkeypatch.setenv("STUDYGUIDE_PRESET", "fast")
    monkeypatch.setenv("STUDYGUIDE_CHECK_CACHE", str(fast_settings.check_cache))
    assert main(["check", "--question", "16", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["question"] == 16 and payload["claims"]
    out = tmp_path / "errata.html"
    assert main(["check", "--question", "16", "--format", "html", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert main(["check", "--question", "51", "--json"]) == 2
    assert "1 to 50" in capsys.readouterr().err


def _paper_passage(source: str, text: str) -> "Passage":
    from studyguide.types import Chunk, Passage

    return Passage(Chunk(f"{source}-1", source, "paper", text, "4 Model", "4", ("4 Model",), 0, len(text)), 1.0)


def test_a_models_own_name_is_not_missing_from_its_papers_passages():
    from app.check import missing_specific_terms

    sam2 = _paper_passage("SAM 2", "Our model propagates the prompt to all frames with a streaming memory.")
    # "SAM2" (the guide's spelling) names the paper the passage is from; "FPN" is nowhere
    assert missing_specific_terms("SAM2 uses an FPN to fuse features.", [sam2]) == ["FPN"]
    # a SAM passage does not stand in for SAM 2, nor the other way round
    sam = _paper_passage("SAM", "The image encoder runs once per image.")
    assert missing_specific_terms("SAM2 propagates prompts.", [sam]) == ["SAM2"]
    assert missing_specific_terms("SAM propagates prompts.", [sam2]) == ["SAM"]
    # only the name: the paper's artefacts must still be mentioned
    assert missing_specific_terms("SAM2 is trained on SA-V.", [sam2]) == ["SA-V"]


def test_claims_of_what_a_model_can_do_are_told_from_claims_of_what_it_is():
    from app.check import states_a_possibility

    assert states_a_possibility("DINOv2可以通過使用特徵金字塔網絡（FPN）來提取不同層次的特徵")
    assert states_a_possibility("SAM2能夠利用自然語言描述來輔助分割")
    assert states_a_possibility("", "DINOv2 can be combined with a text encoder.")
    assert not states_a_possibility("DINOv2在預訓練中使用了大量人工標註的類別標籤")
    assert not states_a_possibility("SAM2只能處理單張圖像，無法處理視頻。", "SAM 2 can only process single images.")
    assert not states_a_possibility("SAM 2 can't process video and cannot track objects.")


class _WordEmbedder:
    """Bag-of-words unit vectors over a fixed vocabulary: similarity is shared words."""

    vocabulary = ("cross-entropy", "student", "teacher", "loss", "contrastive", "images", "masks")

    def _vector(self, text: str) -> list[float]:
        words = text.lower().replace(".", " ").split()
        v = [float(words.count(w)) for w in self.vocabulary]
        norm = sum(x * x for x in v) ** 0.5 or 1.0
        return [x / norm for x in v]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]


def test_a_correction_quotes_the_closest_prose_sentences_once_and_verbatim():
    from app.check import closest_sentences

    dino = _paper_passage("DINOv2", (
        "We train on 142 million curated images without any labels at all. "
        "We use a cross-entropy loss between the student and the teacher prototype scores. "
        "Table 3 | cross-entropy loss | student | teacher | 81.1 | 82.3 |\n"
        "$$ L = - sum p_t log p_s (cross-entropy loss, student, teacher) $$"
    ))
    overlap = _paper_passage("DINOv2", "We use a cross-entropy loss between the student and the teacher prototype scores.")
    picked = closest_sentences("DINOv2 uses a contrastive loss between student and teacher.", [dino, overlap], _WordEmbedder(), 3)
    # the loss sentence first, said once though both chunks hold it; no table row, no formula
    assert [s for _, s in picked] == [
        "We use a cross-entropy loss between the student and the teacher prototype scores.",
        "We train on 142 million curated images without any labels at all.",
    ]
    assert picked[0][0] == 0 and all(s in dino.chunk.text for _, s in picked)


def test_an_unsupported_claims_correction_is_the_papers_words_behind_a_lead_in_its_language(fast_assistant):
    result = fast_assistant.checker.check_claim("SAM 2 只能處理單張圖像，無法處理影片。", "SAM 2")
    assert result.verdict != "supported"
    assert result.correction.startswith(("論文的說法不同：", "論文沒有這樣說"))
    quoted = re.findall(r"「(.+?)」", result.correction)
    assert 1 <= len(quoted) <= 3
    cited_text = " ".join(fast_assistant.index.chunk(c.chunk_id).text for c in result.citations)
    assert all(q in cited_text for q in quoted)  # the paper's words, verbatim
    assert re.findall(r"\[(\d+)\]", result.correction)[0] == "1"


@pytest.mark.llm
def test_a_correction_answers_the_question_the_claim_answers(fast_assistant, qwen):
    from app.check import GuideChecker, Judgement

    checker = GuideChecker(fast_assistant.settings, fast_assistant.retriever, qwen)
    claim = "The mask decoder of SAM outputs a single mask for each prompt."
    question = checker.claim_question(claim)
    assert question and question.endswith("?") and "mask" in question.lower()
    assert "single" not in question.lower()  # it asks; it does not repeat the claim's answer

    # The correction, whatever the judge's near-tie on this claim (0.72 against 0.70 seen on one
    # CPU): judged passages as `assess` finds them, the question as `assess` asks it.
    passages = checker.evidence(claim, "SAM")
    judgement = Judgement("contradicted", 0.3, passages, question=question)
    correction, citations = checker.correction(claim, judgement, "en", "SAM")
    quoted = re.findall("\u201c(.+?)\u201d", correction)
    cited_text = " ".join(fast_assistant.index.chunk(c.chunk_id).text for c in citations)
    assert quoted and all(q in cited_text for q in quoted)
    # what the paper says instead: several masks per prompt
    assert re.search(r"\bthree\b|\bmultiple\b", " ".join(quoted), re.IGNORECASE), quoted


class _ScriptedJudge:
    """A generator that answers the support probe with a fixed P("Yes") and counts the
    questions it is asked to write."""

    name = "scripted"

    def __init__(self, support: float):
        self.support = support
        self.questions_written = 0

    def stream(self, messages, max_tokens=None):
        yield self.complete(messages, max_tokens)

    def complete(self, messages, max_tokens=None):
        self.questions_written += 1
        return "What inputs can SAM 2 take?"

    def yes_probability(self, messages):
        return self.support


@pytest.mark.parametrize("support, asked", [(0.1, True), (0.95, False)])
def test_an_unsupported_claims_question_is_asked_once_and_answered_by_its_correction(fast_assistant, support, asked):
    from app.check import GuideChecker

    judge = _ScriptedJudge(support)
    checker = GuideChecker(fast_assistant.settings, fast_assistant.retriever, judge)
    judged, judgement = checker.assess("SAM 2 takes text prompts as input.", "SAM 2")
    assert (judgement.verdict != "supported") == asked
    assert judgement.question == ("What inputs can SAM 2 take?" if asked else None)
    correction, _ = checker.correction(judged, judgement, "en", "SAM 2")
    assert judge.questions_written == int(asked)  # the correction reuses the judgement's question
    assert bool(correction) == asked
