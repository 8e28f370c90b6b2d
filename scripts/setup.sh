#!/usr/bin/env bash
# Installs what Palate needs on a fresh Debian 12 machine; quick when everything is there.
#   scripts/setup.sh [rust] [wasm] [browser] [npm] [model]     (no argument: all of them)
#   rust:    the wasm32 target for rustup; the pinned nightly with rust-src (web/pkg-threads)
#   wasm:    wasm-bindgen-cli at the exact version in Cargo.lock
#   browser: Debian's chromium (headless WebGPU via SwiftShader), Mesa's lavapipe for native wgpu
#   npm:     web/ dev dependencies from package-lock.json: playwright-core (no browser download),
#            binaryen (wasm-opt); and the bundlers of web/examples/vite and web/examples/esbuild
#   model:   the default model into models/all-MiniLM-L6-v2, and SmolLM2-135M-Instruct's GGUF (the
#            causal LM the tests and follow-up likelihood use) into models/SmolLM2-135M-Instruct
#            (scripts/fetch-model.sh)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
parts=("$@"); [ ${#parts[@]} -gt 0 ] || parts=(rust wasm browser npm model)
want() { [[ " ${parts[*]} " == *" $1 "* ]]; }

apt_packages=()
want browser && ! [ -x /usr/bin/chromium ] && apt_packages+=(chromium)
want browser && ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && apt_packages+=(mesa-vulkan-drivers)
if [ ${#apt_packages[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  say "installing Debian packages: ${apt_packages[*]}"
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${apt_packages[@]}" >&2
fi

if want rust; then
  command -v rustup >/dev/null || die "rustup is needed (https://rustup.rs)"
  rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown >&2
  # web/pkg-threads: std rebuilt with atomics needs nightly's rust-src.
  if ! rustup component list --toolchain "$PALATE_NIGHTLY" --installed 2>/dev/null | grep -q '^rust-src'; then
    say "installing $PALATE_NIGHTLY with rust-src (the threaded wasm build; a few minutes, once)"
    rustup toolchain install "$PALATE_NIGHTLY" --profile minimal --component rust-src --target wasm32-unknown-unknown >&2
  fi
fi

if want wasm; then
  version=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/, ""); print; exit}' "$root/Cargo.lock")
  [ -n "$version" ] || die "no wasm-bindgen in Cargo.lock"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
    say "installing wasm-bindgen-cli $version (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$version" >&2
  fi
fi

if want npm; then
  # npm records what it installed in node_modules/.package-lock.json: reinstall when the lock is newer.
  (cd "$root/web" && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund >&2; })
  # The two apps that bundle the packed tarball (web/test/bundlers.test.mjs): their bundlers.
  for app in vite esbuild; do
    (cd "$root/web/examples/$app" && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund >&2; })
  done
fi

if want model; then
  "$root/scripts/fetch-model.sh"
  "$root/scripts/fetch-model.sh" smollm2
fi
