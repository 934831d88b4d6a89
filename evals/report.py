"""Printing and saving eval results."""

from __future__ import annotations

import json
from pathlib import Path


def gate_table(title: str, metrics: dict[str, float], gates: dict[str, tuple[float, float]]) -> str:
    lines = [f"\n{title}", f"{'metric':22s} {'value':>7s} {'guard':>7s} {'target':>7s}"]
    for name, value in metrics.items():
        guard, target = gates.get(name, (None, None))
        g = f"{guard:7.2f}" if guard is not None else "      -"
        t = f"{target:7.2f}" if target is not None else "      -"
        flag = "" if target is None or value >= target else "  (below target)"
        lines.append(f"{name:22s} {value:7.3f} {g} {t}{flag}")
    return "\n".join(lines)


def failed_gates(metrics: dict[str, float], gates: dict[str, tuple[float, float]]) -> list[str]:
    return [f"{k}={metrics[k]:.3f} < guard {g:.2f}" for k, (g, _) in gates.items() if k in metrics and metrics[k] < g]


def save(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"report written to {path}")
