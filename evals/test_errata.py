"""The guide's claims checked against the papers: verdicts, corrections, evidence, citations.

Each gold claim goes through `Assistant.checker.check_claim` — the call the app makes for every
claim it cuts from an answer — with its guide question's topic, nothing else from the gold.
"""

from __future__ import annotations

import time

from evals.conftest import load_cases
from evals.metrics import (
    LABELS,
    accuracy,
    confusion,
    macro_f1,
    mention_coverage,
    section_hit,
    wrong_claim_recall,
)
from evals.report import failed_gates, gate_table, save
from evals.thresholds import ERRATA
from ingest.parse_guide import topic_of


def test_errata(assistant, report_dir):
    generator = assistant.settings.generator
    rows = []
    started_all = time.perf_counter()
    for case in load_cases("errata.jsonl"):
        started = time.perf_counter()
        result = assistant.checker.check_claim(case["claim_zh"], topic_of(case["guide_question"]))
        citations = [
            {"source": c.source, "section": c.section, "section_path": c.section_path} for c in result.citations
        ]
        rows.append({
            "id": case["id"],
            "gold": case["label"],
            "predicted": result.verdict,
            "support": round(result.support, 3),
            "mention": mention_coverage(case["must_mention"], result.correction) if case["label"] != "supported" else None,
            "hit": section_hit(case["evidence"], citations[:5]),
            "citations_valid": all(c.quote in assistant.index.chunk(c.chunk_id).text for c in result.citations),
            "seconds": round(time.perf_counter() - started, 2),
            "correction": result.correction,
            "cited_sections": [f"{c['source']}: {c['section']}" for c in citations],
        })
        row = rows[-1]
        print(f"  {row['id']} {generator}: {row['gold']} -> {row['predicted']} ({row['seconds']}s)", flush=True)
    gold = [r["gold"] for r in rows]
    predicted = [r["predicted"] for r in rows]
    corrected = [r["mention"] for r in rows if r["mention"] is not None]
    metrics = {
        "accuracy": accuracy(gold, predicted),
        "macro_f1": macro_f1(gold, predicted),
        "wrong_claim_recall": wrong_claim_recall(gold, predicted),
        "must_mention": sum(corrected) / len(corrected) if corrected else 0.0,
        "hit@5": sum(r["hit"] for r in rows) / len(rows),
        "citation_validity": sum(r["citations_valid"] for r in rows) / len(rows),
        "seconds_total": time.perf_counter() - started_all,
    }
    gates = ERRATA[generator]
    print(gate_table(f"errata ({generator}, {len(rows)} claims)", metrics, gates))
    matrix = confusion(gold, predicted)
    print("confusion (rows gold, columns predicted):", " ".join(f"{p[:12]:>12s}" for p in LABELS))
    for g in LABELS:
        print(f"  {g:14s}", " ".join(f"{matrix[g][p]:12d}" for p in LABELS))
    for r in rows:
        if r["gold"] != r["predicted"]:
            print(f"  miss {r['id']}: gold {r['gold']}, got {r['predicted']} (support {r['support']}) cited {r['cited_sections'][:2]}")
    save(report_dir / f"errata-{generator}.json", {"metrics": metrics, "confusion": matrix, "rows": rows})
    assert not failed_gates(metrics, gates), failed_gates(metrics, gates)
