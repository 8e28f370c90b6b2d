#!/usr/bin/env python3
"""Reference ids and per-token log-probabilities of a GGUF causal LM, from transformers.

transformers reads the GGUF itself (`from_pretrained(dir, gguf_file=name)`: tokenizer from the
metadata, every tensor dequantized to f32 by the `gguf` package), independently of Palate's
reader. The forward pass runs in float64, so the fixture is the model's exact values and Palate's
f32 result is compared against them.

    python scripts/make_gguf_fixture.py GGUF OUT.json

Needs a throwaway venv (the versions the committed fixture was made with):
    pip install torch==2.15.0 transformers==5.25.0 gguf==0.19.0 accelerate==1.16.0
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    "In 1969, 3 astronauts flew 384,400 km; pi is about 3.14159.",
    "Caf\u00e9 na\u00efve \u2014 \u00fcber \u65e5\u672c\u8a9e \U0001F600\U0001F680 \u00a1hola!",
]
CHAT = [
    [{"role": "user", "content": "What is the capital of France?"},
     {"role": "assistant", "content": "The capital of France is Paris."}],
    [{"role": "system", "content": "You are terse."},
     {"role": "user", "content": "Give me 3 colours."},
     {"role": "assistant", "content": "Red, green, blue."},
     {"role": "user", "content": "Thanks!"}],
]


def main():
    path, out = sys.argv[1], sys.argv[2]
    folder, name = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model = model.double().eval()
    texts = TEXTS + [tok.apply_chat_template(c, tokenize=False) for c in CHAT]
    rows = []
    for text in texts:
        ids = tok(text)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
        lp = torch.log_softmax(logits, dim=-1)
        logprobs = [None] + [lp[i - 1, ids[i]].item() for i in range(1, len(ids))]
        rows.append({"text": text, "ids": ids, "logprobs": logprobs})
    with open(out, "w") as f:
        json.dump({"model": name, "reference": "transformers (float64 forward of the f32-dequantized GGUF)", "rows": rows}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
