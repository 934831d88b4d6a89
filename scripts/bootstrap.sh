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
# llama-cpp-python has no wheel on PyPI: the first install compiles it (~5 min, cached by pip).
.venv/bin/pip install -q -e ".[llm,test]"

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
