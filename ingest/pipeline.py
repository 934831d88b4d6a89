"""fetch -> parse -> chunk -> embed -> store, for the guide and the three papers."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from ingest.chunk import chunk_document, chunk_guide, embedding_text
from ingest.embed import SentenceTransformerEmbeddings, index_slug, load_embedder
from ingest.manifest import Manifest, ManifestPaper, load_manifest
from ingest.parse_guide import parse_guide_text, read_guide_text
from ingest.parse_markdown import parse_markdown
from ingest.store import ChunkStore, SyncReport
from studyguide.config import Settings
from studyguide.errors import SourceError, UserError
from studyguide.types import Chunk, ParsedDocument


@dataclass
class SourceReport:
    source: str
    origin: str
    format: str
    sections: int
    chunks: int


@dataclass
class IngestReport:
    embedder: str
    sources: list[SourceReport]
    sync: SyncReport
    seconds: float

    def summary_lines(self) -> list[str]:
        lines = [
            f"{s.source:7s} {s.format:8s} {s.sections:4d} sections {s.chunks:5d} chunks  <- {s.origin}"
            for s in self.sources
        ]
        state = "unchanged, nothing written" if not self.sync.changed else (
            f"added {self.sync.added}, removed {self.sync.removed}, kept {self.sync.kept}"
        )
        total = sum(s.chunks for s in self.sources)
        lines.append(f"index: {total} chunks with {self.embedder} ({state}) in {self.seconds:.1f} s")
        return lines


def parse_paper(path: Path, paper: ManifestPaper) -> ParsedDocument:
    from ingest.fetch import size_problem

    suffix = path.suffix.lower()
    too_big = size_problem(path)  # before any parser reads the whole file into memory
    if too_big:
        raise SourceError(f"{path}: {too_big}; replace it with the paper's PDF or Markdown full text")
    if suffix == ".pdf":
        from ingest.parse_pdf import parse_pdf

        return parse_pdf(path, paper.spec)
    if suffix in (".md", ".markdown"):
        return parse_markdown(path, paper.spec)
    raise SourceError(f"{path}: unsupported paper format {suffix!r}; use a PDF or a Markdown full text")


def collect_chunks(settings: Settings, manifest: Manifest, allow_download: bool = True) -> tuple[list[Chunk], list[SourceReport]]:
    """Everything to index, parsed fully before the store is touched (bad input writes nothing)."""
    from ingest.fetch import locate_paper

    chunks: list[Chunk] = []
    reports: list[SourceReport] = []
    for paper in manifest.papers:
        path = locate_paper(
            paper.spec,
            paper.local_name,
            settings.papers_dir,
            settings.download_cache,
            allow_download=allow_download,
        )
        doc = parse_paper(path, paper)
        doc_chunks = chunk_document(doc, settings.chunk_size, settings.chunk_overlap, settings.min_chunk_chars)
        if not doc_chunks:
            raise SourceError(f"{path}: no text to index after parsing; is it the right file?")
        chunks.extend(doc_chunks)
        reports.append(SourceReport(doc.source, str(path), doc.format, len(doc.sections), len(doc_chunks)))

    guide_path = settings.guide_path or manifest.guide_path
    guide_text = read_guide_text(guide_path)
    answers = parse_guide_text(guide_text, str(guide_path))
    guide_chunks = chunk_guide(answers, hashlib.sha256(guide_text.encode("utf-8")).hexdigest())
    chunks.extend(guide_chunks)
    reports.append(SourceReport("guide", str(guide_path), "guide", len(answers), len(guide_chunks)))
    return chunks, reports


def _lock_path(settings: Settings) -> Path:
    if settings.chroma_url:
        return settings.download_cache.parent / "ingest-server.lock"
    return Path(settings.db_dir).parent / f".{Path(settings.db_dir).name}.ingest.lock"


def run_ingest(
    settings: Settings,
    rebuild: bool = False,
    progress: bool = True,
    allow_download: bool = True,
    embedder: SentenceTransformerEmbeddings | None = None,
) -> IngestReport:
    """Parse everything first, then embed only what changed; pass `embedder` to reuse a loaded one."""
    started = time.perf_counter()
    manifest = load_manifest(settings.manifest_path)
    chunks, reports = collect_chunks(settings, manifest, allow_download=allow_download)

    if embedder is None:
        from ingest.models import resolve_embedder

        resolve_embedder(settings.embedder, settings)  # a missing model fails here, before any write
    loaded: list[SentenceTransformerEmbeddings] = [embedder] if embedder is not None else []

    def embed(batch: list[Chunk]) -> list[list[float]]:
        # Loaded on first use: an unchanged corpus (the common re-ingest) never pays for it.
        if not loaded:
            loaded.append(load_embedder(settings, show_progress=progress))
        return loaded[0].embed_documents([embedding_text(c) for c in batch])

    slug = embedder.slug if embedder is not None else index_slug(settings)
    store = ChunkStore(settings, slug)  # validates the db folder / server first
    lock_path = _lock_path(settings)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the ingest lock {lock_path} ({exc.strerror}); pass --db with a writable folder") from exc
    try:
        with FileLock(str(lock_path), timeout=1):
            sync = store.sync(chunks, embed, rebuild=rebuild)
    except Timeout as exc:
        raise UserError(
            f"another ingest is writing this index (lock {lock_path}); wait for it to finish and retry"
        ) from exc
    return IngestReport(settings.embedder, reports, sync, time.perf_counter() - started)
