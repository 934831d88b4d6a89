"""Text generators behind one small interface.

Backends: the embedded GGUF (llama.cpp, the default that needs no server), any local GGUF,
Ollama, any OpenAI-compatible server, and `none` (extractive answers, no LLM). Every backend
streams text pieces, completes, and scores P("Yes") for a yes/no question, which the
relevance and support judges use. Server failures become one-line `BackendError`s that name
the URL and the fix.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from studyguide.config import Settings
from studyguide.errors import BackendError, ModelError, UserError

ChatMessage = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}

EMBEDDED_NAME = "embedded:qwen2.5-coder-1.5b"
_YES_WORDS = ("yes",)
_NO_WORDS = ("no",)
_PROBE_TIMEOUT_S = 5.0

T = TypeVar("T")


@runtime_checkable
class Generator(Protocol):
    """What the answer layer and the judges need from an LLM."""

    name: str

    def stream(self, messages: list[ChatMessage], max_tokens: int | None = None) -> Iterator[str]:
        """Text pieces as soon as the backend produces them."""
        ...

    def complete(self, messages: list[ChatMessage], max_tokens: int | None = None) -> str:
        """The whole answer as one string."""
        ...

    def yes_probability(self, messages: list[ChatMessage]) -> float | None:
        """P("Yes") vs "No" for the next token; None if the backend can't tell."""
        ...


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=1)
def _s2twp() -> Any:
    from opencc import OpenCC

    return OpenCC("s2twp")  # the package takes the bare name; "s2twp.json" fails


def to_traditional(text: str) -> str:
    """Simplified -> Traditional (Taiwan phrasing): the small Qwen drifts to simplified."""
    return _s2twp().convert(text) if text else text


def _yes_no_from_logprobs(candidates: Sequence[tuple[str, float]]) -> float | None:
    """P(Yes) from (token, logprob) alternatives; None if neither word is among them."""
    yes = [lp for tok, lp in candidates if tok.strip().lower() in _YES_WORDS]
    no = [lp for tok, lp in candidates if tok.strip().lower() in _NO_WORDS]
    if not yes and not no:
        return None
    if not no:
        return 1.0
    if not yes:
        return 0.0
    return _sigmoid(max(yes) - max(no))


def _yes_no_from_text(text: str) -> float | None:
    """1.0 / 0.0 from a one-word answer, for backends without logprobs."""
    word = text.strip().strip(".!*\"'`").lower()
    if word.startswith("yes"):
        return 1.0
    if word.startswith("no"):
        return 0.0
    return None


def _sigmoid(x: float) -> float:
    """The two-way softmax, P(a) for logit gap x = a - b, without overflow."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _to_langchain(messages: list[ChatMessage]) -> list[tuple[str, str]]:
    """LangChain accepts (role, content) tuples; "assistant" maps to an AI message."""
    return [(m["role"], m["content"]) for m in messages]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes: clients often re-raise `from None`."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _connection_reason(exc: BaseException) -> str | None:
    """'connection refused' / 'timed out' / … when exc is a transport failure, else None."""
    import httpx

    for e in _chain(exc):
        transport = isinstance(e, (httpx.TransportError, OSError))
        if isinstance(e, ConnectionRefusedError) or (transport and "refused" in str(e).lower()):
            return "connection refused"
        if isinstance(e, (httpx.TimeoutException, TimeoutError)):
            return "timed out"
    for e in _chain(exc):
        if isinstance(e, (httpx.TransportError, ConnectionError)):
            return f"connection failed: {(str(e) or type(e).__name__).splitlines()[0][:120]}"
    return None


def _guard_stream(pieces: Iterator[str], wrap: Callable[[Exception], BackendError]) -> Iterator[str]:
    """Re-raise backend failures while streaming (usually on the first chunk) as BackendError."""
    try:
        yield from pieces
    except BackendError:
        raise
    except Exception as exc:  # noqa: BLE001 - translated into one actionable line
        raise wrap(exc) from exc


def _call(fn: Callable[[], T], wrap: Callable[[Exception], BackendError]) -> T:
    try:
        return fn()
    except BackendError:
        raise
    except Exception as exc:  # noqa: BLE001 - translated into one actionable line
        raise wrap(exc) from exc


# --------------------------------------------------------------------------- llama.cpp


class LlamaCppGenerator:
    """A GGUF model run in-process by llama.cpp; construction is the only (slow) load."""

    def __init__(
        self,
        model_path: Path,
        *,
        name: str,
        n_ctx: int = 4096,
        n_batch: int = 512,
        n_threads: int = 2,
        max_new_tokens: int = 320,
        temperature: float = 0.1,
    ) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise UserError(
                "llama-cpp-python is not installed; run `pip install '.[llm]'` "
                "or choose --generator ollama|openai|none"
            ) from exc
        model_path = Path(model_path).expanduser()
        if not model_path.is_file():
            raise ModelError(f"GGUF model file not found: {model_path}")
        self.name = name
        self.model_path = model_path
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self._llama_cpp = llama_cpp
        self._lock = threading.Lock()  # one llama context: Streamlit sessions must take turns
        started = time.perf_counter()
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_threads=n_threads,
                verbose=False,
                logits_all=False,
                # llama.cpp repacks the weights for this CPU into its own buffers; with the file
                # also mapped, both copies stay resident (measured: 1.94 GB peak vs 1.35 GB).
                use_mmap=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"llama.cpp could not load {model_path}: {exc}") from exc
        self.load_seconds = time.perf_counter() - started
        self._yes_ids = self._word_token_ids("Yes", " Yes", "yes", " yes")
        self._no_ids = self._word_token_ids("No", " No", "no", " no")
        self._formatter = self._make_formatter()

    def stream(self, messages: list[ChatMessage], max_tokens: int | None = None) -> Iterator[str]:
        with self._lock:
            try:
                chunks = self._llm.create_chat_completion(
                    messages=messages,  # type: ignore[arg-type]
                    stream=True,
                    temperature=self.temperature,
                    max_tokens=max_tokens or self.max_new_tokens,
                )
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
                    if piece:
                        yield piece
            except ValueError as exc:
                if "context window" not in str(exc):  # "Requested tokens (N) exceed context window"
                    raise
                raise self._too_long(str(exc)) from exc

    def complete(self, messages: list[ChatMessage], max_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_tokens))

    def yes_probability(self, messages: list[ChatMessage]) -> float | None:
        """Softmax over the best "Yes" and "No" next-token logits after the chat prompt."""
        if not self._yes_ids or not self._no_ids:
            return None
        prompt = self._formatter(messages)
        tokens = self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) >= self._llm.n_ctx():
            raise self._too_long(f"{len(tokens)} tokens")
        with self._lock:
            self._eval_reusing_prefix(tokens)
            logits = self._llama_cpp.llama_get_logits_ith(self._llm.ctx, -1)
            yes = max(logits[i] for i in self._yes_ids)
            no = max(logits[i] for i in self._no_ids)
        return _sigmoid(float(yes) - float(no))

    def _too_long(self, detail: str) -> BackendError:
        return BackendError(
            f"{self.name}: the prompt does not fit its context of {self._llm.n_ctx()} tokens "
            f"({detail}); lower context_char_budget or raise n_ctx"
        )

    def _eval_reusing_prefix(self, tokens: list[int]) -> None:
        """Evaluate the prompt, keeping the KV cache of a shared prefix (judges repeat one)."""
        llm = self._llm
        keep = 0
        if not (getattr(llm, "_is_recurrent", False) or getattr(llm, "_is_hybrid", False)):
            for cached, new in zip(llm.input_ids[: llm.n_tokens], tokens):
                if cached != new:
                    break
                keep += 1
            keep = min(keep, len(tokens) - 1)  # decode at least one token for fresh logits
            # Resume on a batch boundary: llama.cpp's float sums depend on how the prompt is cut
            # into batches, so a suffix evaluated from any other offset gives a probe that
            # depends on what was evaluated before it (seen: 0.187 vs 0.198 for one claim).
            keep -= keep % llm.n_batch
        if keep == 0:
            llm.reset()
        llm.n_tokens = keep  # eval() drops the KV cache from n_tokens on
        llm.eval(tokens[keep:])

    def _word_token_ids(self, *variants: str) -> list[int]:
        """Single-token spellings of a word (Qwen has "Yes" and " Yes" as one token each)."""
        ids = set()
        for text in variants:
            toks = self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
            if len(toks) == 1:
                ids.add(toks[0])
        return sorted(ids)

    def _make_formatter(self) -> Callable[[list[ChatMessage]], str]:
        """The GGUF's own chat template, ChatML (Qwen's format) when the file has none."""
        template = self._llm.metadata.get("tokenizer.chat_template")
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            model = self._llm._model  # the token texts the template needs
            eos, bos = self._llm.token_eos(), self._llm.token_bos()
            formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=model.token_get_text(eos) if eos != -1 else "",
                bos_token=model.token_get_text(bos) if bos != -1 else "",
            )
            return lambda messages: formatter(messages=messages).prompt  # type: ignore[arg-type]
        return _chatml


def _chatml(messages: list[ChatMessage]) -> str:
    body = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return body + "<|im_start|>assistant\n"


# --------------------------------------------------------------------------- Ollama


class OllamaGenerator:
    """A model served by Ollama (`ollama serve`), via langchain-ollama."""

    def __init__(self, settings: Settings) -> None:
        from langchain_ollama import ChatOllama

        self.name = f"ollama:{settings.ollama_model}"
        self.url = settings.ollama_url.rstrip("/")
        self.model = settings.ollama_model
        self.max_new_tokens = settings.max_new_tokens
        self.temperature = settings.temperature
        self.timeout_s = settings.request_timeout_s
        self._chat = ChatOllama(
            base_url=self.url,
            model=self.model,
            temperature=settings.temperature,
            num_predict=settings.max_new_tokens,
            client_kwargs={"timeout": settings.request_timeout_s},
        )

    def check(self) -> None:
        """Fail fast at start-up: the server answers and has the model pulled."""
        import httpx

        try:
            resp = httpx.get(f"{self.url}/api/tags", timeout=min(_PROBE_TIMEOUT_S, self.timeout_s))
            resp.raise_for_status()
            names = [m.get("model") or m.get("name", "") for m in resp.json().get("models", [])]
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc) from exc
        if not any(n == self.model or n.startswith(f"{self.model}:") for n in names):
            raise BackendError(self._missing_model())

    def stream(self, messages: list[ChatMessage], max_tokens: int | None = None) -> Iterator[str]:
        options = {"num_predict": max_tokens or self.max_new_tokens, "temperature": self.temperature}
        chunks = self._chat.stream(_to_langchain(messages), options=options)
        return _guard_stream((c.text for c in chunks if c.text), self._error)

    def complete(self, messages: list[ChatMessage], max_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_tokens))

    def yes_probability(self, messages: list[ChatMessage]) -> float | None:
        """Top logprobs of the first token when the server returns them, else the word."""
        msg = _call(
            lambda: self._chat.invoke(
                _to_langchain(messages),
                options={"num_predict": 1, "temperature": 0.0},
                logprobs=True,
                top_logprobs=5,
            ),
            self._error,
        )
        logprobs = msg.response_metadata.get("logprobs") or []
        if logprobs:
            first = logprobs[0]
            alts = [(a["token"], a["logprob"]) for a in first.get("top_logprobs") or []]
            alts.append((first["token"], first["logprob"]))
            p = _yes_no_from_logprobs(alts)
            if p is not None:
                return p
        return _yes_no_from_text(msg.text)

    def _missing_model(self) -> str:
        return (
            f"Ollama at {self.url} has no model {self.model!r}; run `ollama pull {self.model}` "
            "or set STUDYGUIDE_OLLAMA_MODEL to a pulled model"
        )

    def _error(self, exc: BaseException) -> BackendError:
        from ollama import ResponseError

        reason = _connection_reason(exc)
        if reason == "timed out":
            return BackendError(
                f"Ollama at {self.url} did not answer within {self.timeout_s:g}s; check the server "
                "load or choose --generator none"
            )
        if reason:
            return BackendError(
                f"Ollama at {self.url} is not reachable ({reason}); start it with `ollama serve` "
                "or choose --generator none"
            )
        status = getattr(exc, "status_code", None) or getattr(
            getattr(exc, "response", None), "status_code", None
        )
        if status == 404 or (isinstance(exc, ResponseError) and "not found" in str(exc).lower()):
            return BackendError(self._missing_model())
        detail = (getattr(exc, "error", None) or str(exc) or type(exc).__name__).splitlines()[0]
        where = f"HTTP {status}" if status else "an error"
        return BackendError(f"Ollama at {self.url} answered with {where}: {detail[:200]}")


# --------------------------------------------------------------------------- OpenAI-compatible


class OpenAIGenerator:
    """Any OpenAI-compatible chat server (vLLM, llama.cpp server, LM Studio, OpenAI)."""

    def __init__(self, settings: Settings) -> None:
        from langchain_openai import ChatOpenAI

        self.name = f"openai:{settings.openai_model}"
        self.url = settings.openai_base_url.rstrip("/")
        self.model = settings.openai_model
        self.api_key = settings.openai_api_key
        self.max_new_tokens = settings.max_new_tokens
        self.timeout_s = settings.request_timeout_s
        self._chat = ChatOpenAI(
            base_url=self.url,
            api_key=settings.openai_api_key,  # type: ignore[arg-type]
            model=self.model,
            temperature=settings.temperature,
            max_tokens=settings.max_new_tokens,  # type: ignore[call-arg]
            timeout=settings.request_timeout_s,
            max_retries=1,
        )

    def check(self) -> None:
        """Fail fast at start-up if nothing listens; a server without /models is fine."""
        import httpx

        try:
            httpx.get(
                f"{self.url}/models",
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=min(_PROBE_TIMEOUT_S, self.timeout_s),
            )
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc) from exc

    def stream(self, messages: list[ChatMessage], max_tokens: int | None = None) -> Iterator[str]:
        chunks = self._chat.stream(_to_langchain(messages), max_tokens=max_tokens or self.max_new_tokens)
        return _guard_stream((c.text for c in chunks if c.text), self._error)

    def complete(self, messages: list[ChatMessage], max_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_tokens))

    def yes_probability(self, messages: list[ChatMessage]) -> float | None:
        """P(Yes) from the first token's top logprobs; the answer word if there are none."""
        msg = _call(
            lambda: self._chat.invoke(
                _to_langchain(messages),
                max_tokens=1,
                temperature=0.0,
                logprobs=True,
                top_logprobs=5,
            ),
            self._error,
        )
        content = (msg.response_metadata.get("logprobs") or {}).get("content") or []
        if content:
            first = content[0]
            alts = [(a["token"], a["logprob"]) for a in first.get("top_logprobs") or []]
            alts.append((first["token"], first["logprob"]))
            p = _yes_no_from_logprobs(alts)
            if p is not None:
                return p
        return _yes_no_from_text(msg.text)

    def _error(self, exc: BaseException) -> BackendError:
        import openai

        label = f"OpenAI-compatible server at {self.url}"
        if isinstance(exc, openai.APITimeoutError) or _connection_reason(exc) == "timed out":
            return BackendError(
                f"{label} did not answer within {self.timeout_s:g}s; check the server load "
                "or choose --generator none"
            )
        reason = _connection_reason(exc)
        if reason or isinstance(exc, openai.APIConnectionError):
            return BackendError(
                f"{label} is not reachable ({reason or 'connection failed'}); start it "
                "(vLLM, llama.cpp server, LM Studio) or set STUDYGUIDE_OPENAI_BASE_URL, "
                "or choose --generator none"
            )
        if isinstance(exc, openai.NotFoundError):
            return BackendError(
                f"{label} answered HTTP 404 for model {self.model!r}; set STUDYGUIDE_OPENAI_MODEL "
                "to a served model and check the base URL ends in /v1"
            )
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return BackendError(f"{label} rejected the API key; set STUDYGUIDE_OPENAI_API_KEY")
        if isinstance(exc, openai.APIStatusError):
            detail = str(exc).splitlines()[0][:200]
            return BackendError(f"{label} answered HTTP {exc.status_code}: {detail}")
        detail = (str(exc) or type(exc).__name__).splitlines()[0][:200]
        return BackendError(f"{label} failed: {detail}")


# --------------------------------------------------------------------------- none


class NoGenerator:
    """`--generator none`: the answer layer builds extractive answers and never calls this."""

    name = "none"

    def stream(self, messages: list[ChatMessage], max_tokens: int | None = None) -> Iterator[str]:
        raise BackendError(self._why())

    def complete(self, messages: list[ChatMessage], max_tokens: int | None = None) -> str:
        raise BackendError(self._why())

    def yes_probability(self, messages: list[ChatMessage]) -> float | None:
        return None

    @staticmethod
    def _why() -> str:
        return (
            "no LLM is configured (--generator none); choose --generator "
            "embedded|ollama|openai|gguf to generate text"
        )


# --------------------------------------------------------------------------- factory


def make_generator(settings: Settings, *, check: bool = True) -> Generator:
    """The configured backend. Server backends are probed once so a dead URL fails at start."""
    kind = settings.generator
    if kind == "none":
        return NoGenerator()
    if kind == "ollama":
        gen: OllamaGenerator | OpenAIGenerator = OllamaGenerator(settings)
    elif kind == "openai":
        gen = OpenAIGenerator(settings)
    elif kind in ("embedded", "gguf"):
        return _make_llama(settings)
    else:  # Settings.validate() rejects these first
        raise UserError(f"unknown generator {kind!r}")
    if check:
        gen.check()
    return gen


def _make_llama(settings: Settings) -> LlamaCppGenerator:
    """`embedded` = the fetched, verified Qwen (or STUDYGUIDE_GGUF); `gguf` = a file you name."""
    if settings.generator == "gguf" and settings.gguf_path is None:
        raise UserError("--generator gguf needs a model file: set STUDYGUIDE_GGUF=/path/model.gguf")
    from ingest.models import resolve_gguf  # lazy: pulls in the model fetcher

    path = resolve_gguf(settings)
    name = f"gguf:{path.stem}" if settings.generator == "gguf" else EMBEDDED_NAME
    return LlamaCppGenerator(
        path,
        name=name,
        n_ctx=settings.n_ctx,
        n_batch=settings.n_batch,
        n_threads=settings.n_threads,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
    )
