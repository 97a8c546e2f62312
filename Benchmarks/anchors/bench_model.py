"""The anchor side of the real-model benchmarks: transformers on a Hugging Face directory (for a GGUF, the
directory `autodidact convert` writes, so both sides run the same float32 weights), timed the way
../shared/anchors/bench_gen.py and bench_train.py time their random models.
usage: bench_model.py generate DIR BATCH THREADS [NEW]   | bench_model.py train DIR BATCH SEQ THREADS
Writes $ANCHOR_RESULTS/<tag>.json and prints it."""
import os, sys
import torch
from transformers import AutoModelForCausalLM
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/anchors"))
from common import median_time, n_params, save_result, attn_flops_train_per_token  # noqa: E402

kind, path = sys.argv[1], sys.argv[2]
label = os.path.basename(os.path.normpath(path)).lower()
if kind == "generate":
    B, T = int(sys.argv[3]), int(sys.argv[4])
    NEW = int(sys.argv[5]) if len(sys.argv) > 5 else 128
    torch.set_num_threads(T)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa").eval()
    cfg = model.config
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(3, cfg.vocab_size, (B, 32), generator=g)
    am = torch.ones_like(ids)
    lengths = []

    def run():
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=am, do_sample=True, temperature=0.8, top_k=0, top_p=1.0,
                                 max_new_tokens=NEW, min_new_tokens=NEW, use_cache=True, pad_token_id=0)
        lengths.append(out.shape[1] - 32)

    med, ts = median_time(run, 1, 3)
    assert all(n == NEW for n in lengths), lengths
    save_result(f"gen_{label}_b{B}_t{T}", dict(bench="generate", model=label, batch=B, prompt_len=32, new_tokens=NEW,
                                               n_params=n_params(model), median_s=med, times_s=ts, gen_tokens_per_s=B * NEW / med))
else:
    B, S, T = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(T)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    model.train()
    cfg = model.config
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    g = torch.Generator().manual_seed(123)
    ids = torch.randint(0, cfg.vocab_size, (B, S), generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()

    med, ts = median_time(step, 1, 3)
    N = n_params(model)
    save_result(f"train_{label}_b{B}_s{S}_t{T}", dict(bench="train", model=label, batch=B, seq=S, n_params=N, median_s=med,
                                                      times_s=ts, tokens_per_s=B * S / med, gflops_6N=6 * N * B * S / med / 1e9))
