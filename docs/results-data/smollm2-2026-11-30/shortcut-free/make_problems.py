"""Word problems in the built-in task's wording that no simple rule answers.

Each problem has 3 numbers, none of them 0, with at least one "gets" and one "gives": the first number and
a "gets" are from 1 to 10, a "gives" from 1 to the count so far (when the count is 0 the step is a "gets").
Its answer is none of: the sum of all its numbers, the first number, the first number minus the rest.
Writes eval.jsonl (500 problems) and train.jsonl (300; a file task needs one, nothing here trains on it)
in the GSM8K layout.

    python3 make_problems.py
"""
import json
import random

NAMES = ["Ann", "Ben", "Cal", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lou", "Max", "Ned", "Oli", "Pam"]
ITEMS = ["apples", "books", "coins", "pens", "cards", "eggs", "nuts", "shells", "stamps", "beads"]


def problem(rng):
    while True:
        first = rng.randint(1, 10)
        total, values, ops = first, [first], []
        question = f"{rng.choice(NAMES)} has {first} {rng.choice(ITEMS)},"
        for _ in range(2):
            op = rng.choice("+-")
            if op == "-" and total < 1:
                op = "+"
            v = rng.randint(1, 10) if op == "+" else rng.randint(1, total)
            question += f" gets {v}," if op == "+" else f" gives {v},"
            total += v if op == "+" else -v
            values.append(v)
            ops.append(op)
        if len(set(ops)) < 2:
            continue
        if total in (sum(values), values[0], values[0] - sum(values[1:])):
            continue
        return {"question": question[:-1] + ". How many now?", "answer": f"#### {total}"}


def main():
    rng = random.Random(7)
    for name, count in [("eval", 500), ("train", 300)]:
        with open(f"{name}.jsonl", "w") as f:
            for _ in range(count):
                f.write(json.dumps(problem(rng)) + "\n")


if __name__ == "__main__":
    main()
