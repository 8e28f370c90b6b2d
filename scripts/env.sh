# Sourced by the other scripts: shared paths. A warm build folder outside the clone keeps
# rebuilds incremental (CI clones afresh each time).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palate/target}
export PATH="$HOME/.cargo/bin:$PATH"
say() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
# The nightly that builds web/pkg-threads (std rebuilt with atomics) and runs the fuzzers; pinned so
# a build is reproducible. scripts/setup.sh rust installs it with rust-src and the wasm32 target.
export PALATE_NIGHTLY=${PALATE_NIGHTLY:-nightly-2026-05-20}
