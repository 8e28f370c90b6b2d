#!/usr/bin/env bash
# Every test: sets up what they need, then the Rust tests (CPU and wgpu/lavapipe), the three wasm
# builds and the browser tests (headless Chromium: WebGPU, CPU, and the CPU on every core).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$root/scripts/setup.sh"
cd "$root"
say "clippy (warnings are errors)"
cargo clippy --release --workspace --exclude palate-wasm --all-targets -- -D warnings
say "Rust tests"
# wgpu tests fail without an adapter; PALATE_ALLOW_NO_WGPU=1 (only where told so) lets them skip.
cargo test --release --workspace --exclude palate-wasm -- --nocapture
say "model packs for the browser tests (palate convert → models/packs/)"
mkdir -p "$root/models/packs"
for precision in f32 f16 q8 q4; do  # each under a second; the size report lists all four
  "$CARGO_TARGET_DIR/release/palate" convert --model "$root/models/all-MiniLM-L6-v2" --quantize $precision \
    --out "$root/models/packs/all-MiniLM-L6-v2.$precision.bpk"
done
for precision in f32 q4; do
  "$CARGO_TARGET_DIR/release/palate" convert --model "$root/tests/fixtures/rm/qwen3" --quantize $precision \
    --out "$root/models/packs/rm-qwen3.$precision.bpk"
done
"$root/scripts/build-wasm.sh"
say "size budget (web/size-budget.json)"
node "$root/scripts/size-budget.mjs" --check
say "browser tests"
cd "$root/web" && node --test --test-reporter=spec test/*.test.mjs
