"""The dev questions (evals/cases/dev_questions.jsonl), for choosing retrieval and prompt
changes without looking at the reported cases. Not a test; it prints per question whether a
gold section is in the top 5, and the share per language.

    python -m evals.dev_run                        # retrieval only
    python -m evals.dev_run --generator embedded   # full answers: citations, abstention, seconds
    python -m evals.dev_run --generator embedded --claims   # dev claims: verdict and support
"""

from __future__ import annotations

import argparse
import os
import time

from app.assistant import Assistant
from evals.conftest import load_cases, make_eval_settings
from evals.metrics import mention_coverage, section_hit
from ingest.parse_guide import topic_of
from ingest.pipeline import run_ingest


def dev_assistant(generator: str | None) -> Assistant:
    settings = make_eval_settings()
    run_ingest(settings, progress=False, allow_download=False)
    # a cache of its own: verdicts from another code version must not be shown as this one's
    return Assistant(settings.with_overrides(generator=generator, check_cache=settings.check_cache / f"dev-{os.getpid()}"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--generator", help="answer with this generator instead of only retrieving")
    parser.add_argument("--claims", action="store_true", help="judge the dev claims instead")
    args = parser.parse_args()
    assistant = dev_assistant(args.generator)
    if args.claims:
        return judge_claims(assistant)
    hits: dict[str, list[bool]] = {}
    for case in load_cases("dev_questions.jsonl"):
        started = time.perf_counter()
        if args.generator:
            answer = assistant.ask(case["question"], case.get("history"))
            found = [(c.source, c.section, c.section_path) for c in answer.citations[:5]]
            extra = f"abstained={answer.abstained} {time.perf_counter() - started:.1f}s"
        else:
            draft = assistant.draft(case["question"], case.get("history"))
            found = [(p.chunk.source, p.chunk.section, p.chunk.section_path) for p in draft.passages[:5]]
            extra = ""
        hit = section_hit(case["evidence"], [{"source": s, "section": n, "section_path": p} for s, n, p in found])
        hits.setdefault(case["lang"], []).append(hit)
        print(f"{case['id']} {'hit ' if hit else 'MISS'} {extra} {[f'{s}: {n}' for s, n, _ in found]}", flush=True)
    for lang, values in sorted(hits.items()):
        print(f"hit@5 {lang}: {sum(values) / len(values):.3f} (n={len(values)})")


def judge_claims(assistant: Assistant) -> None:
    correct, mentions = 0, []
    cases = load_cases("dev_claims.jsonl")
    for case in cases:
        result = assistant.checker.check_claim(case["claim_zh"], topic_of(case["guide_question"]))
        correct += result.verdict == case["label"]
        mention = mention_coverage(case["must_mention"], result.correction) if case["label"] != "supported" else None
        if mention is not None:
            mentions.append(mention)
        print(f"{case['id']} gold {case['label']:13s} got {result.verdict:13s} support {result.support:.2f} "
              f"mention {mention} | {result.correction[:160]!r}", flush=True)
    print(f"accuracy {correct / len(cases):.3f} (n={len(cases)}); correction must-mention {sum(mentions) / len(mentions):.3f}")


if __name__ == "__main__":
    main()
