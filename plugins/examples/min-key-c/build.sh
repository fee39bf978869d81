#!/usr/bin/env bash
# Builds min_key.wasm from min_key.c against the WIT v0.2 `policy-plugin` world of
# this repository. Usage: build.sh [OUTPUT_DIR] (default: this folder).
#   1. wit-bindgen c          C bindings for the world (policy_plugin.{h,c} and
#                             the component-type object) into OUTPUT_DIR/min-key-c-bindings
#   2. clang                  a wasm32-wasi core module (Debian's clang, wasi-libc,
#                             libclang-rt-14-dev-wasm32, lld for wasm-ld)
#   3. wasm-tools component new   the component, with the WASI preview1 reactor
#                             adapter for whatever wasi-libc imports
# Tools: $WIT_BINDGEN, $WASM_TOOLS, $WASI_ADAPTER, else PATH / ~/.cargo/bin and the
# adapter scripts/setup extracts to ~/.cache/sceptic/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/sceptic"

find_tool() { # VAR_VALUE NAME
  if [ -n "$1" ]; then echo "$1"; return; fi
  command -v "$2" 2>/dev/null || echo "$HOME/.cargo/bin/$2"
}
wit_bindgen="$(find_tool "${WIT_BINDGEN:-}" wit-bindgen)"
wasm_tools="$(find_tool "${WASM_TOOLS:-}" wasm-tools)"
adapter="${WASI_ADAPTER:-$cache/wasi_snapshot_preview1.reactor.wasm}"
cc="${CC_WASM:-clang}"
for tool in "$wit_bindgen" "$wasm_tools" "$adapter"; do
  if [ ! -e "$tool" ]; then
    echo "$tool not found; run scripts/setup" >&2
    exit 1
  fi
done
command -v "$cc" >/dev/null || { echo "$cc not found; run scripts/setup" >&2; exit 1; }

bindings="$out/min-key-c-bindings"
rm -rf "$bindings"
mkdir -p "$bindings"
"$wit_bindgen" c "$here/../../../wit/v0.2" --world policy-plugin --out-dir "$bindings" >/dev/null
"$cc" --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra -Werror \
  -Wno-unused-parameter -I "$bindings" \
  "$here/min_key.c" "$bindings/policy_plugin.c" "$bindings/policy_plugin_component_type.o" \
  -o "$out/min_key.core.wasm"
"$wasm_tools" component new "$out/min_key.core.wasm" \
  --adapt "wasi_snapshot_preview1=$adapter" -o "$out/min_key.wasm.tmp"
"$wasm_tools" validate --features component-model "$out/min_key.wasm.tmp"
mv "$out/min_key.wasm.tmp" "$out/min_key.wasm"
