#!/usr/bin/env python3
"""Writes RESULTS.md for the SYNTHETIC personal-taste benchmark from results.json (palate
eval-personal --json), oracle.json (oracle.py), meta.json and train-basis.log."""
import argparse
import json
import os
import platform
import subprocess

ap = argparse.ArgumentParser()
ap.add_argument("--dir", required=True)
d = ap.parse_args().dir
res = json.load(open(os.path.join(d, "results.json")))
oracle_all = json.load(open(os.path.join(d, "oracle.json")))
oracle, oracle_gauss = oracle_all["oracle_random"], oracle_all["oracle_random_gaussian"]
gauss = json.load(open(os.path.join(d, "results-gaussian.json")))["accuracy"]["random"]
no_bag = json.load(open(os.path.join(d, "results-no-bag.json")))["accuracy"]["random"]
no_em = json.load(open(os.path.join(d, "results-no-em.json")))["accuracy"]
meta = json.load(open(os.path.join(d, "data", "meta.json")))
log = open(os.path.join(d, "train-basis.log")).read().strip().splitlines()
acc = res["accuracy"]
ceiling = meta["files"]["test-users"]["noise_ceiling"]
max_k = len(acc["active"]) - 1
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()


def reach(curve, target):
    return next((k for k, a in enumerate(curve) if a >= target), None)


n_train_topics = len(meta["files"]["train-users"]["topics"])
n_test_topics = len(meta["files"]["test-users"]["topics"])
out = []
w = out.append
w("# Personal taste: results on the SYNTHETIC benchmark\n")
w("Regenerate with `scripts/bench-personal.sh` (writes this file). **All data here is synthetic**: "
  f"{n_train_topics + n_test_topics} prompts with 8 composed replies each, simulated users with Bradley-Terry noise on attributes measured "
  "by simple independent functions (bench/personal/make_synthetic.py). Not a claim about real users.\n")
w(f"- Commit {commit}, {platform.machine()}, Python {platform.python_version()}; model all-MiniLM-L6-v2 on burn Flex (CPU).")
w(f"- Training users (taste basis and prior): {meta['files']['train-users']['users']} users on {n_train_topics} prompts. "
  f"Held-out users: {res['users']} users, {res['pairs']} pairs (40 train + 40 test each), on {n_test_topics} other prompts, "
  "which the basis never saw.")
w(f"- Users: one of {len(meta['personas'])} personas each, plus an individual deviation (sd {meta['individual_sd']}); "
  f"Bradley-Terry temperature {meta['temperature']}.")
w(f"- **Noise ceiling** (expected accuracy of the users' true utilities on their test pairs): **{ceiling:.3f}**.")
w(f"- Features: 8 principle heads (VLM-RM projection) + 6 taste-basis directions over [reply embedding, sum of sentence "
  "embeddings, bag of token embeddings (sum of the model's static input vectors over the reply's tokens)]; "
  "prior = a Gaussian mixture over the training users' weights (kinds of users, PAL/MiCRo style; shared covariance, "
  "size chosen by BIC): " + next((l.split(": ", 1)[1] for l in log if l.startswith("prior:")), "?") + ".")
w("- Training fit (train-basis): " + "; ".join(l for l in log if l.startswith("round")) + "\n")
w("## Accuracy on held-out users' test pairs after k answers\n")
w("Palate's features (MiniLM embeddings) on the left; on the right the same Bayesian update on the generator's "
  f"own attributes (oracle features, {oracle_all['oracle_kinds']} kinds chosen by BIC). The \"one Gaussian\" columns "
  "replace the mixture prior by the training users' mean and covariance (`train-basis --prior-components 1`); "
  "\"no token bag\" learns the basis over the sentence embeddings alone (`--no-token-bag`); \"no EM\" keeps the prior "
  "fitted to the training users' point estimates, without refitting it to their choices (`--prior-em-rounds 0`).\n")
w("| k | active | random (5 orders) | none | active, no EM | random, no EM | random, one Gaussian | random, no token bag | oracle, random | oracle, random, one Gaussian |")
w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for k in range(max_k + 1):
    w(f"| {k} | {acc['active'][k]:.3f} | {acc['random'][k]:.3f} | {acc['none'][k]:.3f} | {no_em['active'][k]:.3f} "
      f"| {no_em['random'][k]:.3f} | {gauss[k]:.3f} | {no_bag[k]:.3f} | {oracle[k]:.3f} | {oracle_gauss[k]:.3f} |")
w("")
w("![accuracy curves](accuracy.svg)\n")
w("## Targets\n")
w(f"- Accuracy at k = 10: active **{acc['active'][10]:.3f}**, random {acc['random'][10]:.3f}, none {acc['none'][10]:.3f} "
  f"(target 0.85; noise ceiling {ceiling:.3f}). With the generator's true attributes as features the same update "
  f"reaches {oracle[10]:.3f} (one Gaussian prior: {oracle_gauss[10]:.3f}), so the target is within reach of the method "
  "and out of reach of these features.")
k85 = reach(acc["active"], 0.85), reach(acc["random"], 0.85)
w(f"- Answers to reach 85%: active {k85[0]}, random {k85[1]}; oracle features, random {reach(oracle, 0.85)} "
  f"(None: not within {max_k}).")
for frac in (0.9, 0.95):
    target = frac * max(acc["random"])
    a, r = reach(acc["active"], target), reach(acc["random"], target)
    ratio = f"{a / r:.2f}" if a is not None and r else "n/a"
    w(f"- Answers to reach {target:.3f} ({int(frac * 100)}% of random's best): active {a}, random {r}, ratio {ratio} (target ≤ 0.60).")
w("")
w("## Reading\n")
w("- Personal answers help: every strategy that sees answers beats the population prior (none).")
w("- Active (BALD) questions beat a random order early, where each answer matters most.")
w(f"- The mixture prior (kinds of users) is worth {oracle[10] - oracle_gauss[10]:+.3f} at k = 10 on oracle features and "
  f"{acc['random'][10] - gauss[10]:+.3f} on Palate's (random order): once the features separate the kinds, a few answers "
  "tell which kind a user is.")
w(f"- Refitting the prior to the training users' choices (type-II maximum likelihood, Laplace EM; "
  "`palate_personal::mixture::refine_by_choices`) instead of to their point estimates: active "
  f"{no_em['active'][10]:.3f} -> {acc['active'][10]:.3f} and random {no_em['random'][10]:.3f} -> {acc['random'][10]:.3f} at k = 10, "
  f"active {no_em['active'][20]:.3f} -> {acc['active'][20]:.3f} at k = 20. Point estimates from 80 choices spread wider than "
  "the users do (their estimation error adds to it); the Laplace E step errs the other way (a unit test measures -17% "
  "on a known population, against +42% for the point estimates).")
w(f"- The bag of token embeddings is worth {acc['random'][10] - no_bag[10]:+.3f} at k = 10 (random order): pooled, "
  "normalised sentence embeddings lose a reply's length and dilute single words (a hedge, an exclamation); a sum of "
  "word vectors keeps both linear, so a basis learned on the training prompts carries over to unseen ones.")
w("- The remaining gap to the oracle column is feature quality: MiniLM embeddings encode topic far more than style, "
  f"and a basis learned on {8 * n_train_topics} replies transfers only partly to {8 * n_test_topics} unseen ones.")
print("\n".join(out))
