"""Eval fixtures: a real index (EmbeddingGemma over the real papers) and the real generators.

The system under test is the same `Assistant` a user gets; gold files are read only here,
to score what it returns.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.assistant import Assistant
from ingest.embed import load_embedder
from ingest.pipeline import run_ingest
from studyguide.config import PROJECT_ROOT, available_papers_dir, load_settings

CASES = Path(__file__).resolve().parent / "cases"
REPORTS = PROJECT_ROOT / "artifacts" / "evals"
# Which generators to evaluate: `none` (extractive) always; the embedded LLM unless disabled.
GENERATORS = [g for g in os.environ.get("STUDYGUIDE_EVAL_GENERATORS", "none,embedded").split(",") if g]


def load_cases(name: str) -> list[dict]:
    return [json.loads(line) for line in (CASES / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def make_eval_settings():
    db = Path(os.environ.get("STUDYGUIDE_EVAL_DB", PROJECT_ROOT / ".studyguide" / "eval-db"))
    return load_settings(
        "default",
        db_dir=db,
        papers_dir=available_papers_dir(),
        check_cache=db.parent / "eval-check-cache",
        generator="none",
    )


@pytest.fixture(scope="session")
def eval_settings():
    return make_eval_settings()


@pytest.fixture(scope="session")
def shared_embedder(eval_settings):
    return load_embedder(eval_settings)


@pytest.fixture(scope="session")
def eval_index_settings(eval_settings, shared_embedder):
    # idempotent: warm runs write nothing
    run_ingest(eval_settings, progress=False, allow_download=False, embedder=shared_embedder)
    return eval_settings


@pytest.fixture(scope="session", params=GENERATORS)
def assistant(request, eval_index_settings, shared_embedder):
    settings = eval_index_settings.with_overrides(generator=request.param)
    if request.param == "embedded":
        from ingest.models import resolve_gguf

        resolve_gguf(settings)  # a missing model is a failure here, not a skip: CI fetches it
    # A fresh check cache per run: a verdict cached by an earlier code version must not score.
    return Assistant(settings.with_overrides(check_cache=settings.check_cache / f"run-{os.getpid()}"), embedder=shared_embedder)


@pytest.fixture(scope="session")
def report_dir() -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    return REPORTS
