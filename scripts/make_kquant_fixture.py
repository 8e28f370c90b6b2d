#!/usr/bin/env python3
"""Reference dequantization of ggml's K-quants (Q4_K, Q6_K) from the `gguf` package (gguf-py,
llama.cpp's own Python reader), independent of Palate's io/gguf.rs:

    python scripts/make_kquant_fixture.py tests/fixtures/gguf/kquants.json   (pip install gguf==0.19.0 numpy==2.4.6)

Random blocks (finite f16 scales, every other byte random), their bytes in hex and their values.
"""
import json
import sys

import numpy as np
from gguf import GGMLQuantizationType, quants

rng = np.random.default_rng(23)
rows = []
for kind, size in (("Q4_K", 144), ("Q6_K", 210)):
    blocks = rng.integers(0, 256, size=(3, size), dtype=np.uint8)
    scales = rng.normal(0, 0.02, size=(3, 2)).astype(np.float16).view(np.uint8).reshape(3, 4)
    if kind == "Q4_K":
        blocks[:, 0:4] = scales  # d, dmin
    else:
        blocks[:, 208:210] = scales[:, 0:2]  # d at the end
    values = quants.dequantize(blocks.reshape(-1), GGMLQuantizationType[kind])
    rows.append({"type": kind, "bytes": blocks.tobytes().hex(), "values": [float(v) for v in values.reshape(-1)]})
with open(sys.argv[1], "w") as f:
    json.dump({"reference": "gguf-py quants.dequantize", "rows": rows}, f)
    f.write("\n")
