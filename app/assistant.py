"""The one app API: the CLI, the Streamlit app and the evals all call `Assistant`."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property

from app.answer import Answerer, Draft
from app.conversation import detect_language, standalone_question
from app.retrieve import ChunkIndex, HybridRetriever
from studyguide.config import Settings
from studyguide.errors import UserError
from studyguide.types import Answer, QuestionCheck

MAX_QUESTION_CHARS = 4000


def validate_question(question: str) -> str:
    """The one check of a question's shape, before anything is loaded for it."""
    question = (question or "").strip()
    if not question:
        raise UserError("the question is empty; ask something about DINOv2, SAM or SAM 2")
    if len(question) > MAX_QUESTION_CHARS:
        raise UserError(
            f"the question is {len(question):,} characters; keep it under {MAX_QUESTION_CHARS:,} (ask one thing at a time)"
        )
    return question


class Assistant:
    """Loads each model and the index once, lazily; safe to share across UI sessions."""

    def __init__(self, settings: Settings, generator=None, embedder=None):
        self.settings = settings
        self._generator = generator
        self._embedder = embedder

    # --- parts, loaded on first use
    @cached_property
    def embedder(self):
        if self._embedder is not None:
            return self._embedder
        from ingest.embed import load_embedder

        return load_embedder(self.settings)

    @cached_property
    def index(self) -> ChunkIndex:
        return ChunkIndex.load(self.settings, self.embedder)

    @cached_property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(index=self.index, settings=self.settings)

    @cached_property
    def generator(self):
        if self._generator is not None:
            return self._generator
        from app.generators import make_generator

        return make_generator(self.settings)

    @cached_property
    def answerer(self) -> Answerer:
        return Answerer(self.settings, self.generator, self.index.lexical.idf, self.index.similarities)

    # --- following the index
    def _follow_active_index(self) -> None:
        """An ingest in another process switches the active collection and drops the one this
        Assistant loaded: notice it and load the new index instead of failing on the old one."""
        index = self.__dict__.get("index")
        if index is not None and index.store.active_name() != index.collection.name:
            self._drop_index()

    def _drop_index(self) -> None:
        for part in ("index", "retriever", "answerer", "checker"):  # everything built on it
            self.__dict__.pop(part, None)

    # --- asking
    def draft(self, question: str, history: list[dict] | None = None) -> Draft:
        question = validate_question(question)
        history = history or []
        from chromadb.errors import NotFoundError

        self._follow_active_index()
        try:
            return self._draft(question, history)
        except NotFoundError:  # the collection was dropped between the check and the query
            self._drop_index()
            return self._draft(question, history)

    def _draft(self, question: str, history: list[dict]) -> Draft:
        standalone = standalone_question(question, history)
        passages = self.retriever.passages(standalone)
        best = self.retriever.best_similarity(passages)
        reason = None
        unknown = self.index.lexical.unknown_terms(question)
        if unknown:  # a question about something the papers never name can't be answered from them
            reason = f"the papers never mention {', '.join(unknown)}"
        elif not passages or best < self.settings.abstain_min_similarity:
            reason = f"best passage similarity {best:.2f} is below {self.settings.abstain_min_similarity:.2f}"
        return Draft(
            question=question,
            standalone=standalone,
            language=detect_language(question),
            passages=passages,
            guide=self.retriever.guide_for(standalone),
            abstain_reason=reason,
        )

    def ask(self, question: str, history: list[dict] | None = None) -> Answer:
        _ = self.generator  # a dead generator server fails before the index is loaded
        draft = self.draft(question, history)  # may reload the index, so the answerer comes after
        return self.answerer.answer(draft)

    def ask_stream(self, question: str, history: list[dict] | None = None) -> tuple[Draft, Iterator[str]]:
        """The draft (passages known at once) and the answer's text pieces as they come;
        pass the joined text to `finish` for the cited Answer."""
        draft = self.draft(question, history)
        return draft, self.answerer.stream(draft)

    def finish(self, draft: Draft, raw_text: str) -> Answer:
        return self.answerer.finish(draft, raw_text)

    # --- checking the guide
    @cached_property
    def checker(self):
        from app.check import GuideChecker

        return GuideChecker(self.settings, self.retriever, self.generator)

    def check(self, question: int) -> QuestionCheck:
        self._follow_active_index()
        return self.checker.check_question(question)

    def check_many(self, questions: list[int], progress: bool = False) -> list[QuestionCheck]:
        self._follow_active_index()
        return self.checker.check_questions(questions, progress=progress)
