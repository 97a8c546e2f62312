"""The tables of "What the gains are made of" in docs/results.md, from the records in this folder.

Reads the test split (test-split.jsonl), every recorded model's final answers on it
(test-split-answers.json, keyed by record folder), the right/wrong records of the runs
(../NAME/seed-S/round-RR/evaluation.json) and the evaluations on the shortcut-free problems
(evals/NAME/evaluation.json: irpo-S and rft-S as configured, -rs- with judge.require_stop, -ri- with the
initial model as reference, start for the start model). Needs scipy for the t-intervals.

    python3 analyze.py
"""
import json
import math
import os
import re
import sys

from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # leave no __pycache__ in the records
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from paired import mcnemar, wilson  # noqa: E402

RECORDS = os.path.dirname(HERE)
SETTINGS = [("as configured", "irpo-smollm2", "rft-smollm2", ""),
            ("`require_stop`", "irpo-smollm2-variants/require-stop", "rft-smollm2-variants/vs-irpo-require-stop", "-rs"),
            ("initial reference", "irpo-smollm2-variants/reference-initial",
             "rft-smollm2-variants/vs-irpo-reference-initial", "-ri")]


def t_interval(d):
    n = len(d)
    mu = sum(d) / n
    se = math.sqrt(sum((x - mu) ** 2 for x in d) / (n - 1)) / math.sqrt(n)
    t = stats.t.ppf(0.975, n - 1)
    return f"{mu:+.1f} ({mu - t * se:+.1f} to {mu + t * se:+.1f}, p = {2 * stats.t.sf(abs(mu / se), n - 1):.2g})"


def numbers(question):
    return [int(x) for x in re.findall(r"\d+", question)]


def as_int(s):
    try:
        return int(s)
    except (TypeError, ValueError):
        return None


test = [json.loads(line) for line in open(os.path.join(HERE, "test-split.jsonl"))]
answers = json.load(open(os.path.join(HERE, "test-split-answers.json")))
sums = [sum(numbers(p["question"])) for p in test]
# the test problems that need a subtraction: adding every number gives a wrong answer
needs_subtraction = [i for i, p in enumerate(test) if str(sums[i]) != p["gold"]]


def right(folder):
    return json.load(open(os.path.join(RECORDS, folder, "evaluation.json")))["correct"]


def gave_sum(folder):
    return sum(as_int(a) == s for a, s in zip(answers[folder], sums))


def shortcut_free(name):
    path = os.path.join(HERE, "evals", name, "evaluation.json")
    return json.load(open(path))["correct"] if os.path.exists(path) else None


def rules():
    print("| answer | right on the 500 test problems |\n|---|---|")
    for name, rule in [("the sum of all the question's numbers", lambda n: sum(n)),
                       ("the first number minus the rest", lambda n: n[0] - sum(n[1:])),
                       ("the first number", lambda n: n[0])]:
        k = sum(str(rule(numbers(p["question"]))) == p["gold"] for p in test)
        print(f"| {name} | {k} ({100 * k / 500:.1f}%) |")
    start = right("irpo-smollm2/seed-0/initial")
    print(f"| the start model | {sum(start)} ({100 * sum(start) / 500:.1f}%) |\n")
    kinds = {"only gets": [], "every gives is 0": [], "needs a subtraction": []}
    for i, p in enumerate(test):
        kind = "only gets" if "gives" not in p["question"] else \
            "needs a subtraction" if i in needs_subtraction else "every gives is 0"
        kinds[kind].append(start[i])
    print("start model by kind:", {k: f"{sum(v)}/{len(v)}" for k, v in kinds.items()},
          "; answers the first number:",
          sum(as_int(a) == numbers(p["question"])[0] for a, p in zip(answers["irpo-smollm2/seed-0/initial"], test)),
          "; answers the sum:", gave_sum("irpo-smollm2/seed-0/initial"))


def correlation():
    xs, ys = [], []
    for folder in answers:
        if "scpo" in folder or not re.search(r"/round-0[123]$", folder):
            continue
        xs.append(gave_sum(folder))
        ys.append(sum(right(folder)))
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    r = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(
        sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))
    print(f"\n{n} trained models: correlation of answers that are the sum with right answers, r = {r:.3f}\n")


def tables():
    start = right("irpo-smollm2/seed-0/initial")
    start_sub = [start[i] for i in needs_subtraction]
    start_free = shortcut_free("start")
    print(f"start: needs a subtraction {wilson(sum(start_sub), len(needs_subtraction))}, "
          f"shortcut-free {wilson(sum(start_free), 500)}\n")
    print("| setting | seed | test split: IRPO, its answers that are the sum | RFT, the same | "
          "need a subtraction (226): IRPO, p vs start | RFT, p vs start | only IRPO / only RFT right, p | "
          "shortcut-free (500): IRPO, p vs start | RFT, p vs start | only IRPO / only RFT right, p |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    across = []
    for name, irpo, rft, tag in SETTINGS:
        cells = {k: [] for k in ["ti", "tr", "si", "sr", "fi", "fr"]}
        for seed in range(5):
            a, b = f"{irpo}/seed-{seed}/round-03", f"{rft}/seed-{seed}/round-03"
            if a not in answers or b not in answers:
                continue
            ra, rb = right(a), right(b)
            sa, sb = [ra[i] for i in needs_subtraction], [rb[i] for i in needs_subtraction]
            pa, pb, pab = mcnemar(sa, start_sub), mcnemar(sb, start_sub), mcnemar(sa, sb)
            fa, fb = shortcut_free(f"irpo{tag}-{seed}"), shortcut_free(f"rft{tag}-{seed}")
            if fa and fb:
                qa, qb, qab = mcnemar(fa, start_free), mcnemar(fb, start_free), mcnemar(fa, fb)
                free = (f"{wilson(sum(fa), 500)}, {qa[0]:.2g} | {wilson(sum(fb), 500)}, {qb[0]:.2g} | "
                        f"{qab[1]} / {qab[2]}, {qab[0]:.2g}")
                for k, v in [("ti", sum(ra) / 5), ("tr", sum(rb) / 5), ("si", 100 * sum(sa) / 226),
                             ("sr", 100 * sum(sb) / 226), ("fi", sum(fa) / 5), ("fr", sum(fb) / 5)]:
                    cells[k].append(v)
            else:
                free = "not run | not run | -"
            print(f"| {name} | {seed} | {sum(ra) / 5:.1f}%, {gave_sum(a)} | {sum(rb) / 5:.1f}%, {gave_sum(b)} | "
                  f"{wilson(sum(sa), 226)}, {pa[0]:.2g} | {wilson(sum(sb), 226)}, {pb[0]:.2g} | "
                  f"{pab[1]} / {pab[2]}, {pab[0]:.2g} | {free} |")
        across.append((name, cells))
    print("\n| setting | test split: IRPO, RFT (mean) | need a subtraction: IRPO, RFT (mean) | IRPO minus RFT there | "
          "shortcut-free: IRPO, RFT (mean) | IRPO minus RFT there | IRPO minus the start there | "
          "RFT minus the start there |")
    print("|---|---|---|---|---|---|---|---|")
    s0 = sum(start_free) / 5
    for name, c in across:
        n = len(c["ti"])
        m = {k: sum(v) / n for k, v in c.items()}
        print(f"| {name} ({n} seeds) | {m['ti']:.1f}%, {m['tr']:.1f}% | {m['si']:.1f}%, {m['sr']:.1f}% | "
              f"{t_interval([x - y for x, y in zip(c['si'], c['sr'])])} | {m['fi']:.1f}%, {m['fr']:.1f}% | "
              f"{t_interval([x - y for x, y in zip(c['fi'], c['fr'])])} | {t_interval([x - s0 for x in c['fi']])} | "
              f"{t_interval([x - s0 for x in c['fr']])} |")


if __name__ == "__main__":
    rules()
    correlation()
    tables()
