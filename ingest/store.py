"""Chroma, on disk or on a server, holding one collection of chunks per embedder.

Writes go to a fresh staging collection that becomes active only when complete (the pointer
lives in the registry collection's metadata), so an ingest killed at any moment leaves the
previous index answering. Unchanged chunks are copied with their stored vectors, never
re-embedded; an unchanged corpus writes nothing at all.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from studyguide.config import Settings
from studyguide.errors import BackendError, UserError
from studyguide.types import Chunk

REGISTRY = "studyguide_registry"
_PREFIX = "sg_"
_PATH_SEP = " > "
_BATCH = 256


def chunk_to_metadata(chunk: Chunk) -> dict:
    meta = {
        "source": chunk.source,
        "kind": chunk.kind,
        "section": chunk.section,
        "section_number": chunk.section_number,
        "section_path": _PATH_SEP.join(chunk.section_path),
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
        "arxiv_id": chunk.arxiv_id,
        "content_hash": chunk.content_hash,
    }
    optional = {"page_start": chunk.page_start, "page_end": chunk.page_end, "guide_question": chunk.guide_question}
    meta.update({k: v for k, v in optional.items() if v is not None})  # Chroma stores no None
    return meta


def chunk_from_record(chunk_id: str, text: str, meta: dict) -> Chunk:
    return Chunk(
        chunk_id=chunk_id,
        source=meta["source"],
        kind=meta["kind"],
        text=text,
        section=meta["section"],
        section_number=meta.get("section_number", ""),
        section_path=tuple(meta["section_path"].split(_PATH_SEP)) if meta.get("section_path") else (),
        char_start=int(meta["char_start"]),
        char_end=int(meta["char_end"]),
        page_start=meta.get("page_start"),
        page_end=meta.get("page_end"),
        arxiv_id=meta.get("arxiv_id", ""),
        guide_question=meta.get("guide_question"),
        content_hash=meta.get("content_hash", ""),
    )


def open_client(settings: Settings):
    """PersistentClient for a folder, HttpClient for --chroma-url; nothing else differs."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise UserError(f"--chroma-url {settings.chroma_url!r} is not an http(s)://host:port URL")
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises plain ValueError/ConnectionError here
            raise BackendError(
                f"Chroma server at {settings.chroma_url} is not reachable ({exc.__class__.__name__}); "
                "start it with `chroma run --path DIR --port N` or drop --chroma-url"
            ) from exc
    db_dir = Path(settings.db_dir)
    if db_dir.exists() and not db_dir.is_dir():
        raise UserError(f"the index folder {db_dir} is a file, not a folder; pass --db with a folder")
    try:
        db_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the index folder {db_dir} ({exc.strerror}); pass --db DIR") from exc
    if not os.access(db_dir, os.W_OK):
        raise UserError(f"the index folder {db_dir} is not writable; pass --db with a writable folder")
    try:
        return chromadb.PersistentClient(path=str(db_dir), settings=chroma_settings)
    except Exception as exc:
        raise UserError(
            f"the index at {db_dir} cannot be opened ({exc.__class__.__name__}: {str(exc)[:120]}); "
            "move that folder aside and run `studyguide ingest`"
        ) from exc


@dataclass
class SyncReport:
    collection: str
    added: int
    removed: int
    kept: int
    seconds: float

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)


class ChunkStore:
    """The index for one embedder: read the active collection, replace it atomically."""

    def __init__(self, settings: Settings, embedder_slug: str):
        self.settings = settings
        self.slug = embedder_slug
        self.client = open_client(settings)
        try:
            self.registry = self.client.get_or_create_collection(REGISTRY)
        except Exception as exc:
            where = settings.chroma_url or settings.db_dir
            raise BackendError(
                f"the index at {where} cannot be read ({exc.__class__.__name__}: {str(exc)[:120]}); "
                "move it aside (or start the server) and run `studyguide ingest`"
            ) from exc

    # --- the active-collection pointer
    @property
    def _pointer_key(self) -> str:
        return f"active:{self.slug}"

    def active_name(self) -> str | None:
        meta = self.client.get_collection(REGISTRY).metadata or {}
        return meta.get(self._pointer_key)

    def _set_active(self, name: str) -> None:
        meta = dict(self.client.get_collection(REGISTRY).metadata or {})
        meta[self._pointer_key] = name
        meta[f"updated:{self.slug}"] = time.time()
        self.client.get_collection(REGISTRY).modify(metadata=meta)

    def active_collection(self):
        name = self.active_name()
        if name is None:
            return None
        return self.client.get_collection(name)

    def require_active(self):
        collection = self.active_collection()
        if collection is None:
            where = self.settings.chroma_url or self.settings.db_dir
            raise UserError(
                f"no index for embedder {self.slug!r} at {where}; run `studyguide ingest` first"
            )
        return collection

    # --- reading
    def count(self) -> int:
        collection = self.active_collection()
        return collection.count() if collection is not None else 0

    def all_chunks(self) -> list[Chunk]:
        collection = self.require_active()
        chunks: list[Chunk] = []
        total = collection.count()
        for offset in range(0, total, 1000):
            got = collection.get(include=["documents", "metadatas"], limit=1000, offset=offset)
            chunks.extend(
                chunk_from_record(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])
            )
        return chunks

    def vectorstore(self, embeddings):
        """The LangChain view of the active collection (similarity search, retrievers)."""
        from langchain_chroma import Chroma

        return Chroma(client=self.client, collection_name=self.require_active().name, embedding_function=embeddings)

    # --- writing
    def sync(
        self, chunks: list[Chunk], embed: Callable[[list[Chunk]], list[list[float]]], rebuild: bool = False
    ) -> SyncReport:
        """Make the active collection hold exactly `chunks`; `rebuild` re-embeds everything."""
        started = time.perf_counter()
        wanted = {c.chunk_id: c for c in chunks}
        old = self.active_collection()
        old_ids: set[str] = set(old.get(include=[])["ids"]) if old is not None else set()
        if rebuild:
            removed_on_rebuild, old_ids = len(old_ids), set()
        kept_ids = sorted(old_ids & wanted.keys())
        new_chunks = [c for cid, c in wanted.items() if cid not in old_ids]
        removed = removed_on_rebuild if rebuild else len(old_ids - wanted.keys())
        self._drop_stale_staging()  # even when nothing changed: a killed ingest's leftovers go
        if old is not None and not new_chunks and not removed:
            return SyncReport(old.name, 0, 0, len(kept_ids), time.perf_counter() - started)

        staging_name = f"{_PREFIX}{self.slug}_{int(time.time())}_{uuid.uuid4().hex[:6]}"
        staging = self.client.create_collection(
            staging_name, metadata={"hnsw:space": "cosine", "embedder": self.slug}
        )
        for start in range(0, len(kept_ids), _BATCH):
            batch = old.get(ids=kept_ids[start : start + _BATCH], include=["embeddings", "documents", "metadatas"])
            staging.add(
                ids=batch["ids"],
                embeddings=batch["embeddings"],
                documents=batch["documents"],
                metadatas=batch["metadatas"],
            )
        for start in range(0, len(new_chunks), _BATCH):
            batch_chunks = new_chunks[start : start + _BATCH]
            staging.add(
                ids=[c.chunk_id for c in batch_chunks],
                embeddings=embed(batch_chunks),
                documents=[c.text for c in batch_chunks],
                metadatas=[chunk_to_metadata(c) for c in batch_chunks],
            )
        self._set_active(staging_name)
        if old is not None:
            self.client.delete_collection(old.name)
        return SyncReport(staging_name, len(new_chunks), removed, len(kept_ids), time.perf_counter() - started)

    def _drop_stale_staging(self) -> None:
        """Collections left by a killed ingest: never active, safe to remove."""
        active = {v for k, v in (self.client.get_collection(REGISTRY).metadata or {}).items() if k.startswith("active:")}
        for collection in self.client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            if name.startswith(f"{_PREFIX}{self.slug}_") and name not in active:
                self.client.delete_collection(name)
