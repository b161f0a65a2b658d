"""The statistics of `tlslab gate` (bindings/tlslab/_gate_stats.py): the Mann-Whitney U test
against values computed by hand and against published critical values, and the pass/fail rule
of Google Benchmark's compare.py."""

from __future__ import annotations

import math

import pytest

from tlslab._gate_stats import _exact_cdf_counts, compare, mann_whitney_u, smallest_p


def test_u_counts_pairs_where_x_is_larger():
    # By hand: x=3 beats y=1,2; x=5 beats 1,2,4; x=0 beats none: U = 5 of 3*3 = 9 pairs.
    assert mann_whitney_u([3, 5, 0], [1, 2, 4]).u == 5.0
    # Ties count one half: 2 vs 2 is 1/2, 2 beats 1.
    assert mann_whitney_u([2], [1, 2]).u == 1.5


def test_exact_p_values_by_hand():
    # Complete separation of 4 and 4: 1 of C(8,4) = 70 arrangements in each tail.
    assert mann_whitney_u([1, 2, 3, 4], [5, 6, 7, 8]).p == pytest.approx(2 / 70)
    assert mann_whitney_u([5, 6, 7, 8], [1, 2, 3, 4]).p == pytest.approx(2 / 70)
    # 5 and 5 with U = 2: arrangements with U <= 2 are 1 + 1 + 2 = 4 of C(10,5) = 252.
    t = mann_whitney_u([1, 2, 3, 4, 5], [3.5, 6, 7, 8, 9])
    assert (t.u, t.method) == (2.0, "exact")
    assert t.p == pytest.approx(2 * 4 / 252)
    # Identical distributions in rank: U at its mean, p = 1.
    assert mann_whitney_u([1, 4], [2, 3]).p == pytest.approx(1.0)


def test_exact_distribution_small_cases():
    # n1 = n2 = 2: U = 0,1,2,3,4 in 1,1,2,1,1 of the 6 arrangements (enumerated by hand).
    assert _exact_cdf_counts(2, 2) == [1, 1, 2, 1, 1]
    for n1, n2 in [(1, 5), (3, 4), (6, 6), (8, 10)]:
        counts = _exact_cdf_counts(n1, n2)
        assert sum(counts) == math.comb(n1 + n2, n1)
        assert counts == counts[::-1]  # symmetric around n1*n2/2


@pytest.mark.parametrize("n,critical", [(5, 2), (6, 5), (7, 8), (8, 13), (10, 23)])
def test_exact_matches_published_critical_values(n, critical):
    # Two-tailed alpha = 0.05 critical values of U for n1 = n2 (e.g. the table in Siegel and
    # Castellan, Nonparametric Statistics, Table J): U <= critical is significant, one more is not.
    counts = _exact_cdf_counts(n, n)
    total = math.comb(2 * n, n)
    assert 2 * sum(counts[: critical + 1]) / total <= 0.05
    assert 2 * sum(counts[: critical + 2]) / total > 0.05


def test_normal_approximation_with_ties_by_hand():
    # Ranks of 1,2,2,2,4,5 | 6,7,8,9 with the three 2s (two x, one y) at mid-rank 3:
    # R1 = 1 + 3 + 3 + 5 + 6 = 18, U = 18 - 15 = 3. Variance 25/12 * (11 - (27 - 3)/90),
    # z = (|3 - 12.5| - 0.5) / sqrt(var) = 1.9033, p = erfc(z / sqrt 2) = 0.0570.
    t = mann_whitney_u([1, 2, 2, 4, 5], [2, 6, 7, 8, 9])
    assert (t.u, t.method) == (3.0, "normal")
    var = 25 / 12 * (11 - 24 / 90)
    assert t.p == pytest.approx(math.erfc((9.5 - 0.5) / math.sqrt(var) / math.sqrt(2)))
    assert t.p == pytest.approx(0.0570, abs=1e-4)


def test_normal_approximation_is_close_to_exact_for_larger_samples():
    x = [float(v) for v in range(0, 40, 2)]  # 20 values each, interleaved but shifted
    y = [v + 5 for v in x]
    exact, normal = mann_whitney_u(x, y, "exact"), mann_whitney_u(x, y, "normal")
    assert (exact.method, normal.method) == ("exact", "normal")
    assert exact.p == pytest.approx(normal.p, abs=0.005)
    assert mann_whitney_u(x + [1000.5], y).method == "normal"  # 41 values: beyond the table


def test_all_equal_and_bad_input():
    assert mann_whitney_u([1, 1, 1], [1, 1, 1]).p == 1.0
    with pytest.raises(ValueError):
        mann_whitney_u([], [1.0])
    with pytest.raises(ValueError):
        mann_whitney_u([math.nan], [1.0])


def test_smallest_p_tells_when_repetitions_are_too_few():
    assert smallest_p(3, 3) == pytest.approx(0.1)  # 3 vs 3 can never be significant at 0.05
    assert smallest_p(4, 4) < 0.05


BASE = [1.00, 1.02, 0.98, 1.01, 0.99, 1.00, 1.03, 0.97]


def test_compare_fails_only_when_large_significant_and_worse():
    worse = [v * 1.3 for v in BASE]
    assert compare(BASE, worse, better="lower", tolerance=0.1, alpha=0.05).failed
    # the same change is an improvement when higher is better
    assert not compare(BASE, worse, better="higher", tolerance=0.1, alpha=0.05).failed
    # significant but within tolerance: a 3 % shift of tightly clustered values
    small = [v * 1.03 + 0.001 for v in BASE]
    c = compare(BASE, small, better="lower", tolerance=0.1, alpha=0.05)
    assert c.utest.p < 0.05 and not c.failed
    # larger than the tolerance but not significant: two wild values (noise)
    noisy = [0.5, 2.0, 1.0, 1.01]
    c = compare(BASE, noisy, better="lower", tolerance=0.001, alpha=0.05)
    assert c.utest.p >= 0.05 and not c.failed and "not significant" in c.reason


def test_docstring_examples():
    import doctest

    from tlslab import _gate_stats

    result = doctest.testmod(_gate_stats, verbose=False, report=True)
    assert result.failed == 0 and result.attempted >= 4
