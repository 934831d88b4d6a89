"""locate_paper and stage_papers against a real loopback server speaking the arXiv API.

The real `arxiv` client and real HTTP are used; only the endpoint is local.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pymupdf
import pytest

from ingest.fetch import cache_path, locate_paper, make_arxiv_client, stage_papers
from studyguide.errors import SourceError
from studyguide.types import PaperSpec

SPEC = PaperSpec(
    short_name="DINOv2",
    arxiv_id="2304.07193",
    version="v2",
    title="DINOv2: Learning Robust Visual Features without Supervision",
)
WANTED = "2304.07193v2"

_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"
      xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom">
  <link href="http://arxiv.org/api/query" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: id_list={ids}</title>
  <id>http://arxiv.org/api/test</id>
  <updated>2024-02-02T00:00:00-05:00</updated>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
  <opensearch:itemsPerPage>1</opensearch:itemsPerPage>
  {entries}
</feed>
"""

_ENTRY = """<entry>
    <id>http://arxiv.org/abs/{id}</id>
    <updated>2024-02-02T00:44:32Z</updated>
    <published>2023-04-14T17:59:41Z</published>
    <title>DINOv2: Learning Robust Visual Features
      without Supervision</title>
    <summary>The recent breakthroughs in natural language processing ...</summary>
    <author><name>Maxime Oquab</name></author>
    <author><name>Timothée Darcet</name></author>
    <link href="http://arxiv.org/abs/{id}" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://127.0.0.1:{port}/pdf/{id}" rel="related" type="application/pdf"/>
    <arxiv:primary_category term="cs.CV" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.CV" scheme="http://arxiv.org/schemas/atom"/>
  </entry>"""


def _pdf_bytes(text: str = "A small stand-in for the DINOv2 paper.") -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), text, fontsize=11)
    return doc.tobytes()


@dataclass
class FakeArxiv:
    """What the loopback server serves, and what it was asked."""

    port: int = 0
    known_ids: set[str] = field(default_factory=lambda: {WANTED})
    pdf_replies: list[tuple[int, bytes]] = field(default_factory=list)  # served first, in order
    pdf: bytes = field(default_factory=_pdf_bytes)
    hits: Counter = field(default_factory=Counter)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/query"

    def client(self):
        return make_arxiv_client(api_url=self.api_url, timeout_s=5, retries=1, delay_s=0)

    def feed(self, ids: list[str]) -> bytes:
        entries = [_ENTRY.format(id=i, port=self.port) for i in ids if i in self.known_ids]
        return _FEED.format(
            ids=",".join(ids), total=len(entries), entries="".join(entries)
        ).encode()


def _handler(state: FakeArxiv) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            url = urlsplit(self.path)
            if url.path == "/api/query":
                state.hits["api"] += 1
                ids = parse_qs(url.query).get("id_list", [""])[0].split(",")
                self._reply(200, state.feed(ids), "application/atom+xml")
            elif url.path.startswith("/pdf/"):
                state.hits["pdf"] += 1
                status, body = state.pdf_replies.pop(0) if state.pdf_replies else (200, state.pdf)
                self._reply(status, body, "application/pdf")
            else:
                self._reply(404, b"not found", "text/plain")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

    return Handler


@pytest.fixture()
def server() -> Iterator[FakeArxiv]:
    state = FakeArxiv()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture()
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    papers, cache = tmp_path / "papers", tmp_path / "cache"
    papers.mkdir()
    return papers, cache


def _locate(server: FakeArxiv, dirs: tuple[Path, Path], **kwargs) -> Path:
    papers, cache = dirs
    kwargs.setdefault("client", server.client())
    return locate_paper(SPEC, "dinov2", papers, cache, retries=1, backoff_s=0.01, **kwargs)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ----------------------------------------------------------------------------- download


def test_download_lands_in_the_cache_and_is_reused(server: FakeArxiv, dirs) -> None:
    papers, cache = dirs
    path = _locate(server, dirs)
    assert path == cache_path(SPEC, cache) == cache / "arxiv" / f"{WANTED}.pdf"
    assert path.read_bytes() == server.pdf
    assert server.hits == {"api": 1, "pdf": 1}
    assert list(path.parent.iterdir()) == [path]  # no temp files left behind

    again = _locate(server, dirs)
    assert again == path
    assert server.hits == {"api": 1, "pdf": 1}  # the second call never touched the network


def test_api_url_builds_the_default_client(server: FakeArxiv, dirs) -> None:
    papers, cache = dirs
    path = locate_paper(
        SPEC, "dinov2", papers, cache, api_url=server.api_url, timeout_s=5, retries=0
    )
    assert path.is_file() and server.hits == {"api": 1, "pdf": 1}


def test_transient_failure_is_retried(server: FakeArxiv, dirs) -> None:
    server.pdf_replies = [(503, b"busy")]
    path = _locate(server, dirs)
    assert path.read_bytes() == server.pdf
    assert server.hits["pdf"] == 2


def test_garbage_pdf_is_rejected_and_nothing_is_cached(server: FakeArxiv, dirs) -> None:
    papers, cache = dirs
    server.pdf = b"<html>Please log in to the hotel wifi</html>"
    with pytest.raises(SourceError) as caught:
        _locate(server, dirs)
    message = str(caught.value)
    assert "not a PDF" in message and "put dinov2.pdf or dinov2.md there" in message
    assert "\n" not in message
    assert server.hits["pdf"] == 2  # the first try and one retry
    assert not any(p.is_file() for p in cache.rglob("*"))


def test_damaged_cache_entry_is_downloaded_again(server: FakeArxiv, dirs) -> None:
    papers, cache = dirs
    target = cache_path(SPEC, cache)
    target.parent.mkdir(parents=True)
    target.write_bytes(_pdf_bytes()[:300])  # a download cut short
    assert _locate(server, dirs).read_bytes() == server.pdf
    assert server.hits == {"api": 1, "pdf": 1}


def test_unknown_paper_says_so(server: FakeArxiv, dirs) -> None:
    server.known_ids = set()
    with pytest.raises(SourceError, match=f"arXiv has no entry for {WANTED}"):
        _locate(server, dirs)


def test_server_down_advises_a_local_copy(dirs) -> None:
    papers, cache = dirs
    port = _closed_port()
    client = make_arxiv_client(api_url=f"http://127.0.0.1:{port}/api/query", retries=1, delay_s=0)
    with pytest.raises(SourceError) as caught:
        locate_paper(SPEC, "dinov2", papers, cache, client=client, retries=1, backoff_s=0.01)
    message = str(caught.value)
    assert message.startswith(f"no local copy of DINOv2 (arXiv {WANTED}) in {papers}")
    assert f"arXiv could not be reached (cannot connect to 127.0.0.1:{port})" in message
    assert "put dinov2.pdf or dinov2.md there" in message and "studyguide setup" in message
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))


def test_silent_server_times_out(dirs) -> None:
    papers, cache = dirs
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        port = sock.getsockname()[1]
        client = make_arxiv_client(
            api_url=f"http://127.0.0.1:{port}/api/query", timeout_s=0.3, retries=0, delay_s=0
        )
        with pytest.raises(SourceError, match=r"no answer from 127\.0\.0\.1:\d+ within 0\.3 s"):
            locate_paper(SPEC, "dinov2", papers, cache, client=client, retries=0)


def test_download_can_be_turned_off(server: FakeArxiv, dirs) -> None:
    with pytest.raises(SourceError, match="downloading is turned off; put dinov2.pdf or dinov2.md"):
        _locate(server, dirs, allow_download=False)
    assert server.hits == {}


# ----------------------------------------------------------------------------- local copies


@pytest.mark.parametrize("name", ["dinov2.pdf", f"{WANTED}.pdf", "2304.07193.pdf", "dinov2.md"])
def test_local_folder_wins_over_download(server: FakeArxiv, dirs, name: str) -> None:
    papers, _ = dirs
    local = papers / name
    local.write_bytes(_pdf_bytes("my own copy") if name.endswith(".pdf") else b"# DINOv2\n")
    assert _locate(server, dirs) == local
    assert server.hits == {}


def test_pdf_is_preferred_over_markdown(server: FakeArxiv, dirs) -> None:
    papers, _ = dirs
    (papers / "dinov2.md").write_text("# DINOv2\n")
    (papers / f"{WANTED}.pdf").write_bytes(_pdf_bytes())
    assert _locate(server, dirs) == papers / f"{WANTED}.pdf"


def test_broken_local_pdf_falls_back_to_markdown_or_is_reported(server: FakeArxiv, dirs) -> None:
    papers, _ = dirs
    (papers / "dinov2.pdf").write_bytes(b"not a pdf at all")
    with pytest.raises(SourceError, match=r"dinov2\.pdf: not a PDF .*put dinov2\.md next to it"):
        _locate(server, dirs)
    (papers / "dinov2.md").write_text("# DINOv2\n")
    assert _locate(server, dirs) == papers / "dinov2.md"
    assert server.hits == {}


# ----------------------------------------------------------------------------- staging


def test_stage_papers_copies_skips_and_replaces(tmp_path: Path, caplog) -> None:
    shared, papers = tmp_path / "shared", tmp_path / "corpus" / "papers"
    shared.mkdir()
    (shared / "dinov2.md").write_text("# DINOv2 full text\n")
    (shared / "sam.md").write_text("# SAM full text\n")
    (shared / "sam.pdf").write_bytes(_pdf_bytes("SAM"))
    (shared / "README.md").write_text("not a paper")

    written = stage_papers(shared, papers, ["dinov2", "sam"])
    assert sorted(p.name for p in written) == ["dinov2.md", "sam.md", "sam.pdf"]
    assert sorted(p.name for p in papers.iterdir()) == ["dinov2.md", "sam.md", "sam.pdf"]

    assert stage_papers(shared, papers, ["dinov2", "sam"]) == []  # identical: left alone

    (papers / "dinov2.md").write_text("# an older, edited copy\n")
    with caplog.at_level(logging.WARNING, logger="ingest.fetch"):
        written = stage_papers(shared, papers, ["dinov2", "sam"])
    assert written == [papers / "dinov2.md"]
    assert (papers / "dinov2.md").read_text() == "# DINOv2 full text\n"
    assert any(
        "replaced" in r.getMessage() and "dinov2.md" in r.getMessage() for r in caplog.records
    )
    assert not list(papers.glob(".*.part"))


def test_stage_papers_reports_what_is_missing(tmp_path: Path, caplog) -> None:
    shared, papers = tmp_path / "shared", tmp_path / "papers"
    shared.mkdir()
    with caplog.at_level(logging.WARNING, logger="ingest.fetch"):
        assert stage_papers(shared, papers, ["sam2"]) == []  # locate_paper may still find it
    assert "has neither sam2.pdf nor sam2.md" in caplog.text
    with pytest.raises(SourceError, match="no such folder"):
        stage_papers(tmp_path / "nowhere", papers, ["sam2"])


def test_stage_papers_refuses_a_broken_pdf(tmp_path: Path) -> None:
    shared, papers = tmp_path / "shared", tmp_path / "papers"
    shared.mkdir()
    (shared / "sam.pdf").write_bytes(b"%PDF-1.7\ntruncated")
    with pytest.raises(SourceError, match=r"sam\.pdf: the PDF is truncated"):
        stage_papers(shared, papers, ["sam"])
    assert not (papers / "sam.pdf").exists()
