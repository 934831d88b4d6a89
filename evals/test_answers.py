"""Follow-up questions answered from the papers: evidence hit@5, must-mention, abstention,
citation validity and latency, per generator."""

from __future__ import annotations

import time

from evals.conftest import load_cases
from evals.metrics import mention_coverage, percentile, section_hit
from evals.report import failed_gates, gate_table, save
from evals.thresholds import ANSWERS


def test_questions(assistant, report_dir):
    generator = assistant.settings.generator
    rows = []
    for case in load_cases("questions.jsonl"):
        started = time.perf_counter()
        answer = assistant.ask(case["question"], case.get("history", []))
        seconds = time.perf_counter() - started
        citations = [
            {"source": c.source, "section": c.section, "section_path": c.section_path} for c in answer.citations[:5]
        ]
        valid = all(c.quote and c.quote in assistant.index.chunk(c.chunk_id).text for c in answer.citations)
        rows.append({
            "id": case["id"],
            "lang": case["lang"],
            "label": case["label"],
            "abstained": answer.abstained,
            "hit": section_hit(case["evidence"], citations) if case["label"] == "answerable" else None,
            "mention": mention_coverage(case["must_mention"], answer.answer) if case["label"] == "answerable" else None,
            "citations_valid": valid,
            "seconds": round(seconds, 3),
            "standalone_question": answer.standalone_question,
            "answer": answer.answer,
            "cited_sections": [f"{c['source']}: {c['section']}" for c in citations],
        })
        row = rows[-1]
        print(f"  {row['id']} {generator}: hit={row['hit']} abstained={row['abstained']} {seconds:.1f}s", flush=True)

    answerable = [r for r in rows if r["label"] == "answerable"]
    abstain = [r for r in rows if r["label"] == "abstain"]

    def mean(values):
        values = list(values)
        return sum(values) / len(values) if values else 0.0

    seconds = [r["seconds"] for r in rows]
    metrics = {
        "hit@5": mean(r["hit"] for r in answerable),
        "hit@5_en": mean(r["hit"] for r in answerable if r["lang"] == "en"),
        "hit@5_zh": mean(r["hit"] for r in answerable if r["lang"] == "zh-Hant"),
        "must_mention": mean(r["mention"] for r in answerable),
        "abstention": mean(r["abstained"] for r in abstain),
        "false_abstention": mean(r["abstained"] for r in answerable),
        "citation_validity": mean(r["citations_valid"] for r in rows),
        "latency_p50_s": percentile(seconds, 50),
        "latency_p95_s": percentile(seconds, 95),
    }
    gates = ANSWERS[generator]
    print(gate_table(f"answers ({generator}, {len(rows)} questions)", metrics, gates))
    for r in rows:
        if r["hit"] is False or (r["label"] == "abstain") != r["abstained"]:
            print(f"  miss {r['id']} [{r['lang']}] abstained={r['abstained']} cited={r['cited_sections'][:3]}")
    save(report_dir / f"answers-{generator}.json", {"metrics": metrics, "rows": rows})
    assert not failed_gates(metrics, gates), failed_gates(metrics, gates)
