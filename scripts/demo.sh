#!/usr/bin/env bash
# The main job: sets everything up, builds the wasm, fetches the default model and serves the demo
# page on 127.0.0.1 (PORT, default 8080), printing its URL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$root/scripts/setup.sh" rust wasm npm model
"$root/scripts/build-wasm.sh"
exec node "$root/scripts/serve.mjs" --port "${PORT:-8080}"
