"""The embedder's precision: which one a machine gets, that it names the index, and that bf16
vectors stay close to float32's after the mapped fp32 pages are released."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.embed import cpu_has_native_bf16, embedder_slug, index_slug, load_embedder
from studyguide.errors import UserError

TEXTS = [
    "SAM 2 keeps a memory bank of recent frames and prompted frames.",
    "DINOv2 的 teacher 用 EMA 更新。",
    "The data engine has three stages: assisted-manual, semi-automatic and fully automatic.",
]


@pytest.mark.parametrize(
    "cpuinfo, expected",
    [
        ("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 avx512_vnni\n", True),
        ("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n", False),
        ("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n", True),
        ("", False),
    ],
)
def test_native_bf16_is_read_from_cpu_flags(tmp_path, cpuinfo, expected):
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    assert cpu_has_native_bf16(path) is expected


def test_missing_cpuinfo_means_float32(tmp_path):
    assert cpu_has_native_bf16(tmp_path / "absent") is False


def test_precision_is_part_of_the_index_identity(fast_settings):
    assert embedder_slug("google/embeddinggemma-300m") == "embeddinggemma-300m"
    assert embedder_slug("google/embeddinggemma-300m", "bfloat16") == "embeddinggemma-300m-bf16"
    fp32 = fast_settings.with_overrides(embed_precision="float32")
    bf16 = fast_settings.with_overrides(embed_precision="bfloat16")
    assert index_slug(fp32) != index_slug(bf16)


def test_unknown_precision_is_refused(fast_settings):
    with pytest.raises(UserError, match="embed_precision"):
        fast_settings.with_overrides(embed_precision="int8")


def test_bf16_vectors_match_float32(fast_settings):
    fp32 = load_embedder(fast_settings.with_overrides(embed_precision="float32"))
    bf16 = load_embedder(fast_settings.with_overrides(embed_precision="bfloat16"))
    assert bf16.slug.endswith("-bf16") and not fp32.slug.endswith("-bf16")

    # The input embedding table stays float32 (and mapped); everything else computes in bf16.
    table = bf16.model[0].auto_model.get_input_embeddings()
    in_table = {id(p) for p in table.parameters()}
    assert str(table.weight.dtype) == "torch.float32"
    assert {str(p.dtype) for p in bf16.model.parameters() if id(p) not in in_table} == {"torch.bfloat16"}

    a = np.array(fp32.embed_documents(TEXTS))
    b = np.array(bf16.embed_documents(TEXTS))
    cosines = (a * b).sum(axis=1)
    assert cosines.min() > 0.99
    # The same ranking of documents for a query, in either precision.
    q32 = np.array(fp32.embed_query("How does SAM 2 remember earlier frames?"))
    q16 = np.array(bf16.embed_query("How does SAM 2 remember earlier frames?"))
    assert np.argsort(-(a @ q32)).tolist() == np.argsort(-(b @ q16)).tolist()
    # Encoding again after the mapped pages were released gives the same vectors.
    again = np.array(bf16.embed_documents(TEXTS))
    assert np.allclose(again, b, atol=1e-6)
