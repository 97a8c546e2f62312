"""Training questions for IRPO and RFT on word problems that no simple rule answers.

The problems are drawn as in ../../smollm2-2026-11-30/shortcut-free/make_problems.py: 3 numbers, none of
them 0, at least one "gets" and one "gives", and an answer that is none of the sum of the numbers, the first
number, the first number minus the rest. A problem whose numbers and steps (its first number and its two
signed steps) are those of any problem in that folder's eval.jsonl is left out, so no test problem is
trained on, not even under other names. Writes train.jsonl (650 problems, GSM8K layout; a run with
validation_size 150 keeps the last 150 as its dev split).

    python3 make_train.py
"""
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHORTCUT_FREE = os.path.join(HERE, "..", "..", "smollm2-2026-11-30", "shortcut-free")
EVAL = os.path.join(SHORTCUT_FREE, "eval.jsonl")
sys.dont_write_bytecode = True  # leave no __pycache__ in the records
sys.path.insert(0, SHORTCUT_FREE)
from make_problems import problem  # noqa: E402  (the same drawing of a problem)


def shape(question):
    """The first number and the signed steps of a question: (9, +3, -4) for 'has 9 .., gets 3, gives 4'."""
    first = int(re.search(r"has (\d+)", question).group(1))
    steps = tuple(int(v) if verb == "gets" else -int(v) for verb, v in re.findall(r"(gets|gives) (\d+)", question))
    return (first,) + steps


def main():
    with open(EVAL) as f:
        held_out = {shape(json.loads(line)["question"]) for line in f}
    rng = random.Random(11)
    rows = []
    while len(rows) < 650:
        p = problem(rng)
        if shape(p["question"]) not in held_out:
            rows.append(p)
    with open(os.path.join(HERE, "train.jsonl"), "w") as f:
        for p in rows:
            f.write(json.dumps(p) + "\n")
    print(f"{len(held_out)} test shapes held out; {len(rows)} problems, {len({shape(p['question']) for p in rows})} distinct shapes")


if __name__ == "__main__":
    main()
