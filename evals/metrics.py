"""Eval metrics as pure functions (unit-tested in tests/test_metrics.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

LABELS = ("supported", "contradicted", "not_in_papers")


def norm_section(text: str) -> str:
    return re.sub(r"[\s.:]+$", "", re.sub(r"\s+", " ", text.strip().lower()))


def section_hit(gold_evidence: Sequence[dict], citations: Iterable[dict]) -> bool:
    """A citation names a gold (paper, section): the innermost heading or one on its path."""
    gold = {(e["paper"], norm_section(e["section"])) for e in gold_evidence}
    for c in citations:
        names = {norm_section(c["section"])} | {norm_section(s) for s in c.get("section_path", ())}
        if any((c["source"], n) in gold for n in names):
            return True
    return False


def mention_coverage(terms: Sequence[str], text: str) -> float:
    """Share of must-mention terms present (case-insensitive; numbers also without commas)."""
    if not terms:
        return 1.0
    haystack = text.lower().replace(",", "")
    return sum(t.lower().replace(",", "") in haystack for t in terms) / len(terms)


def confusion(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, dict[str, int]]:
    table = {g: {p: 0 for p in LABELS} for g in LABELS}
    for g, p in zip(gold, predicted):
        table[g][p] += 1
    return table


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    scores = []
    for label in LABELS:
        tp = sum(g == p == label for g, p in zip(gold, predicted))
        fp = sum(p == label and g != label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        if tp + fp + fn == 0:
            continue
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return sum(g == p for g, p in zip(gold, predicted)) / len(gold) if gold else 0.0


def wrong_claim_recall(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Of the claims the papers don't support, the share not marked supported."""
    wrong = [(g, p) for g, p in zip(gold, predicted) if g != "supported"]
    return sum(p != "supported" for _, p in wrong) / len(wrong) if wrong else 1.0


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
