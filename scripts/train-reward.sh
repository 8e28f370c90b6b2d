#!/usr/bin/env bash
# Learns the shared reward every new user starts from, on real human preference pairs (HH-RLHF,
# data/preferences/; the held-out 20% of conversations never enter), on top of the principle
# heads and basis of the synthetic taste file, and writes the shipped default taste file
# assets/taste/all-MiniLM-L6-v2.json, then installs it beside the model (scripts/fetch-model.sh).
# ~15 minutes on 2 cores the first time (embedding ~90k texts), ~1 minute with the embedding cache.
#   scripts/train-reward.sh [extra train-reward flags]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$root/scripts/setup.sh" rust model
cd "$root"
say "building palate"
cargo build --release -p palate-cli
palate=$CARGO_TARGET_DIR/release/palate
mkdir -p bench/real
$palate train-reward --model models/all-MiniLM-L6-v2 --taste assets/taste/all-MiniLM-L6-v2.synthetic.json \
  --data data/preferences/hh-rlhf-*.jsonl.gz --out assets/taste/all-MiniLM-L6-v2.json \
  --description "6,703 human choices between assistant replies (Anthropic HH-RLHF)" \
  --cache "${PALATE_EMBEDDING_CACHE:-$HOME/.cache/palate/embeddings-minilm.bin}" "$@" \
  2> >(tee bench/real/train-reward.log >&2)
"$root/scripts/fetch-model.sh"
