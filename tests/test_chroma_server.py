"""The same ingest/ask/check code against a real Chroma server (`chroma run`) on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app.assistant import Assistant
from ingest.pipeline import run_ingest
from studyguide.errors import BackendError

pytestmark = pytest.mark.server
CHROMA = Path(sys.executable).with_name("chroma")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    if not CHROMA.exists() and not shutil.which("chroma"):
        pytest.skip("the chroma CLI is not installed")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [str(CHROMA if CHROMA.exists() else "chroma"), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma server did not come up in 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_ingest_ask_check_through_the_server(chroma_server, fast_settings, tmp_path):
    settings = fast_settings.with_overrides(chroma_url=chroma_server, check_cache=tmp_path / "cache")
    first = run_ingest(settings, progress=False, allow_download=False)
    assert first.sync.added > 500
    again = run_ingest(settings, progress=False, allow_download=False)
    assert not again.sync.changed and again.sync.kept == first.sync.added

    assistant = Assistant(settings)
    answer = assistant.ask("How is the DINOv2 teacher updated during training?")
    assert not answer.abstained
    assert any(c.source == "DINOv2" for c in answer.citations)
    for c in answer.citations:
        assert c.quote in assistant.index.chunk(c.chunk_id).text

    checked = assistant.check(1)
    assert checked.claims and all(c.verdict in ("supported", "contradicted", "not_in_papers") for c in checked.claims)


def test_unreachable_server_is_a_clear_error(fast_settings):
    port = free_port()
    settings = fast_settings.with_overrides(chroma_url=f"http://127.0.0.1:{port}")
    with pytest.raises(BackendError, match=f"127.0.0.1:{port}"):
        Assistant(settings).ask("What is SAM?")
