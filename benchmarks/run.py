"""Benchmarks on this machine: ingest, embedding throughput, retrieval, answers, memory, and the
LangChain-tutorial baseline, with the issue's targets beside the figures.

    .venv/bin/python -m benchmarks.run [--embedder embeddinggemma] [--generators none,embedded]
                                       [--out artifacts/benchmarks] [--resume]

Each stage runs in its own spawned child process, so its peak RSS (VmHWM) is that stage's
alone and no stage inherits another's warm caches or loaded models.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from studyguide.config import PROJECT_ROOT, Settings, load_settings

QUESTIONS = PROJECT_ROOT / "evals" / "cases" / "questions.jsonl"
SHARED_PAPERS = PROJECT_ROOT.parent / "shared" / "papers"
LANGS = ("en", "zh-Hant")
SHARED_LOAD = 1.5  # 1-minute load average above which the figures are flagged as shared-machine
QUOTE_WORD_SHARE = 0.6  # measured here: the true chunk scores ≥ 0.81, the best wrong paper ≤ 0.53

TARGETS = {
    "hit": "hit@5 above the baseline's, in both languages",
    "retrieval_p50": "retrieval p50 ≤ 150 ms warm",
    "reingest": "re-ingest ≤ 2 s",
    "embed_ratio": "ingest embedding within 1.5× of raw encode",
    "rss": "default-model peak RSS ≤ 2.5 GB",
}

Row = dict[str, Any]


# --------------------------------------------------------------------------- helpers


def load_questions() -> list[Row]:
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def bench_settings(embedder: str, db_dir: Path, papers_dir: Path, generator: str = "none") -> Settings:
    # Only where the models live comes from the environment: a developer's STUDYGUIDE_DB or
    # STUDYGUIDE_CHROMA_URL must not redirect the benchmark to their own index.
    env = {k: v for k, v in os.environ.items() if k in ("STUDYGUIDE_MODEL_CACHE", "STUDYGUIDE_GGUF")}
    return load_settings("default", env=env, embedder=embedder, db_dir=db_dir, papers_dir=papers_dir, generator=generator)


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB (10^6 bytes)."""
    try:
        status = Path("/proc/self/status").read_text()
        kib = int(re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE).group(1))
    except (OSError, AttributeError):
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
    return round(kib * 1024 / 1e6, 1)


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    from evals.metrics import percentile

    return {"p50_ms": round(percentile(seconds, 50) * 1000, 1), "p95_ms": round(percentile(seconds, 95) * 1000, 1)}


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def quote_hit(evidence: Sequence[Row], texts: Sequence[str]) -> bool:
    """One rule for ours and the baseline (whose chunks have no sections): some retrieved text
    contains a gold quote (whitespace-normalised), or ≥ 60% of its words in order — chunk
    boundaries and Markdown escapes cut quotes differently in the two indexes."""

    def norm(t: str) -> str:
        return re.sub(r"\s+", " ", t).strip().lower()

    for e in evidence:
        quote, words = norm(e["quote"]), _words(e["quote"])
        for text in texts:
            if quote in norm(text) or (words and _lcs(words, _words(text)) >= QUOTE_WORD_SHARE * len(words)):
                return True
    return False


def hit_rates(rows: Sequence[Row], key: str) -> dict[str, float | None]:
    """Share of answerable rows with rows[key] true, per language."""
    out: dict[str, float | None] = {}
    for lang in LANGS:
        values = [r[key] for r in rows if r["label"] == "answerable" and r["lang"] == lang]
        out[lang] = round(sum(values) / len(values), 3) if values else None
    return out


def timed_queries(questions: Sequence[Row], search: Callable[[str], list[str]]) -> tuple[list[Row], list[float]]:
    """Warm-up pass over every question, then the timed pass (what a running app sees)."""
    from app.conversation import standalone_question

    queries = [standalone_question(q["question"], q.get("history", [])) for q in questions]
    for query in queries:
        search(query)
    rows, seconds = [], []
    for q, query in zip(questions, queries):
        started = time.perf_counter()
        texts = search(query)
        seconds.append(time.perf_counter() - started)
        rows.append({
            "id": q["id"], "lang": q["lang"], "label": q["label"], "query": query,
            "quote_hit": quote_hit(q.get("evidence", []), texts[:5]),
        })
    return rows, seconds


# --------------------------------------------------------------------------- stages (child processes)


def stage_ingest(settings: Settings) -> Row:
    from ingest.chunk import embedding_text
    from ingest.embed import load_embedder
    from ingest.manifest import load_manifest
    from ingest.pipeline import collect_chunks, run_ingest

    shutil.rmtree(settings.db_dir, ignore_errors=True)  # cold means empty, also on --resume
    started = time.perf_counter()
    embedder = load_embedder(settings)
    load_s = time.perf_counter() - started
    cold = run_ingest(settings, progress=False, allow_download=False, embedder=embedder)
    rss_ingest = peak_rss_mb()  # before the throughput runs below can raise the peak
    warm = run_ingest(settings, progress=False, allow_download=False, embedder=embedder)

    chunks, _ = collect_chunks(settings, load_manifest(settings.manifest_path), allow_download=False)
    texts = [embedding_text(c) for c in chunks]
    started = time.perf_counter()
    embedder.embed_documents(texts)
    ours_s = time.perf_counter() - started
    # The limit: one encode call over the same texts, same batch size and document prompt,
    # so the difference is only what our wrapper does around it.
    prompts = getattr(embedder.model, "prompts", {}) or {}
    started = time.perf_counter()
    embedder.model.encode(
        texts,
        batch_size=settings.embed_batch_size,
        prompt_name="document" if "document" in prompts else None,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    raw_s = time.perf_counter() - started
    return {
        "embedder_load_s": round(load_s, 2),
        "cold_s": round(cold.seconds, 2),
        "cold_added": cold.sync.added,
        "warm_s": round(warm.seconds, 2),
        "warm_added": warm.sync.added,
        "warm_removed": warm.sync.removed,
        "warm_kept": warm.sync.kept,
        "warm_wrote_nothing": not warm.sync.changed,
        "chunks": {s.source: s.chunks for s in cold.sources},
        "chunks_total": sum(s.chunks for s in cold.sources),
        "embed_texts": len(texts),
        "embed_batch_size": settings.embed_batch_size,
        "embed_ours_s": round(ours_s, 2),
        "embed_raw_s": round(raw_s, 2),
        "embed_ours_per_s": round(len(texts) / ours_s, 1),
        "embed_raw_per_s": round(len(texts) / raw_s, 1),
        "embed_ratio": round(ours_s / raw_s, 3),
        "peak_rss_mb": rss_ingest,
        "peak_rss_mb_with_throughput": peak_rss_mb(),
    }


def stage_retrieval(settings: Settings, questions: list[Row]) -> Row:
    from app.assistant import Assistant
    from evals.metrics import section_hit
    from ingest.embed import load_embedder

    assistant = Assistant(settings, embedder=load_embedder(settings))
    retriever = assistant.retriever  # loads the index (Chroma + BM25) now, not in the timing
    last: dict[str, list] = {}

    def search(query: str) -> list[str]:
        passages = retriever.passages(query)[:5]
        last[query] = passages
        return [p.chunk.text for p in passages]

    rows, seconds = timed_queries(questions, search)
    # Section rule on the passages themselves too (the eval's rule, applied before answering).
    for row, q in zip(rows, questions):
        passages = last[row["query"]]
        cites = [{"source": p.chunk.source, "section": p.chunk.section, "section_path": p.chunk.section_path} for p in passages]
        row["section_hit"] = section_hit(q.get("evidence", []), cites) if q["label"] == "answerable" else None
    return {
        **percentiles_ms(seconds),
        "queries": len(seconds),
        "quote_hit@5": hit_rates(rows, "quote_hit"),
        "section_hit@5_passages": hit_rates(rows, "section_hit"),
        "rows": rows,
        "peak_rss_mb": peak_rss_mb(),
    }


def stage_baseline(settings: Settings, questions: list[Row], persist_dir: Path) -> Row:
    from benchmarks.baseline import build_baseline, search
    from ingest.embed import load_embedder

    shutil.rmtree(persist_dir, ignore_errors=True)  # from_documents would add to a stopped run's rows
    embedder = load_embedder(settings)
    started = time.perf_counter()
    store = build_baseline(settings.papers_dir, embedder, persist_dir)
    build_s = time.perf_counter() - started
    rows, seconds = timed_queries(questions, lambda q: [d.page_content for d in search(store, q, k=5)])
    return {
        "build_s": round(build_s, 2),
        "chunks": store._collection.count(),
        **percentiles_ms(seconds),
        "queries": len(seconds),
        "quote_hit@5": hit_rates(rows, "quote_hit"),
        "rows": rows,
        "peak_rss_mb": peak_rss_mb(),
    }


def stage_answers(settings: Settings, questions: list[Row], warmup: Row) -> Row:
    from app.assistant import Assistant
    from evals.metrics import section_hit
    from ingest.embed import load_embedder

    assistant = Assistant(settings, embedder=load_embedder(settings))
    # One untimed question outside the timed set loads the index and the LLM, and does not
    # leave the timed questions' prompts in llama.cpp's prefix cache.
    started = time.perf_counter()
    assistant.ask(warmup["question"], warmup.get("history", []))
    warmup_s = time.perf_counter() - started
    rows, seconds = [], []
    for q in questions:
        started = time.perf_counter()
        answer = assistant.ask(q["question"], q.get("history", []))
        seconds.append(time.perf_counter() - started)
        cites = [{"source": c.source, "section": c.section, "section_path": c.section_path} for c in answer.citations[:5]]
        rows.append({
            "id": q["id"], "lang": q["lang"], "label": q["label"], "abstained": answer.abstained,
            "seconds": round(seconds[-1], 3),
            "section_hit": section_hit(q["evidence"], cites) if q["label"] == "answerable" else None,
        })
    return {
        "generator": settings.generator,
        "warmup_s": round(warmup_s, 2),
        **percentiles_ms(seconds),
        "questions": len(seconds),
        "section_hit@5_citations": hit_rates(rows, "section_hit"),
        "rows": rows,
        "peak_rss_mb": peak_rss_mb(),
    }


class StageFailed(RuntimeError):
    pass


def _exit_with_parent(parent: int) -> None:
    # A stage whose runner was killed must not run on as an orphan on a shared machine.
    while os.getppid() == parent:
        time.sleep(2)
    os._exit(1)


def _child_main(conn: Any, fn: Callable[..., Row], args: tuple, parent: int) -> None:
    import threading

    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        conn.send(("ok", fn(*args)))
    except BaseException:  # noqa: BLE001 - the parent reports it; the child only has to say why
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def in_child(fn: Callable[..., Row], *args: Any) -> Row:
    """Run one stage in a fresh spawned process: its peak RSS is the stage's own. A child that
    dies (signal, native crash) is reported with its exit code rather than a bare broken pool."""
    ctx = get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(send, fn, args, os.getpid()), name=f"bench-{fn.__name__}")
    proc.start()
    send.close()
    try:
        status, payload = receive.recv()  # before join: a large result must not block the pipe
    except EOFError:
        proc.join()
        raise StageFailed(f"{fn.__name__}: child process died with exit code {proc.exitcode}") from None
    proc.join()
    if status != "ok":
        raise StageFailed(f"{fn.__name__} failed:\n{payload}")
    return payload


# --------------------------------------------------------------------------- report


def machine_info() -> Row:
    model = ""
    try:
        model = next(
            (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
            "",
        )
    except OSError:
        pass
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(), "cpu_model": model}


def get(row: Row | None, *keys: str) -> Any:
    """row[k1][k2]…, or None when a stage (or figure) is missing: a failed stage leaves gaps."""
    for key in keys:
        if not isinstance(row, dict) or key not in row:
            return None
        row = row[key]
    return row


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}{unit}" if abs(value) < 10 else f"{value:,.0f}{unit}"
    return f"{value}{unit}"


def _ratio(ours: float | None, base: float | None) -> str:
    return f"{ours / base:.2f}×" if ours is not None and base else "—"


def _met(ok: bool | None) -> str:
    return "—" if ok is None else ("✅" if ok else "❌")


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def render(result: Row) -> str:
    m, ing, ret, base = result["machine"], result.get("ingest"), result.get("retrieval"), result.get("baseline")
    answers: dict[str, Row] = result["answers"]
    t = result["targets"]
    avg = lambda xs: " / ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    lines = [
        f"# Benchmarks — {result['date']}",
        "",
        f"- machine: {m['cpu_model'] or 'unknown CPU'}, {m['cpu_count']} cores, {m['platform']}, Python {m['python']}",
        f"- load average (1/5/15 min) at start: {avg(result['loadavg_start'])}; at end: {avg(result['loadavg_end'])}",
        f"- embedder: `{result['embedder']}`; {result['questions']} public questions ({result['answerable']} answerable); "
        f"papers from `{result['papers_dir']}`; total run {result['total_s']:.0f} s",
    ]
    if result["shared_machine"]:
        lines.append(
            f"- **shared machine**: the 1-minute load average was above {SHARED_LOAD} at the start of the run or of a stage "
            "(others were running tests); "
            "latencies and throughput are pessimistic"
        )
    if not result.get("complete", True):
        lines.append("- **partial**: written after a stage; the run had not finished all stages")
    if result.get("sessions", 1) > 1:
        lines.append(f"- resumed: the stages ran over {result['sessions']} invocations (`--resume`); load per stage is in the JSON")
    for name, error in result["failed"].items():
        lines.append(f"- **stage `{name}` failed**: {error.splitlines()[0]}")
    lines += [
        "",
        "| measure | ours | baseline (LangChain tutorial) | ours / baseline | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for lang in LANGS:
        o, b = get(ret, "quote_hit@5", lang), get(base, "quote_hit@5", lang)
        lines.append(f"| retrieval hit@5 {lang} (quote rule) | {_fmt(o)} | {_fmt(b)} | {_ratio(o, b)} | {TARGETS['hit']} | {_met(t['hit_' + lang])} |")
    for lang in LANGS:
        lines.append(f"| retrieval hit@5 {lang} (section rule, passages) | {_fmt(get(ret, 'section_hit@5_passages', lang))} | — | — | | |")
    for name, a in answers.items():
        for lang in LANGS:
            n = sum(r["label"] == "answerable" and r["lang"] == lang for r in a["rows"])  # a subset can be tiny
            lines.append(f"| answer hit@5 {lang} (section rule, citations, `{name}`) | {_fmt(get(a, 'section_hit@5_citations', lang))} (n={n}) | — | — | | |")
    o50, b50, o95, b95 = get(ret, "p50_ms"), get(base, "p50_ms"), get(ret, "p95_ms"), get(base, "p95_ms")
    warm = get(ing, "warm_wrote_nothing")
    wrote = None if warm is None else ("nothing written" if warm else f"WROTE +{ing['warm_added']} −{ing['warm_removed']}")
    lines += [
        f"| retrieval latency p50 warm | {_fmt(o50, ' ms')} | {_fmt(b50, ' ms')} | {_ratio(o50, b50)} | {TARGETS['retrieval_p50']} | {_met(t['retrieval_p50'])} |",
        f"| retrieval latency p95 warm | {_fmt(o95, ' ms')} | {_fmt(b95, ' ms')} | {_ratio(o95, b95)} | | |",
        f"| index build (cold ingest / `from_documents`) | {_fmt(get(ing, 'cold_s'), ' s')} ({_fmt(get(ing, 'chunks_total'))} chunks) "
        f"| {_fmt(get(base, 'build_s'), ' s')} ({_fmt(get(base, 'chunks'))} chunks) | {_ratio(get(ing, 'cold_s'), get(base, 'build_s'))} | | |",
        f"| re-ingest, unchanged corpus | {_fmt(get(ing, 'warm_s'), ' s')} ({_fmt(wrote)}) | — | — | {TARGETS['reingest']} | {_met(t['reingest'])} |",
        f"| embedding throughput: our pipeline / raw `encode` | {_fmt(get(ing, 'embed_ours_per_s'))} / {_fmt(get(ing, 'embed_raw_per_s'))} passages/s "
        f"| — | time ratio {_fmt(get(ing, 'embed_ratio'))}× | {TARGETS['embed_ratio']} | {_met(t['embed_ratio'])} |",
    ]
    for name, a in answers.items():
        subset = "" if a["questions"] == result["questions"] else f", {a['questions']}-question subset"
        lines.append(
            f"| answer latency p50 / p95 (`{name}`{subset}) | {_fmt(_seconds(a['p50_ms']), ' s')} / {_fmt(_seconds(a['p95_ms']), ' s')} | — | — | | |"
        )
    lines += [
        # The baseline's one stage builds its index and queries it: compare it with our ingest.
        f"| peak RSS: index build (ours: ingest; baseline: build + queries) | {_fmt(get(ing, 'peak_rss_mb'), ' MB')} "
        f"| {_fmt(get(base, 'peak_rss_mb'), ' MB')} | {_ratio(get(ing, 'peak_rss_mb'), get(base, 'peak_rss_mb'))} | | |",
        f"| peak RSS: retrieval (embedder + index loaded) | {_fmt(get(ret, 'peak_rss_mb'), ' MB')} | — | — | | |",
    ]
    for name, a in answers.items():
        target = (TARGETS["rss"], _met(t["rss"])) if name == "embedded" else ("", "")
        lines.append(f"| peak RSS: answer (`{name}`) | {_fmt(a['peak_rss_mb'], ' MB')} | — | — | {target[0]} | {target[1]} |")
    lines += [
        "",
        "Notes: hit@5 counts answerable questions (per language) whose gold evidence quote is in one of the "
        "top 5 retrieved texts (whitespace-normalised), or ≥ 60% of its words in order; the baseline gets the "
        "same standalone (follow-up-rewritten) query as ours. Latencies are warm (one untimed pass first). "
        f"Embedder load ({_fmt(get(ing, 'embedder_load_s'), ' s')}) is not in the ingest time. Embedding throughput: "
        f"{_fmt(get(ing, 'embed_texts'))} texts, batch {_fmt(get(ing, 'embed_batch_size'))}, one run each. "
        "Each stage ran in its own process; RSS is its VmHWM (MB = 10^6 bytes).",
    ]
    for name, a in answers.items():
        if a["questions"] == result["questions"]:
            continue
        abstain = sum(r["label"] == "abstain" for r in a["rows"])
        lines.append(
            f"`{name}` was timed on {a['questions']} evenly spaced questions to keep the run short "
            f"({', '.join(r['id'] for r in a['rows'])}; {abstain} of them abstain questions); "
            f"its untimed warm-up (model load + first answer) took {a['warmup_s']} s."
        )
    return "\n".join(lines) + "\n"


def evaluate_targets(ing: Row | None, ret: Row | None, base: Row | None, answers: dict[str, Row]) -> dict[str, bool | None]:
    """True/False per target; None when the figure is missing (a stage failed or was not run)."""

    def check(value: Any, ok: Callable[[Any], bool]) -> bool | None:
        return None if value is None else ok(value)

    targets: dict[str, bool | None] = {}
    for lang in LANGS:
        o, b = get(ret, "quote_hit@5", lang), get(base, "quote_hit@5", lang)
        targets["hit_" + lang] = None if o is None or b is None else o > b
    targets["retrieval_p50"] = check(get(ret, "p50_ms"), lambda v: v <= 150)
    targets["reingest"] = check(get(ing, "warm_s"), lambda v: v <= 2.0 and bool(ing["warm_wrote_nothing"]))
    targets["embed_ratio"] = check(get(ing, "embed_ratio"), lambda v: v <= 1.5)
    # The app's whole footprint is the answer stage with the embedded LLM (embedder + index + LLM).
    peaks = [get(ing, "peak_rss_mb"), get(ret, "peak_rss_mb")] + [a["peak_rss_mb"] for a in answers.values()]
    targets["rss"] = max(p for p in peaks if p is not None) <= 2500 if "embedded" in answers else None
    return targets


def evenly_spaced(items: Sequence[Row], n: int) -> list[Row]:
    if n >= len(items):
        return list(items)
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)] if n > 1 else [items[0]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedder", default="embeddinggemma")
    parser.add_argument("--generators", default="none,embedded", help="comma-separated: none, embedded, ...")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "artifacts" / "benchmarks", help="folder for latest.md/.json")
    parser.add_argument("--papers-dir", type=Path, default=None, help="default: corpus/papers if staged, else ../shared/papers")
    parser.add_argument("--llm-questions", type=int, default=8, help="questions timed per LLM generator")
    parser.add_argument("--resume", action="store_true", help="keep the stages a stopped run finished (same options)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    staged = PROJECT_ROOT / "corpus" / "papers"
    papers_dir = args.papers_dir or (staged if any(staged.glob("*.md")) else SHARED_PAPERS)
    generators = [g.strip() for g in args.generators.split(",") if g.strip()]
    questions = load_questions()
    options = {"embedder": args.embedder, "papers_dir": str(papers_dir), "llm_questions": args.llm_questions}

    # The indexes and each finished stage's figures live in a work folder (not a temp dir), so
    # `--resume` can finish a run stopped from outside without redoing hour-long stages.
    work = args.out / "work"
    saved = json.loads((work / "run.json").read_text()) if args.resume and (work / "run.json").exists() else None
    if saved is None or saved["options"] != options:
        shutil.rmtree(work, ignore_errors=True)
        saved = {"options": options, "loadavg_start": list(os.getloadavg()), "sessions": 0, "stages": {}, "stage_load": {}}
    saved["sessions"] += 1
    earlier_s = saved.get("total_s", 0.0)  # time spent by the stopped invocations
    work.mkdir(parents=True, exist_ok=True)
    done: Row = saved["stages"]
    failed: dict[str, str] = {}

    def write(complete: bool) -> str:
        saved["total_s"] = round(earlier_s + time.perf_counter() - started, 1)
        (work / "run.json").write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
        answers = {k.removeprefix("answers-"): v for k, v in done.items() if k.startswith("answers-")}
        result: Row = {
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "complete": complete,
            "sessions": saved["sessions"],  # > 1: resumed after the run was stopped from outside
            "machine": machine_info(),
            "loadavg_start": [round(x, 2) for x in saved["loadavg_start"]],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "loadavg_1min_at_stage_start": saved["stage_load"],
            "shared_machine": saved["loadavg_start"][0] > SHARED_LOAD or any(v > SHARED_LOAD for v in saved["stage_load"].values()),
            "embedder": args.embedder,
            "papers_dir": str(papers_dir),
            "questions": len(questions),
            "answerable": sum(q["label"] == "answerable" for q in questions),
            **{k: v for k, v in done.items() if not k.startswith("answers-")},
            "answers": answers,
            "failed": failed,
            "targets": evaluate_targets(done.get("ingest"), done.get("retrieval"), done.get("baseline"), answers),
            "target_texts": TARGETS,
            "total_s": saved["total_s"],
        }
        markdown = render(result)
        (args.out / "latest.md").write_text(markdown, encoding="utf-8")
        (args.out / "latest.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return markdown

    def run(name: str, fn: Callable[..., Row], *fn_args: Any) -> bool:
        # A failed stage is recorded and the others still run: one crash must not cost the
        # whole (long) run its figures. Figures are written after every stage.
        if name in done:
            print(f"{name}: kept from the stopped run", flush=True)
            return True
        print(f"{name}…", flush=True)
        saved["stage_load"][name] = round(os.getloadavg()[0], 2)
        try:
            done[name] = in_child(fn, *fn_args)
        except StageFailed as exc:
            failed[name] = str(exc)
            print(f"  {exc}", flush=True)
        write(complete=False)
        return name in done

    settings = bench_settings(args.embedder, work / "chroma", papers_dir)
    run("baseline", stage_baseline, settings, questions, work / "baseline")
    if run("ingest", stage_ingest, settings):  # the later stages read the index it built
        run("retrieval", stage_retrieval, settings, questions)
        for name in generators:
            timed = questions if name == "none" else evenly_spaced(questions, args.llm_questions)
            warmup = next(q for q in questions if q not in timed) if len(timed) < len(questions) else questions[0]
            run(f"answers-{name}", stage_answers, settings.with_overrides(generator=name), timed, warmup)

    print(write(complete=not failed))
    if not failed:
        for index_dir in ("chroma", "baseline"):  # keep run.json; the indexes are ~60 MB of scratch
            shutil.rmtree(work / index_dir, ignore_errors=True)
    print(f"wrote {args.out / 'latest.md'} and {args.out / 'latest.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
