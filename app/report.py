"""The errata report a student reads or prints: Markdown or self-contained, escaped HTML."""

from __future__ import annotations

import html
from datetime import date

from studyguide.types import Citation, QuestionCheck

VERDICT_LABEL = {
    "supported": "✅ supported / 論文支持",
    "contradicted": "❌ contradicted / 與論文矛盾",
    "not_in_papers": "⚠️ not in the papers / 論文未提及",
}


def _cite(c: Citation) -> str:
    page = f", p. {c.page}" if c.page else ""
    return f"[{c.n}] {c.source} (arXiv {c.arxiv_id}), {c.section}{page}"


def _counts(results: list[QuestionCheck]) -> dict[str, int]:
    counts = {k: 0 for k in VERDICT_LABEL}
    for r in results:
        for c in r.claims:
            counts[c.verdict] += 1
    return counts


def render_markdown(results: list[QuestionCheck]) -> str:
    counts = _counts(results)
    lines = [
        "# Errata: the study guide checked against the papers",
        "",
        f"{date.today().isoformat()} · {sum(counts.values())} claims: "
        + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()),
        "",
    ]
    for r in results:
        lines += [f"## {r.question}. {r.title}", ""]
        for c in r.claims:
            lines.append(f"- **{VERDICT_LABEL[c.verdict]}** — guide: “{c.claim.text}”")
            if c.correction:
                lines.append(f"  - correction: {c.correction}")
            for cite in c.citations:
                lines.append(f"  - {_cite(cite)}: > {cite.quote}")
        lines.append("")
    return "\n".join(lines)


def render_html(results: list[QuestionCheck]) -> str:
    esc = html.escape
    counts = _counts(results)
    parts = [
        "<!doctype html><html lang='zh-Hant'><head><meta charset='utf-8'>",
        "<title>Errata: the study guide checked against the papers</title>",
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.5}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4rem;vertical-align:top}"
        ".supported{background:#eaf7ea}.contradicted{background:#fdeaea}.not_in_papers{background:#fff6e0}"
        "blockquote{margin:0;color:#333;font-style:italic}@media print{h2{page-break-before:auto}}</style></head><body>",
        "<h1>Errata: the study guide checked against the papers</h1>",
        f"<p>{esc(date.today().isoformat())} · "
        + ", ".join(f"{n} {esc(k.replace('_', ' '))}" for k, n in counts.items())
        + "</p>",
    ]
    for r in results:
        parts.append(f"<h2>{r.question}. {esc(r.title)}</h2>")
        parts.append("<table><tr><th>Guide says</th><th>Verdict</th><th>What the paper says</th></tr>")
        for c in r.claims:
            quotes = "".join(
                f"<blockquote>“{esc(cite.quote)}”</blockquote><small>{esc(_cite(cite))}</small>" for cite in c.citations
            )
            parts.append(
                f"<tr class='{esc(c.verdict)}'><td>{esc(c.claim.text)}</td><td>{esc(VERDICT_LABEL[c.verdict])}</td>"
                f"<td>{esc(c.correction)}{quotes}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_report(results: list[QuestionCheck], fmt: str) -> str:
    return render_html(results) if fmt == "html" else render_markdown(results)
