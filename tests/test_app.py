"""The Streamlit app, run headless with AppTest over the real fast index (MiniLM, no LLM)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.ui_text import (
    LABELS,
    VERDICT_TEXT,
    answer_md,
    chip_label,
    escape_md,
    follow_up_questions,
    highlight_quote,
    highlighted,
)
from studyguide.config import PROJECT_ROOT
from studyguide.types import Answer, Citation

APP = str(PROJECT_ROOT / "app" / "streamlit_app.py")
QUESTION = "How is the DINOv2 teacher updated?"
EN = LABELS["en"]


def app_env(monkeypatch, settings) -> None:
    """Point the app at the session's fast index, the way `studyguide chat` passes settings."""
    monkeypatch.setenv("STUDYGUIDE_DB", str(settings.db_dir))
    monkeypatch.setenv("STUDYGUIDE_EMBEDDER", "minilm")
    monkeypatch.setenv("STUDYGUIDE_GENERATOR", "none")
    monkeypatch.setenv("STUDYGUIDE_PRESET", "fast")
    monkeypatch.setenv("STUDYGUIDE_PAPERS_DIR", str(settings.papers_dir))
    monkeypatch.setenv("STUDYGUIDE_CHECK_CACHE", str(settings.check_cache))
    monkeypatch.delenv("STUDYGUIDE_CHROMA_URL", raising=False)


@pytest.fixture
def at(fast_settings, fast_index, monkeypatch) -> AppTest:
    app_env(monkeypatch, fast_settings)
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["ui_lang"] = "en"
    app.run()
    assert not app.exception
    return app


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown] + [c.value for c in at.caption]


# --------------------------------------------------------------------------- chat


def test_question_gets_cited_answer_with_guide_panel(at):
    ask(at, QUESTION)
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    chips = at.pills(key="cite-0")
    assert chips.options, "no citation chips"
    assert chips.options[0].startswith(escape_md("[1] DINOv2 · "))
    assert any(f"**📘 {EN['guide_says']}**" == t for t in texts(at))
    assert any(":blue-badge[1]" in t for t in texts(at)), "the [1] marker is not a badge"
    assert at.button(key="follow-0-0").label.startswith("What does the DINOv2 paper say in")


def test_citation_chip_opens_the_passage_with_the_quote_highlighted(at, fast_assistant):
    ask(at, QUESTION)
    quote = fast_assistant.ask(QUESTION).citations[0].quote
    at.pills(key="cite-0").set_value(1).run()
    assert not at.exception
    passage = at.get_by_key("passage-0")
    shown = [m.value for m in passage.markdown]
    assert any(":orange-background[" in m and escape_md(quote.split(". ")[0]) in m for m in shown), shown


def test_follow_up_uses_history_and_cites_dinov2(at):
    ask(at, QUESTION)
    ask(at, "What momentum does it use?")
    assert len(at.session_state["history"]) == 4
    assert any(t.startswith(f"{EN['understood']}:") and "follow" in t for t in texts(at))
    follow_up = at.pills(key="cite-1")
    assert follow_up.options and all("DINOv2" in label for label in follow_up.options)
    assert [m.name for m in at.chat_message] == ["user", "assistant"] * 2


def test_suggested_follow_up_is_asked_when_clicked(at):
    ask(at, QUESTION)
    suggestion = at.button(key="follow-0-0")
    suggestion.click().run()
    assert not at.exception
    assert len(at.session_state["history"]) == 4
    assert at.session_state["history"][2]["content"].startswith("What does the DINOv2 paper say in")


@pytest.mark.parametrize("question, message", [("", "empty"), ("x" * 20_000, "20,000 characters")])
def test_bad_input_is_a_readable_error(at, question, message):
    ask(at, question)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert not at.exception
    assert at.session_state["history"] == []


def test_off_topic_question_abstains_plainly(at):
    ask(at, "What is the capital of France?")
    assert any("papers don't say" in i.value for i in at.info), [i.value for i in at.info]
    with pytest.raises(KeyError):
        at.pills(key="cite-0")


def test_zh_ui_and_zh_follow_ups(at):
    at.session_state["ui_lang"] = "zh"
    at.run()
    ask(at, "DINOv2 的教師網路如何更新？")
    assert any(f"**📘 {LABELS['zh']['guide_says']}**" == t for t in texts(at))
    assert at.button(key="follow-0-0").label.endswith("一節說了什麼？")


# --------------------------------------------------------------------------- guide and errata


def test_guide_browser_shows_verdicts(at):
    at.session_state["tab"] = EN["tab_guide"]
    at.run()
    assert at.segmented_control(key="guide_topic").value == "DINOv2"
    box = at.selectbox(key="guide_q")
    assert box.value == 1 and len(box.options) == 15
    assert any(EN["unchecked"] in c.value for c in at.caption)
    at.button(key="check-1").click().run()
    assert not at.exception
    verdicts = set(VERDICT_TEXT["en"].values())
    shown = " ".join(texts(at))
    assert any(v in shown for v in verdicts), "no verdict labels"
    assert at.get_by_key("claim-1-0") is not None
    assert any("-background[" in m.value for m in at.markdown), "claims are not coloured"


def test_guide_topics_group_the_questions(at):
    at.session_state["tab"] = EN["tab_guide"]
    at.run()
    at.segmented_control(key="guide_topic").set_value("SAM 2").run()
    assert not at.exception
    box = at.selectbox(key="guide_q")
    assert box.value == 31 and len(box.options) == 10


def test_guide_panel_opens_the_guide_tab(at):
    ask(at, QUESTION)
    to_guide = next(b for b in at.button if (b.key or "").startswith("to-guide-0-"))
    number = int(to_guide.key.rsplit("-", 1)[1])
    to_guide.click().run()
    assert not at.exception
    assert at.session_state["tab"] == EN["tab_guide"]
    assert at.selectbox(key="guide_q").value == number


def test_errata_tab_builds_and_offers_downloads(at):
    at.session_state["tab"] = EN["tab_errata"]
    at.run()
    assert at.button(key="build-errata").label == EN["build"].format(n=50)
    # All 50 take minutes without a warm cache; the flow is the same for one topic.
    at.pills(key="errata_topics").set_value(["SAM 2"]).run()
    assert at.button(key="build-errata").label == EN["build"].format(n=10)
    at.button(key="build-errata").click().run()
    assert not at.exception
    labels = {b.label for b in at.download_button}
    assert {EN["download_md"], EN["download_html"]} <= labels
    assert any("# Errata" in c.value for c in at.code)
    assert any("10 questions" in s.value for s in at.success), [s.value for s in at.success]


# --------------------------------------------------------------------------- sidebar and settings


def test_first_paint_loads_nothing(fast_settings, fast_index, monkeypatch, tmp_path):
    app_env(monkeypatch, fast_settings)
    monkeypatch.setenv("STUDYGUIDE_DB", str(tmp_path / "never-built"))  # a fresh settings tuple
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["ui_lang"] = "en"
    app.run()
    assert not app.exception
    sidebar = " ".join(m.value for m in app.sidebar.markdown) + " ".join(c.value for c in app.sidebar.caption)
    assert EN["not_loaded"] in sidebar and EN["index_not_loaded"] in sidebar
    assert not (tmp_path / "never-built").exists()


def test_sidebar_reports_models_and_index_after_a_question(at):
    ask(at, QUESTION)
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "`none`" in sidebar and "`minilm`" in sidebar and EN["loaded"] in sidebar
    assert "DINOv2:" in sidebar and "SAM 2:" in sidebar and "guide: 50" in sidebar


def test_switching_generator_builds_another_assistant_and_errors_readably(at, monkeypatch):
    from app import ui_resources

    monkeypatch.setenv("STUDYGUIDE_OLLAMA_URL", "http://127.0.0.1:9")  # nothing listens there
    at.selectbox(key="generator").set_value("ollama").run()
    ask(at, QUESTION)
    assert any("ollama" in e.value.lower() for e in at.error), [e.value for e in at.error]
    assert not at.exception
    assert len(ui_resources._embedders()[0]) == 1, "the embedder was loaded twice"
    at.selectbox(key="generator").set_value("none").run()
    ask(at, QUESTION)
    assert at.pills(key="cite-0").options


def test_bad_environment_is_a_readable_error(fast_settings, fast_index, monkeypatch):
    app_env(monkeypatch, fast_settings)
    monkeypatch.setenv("STUDYGUIDE_PRESET", "turbo")
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    assert any("unknown preset" in e.value for e in app.error)


# --------------------------------------------------------------------------- safe Markdown helpers


def test_untrusted_text_cannot_inject_markdown():
    hostile = "![x](http://evil/p.png) <script>alert(1)</script> :red[boom] $x$ **b** [l](http://e)"
    safe = escape_md(hostile)
    for raw in ("![", "](", ":red[", "$x$", "**", "[l]"):
        assert raw not in safe, raw
    assert "\\<script\\>" in safe  # shown as text (Streamlit never renders it as HTML anyway)


def test_highlight_spans_lines_and_keeps_bullets():
    text = "Intro line.\n- first bullet with **bold**\n    indented tail"
    start = text.index("first")
    md = highlighted(text, [(start, len(text), "green")], strip_bold=True)
    lines = md.split("\n\n")
    assert lines[0] == "Intro line\\."
    assert lines[1] == "- :green-background[first bullet with bold]"
    assert lines[2] == ":green-background[indented tail]"  # never a code block


def test_quote_highlight_and_answer_badges():
    chunk = "Before. The teacher is an EMA of the student. After [12] refs."
    md = highlight_quote(chunk, "The teacher is an EMA of the student.")
    assert md == "Before\\. :orange-background[The teacher is an EMA of the student\\.] After \\[12\\] refs\\."
    assert answer_md("It is an EMA [1]. See [2][3].") == "It is an EMA :blue-badge[1]\\. See :blue-badge[2]:blue-badge[3]\\."
    assert answer_md(r"momentum in \[0.994, 1.0\] [1]").endswith(":blue-badge[1]")
    assert answer_md("schedule. [1] [1] It is") == "schedule\\. :blue-badge[1] It is"


def _citation(n=1, section="4 Discriminative Self-supervised Pre-training", page=None):
    return Citation(n=n, source="DINOv2", arxiv_id="2304.07193", page=page, section=section, quote="q", chunk_id="c")


def test_chip_labels():
    assert chip_label(_citation(page=4)) == "[1] DINOv2 · 4 Discriminative Self-super… · p.4"
    assert chip_label(_citation(section="EMA update for the teacher.")) == "[1] DINOv2 · EMA update for the teacher"


def test_follow_ups_come_from_cited_sections():
    answer = Answer(question="q", standalone_question="q", language="en", answer="a [1]", abstained=False,
                    citations=[_citation(), _citation(2, "EMA update for the teacher."), _citation(3)])
    assert follow_up_questions(answer) == [
        "What does the DINOv2 paper say in “4 Discriminative Self-supervised Pre-training”?",
        "What does the DINOv2 paper say in “EMA update for the teacher”?",
    ]
    answer.language = "zh-Hant"
    assert follow_up_questions(answer)[1] == "DINOv2 論文的「EMA update for the teacher」一節說了什麼？"
    answer.abstained = True
    assert follow_up_questions(answer) == []


def test_pdf_page_render_highlights_the_quote(tmp_path):
    import pymupdf

    from app.ui_pdf import render_page

    path = tmp_path / "paper.pdf"
    with pymupdf.open() as doc:
        page = doc.new_page()
        page.insert_text((72, 72), "The teacher is an exponential moving average of the student.")
        doc.save(path)
    png = render_page(path, 1, "exponential moving average")
    assert png and png.startswith(b"\x89PNG")
    assert render_page(path, 9, "x") is None


def test_language_switch_keeps_the_open_tab(at):
    at.session_state["tab"] = EN["tab_guide"]
    at.run()
    at.sidebar.radio[0].set_value("zh").run()
    assert not at.exception
    assert at.session_state["tab"] == LABELS["zh"]["tab_guide"]
    assert at.selectbox(key="guide_q").label == LABELS["zh"]["question"]


def test_load_now_warms_the_models(fast_settings, fast_index, monkeypatch, tmp_path):
    app_env(monkeypatch, fast_settings)
    monkeypatch.setenv("STUDYGUIDE_CHECK_CACHE", str(tmp_path))  # a fresh settings tuple, same index
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["ui_lang"] = "en"
    at.run()
    at.button(key="load-now").click().run()
    assert not at.exception
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "guide: 50" in sidebar and EN["not_loaded"] not in sidebar
