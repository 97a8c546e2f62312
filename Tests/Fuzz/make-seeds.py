#!/usr/bin/env python3
"""Writes the fuzz seed corpus (Tests/Fuzz/corpus/TARGET/...): small valid inputs of each format, made with the
reference libraries (gguf-py, safetensors, tokenizers), so that mutations start from files the parsers accept.
Run from the repository root; the output is committed, so this runs only when the seeds should change."""
import json, os, shutil, sys
import numpy as np
import gguf
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, AddedToken

root = "Tests/Fuzz/corpus"
rng = np.random.default_rng(0)


def out(target, name):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


# A tiny byte-level BPE tokenizer: 32 base tokens, 4 merges, ChatML special tokens.
def tiny_tokenizer():
    base = [chr(c) for c in range(ord("a"), ord("a") + 20)] + ["Ġ", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "Ċ"]
    vocab = {t: i for i, t in enumerate(base)}
    merges = [("a", "b"), ("c", "d"), ("ab", "cd"), ("Ġ", "a")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|im_start|>", special=True), AddedToken("<|im_end|>", special=True)])
    return tok, vocab, merges


tok, vocab, merges = tiny_tokenizer()
tok.save(out("tokenizer-json", "tiny-bpe.json"))
tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])] + ["<|im_start|>", "<|im_end|>"]
V, H, F, L, NH, NKV = len(tokens), 8, 16, 1, 2, 1
HD = H // NH

# config.json: a micro Llama, a Qwen2 and a Llama 3.x with RoPE scaling, a Qwen3 with head_dim.
llama = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": V, "hidden_size": H,
         "intermediate_size": F, "num_hidden_layers": L, "num_attention_heads": NH, "num_key_value_heads": NKV,
         "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True,
         "bos_token_id": V - 2, "eos_token_id": V - 1, "hidden_act": "silu", "torch_dtype": "float32"}
json.dump(llama, open(out("config-json", "llama.json"), "w"), indent=1)
json.dump(dict(llama, model_type="qwen2", architectures=["Qwen2ForCausalLM"], rope_theta=1e6),
          open(out("config-json", "qwen2.json"), "w"), indent=1)
json.dump(dict(llama, rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
          open(out("config-json", "llama3-rope.json"), "w"), indent=1)
json.dump(dict(llama, model_type="qwen3", architectures=["Qwen3ForCausalLM"], head_dim=8),
          open(out("config-json", "qwen3.json"), "w"), indent=1)


def weights(qwen=False):
    t = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,)}
    for i in range(L):
        p = f"model.layers.{i}."
        t.update({p + "input_layernorm.weight": (H,), p + "post_attention_layernorm.weight": (H,),
                  p + "self_attn.q_proj.weight": (NH * HD, H), p + "self_attn.k_proj.weight": (NKV * HD, H),
                  p + "self_attn.v_proj.weight": (NKV * HD, H), p + "self_attn.o_proj.weight": (H, NH * HD),
                  p + "mlp.gate_proj.weight": (F, H), p + "mlp.up_proj.weight": (F, H), p + "mlp.down_proj.weight": (H, F)})
        if qwen:
            t.update({p + "self_attn.q_proj.bias": (NH * HD,), p + "self_attn.k_proj.bias": (NKV * HD,),
                      p + "self_attn.v_proj.bias": (NKV * HD,)})
    return {k: (rng.standard_normal(s) * 0.1).astype(np.float32) for k, s in t.items()}


# safetensors: the micro model in float32, and a few tensors in the half types.
save_file(weights(), out("safetensors", "micro-f32.safetensors"), metadata={"format": "pt"})
w = weights(qwen=True)
save_file({k: v.astype(np.float16) for k, v in list(w.items())[:4]}, out("safetensors", "f16.safetensors"))
bf = {k: (v.view(np.uint32) >> 16).astype(np.uint16) for k, v in list(w.items())[4:8]}
path = out("safetensors", "bf16.safetensors")
header = {k: {"dtype": "BF16", "shape": list(v.shape), "data_offsets": [0, 0]} for k, v in bf.items()}
offset, blobs = 0, []
for k, v in bf.items():
    b = v.tobytes(); header[k]["data_offsets"] = [offset, offset + len(b)]; offset += len(b); blobs.append(b)
h = json.dumps(header).encode(); h += b" " * (-len(h) % 8)
open(path, "wb").write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


# GGUF: the micro model as llama.cpp lays it out, with its tokenizer, in a few tensor types.
def gguf_name(hf):
    m = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    if hf in m: return m[hf]
    parts = hf.split(".")
    i, rest = parts[2], ".".join(parts[3:])
    n = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
         "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
         "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
         "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
         "mlp.down_proj.weight": "ffn_down.weight", "self_attn.q_proj.bias": "attn_q.bias",
         "self_attn.k_proj.bias": "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias"}[rest]
    return f"blk.{i}.{n}"


def write_gguf(name, arch, qwen, types):
    wr = gguf.GGUFWriter(out("gguf", name), arch)
    wr.add_context_length(64); wr.add_embedding_length(H); wr.add_feed_forward_length(F); wr.add_block_count(L)
    wr.add_head_count(NH); wr.add_head_count_kv(NKV); wr.add_layer_norm_rms_eps(1e-5); wr.add_rope_freq_base(10000.0)
    wr.add_tokenizer_model("gpt2"); wr.add_tokenizer_pre("qwen2" if qwen else "smollm")
    wr.add_token_list(tokens); wr.add_token_types([1] * (V - 2) + [3, 3])
    wr.add_token_merges([f"{a} {b}" for a, b in merges])
    wr.add_bos_token_id(V - 2); wr.add_eos_token_id(V - 1)
    wr.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")
    for hf, v in weights(qwen).items():
        t = types.get(hf.split(".")[-2], gguf.GGMLQuantizationType.F32) if v.ndim == 2 else gguf.GGMLQuantizationType.F32
        data = gguf.quants.quantize(v, t) if t != gguf.GGMLQuantizationType.F32 else v
        wr.add_tensor(gguf_name(hf), data, raw_dtype=t)
    wr.write_header_to_file(); wr.write_kv_data_to_file(); wr.write_tensors_to_file(); wr.close()


Q = gguf.GGMLQuantizationType
write_gguf("micro-llama.gguf", "llama", False, {})
write_gguf("micro-llama-f16.gguf", "llama", False, {"q_proj": Q.F16, "up_proj": Q.F16, "down_proj": Q.F16})
write_gguf("micro-qwen2.gguf", "qwen2", True, {"v_proj": Q.F16})

# Quantized blocks alone: one tensor per type with a 256-wide row (the K-quant block size).
for t in [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.Q4_K, Q.Q5_K, Q.Q6_K]:
    wr = gguf.GGUFWriter(out("gguf", f"blocks-{t.name.lower()}.gguf"), "llama")
    try:
        blocks = gguf.quants.quantize((rng.standard_normal((1, 256)) * 0.5).astype(np.float32), t)
    except NotImplementedError:  # gguf-py has no K-quant quantizer: random block bytes, half scales kept finite
        block, size = gguf.GGML_QUANT_SIZES[t]
        blocks = rng.integers(0, 256, (1, 256 // block * size), dtype=np.uint8)
        blocks[0, :4] = [0, 0x3c, 0, 0x3c]  # d (and dmin) = 1.0 where the block begins with them
    wr.add_tensor("t", blocks, raw_dtype=t)
    wr.write_header_to_file(); wr.write_kv_data_to_file(); wr.write_tensors_to_file(); wr.close()

# JSON Lines: one valid line of each record type the run and the commands read.
jsonl = {
    "prompts.jsonl": [{"id": "p1", "prompt": "What is 2 + 3?", "reference": "5", "metadata": {"split": "train"}}],
    "gsm8k.jsonl": [{"question": "Ann has 3 apples and buys 2. How many?", "answer": "3 + 2 = 5\n#### 5"}],
    "judge-pairs.jsonl": [{"id": "j1", "prompt": "2+3?", "chosen": "5", "rejected": "6"}],
    "batch-prompts.jsonl": [{"prompt": "Hello"}, {"prompt": "Count to 3."}],
    "meta-judgments.jsonl": [{"prompt_id": "p1", "sample_index": 0, "judge_prompt": "Rate it.", "judgments": ["Score: 4", "Score: 2"],
                              "scores": [4, 2], "battles": [{"m": 0, "n": 1, "forward": "A", "backward": None}],
                              "meta_texts": ["Judgment A is better.", "none"], "elo": [1010.5, 989.5], "chosen": 0, "rejected": 1}],
}
for name, lines in jsonl.items():
    with open(out("jsonl", name), "w") as f:
        for l in lines: f.write(json.dumps(l) + "\n")
# Records as a run writes them (generations, judgments, pairs, state.json), copied from files given as arguments.
for src in sys.argv[1:]:
    shutil.copy(src, out("jsonl", os.path.basename(src)))
for cfg in ["quickstart.yaml", "irpo-smollm2.yaml", "self-rewarding.yaml", "meta-rewarding.yaml"]:
    shutil.copy(os.path.join("configs", cfg), out("run-config", cfg))
