"""One-step word problems in full sentences, one of three operations: a "gets" (+), a "gives" (-) or
"N bags, each holds M" (*).

A question has two numbers and one operation, so no rule that ignores the wording answers more than the
problems of one operation: the sum of the numbers is right only on the "gets" problems, their product only
on the "bags" ones, the first minus the second only on the "gives" ones (a "gives" or "bags" problem whose
answer is also the sum is drawn again). Numbers: "gets" and "gives" start from 5 to 20, a "gets" adds 2 to
20, a "gives" takes 2 to one less than the start; "bags" are 2 to 9 of 2 to 9 each.

A problem's shape is its operation and two numbers. The shapes are split once, at random (seed 5): 40% of
each operation's shapes are test shapes, the rest training shapes, so no test problem's numbers and
operation are ever trained on, under any names. Writes, in the GSM8K layout:
  eval.jsonl   500 test problems, drawn from the test shapes
  train.jsonl  650 problems from the training shapes; a run with validation_size 150 keeps the last 150 as
               its dev split

    python3 make_problems.py
"""
import json
import os
import random
import sys

NAMES = [("Ann", "She", "her"), ("Ben", "He", "his"), ("Cal", "He", "his"), ("Dee", "She", "her"),
         ("Eli", "He", "his"), ("Fay", "She", "her"), ("Gus", "He", "his"), ("Ivy", "She", "her"),
         ("Kim", "She", "her"), ("Max", "He", "his"), ("Ned", "He", "his"), ("Pam", "She", "her")]
ITEMS = ["apples", "books", "coins", "pens", "cards", "eggs", "nuts", "shells", "stamps", "beads",
         "marbles", "stickers"]
BOXES = ["bags", "boxes", "jars", "baskets", "packs"]


def shapes():
    """Every (operation, x, y) this task draws, with its answer."""
    out = []
    for x in range(5, 21):
        out += [("+", x, y, x + y) for y in range(2, 21)]
        out += [("-", x, y, x - y) for y in range(2, x) if x - y != x + y]
    out += [("*", x, y, x * y) for x in range(2, 10) for y in range(2, 10) if x * y != x + y]
    return out


def split_shapes():
    rng = random.Random(5)
    test, train = {}, {}
    for op in "+-*":
        mine = [s for s in shapes() if s[0] == op]
        rng.shuffle(mine)
        cut = round(0.4 * len(mine))
        test[op], train[op] = mine[:cut], mine[cut:]
    return test, train


def render(rng, shape):
    op, x, y, answer = shape
    (a, he, his), (b, _, _) = rng.sample(NAMES, 2)
    item = rng.choice(ITEMS)
    if op == "+":
        q = f"{a} has {x} {item}. {he} gets {y} more {item}. How many {item} does {a} have now?"
    elif op == "-":
        q = f"{a} has {x} {item}. {he} gives {y} {item} to {b}. How many {item} does {a} have now?"
    else:
        box = rng.choice(BOXES)
        q = f"{a} has {x} {box}. Each of them holds {y} {item}. How many {item} does {a} have in the {box}?"
    return {"question": q, "answer": f"#### {answer}"}


def draw(rng, by_op, count):
    rows = []
    for _ in range(count):
        op = rng.choice("+-*")
        rows.append(render(rng, rng.choice(by_op[op])))
    return rows


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    test, train = split_shapes()
    rng = random.Random(7)
    for name, by_op, count in [("eval", test, 500), ("train", train, 650)]:
        with open(os.path.join(here, f"{name}.jsonl"), "w") as f:
            for row in draw(rng, by_op, count):
                f.write(json.dumps(row) + "\n")
    print({op: (len(test[op]), len(train[op])) for op in "+-*"}, file=sys.stderr)


if __name__ == "__main__":
    main()
