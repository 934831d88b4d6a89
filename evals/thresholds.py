"""Quality gates: `guard` is the level the code has reached (a regression guard, raised as it
improves); `target` is the issue's goal, printed beside it.

Measured 2026-12-01 on an idle 2-core machine, embedder in bf16; the embedded errata guards on
2026-12-02 in float32 after the guide-check change (see their comment and the README).
`none` guards sit one case under the measured figures: no sampling, but a fresh HNSW index
can order near-ties differently. `embedded` guards sit two cases under: llama.cpp's float
sums may differ on another CPU, and a small model's choice of passage flips on near-ties.
"""

ANSWERS = {
    # metric: (guard, target)
    "none": {"hit@5": (0.81, 0.9), "hit@5_en": (0.81, 0.9), "hit@5_zh": (0.63, 0.9), "must_mention": (0.57, 0.8),
             "abstention": (1.0, 1.0), "citation_validity": (1.0, 1.0)},
    "embedded": {"hit@5": (0.72, 0.9), "hit@5_en": (0.63, 0.9), "hit@5_zh": (0.63, 0.9), "must_mention": (0.6, 0.8),
                 "abstention": (0.66, 1.0), "citation_validity": (1.0, 1.0)},
}

ERRATA = {
    # wrong-claim recall: 0.789 with the float32 embedder, 0.737 with bf16 (one claim), so one
    # case under the lower; must-mention 0.096 (2026-12-03, bf16, corrections quoting the papers).
    "none": {"accuracy": (0.5, 0.80), "macro_f1": (0.45, 0.7), "wrong_claim_recall": (0.68, 0.90),
             "must_mention": (0.04, 0.80), "hit@5": (0.63, 0.85), "citation_validity": (1.0, 1.0)},
    # 2026-12-02 (float32 embedder, AVX2-only CPU), bd0aa12 (five passages judged and cited,
    # backed-only corrections): accuracy 0.633, macro-F1 0.619, wrong-claim recall 1.000,
    # must-mention 0.053 (0.114 on the code before: generated text, a case either way), evidence
    # hit@5 0.767 (0.567 before). Guards two cases under. 2026-12-03 (bf16 embedder), 4c2d128
    # (corrections quote the papers' closest sentences): accuracy 0.633, macro-F1 0.613,
    # wrong-claim recall 0.947, must-mention 0.158, hit@5 0.767. 2026-12-04 (bf16, Xeon),
    # 56ab4cd (corrections quote what the papers say to the claim's question, chosen on dev:
    # 0.55 -> 0.74): accuracy 0.633, must-mention 0.096, hit@5 0.700 (the question's passages
    # come first among the citations; 0.132 / 0.767 in the clean-clone CI run, the questions
    # being sampled), so the hit@5 guard goes two cases under 0.700.
    "embedded": {"accuracy": (0.56, 0.80), "macro_f1": (0.55, 0.7), "wrong_claim_recall": (0.89, 0.90),
                 "must_mention": (0.05, 0.80), "hit@5": (0.63, 0.85), "citation_validity": (1.0, 1.0)},
}
