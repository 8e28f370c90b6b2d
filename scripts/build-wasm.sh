#!/usr/bin/env bash
# Builds crates/palate-wasm for the browser, three times, and prints the sizes:
#   web/pkg          WebGPU only (feature "webgpu": burn's wgpu backend, cubecl; no CPU backend)
#   web/pkg-cpu      CPU only (--no-default-features --features cpu): under half the download; the
#                    worker loads it whenever the page asked for, or fell back to, the CPU backend.
#   web/pkg-threads  the CPU build on every core (feature "threads"): shared memory, atomics and
#                    wasm-bindgen-rayon's worker pool; the worker loads it instead of web/pkg-cpu
#                    when the page is cross-origin isolated. Needs the pinned nightly (std rebuilt
#                    with atomics: -Z build-std); its own target folder.
# Each is an ES module + .wasm. Profile wasm-release (Cargo.toml): opt-level z, fat LTO, one
# codegen unit.
#   scripts/build-wasm.sh            all three
#   scripts/build-wasm.sh webgpu     only web/pkg (cpu: only web/pkg-cpu; threads: only web/pkg-threads)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"
command -v wasm-bindgen >/dev/null || die "wasm-bindgen is missing: run scripts/setup.sh wasm"
# binaryen from npm (pinned in web/package-lock.json): Debian 12's wasm-opt 108 emits a module
# whose externref table Chromium rejects ("WebAssembly.Table.set(): Argument 1 is invalid").
wasm_opt="$root/web/node_modules/.bin/wasm-opt"
[ -x "$wasm_opt" ] || die "wasm-opt is missing: run scripts/setup.sh npm"

# The features rustc enables by default for wasm32-unknown-unknown, plus SIMD
# (.cargo/config.toml); Chromium supports them all. -Oz: 19 KB gzip smaller than -O2 and no
# measurable difference in speed (MiniLM on the wasm CPU backend, 8x128 and 1x32).
opt_flags="-Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals
  --enable-reference-types --enable-multivalue --enable-simd"

# build <variant> <output folder> <cargo feature flags...>; $toolchain, $target_dir and $extra_opt
# as the threaded build sets them.
build() {
  local variant=$1 out=$2; shift 2
  say "cargo build ($variant: wasm32, profile wasm-release $*)"
  cargo ${toolchain:+"+$toolchain"} build -p palate-wasm --target wasm32-unknown-unknown --profile wasm-release \
    --target-dir "${target_dir:-$CARGO_TARGET_DIR}" "$@" >&2
  local raw="${target_dir:-$CARGO_TARGET_DIR}/wasm32-unknown-unknown/wasm-release/palate_wasm.wasm"
  # Static constructors must run once (palate-wasm's start function calls __wasm_call_ctors). If
  # nothing calls it, wasm-ld wraps every export in "<name>.command_export", which re-runs them all
  # on each call from JS: ~200 ms per WebGPU call, measured. The raw module still has its name section.
  if grep -q -a 'command_export' "$raw"; then
    die "$raw has command_export wrappers: static constructors would re-run on every call (see crates/palate-wasm/src/lib.rs, start)"
  fi
  rm -rf "$out.tmp"
  wasm-bindgen --target web --out-dir "$out.tmp" "$raw" >&2
  local bg="$out.tmp/palate_wasm_bg.wasm"
  local bound; bound=$(stat -c %s "$bg")
  # wasm-opt takes ~2 minutes (binaryen from npm runs as JavaScript): skip it when wasm-bindgen's
  # output and the flags are the ones already optimised in $out.
  local hash; hash=$( (cat "$bg" "$out.tmp/palate_wasm.js"; echo $opt_flags ${extra_opt:-}) | sha256sum | cut -d' ' -f1)
  if [ -f "$out/.source-sha256" ] && [ "$(cat "$out/.source-sha256")" = "$hash" ]; then
    rm -rf "$out.tmp"
    say "${out#"$root"/} is up to date"
  else
    # shellcheck disable=SC2086 # opt_flags is a list of words
    "$wasm_opt" $opt_flags ${extra_opt:-} "$bg" -o "$bg.opt" >&2
    mv "$bg.opt" "$bg"
    echo "$hash" > "$out.tmp/.source-sha256"
    rm -rf "$out"; mv "$out.tmp" "$out"
  fi
  local gz; gz=$(gzip -9 -c "$out/palate_wasm_bg.wasm" | wc -c)
  say "${out#"$root"/}/palate_wasm_bg.wasm ($variant): $bound bytes after wasm-bindgen, $(stat -c %s "$out/palate_wasm_bg.wasm") after wasm-opt -Oz, $gz gzip -9"
}

which=${1:-all}
case "$which" in
  all|webgpu|cpu|threads) ;;
  *) die "unknown variant \"$which\" (expected webgpu, cpu, threads or nothing for all three)" ;;
esac
if [ "$which" = all ] || [ "$which" = webgpu ]; then build webgpu "$root/web/pkg"; fi
if [ "$which" = all ] || [ "$which" = cpu ]; then build cpu "$root/web/pkg-cpu" --no-default-features --features cpu; fi
if [ "$which" = all ] || [ "$which" = threads ]; then
  # Shared memory needs std built with atomics (nightly's -Z build-std), a memory the JS glue
  # creates shared and hands to every worker (imported, with a declared maximum: 4 GiB, wasm32's
  # limit, only address space until used), and the thread-local storage hooks wasm-bindgen's
  # thread transform calls for each worker.
  local_link="--shared-memory --import-memory --max-memory=4294967296 --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base"
  toolchain=$PALATE_NIGHTLY target_dir="$CARGO_TARGET_DIR/wasm-threads" extra_opt="--enable-threads" \
  RUSTFLAGS="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals $(printf -- '-C link-arg=%s ' $local_link)" \
    build threads "$root/web/pkg-threads" --no-default-features --features threads -Z build-std=panic_abort,std
fi
