# Sourced by the other scripts: shared paths. A warm build folder outside the clone keeps
# rebuilds incremental (CI clones afresh each time).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palate/target}
export PATH="$HOME/.cargo/bin:$PATH"
say() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
