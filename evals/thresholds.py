"""Quality gates: `guard` is the level the code has reached (a regression guard, raised as it
improves); `target` is the issue's goal, printed beside it."""

ANSWERS = {
    # metric: (guard, target)
    "none": {"hit@5": (0.0, 0.9), "hit@5_en": (0.0, 0.9), "hit@5_zh": (0.0, 0.9), "must_mention": (0.0, 0.8),
             "abstention": (0.0, 1.0), "citation_validity": (1.0, 1.0)},
    "embedded": {"hit@5": (0.0, 0.9), "hit@5_en": (0.0, 0.9), "hit@5_zh": (0.0, 0.9), "must_mention": (0.0, 0.8),
                 "abstention": (0.0, 1.0), "citation_validity": (1.0, 1.0)},
}

ERRATA = {
    "none": {"accuracy": (0.0, 0.80), "macro_f1": (0.0, 0.7), "wrong_claim_recall": (0.0, 0.90),
             "must_mention": (0.0, 0.80), "hit@5": (0.0, 0.85), "citation_validity": (1.0, 1.0)},
    "embedded": {"accuracy": (0.0, 0.80), "macro_f1": (0.0, 0.7), "wrong_claim_recall": (0.0, 0.90),
                 "must_mention": (0.0, 0.80), "hit@5": (0.0, 0.85), "citation_validity": (1.0, 1.0)},
}
