"""Random blocks of a GGML quantisation type and gguf-py's dequantisation of them: the reference for the
bit-exact test of Sources/Model/Quants.swift (ModelTests, `dequantisesKQuantsLikeGGUFPy`).

Usage: dequantize_reference.py TYPE BLOCKS SEED OUT_PREFIX  writes OUT_PREFIX.bin (the blocks) and
OUT_PREFIX.f32 (the float32 values gguf-py gives). The scale fields are finite float16 values; the other
bytes are uniform, and the first blocks carry the edge cases of the packed 6-bit scales (all bits set, none,
and the high two bits only)."""
import sys
import numpy as np
import gguf
from gguf import quants

name, blocks, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
qtype = gguf.GGMLQuantizationType[name]
elements, size = gguf.GGML_QUANT_SIZES[qtype]
rng = np.random.default_rng(seed)
data = rng.integers(0, 256, size=(blocks, size), dtype=np.uint8)

def halves(n):
    return rng.uniform(-2.0, 2.0, size=n).astype(np.float16).view(np.uint8).reshape(n, 2)

# Where each type keeps its float16 scales, and (K-quants with packed 6-bit scales) its 12 scale bytes.
if name in ("Q4_0", "Q5_0", "Q8_0", "Q6_K"):
    at = [size - 2] if name == "Q6_K" else [0]
elif name in ("Q4_1", "Q5_1", "Q4_K", "Q5_K"):
    at = [0, 2]
for a in at:
    data[:, a:a + 2] = halves(blocks)
if name in ("Q4_K", "Q5_K"):
    for k, pattern in enumerate([0xFF, 0x00, 0xC0, 0x3F, 0xF0, 0x0F]):
        if k < blocks:
            data[k, 4:16] = pattern
if name == "Q6_K" and blocks > 2:
    data[0, 192:208] = 0x80  # scale -128
    data[1, 192:208] = 0x7F  # scale 127
    data[2, 0:192] = 0xFF    # every value at its largest
values = quants.dequantize(data.reshape(-1), qtype).astype(np.float32).reshape(-1)
assert values.size == blocks * elements
data.tofile(out + ".bin")
values.tofile(out + ".f32")
