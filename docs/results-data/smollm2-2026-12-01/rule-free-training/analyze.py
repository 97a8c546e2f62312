"""The tables of "IRPO and RFT trained on problems no rule answers" in docs/results.md, from the records in
this folder: irpo/seed-S and rft/seed-S, the record folders of irpo.yaml and rft.yaml (each round's
evaluation.json holds right/wrong and the answer length of every test problem).

    python3 analyze.py
"""
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # leave no __pycache__ in the records
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from paired import mcnemar, wilson  # noqa: E402

CAP = 96  # evaluation.max_new_tokens: an answer this long was cut


def evaluation(arm, seed, folder):
    path = os.path.join(HERE, arm, f"seed-{seed}", folder, "evaluation.json")
    return json.load(open(path)) if os.path.exists(path) else None


def pvalue(p):
    return f"{p:.2g}"


def main():
    seeds = sorted(int(name[5:]) for name in os.listdir(os.path.join(HERE, "irpo")) if name.startswith("seed-"))
    print("| seed | arm | start | round 1 | round 2 | round 3 | round 3 vs start | answers at the cap |")
    print("|---|---|---|---|---|---|---|---|")
    finals = {}
    for seed in seeds:
        for arm in ["irpo", "rft"]:
            start = evaluation(arm, seed, "initial")
            if start is None:
                continue
            cells, last = [], None
            for r in (1, 2, 3):
                e = evaluation(arm, seed, f"round-0{r}")
                cells.append(wilson(sum(e["correct"]), len(e["correct"])) if e else "-")
                last = e or last
            if last is None:
                continue
            finals[(arm, seed)] = last["correct"]
            p, lost, gained = mcnemar(start["correct"], last["correct"])
            cut = sum(1 for n in last["lengths"] if n >= CAP)
            print(f"| {seed} | {arm.upper()} | {wilson(sum(start['correct']), len(start['correct']))} | "
                  + " | ".join(cells) + f" | +{gained} / -{lost}, p = {pvalue(p)} | {cut} / {len(last['lengths'])} |")
    print()
    print("| seed | IRPO round 3 | RFT round 3 | right only in IRPO / only in RFT | p |")
    print("|---|---|---|---|---|")
    diffs = []
    for seed in seeds:
        if ("irpo", seed) in finals and ("rft", seed) in finals:
            a, b = finals[("irpo", seed)], finals[("rft", seed)]
            p, only_a, only_b = mcnemar(a, b)
            diffs.append(100 * (sum(a) - sum(b)) / len(a))
            print(f"| {seed} | {wilson(sum(a), len(a))} | {wilson(sum(b), len(b))} | {only_a} / {only_b} | {pvalue(p)} |")
    if len(diffs) > 1:
        print(f"\nIRPO minus RFT over {len(diffs)} seeds: mean {statistics.mean(diffs):+.1f} points, sd {statistics.stdev(diffs):.1f}")


if __name__ == "__main__":
    main()
