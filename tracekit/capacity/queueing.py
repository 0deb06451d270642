"""Queueing formulas: Erlang C (M/M/c) and the Allen-Cunneen M/G/c correction.

A component is ``c`` identical workers fed by one FIFO queue. Arrivals are Poisson at ``rate``
per second, a request holds a worker for a service time with mean ``mean_s`` and squared
coefficient of variation ``cv2``. The offered load is ``a = rate * mean_s`` erlangs and the
utilization ``a / c``.

Erlang C gives the probability that an arrival waits. For M/M/c the wait of those who wait is
exponential with rate ``c / mean_s - rate``. For general service times the Allen-Cunneen
approximation (for Poisson arrivals the same as Lee-Longton's) scales the mean wait by
``(1 + cv2) / 2``; it is exact for M/G/1 (Pollaczek-Khinchine). We keep the waiting probability
and the exponential shape and scale the conditional mean, which is how the wait is sampled
when latencies are forecast.

>>> round(erlang_c(3, 2.0), 4)   # 3 workers, 2 erlangs: 4/9
0.4444
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MODELS = ("M/M/c", "M/G/c")


@dataclass(frozen=True)
class WaitModel:
    """The waiting time of one component at one arrival rate.

    ``prob_wait`` is the chance an arrival waits at all; those who wait wait an exponential time
    with mean ``mean_wait_if_waiting_s``. ``saturated`` means utilization >= 1: the queue grows
    without bound and no finite wait exists.
    """

    utilization: float
    prob_wait: float
    mean_wait_s: float
    mean_wait_if_waiting_s: float
    saturated: bool

    def quantile(self, q: float) -> float:
        """The q-quantile of the wait alone (seconds); ``inf`` when saturated."""
        if self.saturated:
            return math.inf
        tail = 1.0 - q
        if tail >= self.prob_wait or self.prob_wait <= 0:
            return 0.0
        return self.mean_wait_if_waiting_s * math.log(self.prob_wait / tail)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` waits drawn from the model (seconds)."""
        if self.saturated:
            return np.full(size, np.inf)
        waits = rng.exponential(self.mean_wait_if_waiting_s or 0.0, size)
        return np.where(rng.random(size) < self.prob_wait, waits, 0.0)


def erlang_b(c: int, a: float) -> float:
    """Erlang B blocking probability for ``c`` servers and ``a`` erlangs (stable recursion)."""
    if c < 0 or a < 0:
        raise ValueError("erlang_b needs c >= 0 and a >= 0")
    blocking = 1.0
    for k in range(1, c + 1):
        blocking = a * blocking / (k + a * blocking)
    return blocking


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with ``a`` erlangs offered (1.0 when a >= c).

    >>> round(erlang_c(1, 0.5), 3)   # M/M/1: the utilization
    0.5
    >>> round(erlang_c(2, 1.0), 4)   # M/M/2 at rho 0.5: 2 rho^2 / (1 + rho)
    0.3333
    """
    if c <= 0:
        raise ValueError("erlang_c needs at least one server")
    if a <= 0:
        return 0.0
    if a >= c:
        return 1.0
    blocking = erlang_b(c, a)
    return c * blocking / (c - a * (1.0 - blocking))


def wait_model(
    rate: float, mean_s: float, workers: int, cv2: float = 1.0, model: str = "M/G/c"
) -> WaitModel:
    """The wait at ``rate`` arrivals/s for ``workers`` servers with mean service ``mean_s``.

    ``model`` "M/M/c" ignores ``cv2`` (exponential service); "M/G/c" applies Allen-Cunneen.

    >>> m = wait_model(rate=2.0, mean_s=1.0, workers=3, model="M/M/c")
    >>> round(m.mean_wait_s, 4)       # C / (c mu - lambda) = (4/9) / 1
    0.4444
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; one of {', '.join(MODELS)}")
    if workers <= 0:
        raise ValueError("workers must be positive")
    offered = rate * mean_s
    utilization = offered / workers
    if utilization >= 1.0:
        return WaitModel(utilization, 1.0, math.inf, math.inf, True)
    if rate <= 0 or mean_s <= 0:
        return WaitModel(utilization, 0.0, 0.0, 0.0, False)
    prob_wait = erlang_c(workers, offered)
    factor = 1.0 if model == "M/M/c" else (1.0 + max(cv2, 0.0)) / 2.0
    if_waiting = factor / (workers / mean_s - rate)
    return WaitModel(utilization, prob_wait, prob_wait * if_waiting, if_waiting, False)


def latency_quantiles(service_s: np.ndarray, wait: WaitModel, qs: tuple[float, ...]) -> list[float]:
    """Quantiles of wait + service, with service times drawn from the empirical ``service_s``.

    Exact for the mixture (no sampling): P(W + S <= t) = mean over samples of
    (1 - P_w) [s <= t] + P_w (1 - exp(-(t - s) / m)) [s <= t], solved for t by bisection.

    >>> w = wait_model(rate=0.0, mean_s=1.0, workers=1)
    >>> latency_quantiles(np.array([1.0, 2.0, 3.0, 4.0]), w, (0.5,))
    [2.0]
    """
    service = np.sort(np.asarray(service_s, dtype=float))
    if service.size == 0:
        return [math.nan for _ in qs]
    if wait.saturated:
        return [math.inf for _ in qs]
    if wait.prob_wait <= 0 or wait.mean_wait_if_waiting_s <= 0:
        return [float(np.quantile(service, q, method="inverted_cdf")) for q in qs]
    mean_if = wait.mean_wait_if_waiting_s

    def cdf(t: float) -> float:
        below = service[service <= t]
        if below.size == 0:
            return 0.0
        waited = 1.0 - np.exp(-(t - below) / mean_if)
        total = (1.0 - wait.prob_wait) * below.size + wait.prob_wait * waited.sum()
        return float(total / service.size)

    results = []
    for q in qs:
        low, high = float(service[0]), float(service[-1]) + mean_if * 50.0
        for _ in range(60):
            mid = (low + high) / 2.0
            if cdf(mid) < q:
                low = mid
            else:
                high = mid
        results.append(high)
    return results


def workers_needed(
    rate: float,
    service_s: np.ndarray,
    target_s: float,
    q: float = 0.95,
    model: str = "M/G/c",
    limit: int = 10_000,
) -> int | None:
    """The fewest workers keeping the ``q``-quantile of wait + service at or under ``target_s``.

    ``None`` when no number of workers can (the service time alone exceeds the target).

    >>> workers_needed(rate=0.0, service_s=np.array([0.1]), target_s=0.2)
    1
    """
    service = np.asarray(service_s, dtype=float)
    if service.size == 0:
        return None
    mean_s = float(service.mean())
    cv2 = float(service.var() / mean_s**2) if mean_s > 0 else 0.0
    if float(np.quantile(service, q, method="inverted_cdf")) > target_s:
        return None
    workers = max(1, math.floor(rate * mean_s) + 1)
    while workers <= limit:
        model_at = wait_model(rate, mean_s, workers, cv2, model)
        if latency_quantiles(service, model_at, (q,))[0] <= target_s:
            return workers
        workers += 1
    return None
