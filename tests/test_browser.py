"""The real page in headless Chromium: `streamlit run` over the fast index, driven by Playwright.

Uses Debian's /usr/bin/chromium (no browser download). Prints first paint, the answer times
(cold first question, warm follow-up) and the screenshot's path, so CI logs show them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from studyguide.config import PROJECT_ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
APP = PROJECT_ROOT / "app" / "streamlit_app.py"
SCREENSHOT = PROJECT_ROOT / "artifacts" / "screenshots" / "chat.png"
QUESTION = "How is the DINOv2 teacher updated?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not answer {url} within {timeout_s:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def server(fast_settings, fast_index, tmp_path):
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    port = free_port()
    env = {
        **os.environ,
        "STUDYGUIDE_DB": str(fast_settings.db_dir),
        "STUDYGUIDE_EMBEDDER": "minilm",
        "STUDYGUIDE_GENERATOR": "none",
        "STUDYGUIDE_PRESET": "fast",
        "STUDYGUIDE_PAPERS_DIR": str(fast_settings.papers_dir),
        "STUDYGUIDE_CHECK_CACHE": str(fast_settings.check_cache),
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("STUDYGUIDE_CHROMA_URL", None)
    log = tmp_path / "streamlit.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP),
             "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_chat_answer_chip_and_highlighted_passage(server, fast_assistant, capsys):
    from playwright.sync_api import expect, sync_playwright

    quote = fast_assistant.ask(QUESTION).citations[0].quote
    first_sentence = quote.split(". ")[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            started = time.perf_counter()
            page.goto(server)
            box = page.get_by_test_id("stChatInputTextArea")
            box.wait_for(timeout=60_000)
            first_paint = time.perf_counter() - started

            box.fill(QUESTION)
            asked = time.perf_counter()
            box.press("Enter")
            chip = page.locator(".st-key-cite-0 button").first
            chip.wait_for(timeout=120_000)
            answer_time = time.perf_counter() - asked
            expect(chip).to_contain_text("[1] DINOv2")
            expect(page.locator(".st-key-guide-panel-0")).to_be_visible()

            chip.click()
            passage = page.locator(".st-key-passage-0")
            passage.wait_for(timeout=30_000)
            highlight = passage.locator("span.stMarkdownColoredBackground")
            expect(highlight.first).to_contain_text(first_sentence, timeout=30_000)
            assert page.get_by_test_id("stException").count() == 0

            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            # A follow-up: the models and index are warm now, so this is the steady-state time.
            box.fill("What momentum does it use?")
            asked = time.perf_counter()
            box.press("Enter")
            follow_chip = page.locator(".st-key-cite-1 button").first
            follow_chip.wait_for(timeout=120_000)
            warm_answer_time = time.perf_counter() - asked
            expect(follow_chip).to_contain_text("DINOv2")
        finally:
            browser.close()
    with capsys.disabled():
        print(f"\nscreenshot: {SCREENSHOT.resolve()}")
        print(f"first paint (page load -> chat input visible): {first_paint:.2f} s")
        print(f"answer time, first question (loads embedder + index): {answer_time:.2f} s")
        print(f"answer time, follow-up (warm): {warm_answer_time:.2f} s")
    assert SCREENSHOT.stat().st_size > 10_000
