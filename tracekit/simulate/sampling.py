"""Random draws for the model, fast and reproducible.

Each sampler owns a numpy Generator derived from the run seed and a stable name, and draws in
blocks: one numpy call per 4096 values instead of one Python-level call per value. Because each
stream has its own generator, adding an operation to a scenario does not shift the draws of the
others.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from tracekit.simulate.scenario import Distribution

_BLOCK = 4096


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent generator for ``name`` within the run seeded by ``seed``."""
    return np.random.default_rng([seed & 0xFFFFFFFF, seed >> 32, zlib.crc32(name.encode())])


class Sampler:
    """Draws values (seconds) from a Distribution, one at a time, generated in blocks."""

    __slots__ = ("_rng", "_dist", "_buf", "_pos")

    def __init__(self, dist: Distribution, rng: np.random.Generator) -> None:
        self._rng, self._dist = rng, dist
        self._buf: list[float] = []
        self._pos = 0

    def __call__(self) -> float:
        if self._pos >= len(self._buf):
            self._buf = self._block().tolist()
            self._pos = 0
        value = self._buf[self._pos]
        self._pos += 1
        return value

    def _block(self) -> np.ndarray:
        mean, cv, rng = self._dist.mean_s, self._dist.cv, self._rng
        kind = self._dist.kind
        if kind == "constant":
            return np.full(_BLOCK, mean)
        if kind == "exponential":
            return rng.exponential(mean, _BLOCK)
        if kind == "gamma":
            shape = 1.0 / (cv * cv)
            return rng.gamma(shape, mean / shape, _BLOCK)
        sigma2 = math.log1p(cv * cv)
        return rng.lognormal(math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2), _BLOCK)


class Uniform:
    """Uniform [0, 1) draws in blocks, for Bernoulli decisions (errors, losses)."""

    __slots__ = ("_rng", "_buf", "_pos")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buf: list[float] = []
        self._pos = 0

    def __call__(self) -> float:
        if self._pos >= len(self._buf):
            self._buf = self._rng.random(_BLOCK).tolist()
            self._pos = 0
        value = self._buf[self._pos]
        self._pos += 1
        return value


def arrival_times(
    per_minute: tuple[float, ...],
    load: float,
    start_hour: float,
    duration_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Poisson arrival offsets (seconds from the start) following a daily curve.

    ``per_minute`` holds one rate (constant) or 24 rates at the top of each UTC hour, linearly
    interpolated in between (the curve wraps at midnight). Drawn by thinning a homogeneous
    process at the curve's maximum rate.
    """
    rates = np.asarray(per_minute, dtype=float) * load / 60.0
    peak = float(rates.max()) if rates.size else 0.0
    if peak <= 0 or duration_s <= 0:
        return np.empty(0)
    count = rng.poisson(peak * duration_s)
    times = np.sort(rng.uniform(0.0, duration_s, count))
    if rates.size == 1:
        return times
    keep = rng.random(count) * peak < rate_at(rates, start_hour, times)
    return times[keep]


def rate_at(rates: np.ndarray, start_hour: float, offsets_s: np.ndarray) -> np.ndarray:
    """The interpolated daily curve at ``offsets_s`` seconds after ``start_hour`` (UTC)."""
    hours = (start_hour + offsets_s / 3600.0) % 24.0
    base = np.floor(hours).astype(int)
    frac = hours - base
    return rates[base] * (1.0 - frac) + rates[(base + 1) % 24] * frac
