"""corpus/manifest.toml -> what to index."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from studyguide.errors import UserError
from studyguide.types import PaperSpec

SOURCE_NAMES = ("DINOv2", "SAM", "SAM 2")


@dataclass(frozen=True)
class ManifestPaper:
    spec: PaperSpec
    local_name: str  # file stem looked up in the papers folder ("dinov2" -> dinov2.pdf / dinov2.md)


@dataclass(frozen=True)
class Manifest:
    guide_path: Path
    guide_title: str
    papers: tuple[ManifestPaper, ...]

    def paper(self, short_name: str) -> ManifestPaper:
        return next(p for p in self.papers if p.spec.short_name == short_name)


def load_manifest(path: Path) -> Manifest:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{path}: manifest not found; pass --manifest or restore corpus/manifest.toml") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: malformed TOML ({exc}); fix the file or restore it from git") from exc
    try:
        guide = data["guide"]
        guide_path = (path.parent / guide["file"]).resolve()
        papers = []
        for entry in data["papers"]:
            spec = PaperSpec(
                short_name=str(entry["short_name"]),
                arxiv_id=str(entry["arxiv_id"]),
                version=str(entry.get("version", "")),
                title=str(entry["title"]),
            )
            papers.append(ManifestPaper(spec, str(entry.get("local_name", spec.arxiv_id))))
    except (KeyError, TypeError) as exc:
        raise UserError(
            f"{path}: manifest is missing {exc}; it needs [guide] file=… and [[papers]] entries "
            "with short_name, arxiv_id, version, title"
        ) from exc
    names = [p.spec.short_name for p in papers]
    unknown = [n for n in names if n not in SOURCE_NAMES]
    if unknown or len(set(names)) != len(names) or not papers:
        raise UserError(
            f"{path}: papers must be named exactly once each from {', '.join(SOURCE_NAMES)}; got {names}"
        )
    return Manifest(guide_path=guide_path, guide_title=str(guide.get("title", "")), papers=tuple(papers))
