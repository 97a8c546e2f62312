"""The paired statistics of the analyze.py scripts in these folders: exact McNemar and the Wilson interval,
as the tool's own tables compute them.

    sys.path.insert(0, os.path.join(HERE, "..", ".."))   # from docs/results-data/DATE/EXPERIMENT/
    from paired import mcnemar, wilson
"""
import math


def mcnemar(a, b):
    """Exact two-sided McNemar: (p, right only in a, right only in b)."""
    only_a = sum(1 for x, y in zip(a, b) if x and not y)
    only_b = sum(1 for x, y in zip(a, b) if y and not x)
    n = only_a + only_b
    if n == 0:
        return 1.0, 0, 0
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2 ** n), only_a, only_b


def wilson(k, n, z=1.96):
    """k of n as a percentage with its 95% Wilson interval: '23.0% (19.5-26.9)'."""
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return f"{100 * k / n:.1f}% ({100 * (c - h):.1f}-{100 * (c + h):.1f})"
