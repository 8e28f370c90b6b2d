#!/usr/bin/env bash
# Ranking quality on real human judgments, regenerating bench/REAL.md (~20 minutes on 2 cores the
# first time, a few minutes with the embedding cache):
#   1. `palate eval-pairs` with the shipped taste file (assets/taste/all-MiniLM-L6-v2.json): HH-RLHF's
#      held-out conversations (never trained on), Tulu 1's human evaluation and LLMFAO's crowd
#      (neither trained on), with the baselines "longer reply wins" and "closer to the prompt";
#   2. the same with the previous default (the synthetic taste file alone);
#   3. ablations: the shared reward retrained on fewer blocks (bench/real/data/, git-ignored);
#   4. `palate eval-personal` with Tulu's evaluators and LLMFAO's workers as users (shipped and
#      previous default);
#   5. follow-up likelihood from SmolLM2-135M-Instruct (GGUF) on 40 held-out pairs per source, alone
#      and added to the shipped ranking, beside the shipped ranking on the same pairs (~45 minutes:
#      the decoder runs single-threaded; PALATE_REAL_FLR=0 skips it and keeps the last figures);
#   6. bench/real/report.py writes bench/REAL.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$root/scripts/setup.sh" rust model
cd "$root"
say "building palate"
cargo build --release -p palate-cli
palate=$CARGO_TARGET_DIR/release/palate
model=models/all-MiniLM-L6-v2
out=bench/real
cache=${PALATE_EMBEDDING_CACHE:-$HOME/.cache/palate/embeddings-minilm.bin}
hh=(data/preferences/hh-rlhf-*.jsonl.gz)
others=(data/preferences/tulu1-human-eval.jsonl.gz data/preferences/llmfao-crowd.jsonl.gz)
mkdir -p $out/data
eval_all() {  # eval_all NAME TASTE
  say "eval-pairs: $1"
  $palate eval-pairs --model $model --taste "$2" --data "${hh[@]}" --held-out --json --cache "$cache" > $out/$1-hh.json
  $palate eval-pairs --model $model --taste "$2" --data "${others[@]}" --json --cache "$cache" > $out/$1-others.json
}
eval_all shipped assets/taste/all-MiniLM-L6-v2.json
eval_all previous assets/taste/all-MiniLM-L6-v2.synthetic.json
for blocks in length reply tokens prompt-product,prompt-cosine reply,sentences,tokens,prompt-product,prompt-cosine,length; do
  name=blocks-${blocks//,/+}
  say "ablation: shared reward over $blocks"
  $palate train-reward --model $model --taste assets/taste/all-MiniLM-L6-v2.synthetic.json --data "${hh[@]}" \
    --blocks $blocks --out $out/data/$name.json --cache "$cache" 2> $out/data/$name.log
  eval_all $name $out/data/$name.json
done
for set in tulu1-human-eval llmfao-crowd; do
  say "eval-personal: $set annotators (shipped, then previous default)"
  $palate eval-personal --model $model --data data/preferences/$set.jsonl.gz --max-k 20 --seeds 5 --json \
    --cache "$cache" > $out/personal-$set.json
  $palate eval-personal --model $model --taste assets/taste/all-MiniLM-L6-v2.synthetic.json \
    --data data/preferences/$set.jsonl.gz --max-k 20 --seeds 5 --json --cache "$cache" > $out/previous-personal-$set.json
done
if [ "${PALATE_REAL_FLR:-1}" != 0 ]; then
  "$root/scripts/fetch-model.sh" smollm2
  all=(data/preferences/*.jsonl.gz)
  say "eval-pairs: follow-up likelihood (SmolLM2-135M-Instruct), 40 held-out pairs per source"
  $palate eval-pairs --model $model --data "${all[@]}" --held-out --per-source 40 --json --cache "$cache" > $out/flr-shipped.json
  $palate eval-pairs --model $model --reward-model models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf \
    --data "${all[@]}" --held-out --per-source 40 --json --cache "$cache" > $out/flr.json
fi
python3 $out/report.py $out > bench/REAL.md
say "wrote bench/REAL.md"
