"""A LangChain `Embeddings` over sentence-transformers, with query/document prompts."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from langchain_core.embeddings import Embeddings
from tqdm import tqdm

from studyguide.config import Settings
from studyguide.errors import ModelError


def embedder_slug(name: str) -> str:
    """A Chroma-safe collection suffix naming the embedder (vectors of two models never mix)."""
    stem = name.rstrip("/").split("/")[-1].lower()
    return re.sub(r"[^a-z0-9]+", "-", stem).strip("-")[:40] or "embedder"


@contextmanager
def _transformers_progress(enabled: bool) -> Iterator[None]:
    """transformers draws a "Loading weights" bar on stderr even when it is not a terminal;
    without `show_progress` that bar would sit in front of the CLI's one-line messages."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if was_enabled and not enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled and not enabled:
            hf_logging.enable_progress_bar()


class SentenceTransformerEmbeddings(Embeddings):
    """Normalised vectors; EmbeddingGemma-style models get their query/document prompts."""

    def __init__(self, name: str, model_path: str, batch_size: int = 16, show_progress: bool = False):
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.slug = embedder_slug(name)
        self.batch_size = batch_size
        self.show_progress = show_progress
        try:
            with _transformers_progress(show_progress):
                self.model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
        except OSError as exc:
            raise ModelError(
                f"embedder {name!r} could not be loaded from {model_path} ({exc}); "
                "run `studyguide models fetch` or pass --embedder with a local model folder"
            ) from exc
        prompts = getattr(self.model, "prompts", {}) or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._document_prompt = "document" if "document" in prompts else None
        self._lock = threading.Lock()  # SentenceTransformer.encode is not re-entrant

    @property
    def dimension(self) -> int:
        return int(self.model.get_sentence_embedding_dimension())

    def _encode(self, texts: list[str], prompt_name: str | None) -> list[list[float]]:
        with self._lock:
            vectors = self.model.encode(
                texts,
                prompt_name=prompt_name,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out: list[list[float]] = []
        batches: Iterable[int] = range(0, len(texts), self.batch_size * 4)
        if self.show_progress and len(texts) > self.batch_size:
            batches = tqdm(batches, desc=f"embed ({self.name})", unit="batch", leave=False)
        for start in batches:
            out.extend(self._encode(texts[start : start + self.batch_size * 4], self._document_prompt))
        return out

    def embed_query(self, text: str) -> list[float]:
        return self._encode([text], self._query_prompt)[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Several queries in one forward pass (cheaper than one `embed_query` each)."""
        return self._encode(texts, self._query_prompt)


def load_embedder(settings: Settings, show_progress: bool = False) -> SentenceTransformerEmbeddings:
    from ingest.models import resolve_embedder

    path = resolve_embedder(settings.embedder, settings)
    return SentenceTransformerEmbeddings(
        settings.embedder, path, batch_size=settings.embed_batch_size, show_progress=show_progress
    )
