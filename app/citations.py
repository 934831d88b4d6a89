"""Citation markers and quotes, in one place.

A generator's `[n]` markers are kept only when they point at a passage it was shown; the rest
are stripped. Each kept marker becomes a Citation whose quote is cut, by offsets, from the
chunk's own sentences, so it is always a verbatim substring of the stored text.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from app.lexical import tokenize
from studyguide.types import Citation, Passage

_MARKER = re.compile(r"\[(\d{1,2}(?:\s*[,，、]\s*\d{1,2})*)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[$\"“])|\n+")
MAX_QUOTE_CHARS = 400


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of an English chunk, whitespace trimmed."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e - s >= 3:
            out.append((s, e))
    return out


def best_quote(chunk_text: str, evidence_for: str, max_sentences: int = 2) -> str:
    """The chunk sentence(s) sharing most terms with `evidence_for` (an answer sentence or claim)."""
    spans = sentence_spans(chunk_text)
    if not spans:
        return chunk_text[:MAX_QUOTE_CHARS]
    wanted = set(tokenize(evidence_for))

    def overlap(span: tuple[int, int]) -> float:
        terms = set(tokenize(chunk_text[span[0] : span[1]]))
        return len(terms & wanted) + 0.01 * bool(re.search(r"\d", chunk_text[span[0] : span[1]]))

    scored = sorted(range(len(spans)), key=lambda i: (-overlap(spans[i]), i))
    best = scored[0]
    start, end = spans[best]
    # Take the next sentence too when it also matches and the quote stays short.
    if max_sentences > 1 and best + 1 < len(spans) and overlap(spans[best + 1]) >= 1:
        if spans[best + 1][1] - start <= MAX_QUOTE_CHARS:
            end = spans[best + 1][1]
    if end - start > MAX_QUOTE_CHARS:
        cut = chunk_text.rfind(" ", start, start + MAX_QUOTE_CHARS)
        end = cut if cut > start else start + MAX_QUOTE_CHARS
    return chunk_text[start:end]


def make_citation(n: int, passage: Passage, evidence_for: str) -> Citation:
    chunk = passage.chunk
    return Citation(
        n=n,
        source=chunk.source,
        arxiv_id=chunk.arxiv_id,
        page=chunk.page_start,
        section=chunk.section,
        quote=best_quote(chunk.text, evidence_for),
        chunk_id=chunk.chunk_id,
        section_number=chunk.section_number,
        section_path=chunk.section_path,
    )


def _numbers(marker_body: str) -> list[int]:
    return [int(x) for x in re.split(r"\s*[,，、]\s*", marker_body) if x]


def resolve_citations(text: str, passages: list[Passage]) -> tuple[str, list[Citation]]:
    """Renumber valid markers by first appearance, drop dangling ones, attach quotes."""
    order: list[int] = []  # passage indexes (0-based) in order of first citation
    evidence: dict[int, list[str]] = {}
    previous_end, segment = 0, ""
    for marker in _MARKER.finditer(text):
        # The words a marker vouches for: what stands since the previous marker; adjacent
        # markers ("… [1][2]") share one segment.
        between = text[previous_end : marker.start()]
        if between.strip(" \t,，、"):
            segment = between
        previous_end = marker.end()
        for number in _numbers(marker.group(1)):
            if 1 <= number <= len(passages):
                if number - 1 not in order:
                    order.append(number - 1)
                evidence.setdefault(number - 1, []).append(segment)
    renumber = {index: n for n, index in enumerate(order, start=1)}

    def rewrite(match: re.Match) -> str:
        kept = [renumber[x - 1] for x in _numbers(match.group(1)) if x - 1 in renumber]
        return "".join(f"[{n}]" for n in dict.fromkeys(kept))

    clean = _MARKER.sub(rewrite, text)
    clean = re.sub(r"[ \t]+([.,;:。，；])", r"\1", clean).strip()
    citations = [make_citation(renumber[i], passages[i], " ".join(evidence[i])) for i in order]
    return clean, citations


_ANSWER_SENTENCE = re.compile(r".+?(?:[。！？!?]|\.(?=\s|$)|$)", re.DOTALL)


def _backing_scores(sentence: str, passage_terms: list[set[str]], idf) -> list[float]:
    """How strongly each passage backs an answer sentence: the summed rarity of the terms they
    share (markers aside; Chinese words count through their glossary English)."""
    terms = set(tokenize(_MARKER.sub("", sentence)))
    return [sum(idf(t) for t in terms & pt) for pt in passage_terms]


def attach_markers(
    text: str,
    passages: list[Passage],
    idf,
    min_score: float = 4.0,
    similarity: Callable[[list[str]], list[list[float]]] | None = None,
    similarity_weight: float = 0.0,
) -> str:
    """Give each unmarked answer sentence the [n] of the passage that backs it best.

    Small models often answer correctly but forget the markers. "Best" is the summed rarity of
    shared terms, blended (by `similarity_weight`) with the embedding similarity of sentence and
    passage, which reads a Chinese sentence's meaning where the glossary knows few of its
    words. A sentence sharing too few rare terms with every passage (below `min_score`) stays
    unmarked, and an answer with no backed sentence is not treated as grounded.
    """
    passage_terms = [set(tokenize(p.chunk.text)) for p in passages]
    sentences = _ANSWER_SENTENCE.findall(text)
    unmarked = [s for s in sentences if s.strip() and not _MARKER.search(s)]
    cosines = dict(zip(unmarked, similarity(unmarked))) if similarity and similarity_weight and unmarked else {}
    out = []
    for sentence in sentences:
        if _MARKER.search(sentence) or not sentence.strip():
            out.append(sentence)
            continue
        scores = _backing_scores(sentence, passage_terms, idf)
        ranking = scores
        if sentence in cosines:
            top = max(scores) or 1.0
            ranking = [(1 - similarity_weight) * x / top + similarity_weight * c for x, c in zip(scores, cosines[sentence])]
        best = max(range(len(scores)), key=ranking.__getitem__, default=None)
        if best is None or scores[best] < min_score:
            out.append(sentence)
            continue
        stripped = sentence.rstrip()
        out.append(f"{stripped} [{best + 1}]" + sentence[len(stripped):])
    return "".join(out)


def corroborate_markers(text: str, passages: list[Passage], idf, ratio: float = 0.8, min_score: float = 6.0) -> str:
    """Add to each marked sentence the markers of other passages that back it as well as the
    one it cites (IDF overlap at least `ratio` of the cited passage's and `min_score`).

    A small model cites one passage per sentence even when the paper says the same thing in
    its method section and its appendix; the student should see both addresses.
    """
    passage_terms = [set(tokenize(p.chunk.text)) for p in passages]
    out = []
    for sentence in _ANSWER_SENTENCE.findall(text):
        markers = list(_MARKER.finditer(sentence))
        cited = {n - 1 for m in markers for n in _numbers(m.group(1)) if 1 <= n <= len(passages)}
        if not cited:
            out.append(sentence)
            continue
        scores = _backing_scores(sentence, passage_terms, idf)
        floor = max(min_score, ratio * max(scores[i] for i in cited))
        extra = [i for i in range(len(passages)) if i not in cited and scores[i] >= floor]
        if not extra:
            out.append(sentence)
            continue
        last = markers[-1]
        added = "".join(f"[{i + 1}]" for i in extra)
        out.append(sentence[: last.end()] + added + sentence[last.end():])
    return "".join(out)


def quote_is_verbatim(citation: Citation, chunk_text: str) -> bool:
    return bool(citation.quote) and citation.quote in chunk_text
