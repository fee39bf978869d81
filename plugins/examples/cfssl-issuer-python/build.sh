#!/usr/bin/env bash
# Builds cfssl_issuer.wasm from app.py with componentize-py, against the WIT v0.2
# `issuer-plugin` world of this repository. Usage: build.sh [OUTPUT_DIR]
# (default: this folder). componentize-py is taken from $COMPONENTIZE_PY, else
# from PATH, else from the venv scripts/setup makes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
tool="${COMPONENTIZE_PY:-}"
if [ -z "$tool" ]; then
  tool="$(command -v componentize-py || true)"
fi
if [ -z "$tool" ]; then
  tool="${XDG_CACHE_HOME:-$HOME/.cache}/sceptic/componentize-py/bin/componentize-py"
fi
if [ ! -x "$tool" ]; then
  echo "componentize-py not found; run scripts/setup (or: pip install componentize-py==0.25.1)" >&2
  exit 1
fi
mkdir -p "$out"
cd "$here"
"$tool" -d ../../../wit/v0.2 -w issuer-plugin componentize app -o "$out/cfssl_issuer.wasm"
