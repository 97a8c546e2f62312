"""The cost model of docs/scaling.md, fitted to this machine's measurements (bench-results/*.json from
`PARTS=lora Benchmarks/side-by-side.sh` and the train-dp runs it lists) and evaluated for N ranks.
usage: python3 Benchmarks/scaling_model.py [FILE_OR_DIR ...]   (JSON lines of the benchmarks; default bench-results)
Prints the fitted constants, the model against the measured 1-3 rank steps, and predictions for 8, 64 and
512 ranks. No dependencies beyond the standard library."""
import glob, json, os, sys

sources = sys.argv[1:] or ["bench-results"]
files = []
for s in sources:
    files += sorted(glob.glob(os.path.join(s, "*.json*"))) if os.path.isdir(s) else [s]
rows = {}
for p in files:
    try:
        for line in open(p):
            line = line.strip()
            if line.startswith("{"):
                o = json.loads(line)
                if "tag" in o: rows[o["tag"]] = o
    except (OSError, json.JSONDecodeError):
        pass

def ring_fit(np_):
    c = rows[f"collectives_np{np_}"]["median_s"]
    big, small = 128 * 2**20, 2**20
    # all-reduce moves 2(N-1)/N S, reduce-scatter and all-gather (N-1)/N S each; alpha from the 1 MB call
    out = {}
    for op, factor in (("all_reduce", 2), ("reduce_scatter", 1), ("all_gather", 1)):
        vol = factor * (np_ - 1) / np_
        alpha = c["1MB"][op] / (factor * (np_ - 1))
        bw = vol * (big - small) / (c["128MB"][op] - c["1MB"][op])
        out[op] = (alpha, bw)
    return out

fits = {n: ring_fit(n) for n in (2, 3) if f"collectives_np{n}" in rows}
for n, f in fits.items():
    print(f"ring fit at {n} ranks: " + ", ".join(f"{op} alpha {a * 1e6:.0f} us, {bw / 1e9:.2f} GB/s per link" for op, (a, bw) in f.items()))

def sync_time(bytes_, n, zero, bw, alpha):
    if n == 1: return 0.0
    vol = 2 * (n - 1) / n * bytes_  # all-reduce, or reduce-scatter + all-gather: the same volume
    return vol / bw + 2 * (n - 1) * alpha

def model_step(P, trainable, tokens, n, mode, r_core, cores, u, bw, alpha):
    flops = (6 if mode != "lora" else 4) * P * tokens
    compute = flops / (n * cores * r_core)
    update = u * trainable / (n if mode == "zero" else 1)
    return compute + update + sync_time(4 * trainable, n, mode == "zero", bw, alpha)

def dpo_tokens(o):  # rows a packed DPO step feeds: shared prompt once, both completions
    return o["pairs"] * (o["prompt_len"] - 1 + 2 * o["completion_len"])

print("\nmodel against measurement (DPO steps, 2 pairs of 128 + 128):")
consts = {}
for label in ("smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"):
    base = rows.get(f"dpo_{label}_full_p2_128_128_np1_t2")
    if not base: continue
    P, T = base["parameters"], dpo_tokens(base)
    u = base["update_median_s"] / P
    r_core = 6 * P * T / (base["median_s"] - base["update_median_s"]) / 2
    consts[label] = (P, T, u, r_core)
    alpha, bw = fits[2]["all_reduce"] if 2 in fits else (0, 1e30)
    print(f"  {label}: P = {P / 1e6:.1f}M, {T} rows/step, fitted {r_core * 2 / 1e9:.1f} GFLOP/s on 2 cores, AdamW {u * 1e9:.2f} ns/parameter")
    for mode, n, threads in (("full", 1, 2), ("lora16", 1, 2), ("full", 2, 1), ("zero", 2, 1)):
        o = rows.get(f"dpo_{label}_{mode}_p2_128_128_np{n}_t{threads}")
        if not o: continue
        m = "lora" if mode.startswith("lora") else mode
        pred = model_step(P, o["trainable"], T, n, m, r_core, threads, u, bw, alpha)
        print(f"    {mode:7} np {n}: measured {o['median_s']:.2f} s, model {pred:.2f} s, peak RSS {max(o['peak_rss_mb']):.0f} MB/rank")

print("\npredictions, DPO on 64 pairs of 128 + 128 per step, nodes of 2 cores like this one (seconds per step):")
for label, (P, T1, u, r_core) in consts.items():
    T = T1 * 32
    for bw, name in ((1.25e9, "10 Gb/s"), (12.5e9, "100 Gb/s")):
        alpha = 20e-6
        cells = []
        for n in (1, 8, 64, 512):
            full = model_step(P, P, T, n, "full", r_core, 2, u, bw, alpha)
            zero = model_step(P, P, T, n, "zero", r_core, 2, u, bw, alpha)
            lora_p = int(P * 0.0065)
            lora = model_step(P, lora_p, T, n, "lora", r_core, 2, u, bw, alpha)
            cells.append(f"N={n}: full {full:.2f} / zero {zero:.2f} / lora {lora:.2f}")
        print(f"  {label}, {name}: " + "; ".join(cells))

print("\nlargest model whose training state fits in 24 GB per rank (float32; 2 GB kept for activations):")
for mode, per in (("full, replicated AdamW", lambda n: 16), ("ZeRO-1", lambda n: 8 + 8 / n), ("LoRA r16 (all seven)", lambda n: 4 + 16 * 0.0065)):
    print(f"  {mode}: " + ", ".join(f"N={n}: {22e9 / per(n) / 1e9:.2f}B" for n in (1, 2, 8, 64, 512)))
