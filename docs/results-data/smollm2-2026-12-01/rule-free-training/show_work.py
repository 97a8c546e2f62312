"""How many right answers show their work: of the right answers in each evaluation.jsonl given (the model's
text for every test problem), those in which the count after the first step appears as a number.

    python3 show_work.py irpo/seed-0/round-03/evaluation.jsonl ...
"""
import json, re, sys
for path in sys.argv[1:]:
    rows = [json.loads(l) for l in open(path)]
    ok = [r for r in rows if r["correct"]]
    shown = 0
    for r in ok:
        a, o1, b, o2, c = re.search(r"has (\d+) \w+, (gets|gives) (\d+), (gets|gives) (\d+)\.", r["question"]).groups()
        mid = int(a) + int(b) if o1 == "gets" else int(a) - int(b)
        if re.search(rf"(?<![\d.]){mid}(?![\d.])", r["answer"]): shown += 1
    cut = sum(r["finish_reason"] == "length" for r in rows)
    print(f"{path}: right {len(ok)}/{len(rows)}, of them showing the first count {shown}; cut {cut}")
