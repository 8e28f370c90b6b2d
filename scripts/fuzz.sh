#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser that reads outside bytes (fuzz/: cargo fuzz, libFuzzer):
# GGUF files, .bpk packs, reward-model folders (config, tokenizer, template, safetensors), taste
# files, stored profiles, preference-data lines. Nightly Rust only, so never part of CI; the
# mutation tests (scripts/test.sh) are CI's guard, and a crash found here becomes one of their cases.
#   scripts/fuzz.sh [MINUTES] [TARGET...]    default: 10 minutes each, every target
# Corpora and crashes: $PALATE_FUZZ_DIR (default ~/.cache/palate/fuzz)/{corpus,artifacts}/TARGET.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
minutes=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(gguf bpk reward_folder taste_file profile preference_lines)
work=${PALATE_FUZZ_DIR:-$HOME/.cache/palate/fuzz}
cargo_fuzz_version=0.13.2

rustup toolchain list | grep -q "^$PALATE_NIGHTLY" || rustup toolchain install "$PALATE_NIGHTLY" --profile minimal >&2
if [ "$(cargo +"$PALATE_NIGHTLY" fuzz --version 2>/dev/null | awk '{print $2}')" != "$cargo_fuzz_version" ]; then
  say "installing cargo-fuzz $cargo_fuzz_version (once)"
  cargo +"$PALATE_NIGHTLY" install cargo-fuzz --version "$cargo_fuzz_version" >&2
fi

say "seeds"
fixtures="$root/tests/fixtures/rm/qwen3"
for t in "${targets[@]}"; do mkdir -p "$work/corpus/$t" "$work/artifacts/$t"; done
for t in "${targets[@]}"; do
  case $t in
    gguf) PALATE_FUZZ_SEEDS="$work/corpus/gguf" cargo test --release -p palate-tests --test gguf write_fuzz_seeds -- --ignored --quiet >&2 ;;
    profile) PALATE_FUZZ_SEEDS="$work/corpus/profile" cargo test --release -p palate-personal --test mutants write_fuzz_seeds -- --ignored --quiet >&2 ;;
    bpk)
      cargo build --release -p palate-cli >&2
      for p in f32 q4; do
        "$CARGO_TARGET_DIR/release/palate" convert --model "$fixtures" --quantize $p --out "$work/corpus/bpk/rm-qwen3.$p.bpk" >&2
      done ;;
    reward_folder)
      i=0
      for f in config.json tokenizer.json tokenizer_config.json model.safetensors; do
        { printf "\\x$(printf %02x $i)"; cat "$fixtures/$f"; } > "$work/corpus/reward_folder/seed-$f"
        i=$((i + 1))
      done ;;
    taste_file) cp "$root/assets/taste/all-MiniLM-L6-v2.json" "$work/corpus/taste_file/shipped.json" ;;
    preference_lines)
      for f in "$root"/data/preferences/*.jsonl.gz; do
        # head closes the pipe early: gzip's SIGPIPE is expected.
        { gzip -dc "$f" | head -n 3 > "$work/corpus/preference_lines/$(basename "$f" .jsonl.gz).jsonl"; } || true
      done ;;
    *) die "unknown fuzz target $t (gguf bpk reward_folder taste_file profile preference_lines)" ;;
  esac
done

found=0
for t in "${targets[@]}"; do
  # Inputs as large as the seeds (a reward folder's safetensors is ~480 KB).
  case $t in reward_folder|bpk) max_len=700000 ;; taste_file) max_len=400000 ;; *) max_len=65536 ;; esac
  say "fuzzing $t for $minutes min"
  if ! (cd "$root/fuzz" && CARGO_TARGET_DIR="$HOME/.cache/palate/fuzz-target" cargo +"$PALATE_NIGHTLY" fuzz run "$t" \
      "$work/corpus/$t" -- -max_total_time=$((minutes * 60)) -max_len=$max_len -timeout=30 -rss_limit_mb=4096 \
      -artifact_prefix="$work/artifacts/$t/" -print_final_stats=1 >&2); then
    found=1
    say "$t: a crash, a timeout or an out-of-memory input is in $work/artifacts/$t/"
  fi
done
[ $found = 0 ] || die "the fuzzer found inputs that fail (see above); turn each into a mutation-test case"
say "no crash in ${#targets[@]} target(s), $minutes min each"
