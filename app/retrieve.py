"""Hybrid retrieval over the paper chunks: dense (Chroma) + BM25, fused by RRF, routed by the
model a question names, diversified across sections. Guide records are looked up separately:
they are what is being studied, never evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from app.glossary import english_view
from app.lexical import LexicalIndex
from ingest.embed import SentenceTransformerEmbeddings
from ingest.store import ChunkStore, chunk_to_metadata
from studyguide.config import Settings
from studyguide.types import Chunk, GuideExcerpt, Passage

# Names and artefacts that pin a question to one paper. "SAM" must not match "SAM 2"/"SAM2".
SOURCE_PATTERNS: dict[str, re.Pattern] = {
    "SAM 2": re.compile(r"\bSAM\s?-?\s?2(?!\d)|\bSA-V\b|\bHiera\b|\bmasklets?\b", re.IGNORECASE),
    "SAM": re.compile(r"\bSAM\b(?!\s?-?\s?2(?!\d))|\bSA-1B\b|Segment Anything Model(?!\s?2)", re.IGNORECASE),
    "DINOv2": re.compile(r"\bDINO(?:v2|v1)?\b|DINOv2|\bLVD-142M\b|\biBOT\b|\bKoLeo\b", re.IGNORECASE),
}
OFF_SOURCE_WEIGHT = 0.35  # a passage from a paper the question does not name still can win, rarely
# Sections that restate or survey rather than state: an introduction's roadmap ("Model (§3).")
# repeats a body section in one sentence, related work describes other papers' methods, the
# appendix's table of contents lists headings. They stay retrievable, but the body passage
# that states the same thing in full should rank, and be cited, first.
OVERVIEW_SECTIONS = re.compile(
    r"^(abstract|\d+ introduction|\d+ related work|\d+ conclusions?|appendix|table of contents:?)$", re.IGNORECASE
)
_CJK = re.compile(r"[\u3400-\u9fff]")
_GUIDE_NUMBER = re.compile(r"(?:question|Q|第)\s*(\d{1,2})\s*(?:題|题)?", re.IGNORECASE)


def dense_queries(query: str) -> list[str]:
    """The query itself, and for a Chinese question also its English view (see `english_view`)."""
    if not _CJK.search(query):
        return [query]
    english = english_view(query)
    return [query, english] if len(english.split()) >= 2 else [query]


def is_overview(chunk: Chunk) -> bool:
    return bool(chunk.section_path) and bool(OVERVIEW_SECTIONS.match(chunk.section_path[0]))


def mentioned_sources(text: str) -> list[str]:
    return [name for name, pattern in SOURCE_PATTERNS.items() if pattern.search(text)]


@dataclass
class ChunkIndex:
    """Everything retrieval needs in memory: chunk records, BM25, and the Chroma collection."""

    store: ChunkStore
    embedder: SentenceTransformerEmbeddings
    papers: list[Chunk]
    guide: list[Chunk]
    lexical: LexicalIndex

    @classmethod
    def load(cls, settings: Settings, embedder: SentenceTransformerEmbeddings) -> "ChunkIndex":
        store = ChunkStore(settings, embedder.slug)
        chunks = store.all_chunks()
        papers = sorted((c for c in chunks if c.kind == "paper"), key=lambda c: (c.source, c.char_start))
        guide = sorted((c for c in chunks if c.kind == "guide"), key=lambda c: c.guide_question or 0)
        return cls(store, embedder, papers, guide, LexicalIndex([f"{' '.join(c.section_path)} {c.text}" for c in papers]))

    def chunk(self, chunk_id: str) -> Chunk | None:
        return self._by_id.get(chunk_id)

    def __post_init__(self) -> None:
        self._by_id = {c.chunk_id: c for c in self.papers + self.guide}
        self._row = {c.chunk_id: i for i, c in enumerate(self.papers)}
        self.collection = self.store.require_active()

    def dense(self, query: str, k: int, kind: str = "paper") -> list[tuple[Chunk, float]]:
        return self.dense_many([query], k, kind)[0]

    def dense_many(self, queries: list[str], k: int, kind: str = "paper") -> list[list[tuple[Chunk, float]]]:
        """One ranked list of (chunk, cosine similarity) per query; the queries share one encode."""
        vectors = self.embedder.embed_queries(queries)
        got = self.collection.query(
            query_embeddings=vectors, n_results=k, where={"kind": kind}, include=["distances"]
        )
        return [
            [(self._by_id[cid], 1.0 - float(dist)) for cid, dist in zip(ids, distances) if cid in self._by_id]
            for ids, distances in zip(got["ids"], got["distances"])
        ]

    def similarities(self, texts: list[str], chunk_ids: list[str]) -> list[list[float]]:
        """Cosine similarity of each text (embedded as a query) to each stored chunk: how an
        answer sentence, in either language, matches the passages it may cite. The embedder
        stores and returns unit vectors, so the dot product is the cosine."""
        if not texts or not chunk_ids:
            return [[0.0] * len(chunk_ids) for _ in texts]
        stored = self.collection.get(ids=chunk_ids, include=["embeddings"])
        by_id = dict(zip(stored["ids"], stored["embeddings"]))
        width = len(next(iter(by_id.values()))) if by_id else 1
        # a chunk gone from the store (a re-ingest in between) matches nothing
        passages = np.asarray([by_id[i] if i in by_id else np.zeros(width) for i in chunk_ids], dtype=float)
        queries = np.asarray(self.embedder.embed_queries(texts), dtype=float)
        return (queries @ passages.T).tolist()


class HybridRetriever(BaseRetriever):
    """A LangChain retriever; `passages` is the typed call the app uses."""

    index: ChunkIndex
    settings: Settings

    model_config = {"arbitrary_types_allowed": True}

    def passages(self, query: str, k: int | None = None, sources: list[str] | None = None) -> list[Passage]:
        s = self.settings
        k = k or s.final_k
        fused: dict[str, Passage] = {}

        # `dense` stays the similarity to the question as asked: abstention reads it, and the
        # keyword-like English view would score unrelated passages higher.
        for view, ranked_list in enumerate(self.index.dense_many(dense_queries(query), s.dense_k)):
            for rank, (chunk, similarity) in enumerate(ranked_list):
                passage = fused.setdefault(chunk.chunk_id, Passage(chunk, 0.0, dense=similarity if view == 0 else None))
                passage.score += 1.0 / (s.rrf_k + rank + 1)
        lexical = self.index.lexical.scores(query)
        for rank, row in enumerate(lexical.argsort()[::-1][: s.lexical_k]):
            if lexical[row] <= 0:
                break
            chunk = self.index.papers[row]
            passage = fused.setdefault(chunk.chunk_id, Passage(chunk, 0.0))
            passage.score += 1.0 / (s.rrf_k + rank + 1)
            passage.lexical = float(lexical[row])

        for passage in fused.values():
            if is_overview(passage.chunk):
                passage.score *= s.overview_weight

        named = sources or mentioned_sources(query)
        if named:
            for passage in fused.values():
                if passage.chunk.source not in named:
                    passage.score *= OFF_SOURCE_WEIGHT

        ranked = sorted(fused.values(), key=lambda p: p.score, reverse=True)
        chosen: list[Passage] = []
        per_section: dict[tuple, int] = {}
        for passage in ranked:
            key = (passage.chunk.source, passage.chunk.section_path)
            if per_section.get(key, 0) >= s.max_per_section:
                continue
            per_section[key] = per_section.get(key, 0) + 1
            chosen.append(passage)
            if len(chosen) == k:
                break
        return chosen

    def best_similarity(self, passages: list[Passage]) -> float:
        return max((p.dense for p in passages if p.dense is not None), default=0.0)

    def guide_for(self, question: str) -> list[GuideExcerpt]:
        """The guide answer this question is about: by number if named, else the closest one."""
        number = _GUIDE_NUMBER.search(question)
        if number and 1 <= int(number.group(1)) <= len(self.index.guide):
            chunk = self.index.guide[int(number.group(1)) - 1]
        else:
            hits = self.index.dense(question, 1, kind="guide")
            if not hits or hits[0][1] < self.settings.abstain_min_similarity:
                return []
            chunk = hits[0][0]
        excerpt = chunk.text if len(chunk.text) <= 400 else chunk.text[:400].rstrip() + "…"
        return [GuideExcerpt(question=int(chunk.guide_question or 0), excerpt=excerpt)]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(
                page_content=p.chunk.text,
                id=p.chunk.chunk_id,
                metadata={**chunk_to_metadata(p.chunk), "score": p.score, "dense": p.dense},
            )
            for p in self.passages(query)
        ]
