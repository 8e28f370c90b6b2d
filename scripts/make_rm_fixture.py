#!/usr/bin/env python3
"""Tiny random-weight reward models and their scores from Hugging Face transformers itself.

Writes tests/fixtures/rm/{qwen3,llama}/ (config.json, model.safetensors in f32, plus
model-bf16.safetensors) and tests/fixtures/rm/scores.json: for each model, 8 token-id sequences of
different lengths and the scalar score transformers computes for each, run as ONE right-padded
batch. The Llama config uses Llama 3's rope_scaling (as Llama-3.2-1B does); Qwen3 has per-head
q/k RMSNorm and an explicit head_dim. Needs torch + transformers (a throwaway venv, never CI):

    python3 -m venv /tmp/hf && /tmp/hf/bin/pip install torch transformers safetensors
    /tmp/hf/bin/python scripts/make_rm_fixture.py
"""
import copy
import json
import os

import torch
import transformers
from transformers import LlamaConfig, LlamaForSequenceClassification, Qwen3Config, Qwen3ForSequenceClassification

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "rm")
PAD = 0
VOCAB = 512


def configs():
    common = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                  rms_norm_eps=1e-6, num_labels=1, pad_token_id=PAD, tie_word_embeddings=False)
    qwen3 = Qwen3Config(head_dim=24, rope_theta=1_000_000.0, attention_bias=False, **common)
    llama = LlamaConfig(rope_theta=500_000.0, attention_bias=False, mlp_bias=False,
                        rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                      "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                        **common)
    return {"qwen3": (qwen3, Qwen3ForSequenceClassification), "llama": (llama, LlamaForSequenceClassification)}


def main():
    torch.manual_seed(2026)
    lengths = [1, 3, 7, 12, 20, 33, 50, 64]
    gen = torch.Generator().manual_seed(7)
    inputs = [torch.randint(1, VOCAB, (n,), generator=gen).tolist() for n in lengths]
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "pad_token_id": PAD,
           "inputs": inputs, "scores": {}}
    for name, (config, cls) in configs().items():
        model = cls(config).eval()
        # Random init has tiny std; widen it so the scores spread and errors would show.
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() >= 2:
                    p.normal_(0.0, 0.08)
                else:
                    p.uniform_(0.8, 1.2)
        folder = os.path.join(ROOT, name)
        model.save_pretrained(folder, safe_serialization=True)
        # The bf16 copy is made from a deep copy: converting in place would round the f32 weights
        # the reference scores below are computed with.
        copy.deepcopy(model).to(torch.bfloat16).save_pretrained(os.path.join(folder, "bf16"), safe_serialization=True)
        width = max(lengths)
        ids = torch.full((len(inputs), width), PAD, dtype=torch.long)
        mask = torch.zeros((len(inputs), width), dtype=torch.long)
        for i, seq in enumerate(inputs):
            ids[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = 1
        with torch.no_grad():
            batch = model(input_ids=ids, attention_mask=mask).logits[:, 0].tolist()
            alone = [model(input_ids=torch.tensor([s])).logits[0, 0].item() for s in inputs]
        assert max(abs(a - b) for a, b in zip(batch, alone)) < 1e-4, "padding changed a score"
        out["scores"][name] = batch
        print(name, [round(s, 4) for s in batch])
    with open(os.path.join(ROOT, "scores.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
