"""Ingest into a real on-disk Chroma: counts per source, idempotent re-ingest, a changed source
replaces exactly its own chunks, and bad input leaves the index untouched."""

from __future__ import annotations

import shutil

import pytest

from ingest.embed import index_slug
from ingest.pipeline import run_ingest
from ingest.store import ChunkStore
from studyguide.errors import SourceError, UserError


def snapshot(settings):
    store = ChunkStore(settings, index_slug(settings))
    return store.active_name(), {c.chunk_id for c in store.all_chunks()}


def test_ingest_counts_every_source(fast_index):
    counts = {s.source: s.chunks for s in fast_index.sources}
    assert set(counts) == {"DINOv2", "SAM", "SAM 2", "guide"}
    assert counts["guide"] == 50
    assert all(counts[name] > 100 for name in ("DINOv2", "SAM", "SAM 2"))


def test_chunks_carry_addresses(fast_settings, fast_index):
    chunks = ChunkStore(fast_settings, index_slug(fast_settings)).all_chunks()
    papers = [c for c in chunks if c.kind == "paper"]
    assert {c.source for c in papers} == {"DINOv2", "SAM", "SAM 2"}
    ema = [c for c in papers if c.section == "EMA update for the teacher."]
    assert ema and ema[0].section_number == "B.1" and ema[0].arxiv_id == "2304.07193"
    guide = sorted((c for c in chunks if c.kind == "guide"), key=lambda c: c.guide_question)
    assert [c.guide_question for c in guide] == list(range(1, 51))


def test_reingest_unchanged_writes_nothing(fast_settings, fast_index):
    before = snapshot(fast_settings)
    again = run_ingest(fast_settings, progress=False, allow_download=False)
    assert not again.sync.changed
    assert again.sync.added == again.sync.removed == 0
    assert snapshot(fast_settings) == before  # same collection, same ids


@pytest.fixture
def private_corpus(fast_settings, fast_index, tmp_path):
    """A copy of the papers and of the index, so a test can change them."""
    papers = tmp_path / "papers"
    shutil.copytree(fast_settings.papers_dir, papers, ignore=shutil.ignore_patterns("source"))
    db = tmp_path / "chroma"
    shutil.copytree(fast_settings.db_dir, db)
    return fast_settings.with_overrides(papers_dir=papers, db_dir=db)


def test_changed_source_replaces_only_its_chunks(private_corpus):
    settings = private_corpus
    before_store = ChunkStore(settings, index_slug(settings))
    before = {c.chunk_id: c.source for c in before_store.all_chunks()}
    sam2 = settings.papers_dir / "sam2.md"
    sam2.write_text(sam2.read_text(encoding="utf-8") + "\n\n## 9 Extra\n\nA sentence added by a test about masklets.\n", encoding="utf-8")
    report = run_ingest(settings, progress=False, allow_download=False)
    after = {c.chunk_id: c.source for c in ChunkStore(settings, index_slug(settings)).all_chunks()}
    added = set(after) - set(before)
    removed = set(before) - set(after)
    assert added and {after[i] for i in added} == {"SAM 2"}
    assert {before[i] for i in removed} <= {"SAM 2"}
    assert report.sync.added == len(added) and report.sync.removed == len(removed)


@pytest.mark.parametrize(
    "breakage, error",
    [
        ("missing", SourceError),
        ("empty", SourceError),
        ("no_headings", SourceError),
        ("bad_utf8", SourceError),
        ("random_pdf", SourceError),
    ],
)
def test_bad_paper_leaves_index_untouched(private_corpus, breakage, error):
    settings = private_corpus
    before = snapshot(settings)
    target = settings.papers_dir / "sam.md"
    if breakage == "missing":
        target.unlink()
    elif breakage == "empty":
        target.write_text("")
    elif breakage == "no_headings":
        target.write_text("plain text without any heading\n")
    elif breakage == "bad_utf8":
        target.write_bytes(b"## 1 Intro\n\xff\xfe\xfa")
    elif breakage == "random_pdf":
        target.unlink()
        (settings.papers_dir / "sam.pdf").write_bytes(b"\x00\x13garbage" * 100)
    with pytest.raises(error) as excinfo:
        run_ingest(settings, progress=False, allow_download=False)
    assert "\n" not in str(excinfo.value)
    assert snapshot(settings) == before


def test_malformed_manifest(private_corpus, tmp_path):
    manifest = tmp_path / "manifest.toml"
    manifest.write_text("[guide\nfile = ")
    with pytest.raises(UserError, match="malformed TOML"):
        run_ingest(private_corpus.with_overrides(manifest_path=manifest), progress=False, allow_download=False)
    manifest.write_text('[guide]\nfile = "x.md"\n[[papers]]\nshort_name = "SAM 3"\narxiv_id = "1"\ntitle = "t"\n')
    with pytest.raises(UserError, match="exactly once"):
        run_ingest(private_corpus.with_overrides(manifest_path=manifest), progress=False, allow_download=False)


def test_unwritable_db_dir(private_corpus, tmp_path):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    with pytest.raises(UserError, match="index folder"):
        run_ingest(private_corpus.with_overrides(db_dir=blocker / "db"), progress=False, allow_download=False)
