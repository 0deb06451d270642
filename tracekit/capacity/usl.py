"""The Universal Scalability Law fitted to (concurrency, throughput) windows.

Gunther's USL: X(N) = gamma N / (1 + sigma (N - 1) + kappa N (N - 1)), with N the concurrency
(busy workers, from Little's law), X the throughput, sigma contention and kappa coherency cost.
It is fitted by least squares on the linear form N / X = (1 + sigma (N-1) + kappa N (N-1)) /
gamma, keeping sigma and kappa non-negative. The windows support a fit only when their
concurrency and throughput span a real range (a flat hour of traffic says nothing about scaling).

>>> import numpy as np
>>> n = np.arange(1.0, 25.0)
>>> fit = fit_usl(n, 10 * n / (1 + 0.05 * (n - 1) + 0.001 * n * (n - 1)))
>>> round(fit.sigma, 3), round(fit.kappa, 4), round(fit.r2, 3)
(0.05, 0.001, 1.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_WINDOWS = 12
MIN_RANGE = 2.0  # highest over lowest concurrency (and throughput) among the windows


@dataclass(frozen=True)
class USLFit:
    """A USL fit; ``supported`` is False (with ``note`` saying why) when the data cannot tell."""

    supported: bool
    gamma: float = math.nan
    sigma: float = math.nan
    kappa: float = math.nan
    r2: float = math.nan
    windows: int = 0
    note: str = ""

    def throughput(self, concurrency: np.ndarray | float) -> np.ndarray:
        """Throughput the fit predicts at ``concurrency``."""
        n = np.asarray(concurrency, dtype=float)
        return self.gamma * n / (1 + self.sigma * (n - 1) + self.kappa * n * (n - 1))

    def peak_concurrency(self, workers: float = math.inf) -> float:
        """Concurrency of the highest throughput, at most ``workers``."""
        if self.kappa > 0:
            return min(math.sqrt(max(1.0 - self.sigma, 0.0) / self.kappa), workers)
        return workers

    def max_throughput(self, workers: float = math.inf) -> float:
        """The highest throughput the fit allows with at most ``workers`` busy."""
        if not self.supported:
            return math.nan
        peak = self.peak_concurrency(workers)
        if math.isinf(peak):
            return self.gamma / self.sigma if self.sigma > 0 else math.inf
        return float(self.throughput(peak))


def fit_usl(concurrency: np.ndarray, throughput: np.ndarray) -> USLFit:
    """Fit the USL to windows; unsupported when too few windows or too narrow a range."""
    n = np.asarray(concurrency, dtype=float)
    x = np.asarray(throughput, dtype=float)
    # The law describes N >= 1 requests in service; below one (a mostly idle component) its
    # N - 1 terms turn negative and a fit says nothing about scaling.
    keep = (n >= 1) & (x > 0) & np.isfinite(n) & np.isfinite(x)
    n, x = n[keep], x[keep]
    if n.size < MIN_WINDOWS:
        return USLFit(
            False,
            windows=int(n.size),
            note=f"{n.size} windows with at least one request in service on average; "
            f"at least {MIN_WINDOWS} are needed",
        )
    for label, values in (("concurrency", n), ("throughput", x)):
        spread = float(values.max() / values.min())
        if spread < MIN_RANGE:
            return USLFit(
                False,
                windows=int(n.size),
                note=f"{label} varies only {spread:.2f}x across windows; "
                f"at least {MIN_RANGE}x is needed",
            )
    y = n / x
    columns = {"sigma": n - 1, "kappa": n * (n - 1)}
    active = list(columns)
    coef: dict[str, float] = {}
    while True:
        design = np.column_stack([np.ones_like(n)] + [columns[name] for name in active])
        solution, *_ = np.linalg.lstsq(design, y, rcond=None)
        negative = [name for name, value in zip(active, solution[1:], strict=True) if value < 0]
        if not negative:
            break
        active.remove(negative[0])
    inverse_gamma = float(solution[0])
    if inverse_gamma <= 0:
        return USLFit(False, windows=int(n.size), note="no positive single-worker throughput")
    coef = {name: float(value) for name, value in zip(active, solution[1:], strict=True)}
    gamma = 1.0 / inverse_gamma
    sigma = coef.get("sigma", 0.0) * gamma
    kappa = coef.get("kappa", 0.0) * gamma
    fit = USLFit(True, gamma, sigma, kappa, windows=int(n.size))
    predicted = fit.throughput(n)
    total = float(((x - x.mean()) ** 2).sum())
    r2 = 1.0 - float(((x - predicted) ** 2).sum()) / total if total > 0 else 1.0
    return USLFit(True, gamma, sigma, kappa, r2, int(n.size))
