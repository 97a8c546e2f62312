"""Independent check of `autodidact convert MODEL.gguf OUTDIR`.

Reads the GGUF (architecture llama, qwen2 or qwen3) with llama.cpp's own Python package (gguf-py),
dequantises every tensor with it, undoes llama.cpp's Q/K row permutation with numpy (llama only), and
compares with OUTDIR/model.safetensors read by the safetensors package. Then loads OUTDIR/tokenizer.json with Hugging Face `tokenizers` and the directory
with transformers' AutoConfig/AutoTokenizer, and checks the public encodings fixture.

usage: check_converted.py MODEL.gguf OUTDIR ENCODINGS.json
(ENCODINGS.json: {"entries": [{"text", "ids", "decoded"}]}, or {"encodings": [{"text", "ids"}]})
prints one JSON line; exit status 1 on any mismatch.
"""
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
from safetensors.numpy import load_file
from tokenizers import Tokenizer

gguf_path, out_dir, encodings_path = sys.argv[1:4]
reader = GGUFReader(gguf_path)
field = lambda k: reader.fields[k].contents()
arch = field("general.architecture")
n_head, n_kv = field(f"{arch}.attention.head_count"), field(f"{arch}.attention.head_count_kv")
n_layer = field(f"{arch}.block_count")


def unpermute(w, heads):
    # inverse of convert_hf_to_gguf.py's permute(): (h, 2, d/2, in) <- (h, d/2, 2, in)
    rows, cols = w.shape
    return w.reshape(heads, rows // heads // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
         "output.weight": "lm_head.weight"}
sub = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
       "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
       "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
for i in range(n_layer):
    for g, h in sub.items():
        names[f"blk.{i}.{g}.weight"] = f"model.layers.{i}.{h}.weight"
    for g, h in [("attn_q", "q_proj"), ("attn_k", "k_proj"), ("attn_v", "v_proj")]:
        names[f"blk.{i}.{g}.bias"] = f"model.layers.{i}.self_attn.{h}.bias"
    for g in ["q_norm", "k_norm"]:
        names[f"blk.{i}.attn_{g}.weight"] = f"model.layers.{i}.self_attn.{g}.weight"

ours = load_file(f"{out_dir}/model.safetensors")
worst = 0.0
problems = []
for t in reader.tensors:
    ref = dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(d) for d in reversed(t.shape)])
    if arch == "llama" and t.name.endswith("attn_q.weight"):
        ref = unpermute(ref, n_head)
    elif arch == "llama" and t.name.endswith("attn_k.weight"):
        ref = unpermute(ref, n_kv)
    hf = names[t.name]
    if hf not in ours:
        problems.append(f"missing {hf}")
        continue
    got = ours[hf]
    if got.shape != ref.shape or got.dtype != np.float32:
        problems.append(f"{hf}: {got.shape} {got.dtype} vs {ref.shape}")
        continue
    worst = max(worst, float(np.max(np.abs(got - ref))))
extra = set(ours) - set(names[t.name] for t in reader.tensors)
if extra:
    problems.append(f"unexpected tensors {sorted(extra)}")

tok = Tokenizer.from_file(f"{out_dir}/tokenizer.json")
fixture = json.load(open(encodings_path))
entries = fixture["entries"] if "entries" in fixture else fixture["encodings"]
mismatches = 0
for e in entries:
    if tok.encode(e["text"], add_special_tokens=False).ids != e["ids"]:
        mismatches += 1
        problems.append(f"tokenizers encodes {e['text']!r} differently")
    if tok.decode(e["ids"], skip_special_tokens=False) != e.get("decoded", e["text"]):
        problems.append(f"tokenizers decodes {e['text']!r} differently")

from transformers import AutoConfig, AutoTokenizer  # noqa: E402  (no torch needed for these)
cfg = AutoConfig.from_pretrained(out_dir)
if (cfg.model_type, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads, cfg.tie_word_embeddings) != \
        (arch, n_layer, n_head, n_kv, "output.weight" not in [t.name for t in reader.tensors]):
    problems.append(f"AutoConfig read {cfg}")
theta = getattr(cfg, "rope_theta", None) or cfg.rope_parameters["rope_theta"]
if abs(theta - field(f"{arch}.rope.freq_base")) > 1e-3:
    problems.append(f"rope theta {theta}")
at = AutoTokenizer.from_pretrained(out_dir)
for e in entries:
    if at(e["text"], add_special_tokens=False)["input_ids"] != e["ids"]:
        problems.append(f"AutoTokenizer encodes {e['text']!r} differently")

print(json.dumps({"tensors": len(reader.tensors), "max_abs_diff": worst, "problems": problems}))
sys.exit(1 if problems or worst > 1e-6 else 0)
