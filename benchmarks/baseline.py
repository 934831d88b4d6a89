"""The baseline we compare against: the ten-line LangChain RAG tutorial, kept as plain as the
tutorial (raw Markdown in, fixed-size splits, one Chroma collection, top-k similarity).

Only the embedder is shared with studyguide, so the comparison measures what our parsing,
chunking and hybrid retrieval add, not a different model.
"""

from __future__ import annotations

from pathlib import Path

import chromadb
from chromadb.config import Settings as ChromaSettings
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_text_splitters import RecursiveCharacterTextSplitter


def build_baseline(papers_dir: Path, embedding: Embeddings, persist_dir: Path) -> Chroma:
    """One Document per paper (the .md file as it is), split 1000/200, embedded into Chroma."""
    docs = [
        Document(page_content=path.read_text(encoding="utf-8"), metadata={"source": str(path)})
        for path in sorted(Path(papers_dir).glob("*.md"))
        if path.name.lower() != "readme.md"  # the folder's notes are not a paper
    ]
    splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    # Telemetry off only because this machine is offline; otherwise the tutorial's defaults.
    client = chromadb.PersistentClient(str(persist_dir), settings=ChromaSettings(anonymized_telemetry=False))
    return Chroma.from_documents(splits, embedding=embedding, client=client)


def search(store: Chroma, question: str, k: int = 5) -> list[Document]:
    return store.similarity_search(question, k=k)
