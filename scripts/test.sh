#!/usr/bin/env bash
# Every test: sets up what they need, then the Rust tests (CPU and wgpu/lavapipe), the wasm build
# and the browser tests (headless Chromium: WebGPU and CPU).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$root/scripts/setup.sh"
cd "$root"
say "Rust tests"
PALATE_REQUIRE_WGPU=${PALATE_REQUIRE_WGPU:-1} cargo test --release --workspace --exclude palate-wasm -- --nocapture
"$root/scripts/build-wasm.sh"
say "size budget (web/size-budget.json)"
node "$root/scripts/size-budget.mjs" --check
say "browser tests"
cd "$root/web" && node --test --test-reporter=spec test/*.test.mjs
