"""The tables of "One-step problems with +, - and x" in docs/results.md, from the records in this folder:
irpo/seed-S, rft/seed-S and scpo/seed-S, the record folders of irpo.yaml, rft.yaml and scpo.yaml (each round's evaluation.json holds
right/wrong and the answer length of every test problem, in the order of eval.jsonl).

    python3 analyze.py
"""
import json
import os
import re
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # leave no __pycache__ in the records
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from paired import mcnemar, wilson  # noqa: E402

CAP = 96  # evaluation.max_new_tokens: an answer this long was cut
OPS = ["+", "-", "*"]
ARMS = ["irpo", "rft", "scpo"]
MODELS = [("start", "initial"), ("round 1", "round-01"), ("round 2", "round-02"), ("round 3", "round-03")]


def pvalue(p):
    return f"{p:.2g}"


def problems():
    """(operation, numbers, answer) of each test problem, from its wording."""
    out = []
    for line in open(os.path.join(HERE, "eval.jsonl")):
        row = json.loads(line)
        q = row["question"]
        op = operation(q)
        x, y = (int(n) for n in re.findall(r"\d+", q))
        out.append((op, x, y, int(row["answer"].split("####")[1])))
    return out


def evaluation(arm, seed, folder):
    path = os.path.join(HERE, arm, f"seed-{seed}", folder, "evaluation.json")
    return json.load(open(path)) if os.path.exists(path) else None


def rounds(arm, seed):
    """[(label, correct list, lengths)] for the start and each finished round of one run."""
    out = []
    for label, folder in MODELS:
        e = evaluation(arm, seed, folder)
        if e is not None:
            out.append((label, e["correct"], e["lengths"]))
    return out


def computed(arm, seed, folder, probs):
    """Per operation, how many of the folder's test answers are the sum, the difference, the product of the
    question's two numbers (from evaluation.jsonl's extracted answers; probs from problems()), or None
    without that file."""
    path = os.path.join(HERE, arm, f"seed-{seed}", folder, "evaluation.jsonl")
    if not os.path.exists(path):
        return None
    out = {op: {"sum": 0, "difference": 0, "product": 0} for op in OPS}
    for line, (op, x, y, _) in zip(open(path), probs):
        got = json.loads(line).get("extracted")
        for name, value in [("sum", x + y), ("difference", x - y), ("product", x * y)]:
            if got == str(value):
                out[op][name] += 1
    return out


def gated(arm, seed):
    """(label, correct) of the model the run ends with: the last round its gate promoted (state.json)."""
    state = json.load(open(os.path.join(HERE, arm, f"seed-{seed}", "state.json")))
    folder = state["model"].split("/")[0] if state.get("model") else "initial"
    label = "start" if folder == "initial" else "round " + str(int(folder.split("-")[1]))
    return label, evaluation(arm, seed, folder)["correct"]


def operation(text):
    return "*" if "Each of them" in text else "+" if " gets " in text else "-"


def pair_questions(arm, seed, folder):
    """Per operation, (questions with pairs, pairs) of one round, from pairs-text.jsonl, or None."""
    path = os.path.join(HERE, arm, f"seed-{seed}", folder, "pairs-text.jsonl")
    if not os.path.exists(path):
        return None
    questions, pairs = {op: set() for op in OPS}, {op: 0 for op in OPS}
    for line in open(path):
        prompt = json.loads(line)["prompt"]
        op = operation(prompt)
        questions[op].add(prompt)
        pairs[op] += 1
    return {op: (len(questions[op]), pairs[op]) for op in OPS}


def main():
    probs = problems()
    n = len(probs)
    print(f"Rules that ignore the wording, on the {n} test problems:")
    for name, rule in [("sum", lambda x, y: x + y), ("first minus second", lambda x, y: x - y), ("product", lambda x, y: x * y)]:
        k = sum(1 for _, x, y, a in probs if rule(x, y) == a)
        print(f"  {name}: {wilson(k, n)}")
    print("  problems per operation: " + ", ".join(f"{op} {sum(1 for p in probs if p[0] == op)}" for op in OPS))
    print()
    arm_dir = os.path.join(HERE, "irpo")
    seeds = sorted(int(d[5:]) for d in os.listdir(arm_dir) if d.startswith("seed-")) if os.path.isdir(arm_dir) else []
    print("| seed | arm | start | round 1 | round 2 | round 3 | round 3 vs start (gained / lost, p) | mean length, answers at the cap |")
    print("|---|---|---|---|---|---|---|---|")
    finals = {}
    for seed in seeds:
        for arm in ARMS:
            rs = rounds(arm, seed)
            if len(rs) < 2:
                continue
            start, last = rs[0], rs[-1]
            finals[(arm, seed)] = rs
            cells = [wilson(sum(c), len(c)) for _, c, _ in rs[1:]] + ["-"] * (4 - len(rs))
            p, lost, gained = mcnemar(start[1], last[1])
            cut = sum(1 for k in last[2] if k >= CAP)
            print(f"| {seed} | {arm.upper()} | {wilson(sum(start[1]), n)} | " + " | ".join(cells)
                  + f" | +{gained} / -{lost}, p = {pvalue(p)} ({last[0]}) | {statistics.mean(last[2]):.0f}, {cut} / {n} |")
    print()
    print("Per operation, the start against the last round (right / problems, p):")
    print("| seed | arm | " + " | ".join(f"{op} start | {op} last (p)" for op in OPS) + " |")
    print("|---|---|" + "---|---|" * len(OPS))
    for (arm, seed), rs in sorted(finals.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        start, last = rs[0], rs[-1]
        cells = []
        for op in OPS:
            idx = [i for i, p in enumerate(probs) if p[0] == op]
            a = [start[1][i] for i in idx]
            b = [last[1][i] for i in idx]
            p, _, _ = mcnemar(a, b)
            cells += [f"{sum(a)}/{len(idx)}", f"{sum(b)}/{len(idx)} ({pvalue(p)})"]
        print(f"| {seed} | {arm.upper()} | " + " | ".join(cells) + " |")
    print()
    for other in ["rft", "scpo"]:
        pairs = [seed for seed in seeds if ("irpo", seed) in finals and (other, seed) in finals]
        if not pairs:
            continue
        name = other.upper()
        print()
        print(f"| seed | IRPO last round | {name} last round | right only in IRPO / only in {name} | p |")
        print("|---|---|---|---|---|")
        diffs = []
        for seed in pairs:
            a, b = finals[("irpo", seed)][-1][1], finals[(other, seed)][-1][1]
            p, only_a, only_b = mcnemar(a, b)
            diffs.append(100 * (sum(a) - sum(b)) / n)
            print(f"| {seed} | {wilson(sum(a), n)} | {wilson(sum(b), n)} | {only_a} / {only_b} | {pvalue(p)} |")
        if len(diffs) > 1:
            print(f"\nIRPO minus {name} over {len(diffs)} seeds: mean {statistics.mean(diffs):+.1f} points, sd {statistics.stdev(diffs):.1f}")

    print()
    print("What the answers compute: per operation, answers equal to the sum / the difference / the product of")
    print("the two numbers (from the extracted answers of each model's evaluation.jsonl):")
    print("| seed | arm | model | " + " | ".join(f"{op} problems" for op in OPS) + " |")
    print("|---|---|---|" + "---|" * len(OPS))
    for (arm, seed) in sorted(finals, key=lambda k: (k[1], k[0])):
        for label, folder in MODELS:
            c = computed(arm, seed, folder, probs)
            if c is None:
                continue
            cells = [f"{c[op]['sum']} / {c[op]['difference']} / {c[op]['product']}" for op in OPS]
            print(f"| {seed} | {arm.upper()} | {label} | " + " | ".join(cells) + " |")

    print()
    print("The model each run ends with (its last promoted round), against the start and IRPO's:")
    print("| seed | arm | model | accuracy | vs start (gained / lost, p) | vs IRPO's (right only here / only in IRPO, p) |")
    print("|---|---|---|---|---|---|")
    ends = {key: gated(*key) for key in finals}
    for (arm, seed) in sorted(finals, key=lambda k: (k[1], ARMS.index(k[0]))):
        label, c = ends[(arm, seed)]
        p, lost, gained = mcnemar(finals[(arm, seed)][0][1], c)
        versus = "-"
        if arm != "irpo" and ("irpo", seed) in finals:
            q, mine, theirs = mcnemar(c, ends[("irpo", seed)][1])
            versus = f"{mine} / {theirs}, p = {pvalue(q)}"
        print(f"| {seed} | {arm.upper()} | {label} | {wilson(sum(c), n)} | +{gained} / -{lost}, p = {pvalue(p)} | {versus} |")

    print()
    print("Questions with pairs / pairs, per operation and round (from pairs-text.jsonl):")
    print("| seed | arm | round | " + " | ".join(f"{op} questions" for op in OPS) + " |")
    print("|---|---|---|" + "---|" * len(OPS))
    for (arm, seed) in sorted(finals, key=lambda k: (k[1], ARMS.index(k[0]))):
        for r in (1, 2, 3):
            c = pair_questions(arm, seed, f"round-0{r}")
            if c is not None:
                print(f"| {seed} | {arm.upper()} | {r} | " + " | ".join(f"{c[op][0]} / {c[op][1]}" for op in OPS) + " |")


if __name__ == "__main__":
    main()
