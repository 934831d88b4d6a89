"""Shared fixtures: a real Chroma index built once per session from the real papers with the
small MiniLM embedder (the `fast` preset), and an Assistant over it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studyguide.config import PROJECT_ROOT, load_settings

SHARED_PAPERS = PROJECT_ROOT.parent / "shared" / "papers"


def papers_dir() -> Path:
    if os.environ.get("STUDYGUIDE_PAPERS_DIR"):
        return Path(os.environ["STUDYGUIDE_PAPERS_DIR"])
    staged = PROJECT_ROOT / "corpus" / "papers"
    return staged if any(staged.glob("*.*")) else SHARED_PAPERS


@pytest.fixture(scope="session")
def fast_settings(tmp_path_factory):
    """`fast` preset pointed at a fresh on-disk index and check cache."""
    root = tmp_path_factory.mktemp("index")
    return load_settings(
        "fast",
        env={},
        db_dir=root / "chroma",
        papers_dir=papers_dir(),
        check_cache=root / "check-cache",
    )


@pytest.fixture(scope="session")
def fast_index(fast_settings):
    """Ingest once per session; returns the IngestReport."""
    from ingest.pipeline import run_ingest

    return run_ingest(fast_settings, progress=False, allow_download=False)


@pytest.fixture(scope="session")
def fast_assistant(fast_settings, fast_index):
    from app.assistant import Assistant

    return Assistant(fast_settings)
