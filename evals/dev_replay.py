"""Replay the guide check's corrections on the dev claims without judging them again.

Judging a dev claim with the embedded model takes ~20-30 s (translation, five support probes,
the claim's question); choosing what a correction quotes needs none of that
again. `dump` runs `GuideChecker.assess` once per dev claim and stores the judged text, verdict,
passages and question; `replay` rebuilds those judgements from the index and calls the real
`GuideChecker.correction`, so an edit to it is measured in about a minute, on the same
questions every time. Dev cases only: never the reported ones.

    python -m evals.dev_replay dump artifacts/dev-claims.json --generator embedded
    python -m evals.dev_replay replay artifacts/dev-claims.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from app.assistant import Assistant
from app.check import Judgement
from app.conversation import detect_language
from evals.conftest import load_cases
from evals.dev_run import dev_assistant
from evals.metrics import mention_coverage, section_hit
from ingest.parse_guide import topic_of
from studyguide.types import Passage


def dump(assistant: Assistant, path: Path) -> None:
    records = []
    for case in load_cases("dev_claims.jsonl"):
        judged_text, judgement = assistant.checker.assess(case["claim_zh"], topic_of(case["guide_question"]))
        records.append({
            "id": case["id"], "claim": case["claim_zh"], "judged": judged_text,
            "verdict": judgement.verdict, "support": judgement.support, "supporting": judgement.supporting,
            "question": judgement.question,
            "passages": [[p.chunk.chunk_id, p.score, p.dense] for p in judgement.passages],
        })
        print(case["id"], case["label"], "->", judgement.verdict, f"{judgement.support:.2f}", judgement.question, flush=True)
    gold = {case["id"]: case["label"] for case in load_cases("dev_claims.jsonl")}
    print(f"dev claims: verdict accuracy {sum(r['verdict'] == gold[r['id']] for r in records) / len(records):.3f} (n={len(records)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")


def replay(assistant: Assistant, path: Path) -> None:
    gold = {case["id"]: case for case in load_cases("dev_claims.jsonl")}
    index = assistant.index
    mentions, hits, correct = [], [], 0
    for record in json.loads(path.read_text(encoding="utf-8")):
        case = gold[record["id"]]
        passages = [Passage(index.chunk(chunk_id), score, dense) for chunk_id, score, dense in record["passages"]]
        judgement = Judgement(record["verdict"], record["support"], passages, record["supporting"], record.get("question"))
        correction, citations = assistant.checker.correction(
            record["judged"], judgement, detect_language(record["claim"]), topic_of(case["guide_question"])
        )
        cited = [{"source": c.source, "section": c.section, "section_path": c.section_path} for c in citations[:5]]
        hits.append(section_hit(case["evidence"], cited))
        correct += record["verdict"] == case["label"]
        if case["label"] != "supported":
            mentions.append(mention_coverage(case["must_mention"], correction))
            print(f"{case['id']} mention {mentions[-1]:.2f} {case['must_mention']} | {correction[:150]!r}")
    print(f"dev claims: verdict accuracy {correct / len(hits):.3f} (as dumped), correction must-mention {sum(mentions) / len(mentions):.3f} (n={len(mentions)}), "
          f"evidence hit@5 {sum(hits) / len(hits):.3f} (n={len(hits)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=("dump", "replay"))
    parser.add_argument("path", type=Path)
    parser.add_argument("--generator", default="none", help="the generator that judges (dump)")
    args = parser.parse_args()
    assistant = dev_assistant(args.generator)
    (dump if args.action == "dump" else replay)(assistant, args.path)


if __name__ == "__main__":
    main()
