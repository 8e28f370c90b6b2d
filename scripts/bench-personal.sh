#!/usr/bin/env bash
# The SYNTHETIC personal-taste benchmark, end to end (~2 minutes on 2 cores):
#   1. bench/personal/make_synthetic.py writes the data (bench/personal/data, git-ignored);
#   2. `palate train-basis` learns the synthetic taste file from the training users
#      (assets/taste/all-MiniLM-L6-v2.synthetic.json, committed: the principle heads and basis that
#      scripts/train-reward.sh builds the shipped default on, and a test of the math);
#   3. `palate eval-personal` measures the held-out users (active / random / none), with a plot,
#      and, for comparison, random order under a one-Gaussian prior (`--prior-components 1`) and
#      with a basis over sentence embeddings only (`--no-token-bag`);
#   4. bench/personal/oracle.py computes the same curve on the generator's true attributes;
#   5. bench/personal/report.py writes bench/personal/RESULTS.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$root/scripts/setup.sh" rust model
cd "$root"
model=models/all-MiniLM-L6-v2
out=bench/personal
say "synthetic data"
python3 $out/make_synthetic.py --out $out/data
say "building palate"
cargo build --release -p palate-cli
palate=$CARGO_TARGET_DIR/release/palate
say "train-basis (training users)"
$palate train-basis --model $model --data $out/data/train-users.jsonl --out assets/taste/all-MiniLM-L6-v2.synthetic.json \
  --description "SYNTHETIC benchmark data (bench/personal/make_synthetic.py, seed 2026): 120 simulated users, 30 prompts; see bench/personal/RESULTS.md" \
  2> >(tee $out/train-basis.log >&2)
say "eval-personal (held-out users, held-out prompts)"
$palate eval-personal --model $model --taste assets/taste/all-MiniLM-L6-v2.synthetic.json --data $out/data/test-users.jsonl --max-k 20 --seeds 5 --json \
  --plot $out/accuracy.svg > $out/results.json
say "ablation: one Gaussian prior instead of the mixture"
$palate train-basis --model $model --data $out/data/train-users.jsonl --out $out/data/taste-gaussian.json \
  --prior-components 1 --description "ablation: one Gaussian prior" 2>/dev/null
$palate eval-personal --model $model --taste $out/data/taste-gaussian.json --data $out/data/test-users.jsonl \
  --strategies random --max-k 20 --seeds 5 --json > $out/results-gaussian.json
say "ablation: basis without the token bag"
$palate train-basis --model $model --data $out/data/train-users.jsonl --out $out/data/taste-no-bag.json \
  --no-token-bag --description "ablation: no token bag" 2>/dev/null
$palate eval-personal --model $model --taste $out/data/taste-no-bag.json --data $out/data/test-users.jsonl \
  --strategies random --max-k 20 --seeds 5 --json > $out/results-no-bag.json
say "ablation: prior fitted to the users' point estimates only (no EM refit to their choices)"
$palate train-basis --model $model --data $out/data/train-users.jsonl --out $out/data/taste-no-em.json \
  --prior-em-rounds 0 --description "ablation: point-estimate prior" 2>/dev/null
$palate eval-personal --model $model --taste $out/data/taste-no-em.json --data $out/data/test-users.jsonl \
  --strategies active,random --max-k 20 --seeds 5 --json > $out/results-no-em.json
say "oracle reference"
python3 $out/oracle.py --data $out/data --max-k 20 --seeds 5 > $out/oracle.json
python3 $out/report.py --dir $out > $out/RESULTS.md
say "wrote $out/RESULTS.md, $out/accuracy.svg"
