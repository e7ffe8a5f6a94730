#!/usr/bin/env python3
"""Paired statistics for the A/B benchmarks (figures, not a test).

Reads lines "ROUND VARIANT VALUE" (any order) from a file or stdin, where
every round measured the two variants back to back, and prints per variant
the median, min–max and mean ± sd, then the paired differences
(CANDIDATE − REFERENCE, one per round): each of them, their mean with a 95 %
t confidence interval and their median with a distribution-free ~95 %
interval (order statistics of the binomial sign test), and how many rounds
went each way. With --bound X it also says whether the interval lies below X.

    scripts/bench-paired.py CANDIDATE REFERENCE UNIT [--bound X] [FILE]
"""
import math
import statistics
import sys

# Two-sided 95 % quantiles of Student's t, by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
       10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
       18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
       26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t95(df):
    if df in T95:
        return T95[df]
    bigger = [d for d in sorted(T95) if d >= df]
    return T95[bigger[0]] if bigger else 1.960


def median_interval(values):
    """The widest order-statistic interval [x(k), x(n-k+1)] with coverage ≥ 95 %
    (sign test); None when n is too small for one (n < 6)."""
    xs = sorted(values)
    n = len(xs)
    best = None
    for k in range(1, n // 2 + 1):
        # P(k <= B <= n-k) for B ~ Binomial(n, 1/2)
        coverage = sum(math.comb(n, i) for i in range(k, n - k + 1)) / 2 ** n
        if coverage >= 0.95:
            best = (xs[k - 1], xs[n - k], coverage)
        else:
            break
    return best


def describe(values):
    xs = sorted(values)
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return (f"median {statistics.median(xs):.2f}, {xs[0]:.2f}–{xs[-1]:.2f}, "
            f"mean {statistics.mean(xs):.2f} ± {sd:.2f} (n={len(xs)})")


def main(argv):
    bound = None
    args = []
    i = 0
    while i < len(argv):
        if argv[i] == "--bound":
            bound = float(argv[i + 1])
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if len(args) < 3:
        sys.exit(__doc__)
    candidate, reference, unit = args[:3]
    source = open(args[3]) if len(args) > 3 else sys.stdin
    rounds = {}
    for line in source:
        parts = line.split()
        if len(parts) != 3:
            continue
        rounds.setdefault(parts[0], {})[parts[1]] = float(parts[2])
    a = [r[candidate] for r in rounds.values() if candidate in r]
    b = [r[reference] for r in rounds.values() if reference in r]
    diffs = [r[candidate] - r[reference] for r in rounds.values() if candidate in r and reference in r]
    if not diffs:
        sys.exit("no round measured both variants")
    width = max(len(candidate), len(reference))
    print(f"  {candidate:<{width}}  {describe(a)} {unit}")
    print(f"  {reference:<{width}}  {describe(b)} {unit}")
    print(f"  paired differences {candidate} − {reference} ({unit}), one per round: "
          + " ".join(f"{d:+.2f}" for d in diffs))
    n = len(diffs)
    mean = statistics.mean(diffs)
    if n > 1:
        half = t95(n - 1) * statistics.stdev(diffs) / math.sqrt(n)
        mean_text = f"mean {mean:+.2f}, 95 % CI {mean - half:+.2f} … {mean + half:+.2f} (t, n={n})"
        high = mean + half
    else:
        mean_text = f"mean {mean:+.2f} (one round: no interval)"
        high = None
    interval = median_interval(diffs)
    if interval:
        median_text = (f"median {statistics.median(diffs):+.2f}, "
                       f"{interval[2] * 100:.0f} % CI {interval[0]:+.2f} … {interval[1]:+.2f} (sign test)")
        high = interval[1] if high is None else high
    else:
        median_text = f"median {statistics.median(diffs):+.2f} (too few rounds for a distribution-free interval)"
    up = sum(d > 0 for d in diffs)
    print(f"  difference: {mean_text}; {median_text}; "
          f"{candidate} higher in {up} of {n} rounds")
    if bound is not None and high is not None:
        verdict = "below" if high <= bound else "NOT below (cannot confirm)"
        print(f"  upper end of the 95 % interval of the mean {high:+.2f} {unit}: {verdict} the bound {bound:g}")


if __name__ == "__main__":
    main(sys.argv[1:])
