"""Distribution-free statistics of timing samples: the median and its 95% order-statistic interval."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: Fewest samples whose order statistics give a 95% interval for the median (P = 1 - 2 / 2**6 = 0.969).
MIN_SAMPLES_FOR_INTERVAL = 6


@dataclass(frozen=True)
class MedianInterval:
    """The median of samples and a distribution-free interval that holds the true median with
    probability >= ``coverage`` (95% once there are ``MIN_SAMPLES_FOR_INTERVAL`` samples; below that
    the interval is the full range and ``coverage`` says how little it guarantees)."""

    median: float
    low: float
    high: float
    coverage: float
    samples: int

    @property
    def half_width(self) -> float:
        """Half the interval's width relative to the median (0.05 is ±5%)."""
        return (self.high - self.low) / 2 / abs(self.median) if self.median else math.inf


def _binomial_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2)."""
    return sum(math.comb(n, i) for i in range(k + 1)) / 2**n


def median_interval(samples: Sequence[float], confidence: float = 0.95) -> MedianInterval:
    """The median of ``samples`` with its order-statistic interval ``[x_(k), x_(n+1-k)]``, ``k`` the
    largest rank whose interval still covers the median with probability >= ``confidence``."""
    if not samples:
        raise ValueError("median_interval needs at least one sample")
    ordered = sorted(samples)
    n = len(ordered)
    k = 0  # 1-based rank of the interval's lower end; 0: no rank gives the confidence
    while k + 1 <= n // 2 and 1 - 2 * _binomial_cdf(k, n) >= confidence:
        k += 1
    if k == 0:
        return MedianInterval(statistics.median(ordered), ordered[0], ordered[-1], 1 - 2 / 2**n, n)
    coverage = 1 - 2 * _binomial_cdf(k - 1, n)
    return MedianInterval(statistics.median(ordered), ordered[k - 1], ordered[n - k], coverage, n)


def interquartile_range(samples: Sequence[float]) -> float:
    if len(samples) < 2:
        return 0.0
    quartiles = statistics.quantiles(samples, n=4)
    return quartiles[2] - quartiles[0]


def decile_spread(samples: Sequence[float]) -> float:
    """``(P90 - P10) / median`` of ``samples``: how far apart their usual values lie (0 for fewer than 2)."""
    if len(samples) < 2:
        return 0.0
    deciles = statistics.quantiles(samples, n=10, method="inclusive")
    median = statistics.median(samples)
    return (deciles[-1] - deciles[0]) / median if median > 0 else 0.0
