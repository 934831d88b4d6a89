"""Cited answers over the real index (fast preset: MiniLM + extractive answers)."""

from __future__ import annotations

import json

import pytest

from app.answer import Answerer, Draft
from app.citations import attach_markers, corroborate_markers, resolve_citations
from app.conversation import detect_language, standalone_question
from app.retrieve import is_overview
from studyguide.cli import main
from studyguide.errors import UserError
from studyguide.types import Chunk, Passage

QUESTIONS = [
    "How is the DINOv2 teacher updated?",
    "What does SAM's mask decoder do?",
    "How many videos are in the SA-V dataset?",
    "DINOv2 的 KoLeo regularizer 是什麼？",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_quote_is_in_its_chunk(fast_assistant, question):
    answer = fast_assistant.ask(question)
    assert not answer.abstained and answer.citations
    for c in answer.citations:
        chunk = fast_assistant.index.chunk(c.chunk_id)
        assert c.quote and c.quote in chunk.text
        assert (c.source, c.section, c.arxiv_id) == (chunk.source, chunk.section, chunk.arxiv_id)
    numbers = [c.n for c in answer.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    assert all(f"[{n}]" in answer.answer for n in numbers)


def test_follow_up_retrieves_from_the_right_paper(fast_assistant):
    history = [
        {"role": "user", "content": "What regularizer does DINOv2 add to spread features out within a batch?"},
        {"role": "assistant", "content": "The KoLeo regularizer, derived from the Kozachenko-Leonenko estimator."},
    ]
    answer = fast_assistant.ask("What weight is it applied with?", history)
    assert answer.standalone_question != answer.question
    assert "KoLeo" in answer.standalone_question
    assert answer.citations and all(c.source == "DINOv2" for c in answer.citations)
    assert any("KoLeo" in c.section for c in answer.citations)


def test_standalone_question_left_alone_when_it_stands_alone():
    history = [{"role": "user", "content": "What is SAM?"}, {"role": "assistant", "content": "A model."}]
    question = "How many masks does SA-1B contain?"
    assert standalone_question(question, history) == question
    assert standalone_question("那 N 預設是多少？", [{"role": "user", "content": "SAM 2 的 memory bank 存了哪些東西？"}]).startswith("那 N")


def test_chinese_question_gets_english_evidence_from_the_right_section(fast_assistant):
    answer = fast_assistant.ask("DINOv2 的 teacher 是怎麼更新的？momentum 設多少？")
    assert answer.language == "zh-Hant"
    assert any(c.section == "EMA update for the teacher." for c in answer.citations)
    assert answer.answer.startswith("論文")


def test_unanswerable_question_abstains(fast_assistant):
    answer = fast_assistant.ask("What FPS does SAM 2 reach on an NVIDIA Jetson Orin?")
    assert answer.abstained and not answer.citations
    assert "don't say" in answer.answer


@pytest.mark.parametrize(
    "question, source",
    [
        ("What pre-training does the SAM image encoder use?", "SAM"),
        ("What image encoder does SAM 2 use?", "SAM 2"),
        ("SAM2 的 memory attention 是什麼？", "SAM 2"),
    ],
)
def test_sam_and_sam2_are_not_confused(fast_assistant, question, source):
    answer = fast_assistant.ask(question)
    assert answer.citations
    assert answer.citations[0].source == source
    assert sum(c.source == source for c in answer.citations) > len(answer.citations) / 2


def test_dangling_markers_are_stripped():
    chunk = Chunk("c1", "SAM", "paper", "The mask decoder is lightweight. It runs fast.", "Mask decoder.", "3",
                  ("3 Segment Anything Model", "Mask decoder."), 0, 46, arxiv_id="2304.02643")
    text, citations = resolve_citations("The decoder is lightweight [2][7]. It runs fast [2].", [Passage(chunk, 1.0), Passage(chunk, 0.5)])
    assert text == "The decoder is lightweight [1]. It runs fast [1]."
    assert [c.n for c in citations] == [1]
    assert citations[0].quote in chunk.text


def test_a_sentence_backed_by_two_passages_cites_both():
    def passage(cid, text, section):
        return Passage(Chunk(cid, "SAM 2", "paper", text, section, "", (section,), 0, len(text)), 1.0)

    method = passage("a", "The memory bank keeps the N most recent frames in a FIFO queue.", "4 Model")
    appendix = passage("b", "By default the memory bank holds N = 6 recent frames in a FIFO queue.", "A.2.1 Capacity ablations")
    unrelated = passage("c", "Annotators used SAM to label frames of the video.", "5.1 Data engine")
    idf = lambda term: 3.0  # noqa: E731
    text = corroborate_markers("The memory bank keeps recent frames in a FIFO queue [1].", [method, appendix, unrelated], idf)
    assert text == "The memory bank keeps recent frames in a FIFO queue [1][2]."
    # A sentence citing nothing is left alone: attaching markers to it is attach_markers' job.
    assert corroborate_markers("Frames are kept.", [method, appendix], idf) == "Frames are kept."


def test_simplified_answer_without_markers_is_cited_through_the_glossary(fast_settings):
    """The small model drifts to Simplified and forgets markers: the answer is converted before
    its sentences are matched to passages, because the glossary speaks Traditional."""

    def passage(cid, text, section):
        return Passage(Chunk(cid, "SAM 2", "paper", text, section, "C", (section,), 0, len(text)), 1.0)

    data = passage("a", "Annotators used SAM 2 in the loop to label frames of the video.", "5.1 Data engine")
    limits = passage("b", "The model may fail across shot changes and in crowded scenes.", "Appendix C Limitations")
    draft = Draft("SAM 2 在什麼情況下會失敗？", "SAM 2 在什麼情況下會失敗？", "zh-Hant", [data, limits], [], None)

    class Scripted:  # a generator is only called by `stream`; `finish` reads the given text
        name = "scripted"

    answer = Answerer(fast_settings, Scripted(), lambda term: 3.0).finish(draft, "它在镜头切换和拥挤场景中会失败。")
    assert [c.section for c in answer.citations] == ["Appendix C Limitations"]
    assert answer.answer == "它在鏡頭切換和擁擠場景中會失敗。 [1]"


def test_unmarked_sentence_is_attached_by_meaning_where_terms_barely_differ():
    """A Chinese sentence shares few words with the English passages (only through the
    glossary): the embedding similarity picks between passages its terms cannot tell apart."""

    def passage(cid, text, section):
        return Passage(Chunk(cid, "DINOv2", "paper", text, section, "B", (section,), 0, len(text)), 1.0)

    pretraining = passage("a", "We train at resolution 224 with a batch size of 3072.", "B.1 Unsupervised pre-training")
    adaptation = passage("b", "We increase the resolution to 518 for a short period at the end of training.", "B.2 High-Resolution adaptation")
    sentence = "訓練最後會提高解析度。"  # "resolution" and "training" are in both passages
    idf = lambda term: 3.0  # noqa: E731

    def similarity(sentences):
        return [[0.31, 0.62] for _ in sentences]

    assert attach_markers(sentence, [pretraining, adaptation], idf, min_score=2.0) == "訓練最後會提高解析度。 [1]"
    by_meaning = attach_markers(sentence, [pretraining, adaptation], idf, min_score=2.0, similarity=similarity, similarity_weight=0.7)
    assert by_meaning == "訓練最後會提高解析度。 [2]"
    # Similarity alone never grounds a sentence that shares no rare term with any passage.
    assert attach_markers("它很好。", [pretraining, adaptation], idf, min_score=2.0, similarity=similarity, similarity_weight=0.7) == "它很好。"


def test_similarities_rank_a_chunk_first_for_its_own_text(fast_assistant):
    index = fast_assistant.index
    chunks = [c for c in index.papers if c.source == "SAM 2"][:3]
    matrix = index.similarities([c.text for c in chunks], [c.chunk_id for c in chunks] + ["gone"])
    assert len(matrix) == 3 and all(len(row) == 4 for row in matrix)
    for i, row in enumerate(matrix):
        assert max(range(3), key=row.__getitem__) == i
        assert row[3] == 0.0  # a chunk no longer stored matches nothing


@pytest.mark.parametrize(
    "path, overview",
    [
        (("1 Introduction", "Model (§3)."), True),
        (("Abstract",), True),
        (("2 Related work",), True),
        (("Appendix", "Table of contents:"), True),
        (("3 Segment Anything Model", "Efficiency."), False),
        (("Appendix C Limitations",), False),
        (("8 Discussion", "Limitations."), False),
    ],
)
def test_overview_sections(path, overview):
    chunk = Chunk("c", "SAM", "paper", "text", path[-1], "", path, 0, 4)
    assert is_overview(chunk) is overview


def test_body_section_outranks_the_introductions_roadmap(fast_assistant):
    # SAM's introduction sums §4 up in one paragraph ("Data engine (§4).") that names the
    # stages; the student should be sent to the section that describes the first one in full.
    ranked = [p.chunk for p in fast_assistant.retriever.passages("How was the first stage of SAM's data engine annotated?")]
    body = next(i for i, c in enumerate(ranked) if c.section == "Assisted-manual stage.")
    assert all(i > body for i, c in enumerate(ranked) if is_overview(c))


def test_language_detection():
    assert detect_language("DINOv2 的 teacher 是怎麼更新的？") == "zh-Hant"
    assert detect_language("How is the DINOv2 teacher updated?") == "en"


def test_empty_and_huge_questions_are_refused(fast_assistant):
    with pytest.raises(UserError, match="empty"):
        fast_assistant.ask("   ")
    with pytest.raises(UserError, match="characters"):
        fast_assistant.ask("x" * 20_000)


@pytest.fixture
def cli_env(fast_settings, fast_index, monkeypatch):
    monkeypatch.setenv("STUDYGUIDE_DB", str(fast_settings.db_dir))
    monkeypatch.setenv("STUDYGUIDE_PRESET", "fast")
    monkeypatch.setenv("STUDYGUIDE_PAPERS_DIR", str(fast_settings.papers_dir))


def test_cli_ask_json_contract(cli_env, capsys):
    assert main(["ask", "How is the DINOv2 teacher updated?", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"question", "standalone_question", "language", "answer", "abstained", "citations", "guide"}
    assert payload["language"] == "en" and payload["abstained"] is False
    first = payload["citations"][0]
    assert set(first) == {"n", "source", "arxiv_id", "page", "section", "quote", "chunk_id"}
    assert first["source"] in ("DINOv2", "SAM", "SAM 2") and first["page"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["ask", ""], "empty"),
        (["ask", "x" * 20_000], "characters"),
        (["ask", "What is SAM?", "--history", "/nonexistent/history.json"], "not found"),
        (["--generator", "nonsense", "ask", "hi"], "invalid choice"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(cli_env, capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_cli_broken_history_file(cli_env, capsys, tmp_path):
    broken = tmp_path / "history.json"
    broken.write_text('[{"role": "user", "content": ')
    assert main(["ask", "And then?", "--history", str(broken)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    broken.write_text('{"role": "user"}')
    assert main(["ask", "And then?", "--history", str(broken)]) == 2
    assert "expected a JSON list" in capsys.readouterr().err
