#!/usr/bin/env bash
# Palate against wllama (llama.cpp in wasm) on SmolLM2-135M-Instruct's GGUF in one headless
# Chromium → bench/gguf/results.json and bench/GGUF.md. A benchmark, never part of the tests.
#   scripts/bench-gguf.sh [--runs 3] [--backends cpu,webgpu]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$root/scripts/setup.sh"
"$root/scripts/build-wasm.sh"
cd "$root"
say "wllama (npm ci in bench/browser)"
(cd bench/browser && npm ci --ignore-scripts --no-audit --no-fund >&2)
node scripts/bench-gguf-browser.mjs "$@"
node bench/gguf/report.mjs > /dev/null
say "wrote bench/GGUF.md"
