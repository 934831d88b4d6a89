"""What the Streamlit app keeps per process: one Assistant per settings, one embedder per model.

Everything here is lazy: building an Assistant loads nothing; its embedder, index and
generator load on first use, so the page paints before any model is read from disk.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from studyguide.config import Settings
from studyguide.types import GuideAnswer

if TYPE_CHECKING:  # importing the app stack takes ~1 s: not before the first paint
    from app.assistant import Assistant


@st.cache_resource(show_spinner=False)
def _embedders() -> tuple[dict, threading.Lock]:
    """The loaded embedders by model, shared by every Assistant and every session."""
    return {}, threading.Lock()


def _embedder_key(settings: Settings) -> tuple:
    return (settings.embedder, str(settings.model_cache), settings.embed_batch_size)


class SharedEmbedder:
    """Stands in for the embedder until first use, then forwards to the process-wide one.

    Switching the generator builds another Assistant; without this it would load the same
    embedder a second time.
    """

    def __init__(self, settings: Settings):
        self._settings = settings

    @property
    def loaded(self) -> bool:
        return _embedder_key(self._settings) in _embedders()[0]

    def __getattr__(self, name: str):
        models, lock = _embedders()
        key = _embedder_key(self._settings)
        with lock:  # two sessions asking at once must not load it twice
            if key not in models:
                from ingest.embed import load_embedder

                models[key] = load_embedder(self._settings)
        return getattr(models[key], name)


@st.cache_resource(show_spinner=False)
def _assistants() -> tuple[dict, threading.Lock]:
    return {}, threading.Lock()


def get_assistant(settings: Settings) -> Assistant:
    """One Assistant (so one generator and one index) per settings tuple, per process."""
    built, lock = _assistants()
    with lock:
        if repr(settings) not in built:
            from app.assistant import Assistant

            built[repr(settings)] = Assistant(settings, embedder=SharedEmbedder(settings))
    return built[repr(settings)]


def peek_assistant(settings: Settings) -> Assistant | None:
    """The Assistant for these settings if one was built already; never builds one."""
    return _assistants()[0].get(repr(settings))


def is_loaded(assistant: Assistant, part: str) -> bool:
    """Whether a lazily built part (a cached_property) exists yet; never triggers the load."""
    return part in vars(assistant)


@st.cache_resource(show_spinner=False)
def _guide_answers(path: str) -> list[GuideAnswer]:
    from ingest.parse_guide import parse_guide

    return parse_guide(Path(path))


def guide_answers(settings: Settings) -> list[GuideAnswer]:
    """The guide's 50 answers, parsed directly: going through `assistant.checker` would load the
    index and the LLM just to list the questions."""
    from ingest.manifest import load_manifest

    path = settings.guide_path or load_manifest(settings.manifest_path).guide_path
    return _guide_answers(str(path))
