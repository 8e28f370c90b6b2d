#!/usr/bin/env python3
"""Reference curve for the SYNTHETIC personal-taste benchmark: the same Bayesian Bradley-Terry
update Palate uses, but on the generator's own attribute functions (the true features), with a
population prior fitted to the training users. What perfect features would reach; the gap to
Palate's curve is the cost of learning features from embeddings. Standard library only.

    oracle.py --data DIR --max-k 20 --seeds 5  -> prints JSON {"oracle_random": [k = 0..max-k]}
"""
import argparse
import json
import math
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_synthetic import ATTRS, attributes  # noqa: E402


def solve(a, b):
    """Solves a x = b (small dense, Gaussian elimination with partial pivoting)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(c + 1, n):
            f = m[r][c] / m[c][c]
            for k in range(c, n + 1):
                m[r][k] -= f * m[c][k]
    x = [0.0] * n
    for r in reversed(range(n)):
        x[r] = (m[r][n] - sum(m[r][k] * x[k] for k in range(r + 1, n))) / m[r][r]
    return x


def inverse(a):
    n = len(a)
    cols = [solve(a, [1.0 if i == j else 0.0 for i in range(n)]) for j in range(n)]
    return [[cols[j][i] for j in range(n)] for i in range(n)]


def sig(z):
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def laplace(diffs, mean, prec):
    """Mode and covariance of N(mean, prec^-1) x prod sigma(w.d)."""
    d = len(mean)
    w = mean[:]
    for _ in range(50):
        g = [-sum(prec[i][j] * (w[j] - mean[j]) for j in range(d)) for i in range(d)]
        h = [[prec[i][j] for j in range(d)] for i in range(d)]
        for x in diffs:
            z = sum(a * b for a, b in zip(w, x))
            s = sig(z)
            for i in range(d):
                g[i] += (1 - s) * x[i]
                for j in range(d):
                    h[i][j] += s * (1 - s) * x[i] * x[j]
        step = solve(h, g)
        w = [a + b for a, b in zip(w, step)]
        if max(abs(s) for s in step) < 1e-9:
            break
    return w, inverse(h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--max-k", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()

    def read(name):
        users = {}
        for line in open(os.path.join(args.data, name), encoding="utf-8"):
            r = json.loads(line)
            users.setdefault(r["user"], {"train": [], "test": []})[r["split"]].append((r["chosen"], r["rejected"]))
        return users

    train, test = read("train-users.jsonl"), read("test-users.jsonl")
    texts = {t for us in (train, test) for u in us.values() for p in u["train"] + u["test"] for t in p}
    raw = {t: attributes(t) for t in texts}
    mu = {a: sum(r[a] for r in raw.values()) / len(raw) for a in ATTRS}
    sd = {a: math.sqrt(sum((r[a] - mu[a]) ** 2 for r in raw.values()) / len(raw)) or 1.0 for a in ATTRS}
    feat = {t: [(raw[t][a] - mu[a]) / sd[a] for a in ATTRS] for t in texts}
    diff = lambda p: [a - b for a, b in zip(feat[p[0]], feat[p[1]])]
    d = len(ATTRS)
    eye = [[1.0 if i == j else 0.0 for j in range(d)] for i in range(d)]
    # Population prior: MAP weights of the training users (prior N(0, 4 I)), their mean and covariance.
    ws = [laplace([diff(p) for p in u["train"] + u["test"]], [0.0] * d, [[x / 4 for x in r] for r in eye])[0]
          for u in train.values()]
    mean = [sum(w[i] for w in ws) / len(ws) for i in range(d)]
    cov = [[sum((w[i] - mean[i]) * (w[j] - mean[j]) for w in ws) / len(ws) + 0.05 * eye[i][j] for j in range(d)]
           for i in range(d)]
    prec0 = inverse(cov)

    def accuracy(w, cov, pairs):
        ok = 0.0
        for p in pairs:
            x = diff(p)
            m = sum(a * b for a, b in zip(w, x))
            ok += 1.0 if m > 0 else 0.5 if m == 0 else 0.0
        return ok / len(pairs)

    def curve(order_fn):
        out = [0.0] * (args.max_k + 1)
        for u in test.values():
            pairs = list(u["train"])
            seen = []
            w, c = mean[:], cov
            out[0] += accuracy(w, c, u["test"])
            for k in range(1, args.max_k + 1):
                seen.append(order_fn(pairs, w, c))
                w, c = laplace([diff(p) for p in seen], mean, prec0)
                out[k] += accuracy(w, c, u["test"])
        return [x / len(test) for x in out]

    res = {}
    runs = []
    for seed in range(args.seeds):
        rng = random.Random(seed)

        def pick(pairs, w, c, rng=rng):
            return pairs.pop(rng.randrange(len(pairs)))
        runs.append(curve(pick))
    res["oracle_random"] = [sum(r[k] for r in runs) / len(runs) for k in range(args.max_k + 1)]
    json.dump(res, sys.stdout)
    print()


if __name__ == "__main__":
    main()
