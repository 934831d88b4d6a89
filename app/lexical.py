"""BM25 over the paper chunks, with a tokenizer for English text and mixed zh/en questions.

Chinese questions carry their key terms in English ("teacher", "Sinkhorn-Knopp", "mIoU"), and
the glossary maps common Chinese technical words to the papers' English, so lexical matching
works across the two languages without a translation model.
"""

from __future__ import annotations

import re

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

    def scores(self, query: str) -> np.ndarray:
        tokens = tokenize(query)
        if not tokens or self.size == 0:
            return np.zeros(self.size)
        return np.asarray(self._bm25.get_scores(tokens), dtype=float)
