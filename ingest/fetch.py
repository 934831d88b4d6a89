"""Where a paper's text comes from: the user's folder, then our download cache, then arXiv.

The user's own copy always wins, so an offline machine never needs the network. A download
is written to a temporary file next to the cache entry and renamed into place only once it
is a valid PDF, so a cut connection or a captive portal's HTML page never poisons the cache.
"""

from __future__ import annotations

import filecmp
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import arxiv
import requests

from ingest.parse_pdf import pdf_problem
from studyguide.errors import SourceError
from studyguide.types import PaperSpec

log = logging.getLogger(__name__)

ARXIV_API_URL = "https://export.arxiv.org/api/query"
_USER_AGENT = "studyguide/0.1 (local study assistant; uses arxiv.py)"
# The three papers are 5-30 MB; anything huge is wrong. A local or cached file bigger than
# this is refused before it is read, and a download stops at it.
MAX_PAPER_BYTES = 100 * 1024 * 1024
_MAX_PDF_BYTES = MAX_PAPER_BYTES
_CHUNK = 1 << 16


class _FetchError(Exception):
    """A failed look-up or download; `reached` says whether arXiv answered at all."""

    def __init__(self, reason: str, *, reached: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reached = reached


class _TimeoutSession(requests.Session):
    """A requests session with a default timeout: the arxiv package sends none."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout_s)
        return super().request(method, url, **kwargs)


# ----------------------------------------------------------------------------- public


def locate_paper(
    spec: PaperSpec,
    local_name: str,
    papers_dir: Path,
    download_cache: Path,
    *,
    allow_download: bool = True,
    client: arxiv.Client | None = None,
    api_url: str | None = None,
    timeout_s: float = 30.0,
    retries: int = 3,
    backoff_s: float = 1.0,
) -> Path:
    """The file to ingest for `spec`: a local PDF or Markdown, a cached PDF, or a fresh download.

    `api_url` points the default client at another arXiv API endpoint (tests use a loopback
    server); pass either it or a ready `client`. `retries` counts attempts after the first.
    """
    if client is not None and api_url is not None:
        raise ValueError("pass api_url or client, not both")
    local = find_local_copy(spec, local_name, papers_dir)
    if local is not None:
        return local
    cached = _valid_cached(cache_path(spec, download_cache))
    if cached is not None:
        return cached
    if not allow_download:
        raise SourceError(
            _no_copy_message(spec, local_name, papers_dir, "downloading is turned off")
        )
    try:
        return _download_paper(
            spec,
            download_cache,
            client=client,
            api_url=api_url,
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
        )
    except _FetchError as exc:
        problem = (
            f"the arXiv download failed ({exc.reason})"
            if exc.reached
            else f"arXiv could not be reached ({exc.reason})"
        )
        raise SourceError(_no_copy_message(spec, local_name, papers_dir, problem)) from exc


def local_candidates(spec: PaperSpec, local_name: str, papers_dir: Path) -> list[Path]:
    """File names accepted in the papers folder, best first: a PDF (it has pages), then Markdown."""
    versioned = f"{spec.arxiv_id}{spec.version}"
    return [
        papers_dir / f"{local_name}.pdf",
        papers_dir / f"{versioned}.pdf",
        papers_dir / f"{spec.arxiv_id}.pdf",
        papers_dir / f"{local_name}.md",
    ]


def find_local_copy(spec: PaperSpec, local_name: str, papers_dir: Path) -> Path | None:
    """The user's copy of the paper, or None.

    A broken local PDF is not skipped silently in favour of a download: the user put it
    there, so they hear about it, unless a Markdown copy can stand in.
    """
    broken: list[tuple[Path, str]] = []
    for path in local_candidates(spec, local_name, papers_dir):
        if not path.is_file():
            continue
        if path.suffix == ".md":
            for pdf, problem in broken:
                log.warning("%s: %s; using %s instead", pdf, problem, path.name)
            return path
        problem = _file_problem(path)
        if problem is None:
            return path
        broken.append((path, problem))
    if broken:
        pdf, problem = broken[0]
        raise SourceError(
            f"{pdf}: {problem}; replace it with the arXiv PDF, or delete it so the paper is "
            f"downloaded, or put {local_name}.md next to it"
        )
    return None


def cache_path(spec: PaperSpec, download_cache: Path) -> Path:
    return download_cache / "arxiv" / f"{spec.arxiv_id}{spec.version}.pdf"


def make_arxiv_client(
    *,
    api_url: str | None = None,
    timeout_s: float = 30.0,
    retries: int = 3,
    delay_s: float = 3.0,
) -> arxiv.Client:
    """An arxiv.Client with a request timeout; `delay_s` is arXiv's asked-for gap between calls."""
    client = arxiv.Client(page_size=1, delay_seconds=delay_s, num_retries=retries)
    # The package keeps its session private and calls it without a timeout; an unanswered
    # request would hang `studyguide setup` forever, so give it one.
    client._session = _TimeoutSession(timeout_s)
    if api_url:
        client.query_url_format = api_url if "{}" in api_url else api_url.rstrip("?") + "?{}"
    return client


def _download_paper(
    spec: PaperSpec,
    download_cache: Path,
    *,
    client: arxiv.Client | None = None,
    api_url: str | None = None,
    timeout_s: float = 30.0,
    retries: int = 3,
    backoff_s: float = 1.0,
) -> Path:
    """Ask arXiv for the paper's PDF link and download it into the cache (raises _FetchError)."""
    client = client or make_arxiv_client(api_url=api_url, timeout_s=timeout_s, retries=retries)
    url = _pdf_url(spec, client)
    target = cache_path(spec, download_cache)
    for attempt in range(retries + 1):
        try:
            _download(url, target, timeout_s)
            log.info(
                "downloaded %s (arXiv %s%s) to %s",
                spec.short_name,
                spec.arxiv_id,
                spec.version,
                target,
            )
            return target
        except _FetchError as exc:
            if attempt == retries:
                raise
            log.info("download of %s failed (%s); retrying", url, exc.reason)
            time.sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")


def stage_papers(source_dir: Path, papers_dir: Path, names: list[str]) -> list[Path]:
    """Copy `<name>.pdf` / `<name>.md` from a shared folder into the papers folder.

    Identical files are left alone; a differing file is replaced atomically and logged as a
    warning. Returns the files written (new or replaced). A name the folder lacks is only
    logged: `locate_paper` may still find or download it, and says what to do if not.
    """
    if not source_dir.is_dir():
        raise SourceError(f"{source_dir}: no such folder; pass the folder that holds the papers")
    try:
        papers_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceError(
            f"{papers_dir}: cannot create it ({exc.strerror}); check permissions"
        ) from exc
    written: list[Path] = []
    for name in names:
        sources = [
            p for p in (source_dir / f"{name}.pdf", source_dir / f"{name}.md") if p.is_file()
        ]
        if not sources:
            log.warning("%s has neither %s.pdf nor %s.md; not staged", source_dir, name, name)
        for source in sources:
            path = _stage_one(source, papers_dir / source.name)
            if path is not None:
                written.append(path)
    return written


# ----------------------------------------------------------------------------- helpers


def _no_copy_message(spec: PaperSpec, local_name: str, papers_dir: Path, problem: str) -> str:
    return (
        f"no local copy of {spec.short_name} (arXiv {spec.arxiv_id}{spec.version}) in {papers_dir} "
        f"and {problem}; put {local_name}.pdf or {local_name}.md there, or run "
        "`studyguide setup`, which stages the papers"
    )


def size_problem(path: Path) -> str | None:
    """Why a paper file is too big to read (checked before reading a byte of it), or None."""
    try:
        size = path.stat().st_size
    except OSError:
        return None  # the read that follows says what is wrong
    if size > MAX_PAPER_BYTES:
        return (
            f"the file is {size / 2**20:,.0f} MB, over the {MAX_PAPER_BYTES >> 20} MB limit "
            "for one paper (the arXiv files are 5-30 MB)"
        )
    return None


def _file_problem(path: Path) -> str | None:
    too_big = size_problem(path)
    if too_big:
        return too_big
    try:
        return pdf_problem(path.read_bytes())
    except OSError as exc:
        return f"cannot read it ({exc.strerror})"


def _valid_cached(path: Path) -> Path | None:
    """The cached PDF if it is sound; a damaged one is deleted so it is fetched again."""
    if not path.is_file():
        return None
    problem = _file_problem(path)
    if problem is None:
        return path
    log.warning("%s: %s; deleting it and downloading again", path, problem)
    try:
        path.unlink()
    except OSError as exc:
        raise SourceError(
            f"{path}: damaged cached download that cannot be deleted ({exc.strerror}); "
            "delete it by hand"
        ) from exc
    return None


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _describe(exc: requests.RequestException, url: str, timeout_s: float) -> _FetchError:
    """Turn a requests failure into one short reason (requests' own messages run to 300 chars)."""
    if isinstance(exc, requests.Timeout):
        return _FetchError(f"no answer from {_host(url)} within {timeout_s:g} s", reached=False)
    if isinstance(exc, requests.ConnectionError):
        return _FetchError(f"cannot connect to {_host(url)}", reached=False)
    return _FetchError(f"{type(exc).__name__} from {_host(url)}", reached=True)


def _pdf_url(spec: PaperSpec, client: arxiv.Client) -> str:
    """Look the paper up through the arXiv API and return its PDF link."""
    wanted = f"{spec.arxiv_id}{spec.version}"
    api = client.query_url_format.format("")
    search = arxiv.Search(id_list=[wanted], max_results=1)
    try:
        results = list(client.results(search))
    except arxiv.HTTPError as exc:
        raise _FetchError(
            f"the arXiv API at {_host(api)} answered HTTP {exc.status}", reached=True
        ) from exc
    except arxiv.ArxivError as exc:
        raise _FetchError(f"the arXiv API at {_host(api)}: {exc.message}", reached=True) from exc
    except requests.RequestException as exc:
        timeout = getattr(getattr(client, "_session", None), "timeout_s", 0.0)
        raise _describe(exc, api, timeout) from exc
    if not results:
        raise _FetchError(f"arXiv has no entry for {wanted}", reached=True)
    result = results[0]
    if result.get_short_id() != wanted:
        raise _FetchError(
            f"arXiv answered with {result.get_short_id()} instead of {wanted}", reached=True
        )
    return result.pdf_url or f"https://arxiv.org/pdf/{wanted}"


def _download(url: str, target: Path, timeout_s: float) -> None:
    """Fetch `url` into `target` atomically, keeping it only if it is a valid PDF."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
    except OSError as exc:
        raise SourceError(
            f"{target.parent}: cannot write the download cache ({exc.strerror}); check permissions"
        ) from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            _stream_to(url, out, timeout_s)
        problem = _file_problem(tmp)
        if problem:
            raise _FetchError(f"{url} did not send a valid PDF: {problem}", reached=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _stream_to(url: str, out, timeout_s: float) -> None:
    try:
        with requests.get(
            url, stream=True, timeout=timeout_s, headers={"User-Agent": _USER_AGENT}
        ) as response:
            if response.status_code != 200:
                raise _FetchError(f"HTTP {response.status_code} for {url}", reached=True)
            size = 0
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > _MAX_PDF_BYTES:
                    raise _FetchError(
                        f"{url} sent more than {_MAX_PDF_BYTES >> 20} MB", reached=True
                    )
                out.write(chunk)
    except requests.RequestException as exc:
        raise _describe(exc, url, timeout_s) from exc


def _stage_one(source: Path, target: Path) -> Path | None:
    """Copy one file unless an identical copy is there; returns the target if it was written."""
    if source.suffix == ".pdf":
        problem = _file_problem(source)
        if problem:
            raise SourceError(f"{source}: {problem}; replace it with the arXiv PDF or remove it")
    try:
        if target.is_file() and filecmp.cmp(source, target, shallow=False):
            log.debug("%s is already staged", target)
            return None
        replacing = target.exists()
        fd, tmp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part"
        )
        os.close(fd)
        try:
            shutil.copyfile(source, tmp_name)  # content only: the shared copies are read-only
            os.replace(tmp_name, target)
        finally:
            Path(tmp_name).unlink(missing_ok=True)
    except OSError as exc:
        raise SourceError(
            f"{target}: cannot stage it from {source} ({exc.strerror}); check permissions"
        ) from exc
    if replacing:
        log.warning("replaced %s: it differed from %s", target, source)
    else:
        log.info("staged %s", target)
    return target
