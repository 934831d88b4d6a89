"""`studyguide chat`: the Streamlit study tool over `app.assistant.Assistant`.

Tabs: Chat (streamed, cited answers; citation chips open the passage in context; the guide's
answer beside; follow-up suggestions), Guide (the 50 answers, checked claim by claim) and
Errata (the whole report, downloadable). Settings come from STUDYGUIDE_* env vars; the sidebar
can switch the generator. Nothing is loaded before it is needed, so the first paint is fast.
"""

from __future__ import annotations

import os

# Local-first: never reach the Hugging Face hub or Chroma telemetry from the UI process.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import itertools  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import streamlit as st  # noqa: E402

from app.ui_pdf import page_png  # noqa: E402
from app.ui_resources import SharedEmbedder, get_assistant, guide_answers, is_loaded, peek_assistant  # noqa: E402
from app.ui_text import (  # noqa: E402
    EXAMPLES,
    LABELS,
    LANGUAGES,
    TOPIC_LABEL,
    TOPICS,
    VERDICT_COLOR,
    VERDICT_TEXT,
    answer_md,
    chip_label,
    citation_header,
    escape_md,
    follow_up_questions,
    highlight_quote,
    highlighted,
    short,
    verdict_badge,
)
from ingest.parse_guide import topic_of  # noqa: E402
from studyguide.config import Settings, load_settings  # noqa: E402
from studyguide.errors import UserError  # noqa: E402
from studyguide.types import Answer, Citation, ClaimVerdict, GuideAnswer, QuestionCheck  # noqa: E402

if TYPE_CHECKING:  # the app stack is imported on first use, not before the first paint
    from app.assistant import Assistant

GENERATOR_CHOICES = ("embedded", "ollama", "openai", "none")


def L(key: str) -> str:  # noqa: N802 - short on purpose: it is on every label
    return LABELS[st.session_state.get("ui_lang", "zh")][key]


def lang() -> str:
    return st.session_state.get("ui_lang", "zh")


# --------------------------------------------------------------------------- errors


@contextmanager
def shown_errors():
    """A UserError is shown as its message; anything else as one line, never a traceback."""
    try:
        yield
    except UserError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 - the UI must stay up whatever a backend does
        st.error(f"{L('internal')}: {type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------- chat


def chat_tab(settings: Settings) -> None:
    state = st.session_state
    state.setdefault("history", [])  # [{"role", "content"}], exactly what `ask` takes
    state.setdefault("turns", [])  # [(question, Answer)] to redraw the conversation
    log = st.container()
    typed = st.chat_input(L("ask"), key="chat")
    question = typed if typed is not None else state.pop("queued", None)
    with log:
        if not state.turns and question is None:
            show_examples()
        last = len(state.turns) - 1
        for i, (asked, answer) in enumerate(state.turns):
            show_turn(settings, i, asked, answer, latest=i == last and question is None)
        if question is not None:
            ask_and_show(settings, question)


def queue_question(text: str) -> None:
    st.session_state["queued"] = text


def show_examples() -> None:
    st.caption(L("try"))
    row = st.container(horizontal=True)  # a row that wraps, unlike columns that squeeze long labels
    for example in EXAMPLES:
        row.button(escape_md(example), key=f"example-{example}", on_click=queue_question, args=(example,))


def ask_and_show(settings: Settings, question: str) -> None:
    state = st.session_state
    if question.strip():
        with st.chat_message("user"):
            st.markdown(escape_md(short(question, 600)))
    with st.chat_message("assistant"):
        with shown_errors():
            answer = stream_answer(get_assistant(settings), question)
            state.turns.append((question, answer))
            state.history += [
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer.answer},
            ]
            show_answer(settings, len(state.turns) - 1, answer, latest=True)


def stream_answer(assistant: Assistant, question: str) -> Answer:
    """Show the text as it is generated, then clear it for the cited answer from `finish`."""
    live = st.empty()
    with live.container():
        wait = L("searching") if is_loaded(assistant, "retriever") else L("first_load")
        with st.spinner(wait):
            draft, pieces = assistant.ask_stream(question, st.session_state.history)
        pieces = iter(pieces)
        with st.spinner(L("writing")):  # an LLM reads the whole prompt before its first word
            first = next(pieces, "")
        raw: list[str] = []
        st.write_stream(_escaped(itertools.chain([first], pieces), raw))
    answer = assistant.finish(draft, "".join(raw))
    live.empty()
    return answer


def _escaped(pieces: Iterator[str], raw: list[str]) -> Iterator[str]:
    """Model text is untrusted: show it escaped while keeping the raw text for `finish`."""
    for piece in pieces:
        raw.append(piece)
        yield escape_md(piece)


def show_turn(settings: Settings, i: int, question: str, answer: Answer, latest: bool) -> None:
    with st.chat_message("user"):
        st.markdown(escape_md(short(question, 600)))
    with st.chat_message("assistant"):
        show_answer(settings, i, answer, latest)


def show_answer(settings: Settings, i: int, answer: Answer, latest: bool) -> None:
    body, side = st.columns([3, 2], gap="medium")
    with body:
        if answer.standalone_question != answer.question:
            st.caption(f"{L('understood')}: {escape_md(short(answer.standalone_question, 240))}")
        if answer.abstained:
            st.info(escape_md(answer.answer), icon="🤷", title=L("abstained"))
        else:
            st.markdown(answer_md(answer.answer))
            show_citations(settings, i, answer.citations)
    with side:
        show_guide_panel(i, answer)
    if latest:
        show_follow_ups(i, answer)


def show_citations(settings: Settings, i: int, citations: list[Citation]) -> None:
    by_n = {c.n: c for c in citations}
    picked = st.pills(
        L("sources"), list(by_n), format_func=lambda n: escape_md(chip_label(by_n[n])),
        key=f"cite-{i}", wrap=True,  # wrap: a chip row must never hide a source off-screen
    )
    if picked in by_n:
        with shown_errors():  # one unreadable passage must not hide the rest of the conversation
            show_passage(settings, i, by_n[picked])


def show_passage(settings: Settings, i: int, citation: Citation) -> None:
    chunk = get_assistant(settings).index.chunk(citation.chunk_id)
    with st.container(border=True, key=f"passage-{i}"):
        st.caption(L("passage"))
        st.markdown(citation_header(citation, chunk.section_path if chunk else ()))
        if chunk is None:
            st.warning(L("missing_chunk"))
            st.markdown("> " + escape_md(citation.quote))
            return
        st.markdown(highlight_quote(chunk.text, citation.quote))
        if chunk.page_start is not None:
            png = page_png(settings, chunk.source, chunk.page_start, citation.quote)
            if png:
                st.image(png, caption=f"{chunk.source}, p. {chunk.page_start}")


def show_guide_panel(i: int, answer: Answer) -> None:
    with st.container(border=True, key=f"guide-panel-{i}"):
        st.markdown(f"**📘 {L('guide_says')}**")
        if not answer.guide:
            st.caption(L("guide_none"))
        for excerpt in answer.guide:
            st.caption(f"{L('guide_q')} {excerpt.question}")
            st.markdown(highlighted(excerpt.excerpt, strip_bold=True))
            st.button(
                L("open_in_guide"), key=f"to-guide-{i}-{excerpt.question}",
                on_click=open_in_guide, args=(excerpt.question,),
            )


def open_in_guide(number: int) -> None:
    st.session_state.update(tab=L("tab_guide"), guide_topic=topic_of(number), guide_q=number)


def show_follow_ups(i: int, answer: Answer) -> None:
    questions = follow_up_questions(answer)
    if not questions:
        return
    st.caption(L("follow_ups"))
    row = st.container(horizontal=True)
    for j, q in enumerate(questions):
        row.button(escape_md(q), key=f"follow-{i}-{j}", on_click=queue_question, args=(q,))


# --------------------------------------------------------------------------- guide


def guide_tab(settings: Settings) -> None:
    answers = guide_answers(settings)
    st.session_state.setdefault("guide_topic", TOPICS[0])  # state, not `default=`: open_in_guide sets it
    topic = st.segmented_control(
        L("topic"), TOPICS, format_func=TOPIC_LABEL[lang()].get, key="guide_topic",
        required=True, on_change=_first_of_topic, args=(answers,),
    )
    numbers = [a.number for a in answers if a.topic == topic]
    if st.session_state.get("guide_q") not in numbers:
        st.session_state["guide_q"] = numbers[0]
    number = st.selectbox(
        L("question"), numbers, key="guide_q", format_func=lambda n: f"{n}. {answers[n - 1].question}"
    )
    answer = answers[number - 1]
    st.subheader(f"{number}. {escape_md(answer.question)}")
    checks = st.session_state.setdefault("checks", {})
    key = (repr(settings), number)
    if st.button(L("check"), key=f"check-{number}", type="primary" if key not in checks else "secondary"):
        with shown_errors():
            checks[key] = check_with_progress(get_assistant(settings), answer)
    if key in checks:
        show_check(answer, checks[key])
    else:
        st.caption(L("unchecked"))
        st.markdown(highlighted(answer.text, strip_bold=True))


def _first_of_topic(answers: list[GuideAnswer]) -> None:
    topic = st.session_state.get("guide_topic")
    st.session_state["guide_q"] = next(a.number for a in answers if a.topic == topic)


def check_with_progress(assistant: Assistant, answer: GuideAnswer) -> QuestionCheck:
    """`assistant.check(n)` claim by claim, so a slow LLM shows progress and each verdict as it
    lands (a claim can take minutes on a laptop CPU; the checker caches each one)."""
    wait = L("checking") if is_loaded(assistant, "checker") else L("first_load")
    with st.spinner(wait):
        claims = assistant.checker.claims(answer.number)
    bar = st.progress(0.0)
    live = st.empty()  # the verdicts so far; cleared for the full view once all are in
    done = live.container()
    verdicts = []
    for k, claim in enumerate(claims):
        bar.progress(k / len(claims), text=L("checking_claim").format(n=k + 1, total=len(claims)))
        verdicts.append(assistant.checker.check_claim(claim, answer.topic))
        with done:
            show_claim(verdicts[-1])
    bar.empty()
    live.empty()
    return QuestionCheck(question=answer.number, title=answer.question, claims=verdicts)


def show_check(answer: GuideAnswer, check: QuestionCheck) -> None:
    counts = Counter(c.verdict for c in check.claims)
    st.markdown(" ".join(f"{verdict_badge(v, lang())} {counts[v]}" for v in VERDICT_TEXT["en"] if counts[v]))
    spans = [
        (c.claim.char_start - answer.char_start, c.claim.char_end - answer.char_start, VERDICT_COLOR[c.verdict])
        for c in check.claims
        if c.claim.char_start >= answer.char_start
    ]
    with st.container(border=True):
        st.caption(L("guide_answer"))
        st.markdown(highlighted(answer.text, spans, strip_bold=True))
    st.markdown(f"**{L('claims')}**")
    for k, verdict in enumerate(check.claims):
        show_claim(verdict, key=f"claim-{check.question}-{k}")


def show_claim(verdict: ClaimVerdict, key: str | None = None) -> None:
    """One claim, coloured by verdict, beside the correction and the paper's quote."""
    with st.container(border=True, key=key):
        left, right = st.columns(2, gap="medium")
        left.markdown(verdict_badge(verdict.verdict, lang()))
        left.markdown(highlighted(verdict.claim.text, strip_bold=True))
        if verdict.correction:
            right.markdown(f"**{L('correction')}:** {answer_md(verdict.correction)}")
        for citation in verdict.citations:
            right.markdown("> " + escape_md(" ".join(citation.quote.split())))
            right.caption(escape_md(chip_label(citation)))


# --------------------------------------------------------------------------- errata


def errata_tab(settings: Settings) -> None:
    from app.report import render_report

    st.caption(L("errata_intro"))
    topics = st.pills(
        L("errata_topics"), TOPICS, selection_mode="multi", default=list(TOPICS),
        format_func=TOPIC_LABEL[lang()].get, key="errata_topics",
    )
    numbers = [a.number for a in guide_answers(settings) if a.topic in topics]
    reports = st.session_state.setdefault("errata", {})
    key = (repr(settings), tuple(numbers))
    if st.button(L("build").format(n=len(numbers)), key="build-errata", type="primary", disabled=not numbers):
        with shown_errors():
            reports[key] = check_all(get_assistant(settings), numbers)
    results = reports.get(key)
    if not results:
        return
    markdown = render_report(results, "md")
    st.success(L("built").format(claims=sum(len(r.claims) for r in results), questions=len(results)))
    left, right = st.columns(2)
    left.download_button(L("download_md"), markdown, "errata.md", "text/markdown", key="dl-md")
    right.download_button(L("download_html"), render_report(results, "html"), "errata.html", "text/html", key="dl-html")
    st.caption(L("report_source"))
    # Shown as source, not rendered: the report quotes papers whose Markdown may hold remote images.
    st.code(markdown, language="markdown", wrap_lines=True, height=600)


def check_all(assistant: Assistant, numbers: list[int]) -> list[QuestionCheck]:
    bar = st.progress(0.0)
    results = []
    for k, number in enumerate(numbers, start=1):
        bar.progress((k - 1) / len(numbers), text=L("building").format(n=k, total=len(numbers), q=number))
        results.append(assistant.check(number))
    bar.empty()
    return results


# --------------------------------------------------------------------------- sidebar


def sidebar_controls() -> Settings:
    """Language and generator; the settings they imply (env vars first, then the choice)."""
    with st.sidebar:
        st.radio(L("language"), list(LANGUAGES), format_func=LANGUAGES.get, key="ui_lang", horizontal=True)
        base = load_settings()
        choices = GENERATOR_CHOICES if base.generator in GENERATOR_CHOICES else (*GENERATOR_CHOICES, base.generator)
        st.session_state.setdefault("generator", base.generator)
        choice = st.selectbox(L("choose_generator"), choices, key="generator")
    return base if choice == base.generator else base.with_overrides(generator=choice)


def sidebar_status(settings: Settings) -> None:
    assistant = peek_assistant(settings)  # None until something needed it: report, don't load
    with st.sidebar:
        st.subheader(L("sidebar_models"))
        gen_loaded = assistant is not None and is_loaded(assistant, "generator")
        gen_name = assistant.generator.name if gen_loaded else settings.generator
        st.markdown(f"**{L('generator')}:** `{gen_name}` · {L('loaded') if gen_loaded else L('not_loaded')}")
        emb_loaded = SharedEmbedder(settings).loaded
        st.markdown(f"**{L('embedder')}:** `{settings.embedder}` · {L('loaded') if emb_loaded else L('not_loaded')}")
        st.subheader(L("index"))
        index_loaded = assistant is not None and is_loaded(assistant, "index")
        if index_loaded:
            index = assistant.index
            counts = Counter(c.source for c in index.papers)
            counts["guide"] = len(index.guide)
            st.markdown("\n".join(f"- {escape_md(src)}: {n} {L('chunks')}" for src, n in counts.items()))
        else:
            st.caption(L("index_not_loaded"))
        st.caption(escape_md(settings.chroma_url or str(settings.db_dir)))
        if not (gen_loaded and index_loaded) and st.button(L("load_now"), key="load-now"):
            with shown_errors(), st.spinner(L("first_load")):
                warm_up(get_assistant(settings))
                st.rerun()
        if st.session_state.get("turns") and st.button(L("clear"), key="clear-chat"):
            st.session_state.update(turns=[], history=[])
            st.rerun()


def warm_up(assistant: Assistant) -> None:
    """Load the index, the retriever and the generator now rather than on the first question."""
    assistant.retriever, assistant.generator  # noqa: B018 - cached properties: touching them loads


# --------------------------------------------------------------------------- page


def tab_labels() -> list[str]:
    """The tab labels in the UI language; the open tab survives a language switch."""
    keys = ("tab_chat", "tab_guide", "tab_errata")
    labels = [L(k) for k in keys]
    current = st.session_state.get("tab")
    for other in LABELS.values():
        if current not in labels and current in (names := [other[k] for k in keys]):
            st.session_state["tab"] = labels[names.index(current)]
    return labels


def main() -> None:
    st.set_page_config(page_title="studyguide", page_icon="📚", layout="wide")
    st.session_state.setdefault("ui_lang", "zh")
    try:
        settings = sidebar_controls()
    except UserError as exc:
        st.error(str(exc))
        return
    st.title(L("title"))
    st.caption(L("subtitle"))
    chat, guide, errata = st.tabs(tab_labels(), key="tab", on_change="rerun")
    # Only the open tab runs, and each builds the Assistant only when it needs it.
    if chat.open:
        with chat, shown_errors():
            chat_tab(settings)
    if guide.open:
        with guide, shown_errors():
            guide_tab(settings)
    if errata.open:
        with errata, shown_errors():
            errata_tab(settings)
    with shown_errors():
        sidebar_status(settings)  # last, so it reports what this run loaded


if __name__ == "__main__":  # `streamlit run` and AppTest run the file as __main__; tests may import it
    main()
