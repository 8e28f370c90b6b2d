#!/usr/bin/env python3
"""Reference curve for the SYNTHETIC personal-taste benchmark: the same Bayesian Bradley-Terry
update Palate uses, but on the generator's own attribute functions (the true features), with a
population prior fitted to the training users: a Gaussian mixture with a shared covariance, its
size chosen by BIC (as `palate train-basis` does), and, for comparison, one Gaussian. What perfect
features would reach; the gap to Palate's curve is the cost of learning features from embeddings.
Standard library only.

    oracle.py --data DIR --max-k 20 --seeds 5
      -> prints JSON {"oracle_random": [k = 0..max-k], "oracle_random_gaussian": [...], "oracle_kinds": K}
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


def log_det(a):
    """log det of a symmetric positive definite matrix (Cholesky)."""
    n = len(a)
    l = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            v = a[i][j] - sum(l[i][k] * l[j][k] for k in range(j))
            l[i][j] = math.sqrt(v) if i == j else v / l[j][j]
    return 2 * sum(math.log(l[i][i]) for i in range(n))


def sig(z):
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def log_sig(z):
    return -math.log1p(math.exp(-z)) if z >= 0 else z - math.log1p(math.exp(z))


def laplace(diffs, mean, prec):
    """Mode and covariance of N(mean, prec^-1) x prod sigma(w.d), and the Laplace log evidence."""
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
    h = [[prec[i][j] for j in range(d)] for i in range(d)]
    value = -0.5 * sum((w[i] - mean[i]) * prec[i][j] * (w[j] - mean[j]) for i in range(d) for j in range(d))
    for x in diffs:
        z = sum(a * b for a, b in zip(w, x))
        value += log_sig(z)
        s = sig(z)
        for i in range(d):
            for j in range(d):
                h[i][j] += s * (1 - s) * x[i] * x[j]
    evidence = value + 0.5 * log_det(prec) - 0.5 * log_det(h) if diffs else 0.0
    return w, inverse(h), evidence


def tied_mixture(points, k, ridge, rng, restarts=8):
    """EM for a k-component Gaussian mixture with one shared covariance, from k-means++ starts;
    the best of `restarts` by log-likelihood: (weights, means, covariance, log-likelihood)."""
    n, d = len(points), len(points[0])
    dist2 = lambda p, q: sum((a - b) ** 2 for a, b in zip(p, q))
    best = None
    for _ in range(restarts):
        centres = [points[rng.randrange(n)]]
        while len(centres) < k:
            d2 = [min(dist2(p, c) for c in centres) for p in points]
            u, i = rng.random() * sum(d2), 0
            while i < n - 1 and u > d2[i]:
                u -= d2[i]
                i += 1
            centres.append(points[i])
        resp = [[0.0] * k for _ in points]
        for i, p in enumerate(points):
            resp[i][min(range(k), key=lambda j: dist2(p, centres[j]))] = 1.0
        ll_old = -math.inf
        for _ in range(200):
            counts = [sum(r[j] for r in resp) for j in range(k)]
            means = [[sum(r[j] * p[c] for r, p in zip(resp, points)) / counts[j] if counts[j] > 1e-9 else centres[j][c]
                      for c in range(d)] for j in range(k)]
            weights = [max(c / n, 1e-12) for c in counts]
            cov = [[sum(r[j] * (p[a] - means[j][a]) * (p[b] - means[j][b]) for r, p in zip(resp, points) for j in range(k)) / n
                    + (ridge if a == b else 0.0) for b in range(d)] for a in range(d)]
            prec, ld = inverse(cov), log_det(cov)
            ll = 0.0
            for i, p in enumerate(points):
                logs = [math.log(weights[j]) - 0.5 * (d * math.log(2 * math.pi) + ld)
                        - 0.5 * sum((p[a] - means[j][a]) * prec[a][b] * (p[b] - means[j][b]) for a in range(d) for b in range(d))
                        for j in range(k)]
                m = max(logs)
                tot = sum(math.exp(x - m) for x in logs)
                ll += m + math.log(tot)
                resp[i] = [math.exp(x - m) / tot for x in logs]
            if abs(ll - ll_old) < 1e-8 * (1 + abs(ll)):
                break
            ll_old = ll
        if best is None or ll > best[3]:
            best = (weights, means, cov, ll)
    return best


def bic(fit, n):
    k, d = len(fit[0]), len(fit[2])
    return -2 * fit[3] + (k - 1 + k * d + d * (d + 1) / 2) * math.log(n)


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
    gaussian = [(1.0, mean, inverse(cov))]
    # Kinds of users: tied mixtures with 1..8 components, the one with the lowest BIC.
    fits = [tied_mixture(ws, k, 0.05, random.Random(2026)) for k in range(1, 9)]
    fit = min(fits, key=lambda f: bic(f, len(ws)))
    mixture = [(w, m, inverse(fit[2])) for w, m in zip(fit[0], fit[1])]

    def accuracy(prior, seen, pairs):
        """Test accuracy of P(A > B) under the mixture posterior (probit per component)."""
        fits = [laplace(seen, m, prec) for _, m, prec in prior]
        logs = [math.log(w) + f[2] for (w, _, _), f in zip(prior, fits)]
        top = max(logs)
        r = [math.exp(x - top) for x in logs]
        r = [x / sum(r) for x in r]
        ok = 0.0
        for p in pairs:
            x = diff(p)
            prob = 0.0
            for rk, (w, c, _) in zip(r, fits):
                m = sum(a * b for a, b in zip(w, x))
                v = sum(x[i] * c[i][j] * x[j] for i in range(d) for j in range(d))
                prob += rk * sig(m / math.sqrt(1 + math.pi * v / 8))
            ok += 1.0 if prob > 0.5 else 0.5 if prob == 0.5 else 0.0
        return ok / len(pairs)

    def curve(prior, order_fn):
        out = [0.0] * (args.max_k + 1)
        for u in test.values():
            pairs = list(u["train"])
            seen = []
            out[0] += accuracy(prior, [], u["test"])
            for k in range(1, args.max_k + 1):
                seen.append(order_fn(pairs))
                out[k] += accuracy(prior, [diff(p) for p in seen], u["test"])
        return [x / len(test) for x in out]

    res = {"oracle_kinds": len(mixture)}
    for name, prior in [("oracle_random", mixture), ("oracle_random_gaussian", gaussian)]:
        runs = []
        for seed in range(args.seeds):
            rng = random.Random(seed)
            runs.append(curve(prior, lambda pairs, rng=rng: pairs.pop(rng.randrange(len(pairs)))))
        res[name] = [sum(r[k] for r in runs) / len(runs) for k in range(args.max_k + 1)]
    json.dump(res, sys.stdout)
    print()


if __name__ == "__main__":
    main()
