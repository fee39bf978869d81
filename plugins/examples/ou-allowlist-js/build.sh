#!/usr/bin/env bash
# Builds ou_allowlist.wasm from policy.js with jco (componentize-js, the
# StarlingMonkey JS engine), against the WIT v0.2 `policy-plugin` world of this
# repository. Usage: build.sh [OUTPUT_DIR] (default: this folder).
# jco is taken from $JCO, else from the npm tree scripts/setup installs from this
# folder's package.json and package-lock.json (~/.cache/sceptic/jco). Not from
# PATH: another jco may pull an incompatible preview2-shim (see README.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
tool="${JCO:-${XDG_CACHE_HOME:-$HOME/.cache}/sceptic/jco/node_modules/.bin/jco}"
if [ ! -x "$tool" ]; then
  echo "jco not found at $tool; run scripts/setup" >&2
  exit 1
fi
mkdir -p "$out"
cd "$here"
# `-d all`: no WASI at all (stdio, random, clocks, http, fetch-event). The
# policy needs none of it, and sceptic links no wasi:http for policies, so a
# component importing it would not load.
"$tool" componentize policy.js -w ../../../wit/v0.2 -n policy-plugin -d all \
  -o "$out/ou_allowlist.wasm"
