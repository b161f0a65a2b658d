"""The statistics of `tlslab gate`'s regression gates: a two-sided Mann-Whitney U test and the
rule that turns it into pass or fail.

The rule is Google Benchmark's tools/compare.py (gbench/report.py, `print_utest`): compare the
repetitions of a baseline with the repetitions of the current measurement by a Mann-Whitney U
test, and report the relative change of the medians. A gate fails only when the change is in
the worse direction, larger than the tolerance AND significant (p < alpha): on a noisy shared
machine a large but insignificant change, or a significant but tiny one, does not fail a good
change (docs/ci-gating.md, "Regression gates").

numpy is not needed; scipy (scipy.stats.mannwhitneyu, whose method="exact"/"asymptotic" this
follows) is not available on the machines this runs on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

# Exact distribution up to this many values in all (the counting table is n1*n2/2 wide); beyond
# it, or with ties, the normal approximation (scipy uses the same switch at 8 per side).
_EXACT_MAX_TOTAL = 40


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Mid-ranks (1-based; tied values share the mean of their ranks) and the tie group sizes."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    groups = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        groups.append(j - i + 1)
        i = j + 1
    return ranks, groups


def _exact_cdf_counts(n1: int, n2: int) -> list[int]:
    """counts[u] = the number of arrangements of n1 x's among n1+n2 positions whose U statistic
    (pairs with x > y) is u: the recurrence of Mann and Whitney (1947), eq. (1):
    c(u; n1, n2) = c(u - n2; n1 - 1, n2) + c(u; n1, n2 - 1)."""
    # table[b][u] for the current a (number of x's), built up a = 0..n1.
    table = [[1] for _ in range(n2 + 1)]  # a = 0: one arrangement, U = 0
    for a in range(1, n1 + 1):
        new = [[1]]  # b = 0: all x's, U = 0
        for b in range(1, n2 + 1):
            size = a * b + 1
            row = [0] * size
            for u, c in enumerate(table[b]):  # the largest value is an x: adds b to U
                row[u + b] += c
            for u, c in enumerate(new[b - 1]):  # the largest value is a y: U unchanged
                row[u] += c
            new.append(row)
        table = new
    return table[n2]


@dataclass(frozen=True)
class UTest:
    u: float  # U of the first sample: pairs (x, y) with x > y, ties count 1/2
    p: float  # two-sided p-value
    method: str  # "exact" or "normal"


def mann_whitney_u(x: Sequence[float], y: Sequence[float], method: str = "auto") -> UTest:
    """Two-sided Mann-Whitney U test of samples x and y (each at least one value).

    method "auto": exact (the full permutation distribution) when there are no ties and at most
    40 values in all; otherwise "normal", the normal approximation with the tie correction of
    the variance and a continuity correction of 1/2 (as scipy.stats.mannwhitneyu,
    method="asymptotic"). "exact" with ties falls back to "normal" (the exact table assumes
    distinct values).

    Example (every x below every y: the most extreme of C(8, 4) = 70 arrangements, both tails):
        >>> t = mann_whitney_u([1, 2, 3, 4], [5, 6, 7, 8])
        >>> t.u, round(t.p, 4), t.method
        (0.0, 0.0286, 'exact')
    """
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("the Mann-Whitney U test needs at least one value in each sample")
    values = [float(v) for v in x] + [float(v) for v in y]
    if any(math.isnan(v) for v in values):
        raise ValueError("the Mann-Whitney U test got a NaN")
    ranks, groups = _ranks(values)
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    ties = any(g > 1 for g in groups)
    if method not in ("auto", "exact", "normal"):
        raise ValueError(f"method must be auto, exact or normal, not {method!r}")
    exact = method == "exact" or (method == "auto" and n1 + n2 <= _EXACT_MAX_TOTAL)
    if exact and not ties:
        counts = _exact_cdf_counts(n1, n2)
        total = math.comb(n1 + n2, n1)
        # The distribution is symmetric around n1*n2/2: P(U <= min(u, n1*n2 - u)), doubled.
        k = int(round(min(u1, n1 * n2 - u1)))
        p = min(1.0, 2 * sum(counts[: k + 1]) / total)
        return UTest(u1, p, "exact")
    n = n1 + n2
    tie_term = sum(g**3 - g for g in groups) / (n * (n - 1)) if n > 1 else 0.0
    var = n1 * n2 / 12 * ((n + 1) - tie_term)
    if var <= 0:  # all values equal: no evidence of any difference
        return UTest(u1, 1.0, "normal")
    z = (abs(u1 - mean) - 0.5) / math.sqrt(var)
    p = min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2)))
    return UTest(u1, p, "normal")


def smallest_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value the exact test can give for these sample sizes: with
    fewer repetitions than that needs, no change could ever be significant.

    Example:
        >>> smallest_p(3, 3), round(smallest_p(4, 4), 4)
        (0.1, 0.0286)
    """
    return 2 / math.comb(n1 + n2, n1)


def median(values: Sequence[float]) -> float:
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


@dataclass(frozen=True)
class Comparison:
    baseline_median: float
    current_median: float
    change: float  # (current - baseline) / |baseline|, of the medians
    worse: bool  # the change goes in the direction the gate calls worse
    utest: UTest
    failed: bool
    reason: str


def compare(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    better: str,
    tolerance: float,
    alpha: float,
) -> Comparison:
    """compare.py's rule: fail when the medians moved the wrong way by more than `tolerance`
    (a fraction: 0.1 = 10 %) and the U test says the samples differ (p < alpha).

    Example:
        >>> c = compare([1.0, 1.01, 0.99, 1.0, 1.02], [1.2, 1.21, 1.19, 1.22, 1.2],
        ...             better="lower", tolerance=0.1, alpha=0.05)
        >>> c.failed, round(c.change, 2)
        (True, 0.2)
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', not {better!r}")
    b, c = median(baseline), median(current)
    change = (c - b) / abs(b) if b != 0 else (0.0 if c == b else math.copysign(math.inf, c - b))
    worse = change > 0 if better == "lower" else change < 0
    utest = mann_whitney_u(baseline, current)
    large = abs(change) > tolerance
    significant = utest.p < alpha
    failed = worse and large and significant
    direction = "worse" if worse else "better"
    if failed:
        reason = (
            f"{abs(change):.1%} {direction} than the baseline (tolerance {tolerance:.0%}), "
            f"significant: p = {utest.p:.4f} < alpha {alpha}"
        )
    elif not worse or not large:
        reason = (
            f"{abs(change):.1%} {direction} than the baseline, within tolerance {tolerance:.0%}"
            if worse
            else f"{abs(change):.1%} better than the baseline"
        )
    else:
        reason = (
            f"{abs(change):.1%} worse than the baseline but not significant: p = "
            f"{utest.p:.4f} >= alpha {alpha} (noise)"
        )
    return Comparison(b, c, change, worse, utest, failed, reason)


__all__ = ["UTest", "Comparison", "mann_whitney_u", "smallest_p", "median", "compare"]
