"""The tokenizer and term checks that retrieval, abstention and the checker rely on."""

from app.lexical import LexicalIndex, specific_terms, tokenize


def test_specific_terms_stop_at_chinese_text():
    text = "DINOv2的架構主要基於Vision Transformer（ViT），SAM2的memory bank、SA-1B和iBOT"
    assert specific_terms(text) == {"DINOv2", "ViT", "SAM2", "SA-1B"}


def test_tokenize_mixed_question_uses_english_terms_and_glossary():
    tokens = tokenize("DINOv2 的 teacher 是怎麼更新的？momentum 設多少？遮擋")
    assert {"dinov2", "teacher", "momentum", "occlusion"} <= set(tokens)
    assert "sinkhorn-knopp" in tokenize("Sinkhorn-Knopp centering") and "knopp" in tokenize("Sinkhorn-Knopp")


def test_unknown_terms_are_the_ones_no_paper_uses():
    index = LexicalIndex(["We evaluate on Kinetics-400 and ADE20k with a ViT-g backbone.", "SAM uses an MAE encoder."])
    assert index.unknown_terms("Does ViT-g reach 90% on Kinetics-700 or BraTS?") == ["BraTS", "Kinetics-700"]
    assert index.unknown_terms("SAM 的 MAE encoder 是什麼？") == []
    assert index.idf("kinetics-700") > index.idf("vit-g")
