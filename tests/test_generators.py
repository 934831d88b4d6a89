"""Generator backends over their real wire protocols.

Ollama and OpenAI-compatible servers are faked by small HTTP servers on 127.0.0.1 that speak
the real protocol (NDJSON / SSE streaming, logprobs), so langchain-ollama and langchain-openai
run unmodified. The `llm` test loads the real embedded Qwen GGUF.
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.generators import (
    EMBEDDED_NAME,
    Generator,
    NoGenerator,
    OllamaGenerator,
    OpenAIGenerator,
    make_generator,
    to_traditional,
)
from studyguide.config import Settings, load_settings
from studyguide.errors import BackendError, ModelError, UserError

PIECES = ["Hel", "lo, ", "wor", "ld!"]
MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello."},
]


def settings(**overrides: Any) -> Settings:
    """Settings from the preset only, so the developer's STUDYGUIDE_* env can't leak in."""
    return load_settings(preset="fast", env={}, **overrides)


# --------------------------------------------------------------------------- fake servers


class FakeServer:
    """A threaded HTTP server on a free port; handlers record requests into `requests`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.requests: list[tuple[str, str, dict]] = []
        self.gate = threading.Event()  # the streaming reply waits here after its first chunk
        self.released: bool | None = None
        self.logprobs = True  # OpenAI/Ollama: include logprobs when asked
        self.answer = "Yes"
        self.delay_s = 0.0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.fake = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "FakeServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def bodies(self, path: str) -> list[dict]:
        return [body for method, p, body in self.requests if method == "POST" and p == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked streaming, as the real servers do

    @property
    def fake(self) -> FakeServer:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
            pass

    def _record(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.fake.requests.append((self.command, self.path, body))
        if self.fake.delay_s:
            time.sleep(self.fake.delay_s)
        return body

    def send_json(self, obj: Any, status: int = 200) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def stream_pieces(self, encode) -> None:
        """Send the first piece, wait until the test has consumed it, then send the rest."""
        for i, piece in enumerate(PIECES):
            self.chunk(encode(piece))
            if i == 0:
                self.fake.released = self.fake.gate.wait(timeout=5)


OLLAMA_MODEL = "qwen2.5:7b-instruct"


class OllamaHandler(_Handler):
    """The parts of the Ollama REST API that ChatOllama and our probe use."""

    def do_GET(self) -> None:
        self.fake.requests.append(("GET", self.path, {}))
        if self.path == "/api/tags":
            self.send_json({"models": [{"name": OLLAMA_MODEL, "model": OLLAMA_MODEL, "size": 1}]})
        else:
            self.send_json({"error": "not found"}, 404)

    def do_POST(self) -> None:
        body = self._record()
        if self.path != "/api/chat":
            self.send_json({"error": "not found"}, 404)
            return
        model = body.get("model")
        if model != OLLAMA_MODEL:
            self.send_json({"error": f"model '{model}' not found, try pulling it first"}, 404)
            return
        done = {
            "model": model,
            "created_at": "2025-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1000,
            "load_duration": 10,
            "prompt_eval_count": 12,
            "prompt_eval_duration": 100,
            "eval_count": len(PIECES),
            "eval_duration": 200,
        }

        def line(content: str, **extra: Any) -> bytes:
            msg = {
                "model": model,
                "created_at": "2025-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": content},
                "done": False,
                **extra,
            }
            return (json.dumps(msg) + "\n").encode()

        if body.get("logprobs"):  # a yes/no question: one token, with alternatives
            tok = self.fake.answer
            extra = {}
            if self.fake.logprobs:
                extra["logprobs"] = [
                    {
                        "token": tok,
                        "logprob": -0.2,
                        "top_logprobs": [
                            {"token": "Yes", "logprob": -0.2},
                            {"token": "No", "logprob": -1.8},
                            {"token": "The", "logprob": -4.0},
                        ],
                    }
                ]
            if body.get("stream", True):
                self.start_chunked("application/x-ndjson")
                self.chunk(line(tok, **extra))
                self.chunk((json.dumps(done) + "\n").encode())
                self.end_chunked()
            else:
                self.send_json({**done, "message": {"role": "assistant", "content": tok}, **extra})
            return
        if body.get("stream", True):
            self.start_chunked("application/x-ndjson")
            self.stream_pieces(lambda p: line(p))
            self.chunk((json.dumps(done) + "\n").encode())
            self.end_chunked()
        else:
            self.send_json({**done, "message": {"role": "assistant", "content": "".join(PIECES)}})


OPENAI_MODEL = "local-model"


def _tok(token: str, logprob: float) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


class OpenAIHandler(_Handler):
    """/v1/models and /v1/chat/completions as vLLM or llama.cpp server answer them."""

    def do_GET(self) -> None:
        self.fake.requests.append(("GET", self.path, {}))
        if self.path == "/v1/models":
            self.send_json({"object": "list", "data": [{"id": OPENAI_MODEL, "object": "model"}]})
        else:
            self.send_json({"error": {"message": "not found"}}, 404)

    def do_POST(self) -> None:
        body = self._record()
        if self.path != "/v1/chat/completions":
            self.send_json({"error": {"message": "not found"}}, 404)
            return
        if body.get("model") != OPENAI_MODEL:
            err = {"message": f"The model `{body.get('model')}` does not exist.", "code": 404}
            self.send_json({"error": err}, 404)
            return
        base = {"id": "chatcmpl-1", "created": 1735689600, "model": OPENAI_MODEL}
        if body.get("stream"):

            def event(delta: dict, finish: str | None = None) -> bytes:
                chunk = {
                    **base,
                    "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                return f"data: {json.dumps(chunk)}\n\n".encode()

            self.start_chunked("text/event-stream")
            self.chunk(event({"role": "assistant", "content": ""}))
            self.stream_pieces(lambda p: event({"content": p}))
            self.chunk(event({}, "stop"))
            self.chunk(b"data: [DONE]\n\n")
            self.end_chunked()
            return
        answer = self.fake.answer if body.get("logprobs") else "".join(PIECES)
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": answer},
            "finish_reason": "length",
            "logprobs": None,
        }
        if body.get("logprobs") and self.fake.logprobs:
            top = [_tok("Yes", -0.1), _tok("No", -2.4), _tok(" Yes", -3.0), _tok("The", -5.0)]
            n = int(body.get("top_logprobs") or 0)
            choice["logprobs"] = {"content": [{**_tok(answer, -0.1), "top_logprobs": top[:n]}]}
        usage = {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13}
        self.send_json({**base, "object": "chat.completion", "choices": [choice], "usage": usage})


@pytest.fixture
def ollama() -> Iterator[FakeServer]:
    with FakeServer(OllamaHandler) as server:
        yield server


@pytest.fixture
def openai_server() -> Iterator[FakeServer]:
    with FakeServer(OpenAIHandler) as server:
        yield server


def closed_port_url(path: str = "") -> str:
    """A URL nothing listens on: bind a free port, then close it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def stream_with_gate(gen: Generator, server: FakeServer) -> list[str]:
    """Consume the first piece while the server is still holding the rest back."""
    pieces = gen.stream(MESSAGES)
    first = next(iter(pieces))
    assert server.released is None, "the server sent more before we had the first piece"
    server.gate.set()
    rest = list(pieces)
    assert server.released is True, "the first piece only arrived once the reply was complete"
    return [first, *rest]


# --------------------------------------------------------------------------- Ollama


def test_ollama_streams_pieces_in_order(ollama: FakeServer) -> None:
    gen = make_generator(settings(generator="ollama", ollama_url=ollama.url))
    assert isinstance(gen, OllamaGenerator)
    assert gen.name == f"ollama:{OLLAMA_MODEL}"

    assert stream_with_gate(gen, ollama) == PIECES

    (body,) = ollama.bodies("/api/chat")
    assert body["model"] == OLLAMA_MODEL
    assert body["stream"] is True
    assert body["messages"] == MESSAGES
    assert body["options"]["num_predict"] == settings().max_new_tokens
    assert ("GET", "/api/tags", {}) in ollama.requests  # the start-up probe


def test_ollama_complete_and_max_tokens(ollama: FakeServer) -> None:
    ollama.gate.set()
    gen = make_generator(settings(generator="ollama", ollama_url=ollama.url), check=False)
    assert gen.complete(MESSAGES, max_tokens=7) == "Hello, world!"
    assert ollama.bodies("/api/chat")[0]["options"]["num_predict"] == 7


def test_ollama_yes_probability_from_logprobs(ollama: FakeServer) -> None:
    gen = make_generator(settings(generator="ollama", ollama_url=ollama.url), check=False)
    p = gen.yes_probability(MESSAGES)
    assert p == pytest.approx(1 / (1 + math.exp(-1.6)))
    (body,) = ollama.bodies("/api/chat")
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert body["options"]["num_predict"] == 1


def test_ollama_yes_probability_falls_back_to_the_word(ollama: FakeServer) -> None:
    ollama.logprobs, ollama.answer = False, "No"  # an older server that ignores logprobs
    gen = make_generator(settings(generator="ollama", ollama_url=ollama.url), check=False)
    assert gen.yes_probability(MESSAGES) == 0.0


def test_ollama_unreachable_is_one_clear_line() -> None:
    url = closed_port_url()
    with pytest.raises(BackendError) as err:
        make_generator(settings(generator="ollama", ollama_url=url))
    msg = str(err.value)
    assert url in msg and "connection refused" in msg and "ollama serve" in msg
    assert "\n" not in msg

    gen = make_generator(settings(generator="ollama", ollama_url=url), check=False)
    with pytest.raises(BackendError, match="not reachable") as err:
        list(gen.stream(MESSAGES))  # the failure surfaces on the first chunk
    assert url in str(err.value)
    with pytest.raises(BackendError, match="not reachable"):
        gen.yes_probability(MESSAGES)


def test_ollama_missing_model(ollama: FakeServer) -> None:
    s = settings(generator="ollama", ollama_url=ollama.url, ollama_model="llama9:70b")
    with pytest.raises(BackendError, match="ollama pull llama9:70b"):
        make_generator(s)
    gen = make_generator(s, check=False)  # the server's own 404 on /api/chat
    with pytest.raises(BackendError, match="ollama pull llama9:70b") as err:
        gen.complete(MESSAGES)
    assert ollama.url in str(err.value)


def test_ollama_timeout(ollama: FakeServer) -> None:
    ollama.delay_s = 1.5
    s = settings(generator="ollama", ollama_url=ollama.url, request_timeout_s=0.3)
    gen = make_generator(s, check=False)
    with pytest.raises(BackendError, match="did not answer within 0.3s"):
        gen.complete(MESSAGES)


# --------------------------------------------------------------------------- OpenAI-compatible


def test_openai_streams_pieces_in_order(openai_server: FakeServer) -> None:
    base = f"{openai_server.url}/v1"
    gen = make_generator(settings(generator="openai", openai_base_url=base))
    assert isinstance(gen, OpenAIGenerator)
    assert gen.name == f"openai:{OPENAI_MODEL}"

    assert stream_with_gate(gen, openai_server) == PIECES

    (body,) = openai_server.bodies("/v1/chat/completions")
    assert body["stream"] is True
    assert body["model"] == OPENAI_MODEL
    assert body["messages"] == MESSAGES
    assert settings().max_new_tokens in (body.get("max_completion_tokens"), body.get("max_tokens"))
    assert ("GET", "/v1/models", {}) in openai_server.requests


def test_openai_complete(openai_server: FakeServer) -> None:
    openai_server.gate.set()
    s = settings(generator="openai", openai_base_url=f"{openai_server.url}/v1")
    assert make_generator(s).complete(MESSAGES) == "Hello, world!"


def test_openai_yes_probability_from_top_logprobs(openai_server: FakeServer) -> None:
    s = settings(generator="openai", openai_base_url=f"{openai_server.url}/v1")
    gen = make_generator(s)

    # best "Yes"-like (-0.1) vs best "No" (-2.4): a two-way softmax
    assert gen.yes_probability(MESSAGES) == pytest.approx(1 / (1 + math.exp(-2.3)))
    (body,) = openai_server.bodies("/v1/chat/completions")
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert 1 in (body.get("max_completion_tokens"), body.get("max_tokens"))
    assert not body.get("stream")


def test_openai_yes_probability_without_logprobs(openai_server: FakeServer) -> None:
    openai_server.logprobs, openai_server.answer = False, "No"
    s = settings(generator="openai", openai_base_url=f"{openai_server.url}/v1")
    assert make_generator(s).yes_probability(MESSAGES) == 0.0


def test_openai_unreachable_is_one_clear_line() -> None:
    url = closed_port_url("/v1")
    with pytest.raises(BackendError) as err:
        make_generator(settings(generator="openai", openai_base_url=url))
    msg = str(err.value)
    assert url in msg and "connection refused" in msg and "\n" not in msg

    gen = make_generator(settings(generator="openai", openai_base_url=url), check=False)
    with pytest.raises(BackendError, match="not reachable") as err:
        list(gen.stream(MESSAGES))
    assert url in str(err.value)


def test_openai_unknown_model(openai_server: FakeServer) -> None:
    s = settings(
        generator="openai", openai_base_url=f"{openai_server.url}/v1", openai_model="nope"
    )
    with pytest.raises(BackendError, match="HTTP 404 for model 'nope'"):
        make_generator(s).complete(MESSAGES)


def test_openai_timeout(openai_server: FakeServer) -> None:
    openai_server.delay_s = 1.5
    s = settings(
        generator="openai", openai_base_url=f"{openai_server.url}/v1", request_timeout_s=0.3
    )
    with pytest.raises(BackendError, match="did not answer within 0.3s"):
        make_generator(s, check=False).complete(MESSAGES)


# --------------------------------------------------------------------------- none, factory, text


def test_none_generator() -> None:
    gen = make_generator(settings(generator="none"))
    assert isinstance(gen, NoGenerator) and gen.name == "none"
    assert gen.yes_probability(MESSAGES) is None
    with pytest.raises(BackendError, match="--generator none"):
        gen.complete(MESSAGES)
    with pytest.raises(BackendError):
        list(gen.stream(MESSAGES))


def test_unknown_generator_is_rejected_by_settings() -> None:
    with pytest.raises(UserError, match="unknown generator 'gpt5'"):
        settings(generator="gpt5")


def test_gguf_needs_an_existing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="STUDYGUIDE_GGUF"):
        make_generator(settings(generator="gguf"))
    with pytest.raises(ModelError, match="missing.gguf"):
        make_generator(settings(generator="gguf", gguf_path=str(tmp_path / "missing.gguf")))


def test_to_traditional() -> None:
    assert to_traditional("学习率") == "學習率"
    assert to_traditional("数据集与视频分割") == "資料集與影片分割"
    assert to_traditional("") == ""
    assert to_traditional("SAM 2 uses a memory bank.") == "SAM 2 uses a memory bank."


# --------------------------------------------------------------------------- the real model


SUPPORT_SYSTEM = (
    "You judge whether a claim is fully supported by a source passage. "
    "Answer with one word: Yes or No."
)


def support_question(passage: str, claim: str) -> list[dict]:
    return [
        {"role": "system", "content": SUPPORT_SYSTEM},
        {
            "role": "user",
            "content": f"Source:\n{passage}\n\nClaim: {claim}\n\n"
            "Is the claim fully supported by the source? Answer Yes or No.",
        },
    ]


PASSAGE = (
    "SAM 2 extends SAM to video by adding a streaming memory: a memory bank stores "
    "information about the target object from previous frames, and memory attention "
    "conditions the current frame's features on it."
)


@pytest.mark.llm
def test_embedded_qwen(qwen: Any) -> None:
    assert qwen.name == EMBEDDED_NAME
    question = [
        {"role": "system", "content": "Answer only from the context, in one short sentence."},
        {
            "role": "user",
            "content": "Context: The Eiffel Tower is 330 metres tall and stands in Paris.\n\n"
            "Question: In which city is the Eiffel Tower?",
        },
    ]
    started = time.perf_counter()
    pieces: list[str] = []
    first_token_s = None
    for piece in qwen.stream(question, max_tokens=40):
        if first_token_s is None:
            first_token_s = time.perf_counter() - started
        pieces.append(piece)
    total_s = time.perf_counter() - started
    answer = "".join(pieces)
    assert len(pieces) >= 2
    assert "Paris" in answer

    supported = support_question(PASSAGE, "SAM 2 stores information about the object from earlier frames in a memory bank.")
    unsupported = support_question(PASSAGE, "SAM 2 was trained with a contrastive text-image loss like CLIP.")
    t0 = time.perf_counter()
    p_yes = qwen.yes_probability(supported)
    judge_s = time.perf_counter() - t0
    p_no = qwen.yes_probability(unsupported)
    assert p_yes is not None and p_no is not None
    assert p_yes > 0.5 > p_no

    # cached prefix or not, concurrent or not, asked again: the same numbers, exactly (the
    # prefix cache resumes on a batch boundary, so the batches are cut as in a fresh run)
    assert qwen.yes_probability(unsupported) == p_no
    results: list[float | None] = [None, None]

    def judge(i: int, msgs: list[dict]) -> None:
        results[i] = qwen.yes_probability(msgs)

    threads = [threading.Thread(target=judge, args=(i, m)) for i, m in enumerate((supported, unsupported))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [p_yes, p_no]

    gen_s = total_s - (first_token_s or 0)
    print(
        f"\n[qwen] load {qwen.load_seconds:.1f}s, first token {first_token_s:.2f}s, "
        f"{(len(pieces) - 1) / gen_s if gen_s > 0 else float('nan'):.1f} tok/s over {len(pieces)} pieces, "
        f"yes/no judge {judge_s:.2f}s; P(yes) supported={p_yes:.3f} unsupported={p_no:.3f}; "
        f"answer={answer!r}"
    )


@pytest.mark.llm
def test_small_gguf_plumbing() -> None:
    """Any local GGUF via --generator gguf (set STUDYGUIDE_TEST_SMALL_GGUF to e.g. SmolLM2)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    path = os.environ.get("STUDYGUIDE_TEST_SMALL_GGUF")
    if not path or not Path(path).is_file():
        pytest.skip("STUDYGUIDE_TEST_SMALL_GGUF is not set to a GGUF file")
    gen = make_generator(settings(generator="gguf", gguf_path=path))
    assert gen.name == f"gguf:{Path(path).stem}"
    assert len(list(gen.stream(MESSAGES, max_tokens=8))) >= 2
    p = gen.yes_probability([{"role": "user", "content": "Is water wet? Answer Yes or No."}])
    assert p is not None and 0.0 <= p <= 1.0
