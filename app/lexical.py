"""BM25 over the paper chunks, with a tokenizer for English text and mixed zh/en questions.

Chinese questions carry their key terms in English ("teacher", "Sinkhorn-Knopp", "mIoU"), and
the glossary maps common Chinese technical words to the papers' English, so lexical matching
works across the two languages without a translation model.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import bm25s
import numpy as np

from app.glossary import expand_chinese_terms

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)*|\d+(?:\.\d+)?%?")
_CJK = re.compile(r"[\u4e00-\u9fff]+")
STOPWORDS = frozenset(
    """a an and are as at be been but by can do does did for from has have how i if in into is it its
    of on or our that the their them then there these this those to was we were what when where which
    who why will with would you your than also such not no may more most other using used use via
    paper papers model""".split()
)


# Named things a question or claim can hinge on: versioned names (Kinetics-700, ViT-H), CamelCase
# and acronyms (BraTS, MRI, FPN). Plain words and bare numbers are not "specific".
# ASCII classes on purpose: \w would run on into the Chinese text that follows a term.
_SPECIFIC = re.compile(r"(?<![A-Za-z0-9])(?:[A-Za-z]+-?\d[A-Za-z0-9\-]*|[A-Z][a-z]*[A-Z][A-Za-z0-9\-]*|[A-Z]{2,}[A-Za-z0-9\-]*)")


def specific_terms(text: str) -> set[str]:
    return {m.group(0).rstrip("-") for m in _SPECIFIC.finditer(text)}


def _normalise(token: str) -> str:
    token = token.lower()
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """English words (hyphenated terms kept whole and also split), numbers, glossary terms."""
    tokens: list[str] = []
    for word in _WORD.findall(text):
        token = _normalise(word)
        if token in STOPWORDS or len(token) < 2 and not token.isdigit():
            continue
        tokens.append(token)
        if "-" in token:
            tokens.extend(p for p in token.split("-") if len(p) > 1 and p not in STOPWORDS)
    for run in _CJK.findall(text):
        for english in expand_chinese_terms(run):
            tokens.extend(tokenize(english))
    return tokens


class LexicalIndex:
    def __init__(self, texts: list[str]):
        self.size = len(texts)
        self._bm25 = bm25s.BM25(k1=1.2, b=0.75)
        corpus_tokens = [tokenize(t) or ["\u2400"] for t in texts]
        self._bm25.index(corpus_tokens, show_progress=False)
        frequency = Counter(token for tokens in corpus_tokens for token in set(tokens))
        self._idf = {t: math.log((self.size + 1) / (n + 0.5)) for t, n in frequency.items()}
        self._unseen_idf = math.log((self.size + 1) / 0.5)

    def idf(self, token: str) -> float:
        """Rarity of a token in the papers; a token they never use is the rarest."""
        return self._idf.get(token, self._unseen_idf)

    def knows(self, term: str) -> bool:
        """Whether the papers use this term (every token of it)."""
        tokens = tokenize(term)
        return bool(tokens) and all(t in self._idf for t in tokens)

    def unknown_terms(self, text: str) -> list[str]:
        return sorted(t for t in specific_terms(text) if not self.knows(t))

    def scores(self, query: str) -> np.ndarray:
        tokens = tokenize(query)
        if not tokens or self.size == 0:
            return np.zeros(self.size)
        return np.asarray(self._bm25.get_scores(tokens), dtype=float)
