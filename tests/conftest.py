"""Shared fixtures: a real Chroma index built once per session from the real papers with the
small MiniLM embedder (the `fast` preset), and an Assistant over it."""

from __future__ import annotations

import pytest

from studyguide.config import available_papers_dir, load_settings


@pytest.fixture(scope="session")
def fast_settings(tmp_path_factory):
    """`fast` preset pointed at a fresh on-disk index and check cache."""
    root = tmp_path_factory.mktemp("index")
    return load_settings(
        "fast",
        env={},
        db_dir=root / "chroma",
        papers_dir=available_papers_dir(),
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


@pytest.fixture(scope="session")
def qwen():
    """The embedded Qwen2.5-Coder-1.5B generator, loaded once (tests marked `llm` use it)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install '.[llm]')")
    from app.generators import make_generator
    from ingest.models import resolve_gguf
    from studyguide.errors import ModelError

    settings = load_settings(preset="fast", env={}, generator="embedded")
    try:
        resolve_gguf(settings)
    except ModelError:
        pytest.skip("the embedded Qwen2.5-Coder-1.5B GGUF is not fetched (run the model fetch first)")
    return make_generator(settings)
