#!/usr/bin/env python3
"""ONNX export of all-MiniLM-L6-v2 for the transformers.js peer in the browser benchmark.

transformers.js (onnxruntime-web) cannot read safetensors, so the benchmark needs the *same*
weights as ONNX, in the folder layout transformers.js expects:

    DIR/onnx/model.onnx             f32        (dtype: 'fp32')
    DIR/onnx/model_quantized.onnx   int8 MatMul weights, dynamic activations (dtype: 'q8'),
                                    made with onnxruntime.quantization.quantize_dynamic as
                                    Optimum does for transformers.js

The graph is HF transformers' BertModel exported by torch.onnx (inputs input_ids, attention_mask,
token_type_ids; output last_hidden_state); transformers.js' feature-extraction pipeline does the
mean pooling and L2 normalisation, as sentence-transformers does.

Before anything is timed, both files are checked against the float64 golden embeddings in
tests/fixtures/minilm.json (made independently, by scripts/make_fixture.py): the f32 export must
agree to cosine >= 0.99999; the q8 one (dynamic int8 activations, as transformers.js' own q8
exports) is reported and must stay >= 0.975. The script exits
non-zero otherwise.

Needs a throwaway venv (never CI; scripts/bench-browser.sh makes one):
    python3 -m venv V && V/bin/pip install torch transformers onnx onnxscript onnxruntime
    V/bin/python scripts/export_onnx.py models/all-MiniLM-L6-v2 tests/fixtures/minilm.json
"""
import json
import os
import sys

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import BertModel


def export(model_dir: str, onnx_dir: str) -> str:
    model = BertModel.from_pretrained(model_dir, add_pooling_layer=False, torch_dtype=torch.float32)
    model.eval()

    class Encoder(torch.nn.Module):
        """Keyword arguments only: BertModel.forward's positional order differs across versions."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    ids = torch.tensor([[101, 7592, 1010, 2088, 999, 102]], dtype=torch.long)
    mask = torch.ones_like(ids)
    types = torch.zeros_like(ids)
    path = os.path.join(onnx_dir, "model.onnx")
    dyn = {0: "batch_size", 1: "sequence_length"}
    torch.onnx.export(
        Encoder(model),
        (ids, mask, types),
        path,
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={"input_ids": dyn, "attention_mask": dyn, "token_type_ids": dyn,
                      "last_hidden_state": {0: "batch_size", 1: "sequence_length"}},
        opset_version=17,
        dynamo=False,
    )
    return path


def embed(session: ort.InferenceSession, ids_list) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings, one text at a time (no padding effects)."""
    out = []
    for ids in ids_list:
        a = np.array([ids], dtype=np.int64)
        (hidden,) = session.run(None, {"input_ids": a, "attention_mask": np.ones_like(a),
                                       "token_type_ids": np.zeros_like(a)})
        v = hidden[0].astype(np.float64).mean(axis=0)
        out.append(v / np.linalg.norm(v))
    return np.array(out)


def check(path: str, fixture: dict, floor: float) -> float:
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    got = embed(session, fixture["ids"])
    want = np.array(fixture["embeddings"])
    cos = (got * want).sum(axis=1) / np.linalg.norm(want, axis=1)
    worst = float(cos.min())
    print(f"[export-onnx] {os.path.basename(path)}: cosine to the float64 reference "
          f"min {worst:.7f}, mean {float(cos.mean()):.7f} over {len(cos)} texts", file=sys.stderr)
    if worst < floor:
        sys.exit(f"[export-onnx] error: {path} disagrees with the reference (min cosine {worst} < {floor})")
    return worst


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model_dir, fixture_path = sys.argv[1:]
    onnx_dir = os.path.join(model_dir, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    fixture = json.load(open(fixture_path))
    f32 = export(model_dir, onnx_dir)
    check(f32, fixture, 0.99999)
    q8 = os.path.join(onnx_dir, "model_quantized.onnx")
    # Per-channel uint8 weights: per-tensor scales lose too much here (min cosine 0.95, 0.90 for
    # int8); dynamic activation quantization costs the rest (see bench/RESULTS.md).
    quantize_dynamic(f32, q8, weight_type=QuantType.QUInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"])
    check(q8, fixture, 0.975)
    for p in (f32, q8):
        print(f"[export-onnx] {p}: {os.path.getsize(p)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
