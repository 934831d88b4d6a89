"""A cited PDF page as an image with the quote highlighted (Markdown sources have no pages)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from studyguide.config import Settings


def paper_pdf(settings: Settings, source: str) -> Path | None:
    """The PDF that ingest would have read for `source`, if there is one on disk."""
    from ingest.fetch import cache_path, local_candidates
    from ingest.manifest import load_manifest

    paper = load_manifest(settings.manifest_path).paper(source)
    candidates = local_candidates(paper.spec, paper.local_name, settings.papers_dir)
    candidates.append(cache_path(paper.spec, settings.download_cache))
    return next((p for p in candidates if p.suffix == ".pdf" and p.is_file()), None)


def page_png(settings: Settings, source: str, page: int, quote: str) -> bytes | None:
    path = paper_pdf(settings, source)
    return render_page(path, page, quote) if path else None


@lru_cache(maxsize=64)
def render_page(path: Path, page: int, quote: str, dpi: int = 110) -> bytes | None:
    import pymupdf

    with pymupdf.open(path) as doc:
        if not 1 <= page <= doc.page_count:
            return None
        pdf_page = doc[page - 1]
        # A whole quote rarely matches across the PDF's line breaks; its opening words usually do.
        for needle in (quote, " ".join(quote.split()[:8])):
            hits = pdf_page.search_for(needle) if needle.strip() else []
            if hits:
                for rect in hits:
                    pdf_page.add_highlight_annot(rect)
                break
        return pdf_page.get_pixmap(dpi=dpi).tobytes("png")
