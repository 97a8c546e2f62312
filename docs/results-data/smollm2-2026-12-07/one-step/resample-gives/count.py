"""Fresh samples of the round-1 models of IRPO seeds 0 and 1 on the 22 "gives" questions of round 2 (train
ids 64-127), 32 each at temperature 0.8: how many questions have a right sample among the first 8 (what a
round with N = 8 would see) and among all 32. Made with, from the repository root (S = 0, 1):

    autodidact generate --model runs/one-step/irpo/seed-S/round-01/model --prompts prompts.jsonl \
        --output seed-S-round-01.jsonl --samples 32 --batch-size 64 --template none --max-new-tokens 96 \
        --temperature 0.8 --seed S --round 2 --threads 1

(the token ids are dropped from the files kept here). The answer is read as the verifier reads it (the
number after the last '####', else the last number), which agrees with the runs' judgments.jsonl on the
runs' own round-2 samples of these questions.

    python3 count.py
"""
import json
import os
import re
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))


def answer(text):
    text = text.split("####")[-1] if "####" in text else text
    numbers = re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    return numbers[-1] if numbers else None


def main():
    prompts = [json.loads(line) for line in open(os.path.join(HERE, "prompts.jsonl"))]
    for seed in (0, 1):
        right, kinds = defaultdict(list), Counter()
        for line in open(os.path.join(HERE, f"seed-{seed}-round-01.jsonl")):
            d = json.loads(line)
            p = prompts[d["prompt_index"]]
            question = re.search(r"user\n(.*?)\n", p["prompt"]).group(1)
            x, y = (int(n) for n in re.findall(r"\d+", question)[:2])
            got = answer(d["text"])
            right[d["prompt_index"]].append(got == p["gold"])
            kinds[{str(x + y): "sum", str(x - y): "difference", str(x * y): "product"}.get(got, "other")] += 1
        samples = sum(len(v) for v in right.values())
        print(f"seed {seed}, round-1 model: {sum(map(sum, right.values()))} of {samples} samples right; "
              f"questions with a right sample among the first 8: {sum(any(v[:8]) for v in right.values())} of {len(right)}, "
              f"among 32: {sum(any(v) for v in right.values())}; answers: "
              + ", ".join(f"{k} {kinds[k]}" for k in ["sum", "difference", "product", "other"]))


if __name__ == "__main__":
    main()
