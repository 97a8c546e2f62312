"""The cost model of docs/scaling.md, fitted to this machine's measurements and evaluated for N ranks.
usage: python3 Benchmarks/scaling_model.py [FILE_OR_DIR ...]   (JSON lines of the benchmarks; default bench-results)
The inputs are what `PARTS=lora Benchmarks/side-by-side.sh` prints: collectives at 1-3 ranks, DPO steps on
SmolLM2-135M and Qwen2.5-0.5B (full, LoRA r16, ZeRO-1 at 2 ranks) and supervised steps (train-dp) at 1-3
ranks. Constants are fitted on SmolLM2's one-process DPO steps only; every other figure is a check.
Standard library only."""
import glob, json, os, statistics, sys

sources = sys.argv[1:] or ["bench-results"]
files = []
for s in sources:
    files += sorted(glob.glob(os.path.join(s, "*.json*"))) if os.path.isdir(s) else [s]
runs = {}
for p in files:
    for line in open(p, errors="replace"):
        line = line.strip()
        if line.startswith("{") and '"tag"' in line:
            try:
                o = json.loads(line)
            except json.JSONDecodeError:
                continue
            runs.setdefault(o["tag"], []).append(o)
def med(tag, key="median_s"):
    return statistics.median(o[key] for o in runs[tag]) if tag in runs else None
def one(tag):
    return runs[tag][-1] if tag in runs else None

# Collectives: ring model t = volume / B + steps * a, fitted from the 1 MB and 128 MB calls.
fits = {}
for n in (2, 3):
    o = one(f"collectives_np{n}")
    if not o: continue
    c, big, small = o["median_s"], 128 * 2**20, 2**20
    for op, factor in (("all_reduce", 2), ("reduce_scatter", 1), ("all_gather", 1)):
        vol = factor * (n - 1) / n
        fits[(n, op)] = (c["1MB"][op] / (factor * (n - 1)), vol * (big - small) / (c["128MB"][op] - c["1MB"][op]))
    print(f"collectives at {n} ranks: " + ", ".join(f"{op} a = {fits[(n, op)][0] * 1e6:.0f} us, B = {fits[(n, op)][1] / 1e9:.2f} GB/s"
                                                for op in ("all_reduce", "reduce_scatter", "all_gather")))

def sync(bytes_, n, a, bw):
    return 0.0 if n == 1 else 2 * (n - 1) / n * bytes_ / bw + 2 * (n - 1) * a

def dpo_rows(o):
    return o["pairs"] * (o["prompt_len"] - 1 + 2 * o["completion_len"])

# Fit on SmolLM2, one process: full = 6 P T / R + s T, LoRA = 4 P T / R + s T (+ the adapters' few products).
S, Q = "smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"
full, lora = one(f"dpo_{S}_full_p2_128_128_np1_t2"), one(f"dpo_{S}_lora16_p2_128_128_np1_t2")
P, T = full["parameters"], dpo_rows(full)
tf = med(f"dpo_{S}_full_p2_128_128_np1_t2") - med(f"dpo_{S}_full_p2_128_128_np1_t2", "update_median_s")
tl = med(f"dpo_{S}_lora16_p2_128_128_np1_t2") - med(f"dpo_{S}_lora16_p2_128_128_np1_t2", "update_median_s")
R = 2 * P * T / (tf - tl)          # FLOP/s of the products, 2 cores
s_row = (tf - 6 * P * T / R) / T    # seconds per row outside the products (attention, softmax, norms), 2 cores
u = med(f"dpo_{S}_full_p2_128_128_np1_t2", "update_median_s") / P
print(f"\nfitted on {S} (P = {P / 1e6:.1f}M, {T} rows): products {R / 1e9:.0f} GFLOP/s on 2 cores, "
      f"{s_row * 1e3:.2f} ms per row outside them, update {u * 1e9:.2f} ns per trained parameter")

def step(P, Pt, rows, n, mode, cores=2, a=None, bw=None):
    """Seconds per step on n ranks of `cores` cores each (the fitted rates are of 2 cores)."""
    F = 4 if mode == "lora" else 6
    compute = (F * P * rows / R + s_row * rows) * 2 / (n * cores)
    update = u * Pt / (n if mode == "zero" else 1)
    if a is None and n > 1: a, bw = fits[(min(n, 3), "all_reduce")]
    return compute + update + (sync(4 * Pt, n, a, bw) if n > 1 else 0)

print("\nthe model against the measurements (medians over runs):")
for label in (S, Q):
    for mode, n, t in (("full", 1, 2), ("lora16", 1, 2), ("full", 2, 1), ("zero", 2, 1)):
        tag = f"dpo_{label}_{mode}_p2_128_128_np{n}_t{t}"
        o = one(tag)
        if not o: continue
        m = "lora" if mode == "lora16" else mode
        # (the per-row term is SmolLM2's, not rescaled for Qwen's wider rows and vocabulary)
        pred = step(o["parameters"], o["trainable"], dpo_rows(o), n, m, cores=t)
        fitted = " (fitted)" if label == S and n == 1 else ""
        print(f"  {label} {mode} at {n} rank(s): measured {med(tag):.2f} s over {len(runs[tag])} run(s), model {pred:.2f} s{fitted}")
for n in (1, 2, 3):
    for z in (0, 1):
        tag = f"train_dp_smol_b6_s256_np{n}_z{z}_t1"
        o = one(tag)
        if not o: continue
        cores = min(n, 2) / n  # one thread per rank; 3 ranks share the 2 cores
        pred = step(134515008, 134515008, 6 * 256, n, "zero" if z else "full", cores=cores)
        print(f"  smol supervised 6 x 256, {n} rank(s){' ZeRO-1' if z else ''}: measured {med(tag):.2f} s, "
              f"model {pred:.2f} s, sync_s_per_step {o['sync_s_per_step']:.2f} s")

print("\npredicted seconds per DPO step of 64 pairs (128 + 128), nodes of 2 cores like this one; a = 20 us:")
for label, Pm, Pt_lora in ((S, 134515008, 4884480), (Q, 630167424, 8798208)):
    for bw, name in ((1.25e9, "10 Gb/s"), (12.5e9, "100 Gb/s")):
        cells = []
        for n in (1, 8, 64, 512):
            f = step(Pm, Pm, 64 * 383, n, "full", a=20e-6, bw=bw)
            z = step(Pm, Pm, 64 * 383, n, "zero", a=20e-6, bw=bw)
            l = step(Pm, Pt_lora, 64 * 383, n, "lora", a=20e-6, bw=bw)
            cells.append(f"| {n} | {f:.2f} | {z:.2f} | {l:.2f} ")
        print(f"  {label}, {name}: " + "".join(cells))

print("\nlargest model whose training state fits in 24 GB per rank (float32; 2 GB kept for activations):")
for mode, per in (("full, replicated AdamW", lambda n: 16), ("ZeRO-1", lambda n: 8 + 8 / n),
                  ("LoRA r16 (adapters 1.4% of P, Qwen's share)", lambda n: 4 + 16 * 8798208 / 630167424)):
    print(f"  {mode}: " + ", ".join(f"N={n}: {22e9 / per(n) / 1e9:.2f}B" for n in (1, 2, 8, 64, 512)))
