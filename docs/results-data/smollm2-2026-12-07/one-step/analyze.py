"""The tables of "One-step problems with +, - and x" in docs/results.md, from the records in this folder:
irpo/seed-S, rft/seed-S and scpo/seed-S, the record folders of irpo.yaml, rft.yaml and scpo.yaml (each round's evaluation.json holds
right/wrong and the answer length of every test problem, in the order of eval.jsonl).

    python3 analyze.py
"""
import json
import math
import os
import re
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
CAP = 96  # evaluation.max_new_tokens: an answer this long was cut
OPS = ["+", "-", "*"]
ARMS = ["irpo", "rft", "scpo"]


def mcnemar(a, b):
    """Exact two-sided McNemar: (p, right only in a, right only in b)."""
    only_a = sum(1 for x, y in zip(a, b) if x and not y)
    only_b = sum(1 for x, y in zip(a, b) if y and not x)
    n = only_a + only_b
    if n == 0:
        return 1.0, 0, 0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2 ** n), only_a, only_b


def wilson(k, n, z=1.96):
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return f"{100 * k / n:.1f}% ({100 * (c - h):.1f}-{100 * (c + h):.1f})"


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
    for label, folder in [("start", "initial"), ("round 1", "round-01"), ("round 2", "round-02"), ("round 3", "round-03")]:
        e = evaluation(arm, seed, folder)
        if e is not None:
            out.append((label, e["correct"], e["lengths"]))
    return out


def computed(arm, seed, folder):
    """Per operation, how many of the folder's test answers are the sum, the difference, the product of the
    question's two numbers (from evaluation.jsonl's extracted answers), or None without that file."""
    path = os.path.join(HERE, arm, f"seed-{seed}", folder, "evaluation.jsonl")
    if not os.path.exists(path):
        return None
    out = {op: {"sum": 0, "difference": 0, "product": 0} for op in OPS}
    for line, (op, x, y, _) in zip(open(path), problems()):
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
            finals[(arm, seed)] = last
            cells = [wilson(sum(c), len(c)) for _, c, _ in rs[1:]] + ["-"] * (4 - len(rs))
            p, lost, gained = mcnemar(start[1], last[1])
            cut = sum(1 for k in last[2] if k >= CAP)
            print(f"| {seed} | {arm.upper()} | {wilson(sum(start[1]), n)} | " + " | ".join(cells)
                  + f" | +{gained} / -{lost}, p = {pvalue(p)} ({last[0]}) | {statistics.mean(last[2]):.0f}, {cut} / {n} |")
    print()
    print("Per operation, the start against the last round (right / problems, p):")
    print("| seed | arm | " + " | ".join(f"{op} start | {op} last (p)" for op in OPS) + " |")
    print("|---|---|" + "---|---|" * len(OPS))
    for (arm, seed), last in sorted(finals.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        start = rounds(arm, seed)[0]
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
            a, b = finals[("irpo", seed)][1], finals[(other, seed)][1]
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
    for (arm, seed), last in sorted(finals.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        for label, folder in [("start", "initial"), ("round 1", "round-01"), ("round 2", "round-02"), ("round 3", "round-03")]:
            c = computed(arm, seed, folder)
            if c is None:
                continue
            cells = [f"{c[op]['sum']} / {c[op]['difference']} / {c[op]['product']}" for op in OPS]
            print(f"| {seed} | {arm.upper()} | {label} | " + " | ".join(cells) + " |")

    print()
    print("The model each run ends with (its last promoted round), against the start and IRPO's:")
    print("| seed | arm | model | accuracy | vs start (gained / lost, p) | vs IRPO's (right only here / only in IRPO, p) |")
    print("|---|---|---|---|---|---|")
    for (arm, seed) in sorted(finals, key=lambda k: (k[1], ARMS.index(k[0]))):
        label, c = gated(arm, seed)
        start = rounds(arm, seed)[0][1]
        p, lost, gained = mcnemar(start, c)
        versus = "-"
        if arm != "irpo" and ("irpo", seed) in finals:
            q, mine, theirs = mcnemar(c, gated("irpo", seed)[1])
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
