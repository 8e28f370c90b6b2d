#!/usr/bin/env bash
# Choosing `palate train-basis` settings without touching the benchmark's held-out topics (~6
# minutes on 2 cores): make_synthetic.py --validation learns on 24 of the 30 basis topics and
# tests other users on the remaining 6; each setting is trained and evaluated (active and random
# order, 5 seeds) there. Writes bench/personal/VALIDATION.md. SYNTHETIC data, like the benchmark.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$root/scripts/setup.sh" rust model
cd "$root"
model=models/all-MiniLM-L6-v2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --release -p palate-cli
palate=$CARGO_TARGET_DIR/release/palate
# name | make_synthetic options | train-basis options
settings=(
  "default||"
  "rank 4||--rank 4"
  "rank 8||--rank 8"
  "rank 12||--rank 12"
  "init variance 0.05||--init-variance 0.05"
  "init variance 0.25||--init-variance 0.25"
  "init variance 4||--init-variance 4"
  "init variance 16||--init-variance 16"
  "16 training replies per prompt|--train-replies 16|"
  "48 training replies per prompt|--train-replies 48|"
  "12 training topics (of 24)|--validation-topics 12|"
  "18 training topics (of 24)|--validation-topics 18|"
  "principles + an examples head||--principles bench/personal/principles/plus-examples.json"
  "principles + examples and analogy heads||--principles bench/personal/principles/plus-examples-analogy.json"
)
run() {
  local i=$1 name data train
  IFS='|' read -r name data train <<< "${settings[$i]}"
  # shellcheck disable=SC2086 # option lists
  python3 bench/personal/make_synthetic.py --out "$work/data-$i" --validation $data > /dev/null
  # shellcheck disable=SC2086
  $palate train-basis --model $model --data "$work/data-$i/train-users.jsonl" --out "$work/taste-$i.json" $train 2> /dev/null
  $palate eval-personal --model $model --taste "$work/taste-$i.json" --data "$work/data-$i/test-users.jsonl" \
    --strategies active,random --max-k 20 --seeds 5 --json > "$work/result-$i.json" 2> /dev/null
  say "validation: $name"
}
# Two settings at a time (each run is single-threaded).
for i in "${!settings[@]}"; do
  run "$i" &
  if (( i % 2 == 1 )); then wait; fi
done
wait
python3 - "$work" "${settings[@]}" > bench/personal/VALIDATION.md <<'PY'
import json, sys
work, settings = sys.argv[1], sys.argv[2:]
meta = json.load(open(f"{work}/data-0/meta.json"))
print("# Personal taste: choosing train-basis settings on a validation split (SYNTHETIC)\n")
print("Regenerate with `scripts/bench-personal-validation.sh`. Same generator as the benchmark "
      "(bench/personal/make_synthetic.py `--validation`): the taste basis and prior are learned from "
      "120 users on 24 of the 30 basis topics, and 40 other users are tested on the remaining 6, so "
      "the benchmark's 10 held-out topics are never looked at. "
      f"Noise ceiling of the validation users: {meta['files']['test-users']['noise_ceiling']:.3f}.\n")
print("| setting | active k=2 | active k=5 | active k=10 | active k=20 | random k=5 | random k=10 | random k=20 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
rows = []
for i, s in enumerate(settings):
    acc = json.load(open(f"{work}/result-{i}.json"))["accuracy"]
    a, r = acc["active"], acc["random"]
    print(f"| {s.split('|')[0]} | {a[2]:.3f} | {a[5]:.3f} | {a[10]:.3f} | {a[20]:.3f} | {r[5]:.3f} | {r[10]:.3f} | {r[20]:.3f} |")
    rows.append((a[10], r[10]))
act, rnd = [x for x, _ in rows], [y for _, y in rows]
print(f"\nAcross these settings accuracy at k = 10 spans {min(act):.3f}-{max(act):.3f} in active order (default "
      f"{act[0]:.3f}) and {min(rnd):.3f}-{max(rnd):.3f} in random order (default {rnd[0]:.3f}), against a noise "
      f"ceiling of {meta['files']['test-users']['noise_ceiling']:.3f}. Neither the basis' rank, nor its "
      "smoothness, nor two to six times as many distinct training replies, nor more training topics "
      "(12, 18 and 24 of them), nor principle heads aimed at "
      "the attributes the features miss most (examples, analogies; bench/personal/principles/, worded "
      "without the generator's marker phrases) closes that gap: on these "
      "features (MiniLM embeddings and the bag of its token vectors) the limit is what the features "
      "can express about style on unseen prompts, not how the basis is fitted (bench/personal/RESULTS.md: "
      "the same update on the generator's own attributes reaches 0.872 on the test users).")
PY
say "wrote bench/personal/VALIDATION.md"
