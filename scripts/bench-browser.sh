#!/usr/bin/env bash
# Palate vs transformers.js in one headless Chromium, plus the size budget and the native criterion
# figures, into bench/RESULTS.md and bench/latency.svg. A benchmark, never part of the tests:
#   1. the wasm build and the default model (scripts/setup.sh, scripts/build-wasm.sh);
#   2. a Python venv (torch, transformers, onnx, onnxruntime, matplotlib; pinned below, ~6 GB, made
#      once in ~/.cache/palate) and the ONNX export transformers.js needs, checked against the
#      float64 reference (scripts/export_onnx.py);
#   3. the peer, @huggingface/transformers, from bench/browser/package-lock.json (npm ci);
#   4. scripts/bench-browser.mjs (~10 minutes on 2 cores), scripts/size-budget.mjs;
#   5. with --native: cargo bench for the encoder (CPU, wgpu) and the personal model (~15 minutes);
#   6. bench/report.py.
# Arguments after the options go to bench-browser.mjs (--runs N, --warmup N, --only KEYS).
#   scripts/bench-browser.sh [--native] [--runs 5] [--warmup 1]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
native=0
if [ "${1:-}" = "--native" ]; then native=1; shift; fi
"$root/scripts/setup.sh"
"$root/scripts/build-wasm.sh"
cd "$root"

venv=${PALATE_BENCH_VENV:-$HOME/.cache/palate/venv-hf}
if ! "$venv/bin/python" -c 'import torch, transformers, onnx, onnxruntime, onnxscript, matplotlib' 2>/dev/null; then
  say "making the benchmark venv in $venv (torch, transformers, onnx, onnxruntime, matplotlib)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.15.0 transformers==5.24.0 safetensors==0.8.0 onnx==1.23.2 \
    onnxscript==0.7.2 onnxruntime==1.32.0 matplotlib==3.11.2
fi
model=models/all-MiniLM-L6-v2
if [ ! -f $model/onnx/model.onnx ] || [ $model/model.safetensors -nt $model/onnx/model.onnx ]; then
  say "ONNX export for transformers.js"
  "$venv/bin/python" scripts/export_onnx.py $model tests/fixtures/minilm.json
fi
say "transformers.js (npm ci in bench/browser)"
(cd bench/browser && npm ci --ignore-scripts --no-audit --no-fund >&2)

if [ $native = 1 ]; then
  say "native criterion benches (encoder CPU + wgpu, personal model)"
  # Only this run's figures: a renamed benchmark would otherwise leave its old entries behind.
  rm -rf "$CARGO_TARGET_DIR/criterion"
  cargo bench -p palate-tests --bench encoder >&2
  cargo bench -p palate-personal --bench taste >&2
fi
say "browser benchmark"
node scripts/bench-browser.mjs "$@"
node scripts/size-budget.mjs --json > bench/sizes.json
"$venv/bin/python" bench/report.py --criterion "$CARGO_TARGET_DIR/criterion"
node scripts/size-budget.mjs
