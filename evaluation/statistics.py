"""How far a test accuracy can be trusted: confidence intervals and paired tests between runs."""

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

Z_95 = 1.959963984540054  # two-sided 95% quantile of the normal distribution
# Below this many discordant images the exact binomial test is used (Edwards' chi-square is an
# approximation that needs enough of them).
EXACT_BELOW = 25


def wilson_interval(correct: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (Wilson 1927): unlike the normal approximation it
    stays inside [0, 1] and is accurate near 0 and 1."""
    if total <= 0:
        raise ValueError(f"total must be positive. Received: total={total}")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must be in [0, total]. Received: correct={correct}")
    p = correct / total
    denominator = 1 + z**2 / total
    centre = (p + z**2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z**2 / (4 * total**2)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class McNemarResult:
    only_first_right: int  # b: images the first run gets right and the second wrong
    only_second_right: int  # c
    p_value: float
    exact: bool

    @property
    def discordant(self) -> int:
        return self.only_first_right + self.only_second_right


def mcnemar(first_correct: np.ndarray, second_correct: np.ndarray) -> McNemarResult:
    """McNemar's paired test of two classifiers on the same images (McNemar 1947): only the
    images that exactly one of them gets right count. Exact two-sided binomial test when fewer
    than `EXACT_BELOW` images are discordant, else the chi-square test with Edwards' continuity
    correction."""
    first_correct = np.asarray(first_correct, bool)
    second_correct = np.asarray(second_correct, bool)
    if first_correct.shape != second_correct.shape:
        raise ValueError(
            "Both runs must be scored on the same images. Received: shapes "
            f"{first_correct.shape} and {second_correct.shape}"
        )
    b = int(np.sum(first_correct & ~second_correct))
    c = int(np.sum(~first_correct & second_correct))
    if b + c == 0:
        return McNemarResult(b, c, 1.0, exact=True)
    if b + c < EXACT_BELOW:
        p_value = stats.binomtest(min(b, c), b + c, 0.5).pvalue
        return McNemarResult(b, c, min(1.0, float(p_value)), exact=True)
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return McNemarResult(b, c, float(stats.chi2.sf(statistic, df=1)), exact=False)
