#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent: a venv with CPU torch first (else pip pulls a
# multi-GB CUDA build), the project with its LLM and test extras, and optionally Chromium.
#   scripts/bootstrap.sh            # Python side only
#   scripts/bootstrap.sh --browser  # plus Debian's chromium (and CJK fonts) for the page test
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
started=$(date +%s)

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/pip install -q torch==2.13.0
fi
# llama-cpp-python has no wheel on PyPI: the first install compiles it (~5 min, cached by pip),
# for this CPU. On a CPU that reports AMX, ggml's AMX kernels crash the process at the first
# decode on this workplace's VMs (general protection fault at `ldtilecfg` in
# ggml_backend_amx_mul_mat, Xeon Sapphire Rapids, 2026-12-04), so it is built without them;
# AVX-512, VNNI and BF16 stay. Elsewhere the flags change nothing.
if grep -qw amx_tile /proc/cpuinfo 2>/dev/null; then
  no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  export CFLAGS="${CFLAGS:-} $no_amx" CXXFLAGS="${CXXFLAGS:-} $no_amx"
fi
.venv/bin/pip install -q -e ".[llm,test]"
# pip's wheel cache does not know the flags: a build with AMX, from the cache or from before
# this check, is rebuilt.
if [ -n "${no_amx:-}" ] && .venv/bin/python -c "import llama_cpp, sys; sys.exit(b'AMX_INT8 = 1' not in llama_cpp.llama_print_system_info())" 2>/dev/null; then
  version=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('llama_cpp_python'))")
  echo "bootstrap: rebuilding llama-cpp-python $version without AMX (~5 min)"
  .venv/bin/pip install -q --force-reinstall --no-deps --no-cache-dir "llama-cpp-python==$version"
fi

if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    # Without the Noto fonts headless Chromium draws Chinese text and emoji as boxes.
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null
  else
    echo "bootstrap: chromium missing; install it with: sudo apt-get install chromium" >&2
  fi
fi
echo "bootstrap: ready in $(( $(date +%s) - started )) s"
