"""Lloyd-Max reference: the MSE-optimal fixed-rate scalar quantizer of a known distribution.

Solves Max's (1960) optimality conditions (every threshold halfway between its two levels,
every level the conditional mean of its cell) on the exact distribution, not on samples:
cell probabilities and conditional means come from closed-form CDFs and partial first
moments, so the result has no sampling or histogram error. The fixed point is found by
Newton's method on the levels (tridiagonal Jacobian), safeguarded by Lloyd steps; the MSE
of the quantizer never rises. For log-concave densities (Gaussian, Laplace) the fixed point
is unique, hence the global optimum (Fleischer 1964); for the others the best of several
starts is kept.

``source(name)``: the symmetric, zero-mean distributions ``hwsim.metrics.synthetic`` draws from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_banded
from scipy.special import gammaln, ndtr, ndtri, stdtr, stdtrit

#: heavy-tailed source: Student-t degrees of freedom, outlier probability and magnitude
#: (units of the body's standard deviation); the values ``hwsim.metrics.synthetic`` uses
T_NU, OUTLIER_P, OUTLIER_AT = 3, 1e-3, 20.0


@dataclass(frozen=True)
class Source:
    """A scalar distribution: continuous part plus point masses (``atoms``).

    pdf(x): density of the continuous part (its total mass is 1 - atom mass); cdf(x) and
    mpart(x) = E[X; X <= x] include the atoms; ppf(u): quantile of the continuous part
    alone (for starting points); power = E[X^2]."""

    name: str
    pdf: Callable[[np.ndarray], np.ndarray]
    cdf: Callable[[np.ndarray], np.ndarray]
    mpart: Callable[[np.ndarray], np.ndarray]
    ppf: Callable[[np.ndarray], np.ndarray]
    power: float
    atoms: tuple[tuple[float, float], ...] = ()  # (location, probability)


def _gaussian() -> Source:
    def pdf(x):
        return np.exp(-0.5 * np.square(x)) / math.sqrt(2 * math.pi)

    return Source("gaussian", pdf, ndtr, lambda x: -pdf(x), ndtri, 1.0)


def _laplace() -> Source:
    s = 1 / math.sqrt(2)  # scale of a unit-variance Laplace

    def pdf(x):
        return np.exp(-np.abs(x) / s) / (2 * s)

    def cdf(x):
        e = np.exp(-np.abs(x) / s)
        return np.where(x < 0, 0.5 * e, 1 - 0.5 * e)

    def mpart(x):  # E[X; X <= x]
        e = np.exp(-np.abs(x) / s)
        xf = np.where(np.isfinite(x), x, 0.0)  # e = 0 there
        return np.where(x < 0, 0.5 * e * (xf - s), -0.5 * e * (xf + s))

    def ppf(u):
        return np.where(u < 0.5, s * np.log(2 * u), -s * np.log(2 * (1 - u)))

    return Source("laplace", pdf, cdf, mpart, ppf, 1.0)


def _student_t() -> Source:
    nu, c, w = T_NU, math.sqrt(T_NU / (T_NU - 2)), 1 - OUTLIER_P  # X = T / c has unit variance
    half = OUTLIER_P / 2
    norm = math.exp(gammaln((nu + 1) / 2) - gammaln(nu / 2)) / math.sqrt(nu * math.pi)

    def tpdf(u):  # Student-t density
        return norm * (1 + np.square(u) / nu) ** (-(nu + 1) / 2)

    def pdf(x):
        return w * c * tpdf(c * x)

    def cdf(x):
        x = np.asarray(x, np.float64)
        return w * stdtr(nu, c * x) + half * ((x >= -OUTLIER_AT) + (x >= OUTLIER_AT))

    def mpart(x):  # t_nu: E[T; T <= u] = -(nu + u^2) / (nu - 1) f(u)
        x = np.asarray(x, np.float64)
        u = np.where(np.isfinite(x), c * x, 0.0)
        body = np.where(np.isfinite(x), -(nu + u * u) / (nu - 1) * tpdf(u) / c, 0.0)
        return w * body + half * OUTLIER_AT * ((x >= OUTLIER_AT) * 1.0 - (x >= -OUTLIER_AT))

    def ppf(u):
        return stdtrit(nu, u) / c

    atoms = ((-OUTLIER_AT, half), (OUTLIER_AT, half))
    return Source("student_t", pdf, cdf, mpart, ppf, w + OUTLIER_P * OUTLIER_AT**2, atoms)


_SOURCES = {"gaussian": _gaussian, "laplace": _laplace, "student_t": _student_t}


def source(name: str) -> Source:
    """The distribution ``hwsim.metrics.synthetic(name, ...)`` samples from."""
    if name not in _SOURCES:
        raise ValueError(f"unknown distribution {name!r}; use {', '.join(_SOURCES)}")
    return _SOURCES[name]()


@dataclass(frozen=True)
class Quantizer:
    """A scalar quantizer: sorted ``levels``, the ``thresholds`` between them, its ``mse`` on
    the source and ``sqnr_db`` = 10 log10(E[X^2] / mse)."""

    levels: np.ndarray
    thresholds: np.ndarray
    mse: float
    sqnr_db: float

    def quantize(self, x) -> np.ndarray:
        """Nearest-cell value of every element of ``x`` (float64)."""
        x = np.asarray(x, np.float64)
        return self.levels[np.searchsorted(self.thresholds, x)]


def _cells(src: Source, y: np.ndarray):
    """Thresholds (midpoints of ``y``, with +-inf ends), cell probabilities and centroids.
    Tail cells are computed from the lower tail (the sources are symmetric about 0), so
    their probabilities keep full relative precision instead of being 1 - (1 - tiny)."""
    t = np.concatenate([[-np.inf], (y[:-1] + y[1:]) / 2, [np.inf]])
    a, b = t[:-1], t[1:]
    fa, fb, fna, fnb = (src.cdf(v) for v in (a, b, -a, -b))
    p = np.where(b <= 0, fb - fa, np.where(a >= 0, fna - fnb, 1 - fa - fnb))
    m = src.mpart(-np.abs(b)) - src.mpart(-np.abs(a))  # symmetric, zero mean
    keep = p > 1e-300
    c = np.where(keep, m / np.where(keep, p, 1.0), y)
    return t, p, c


def _merit(src: Source, y: np.ndarray) -> tuple[float, np.ndarray]:
    """MSE of the quantizer with thresholds from ``y`` and centroid levels, and those levels:
    E[X^2] - sum P_i c_i^2 (exact when every level is its cell's conditional mean)."""
    _, p, c = _cells(src, y)
    return src.power - float(np.sum(p * c * c)), c


def _newton_step(src: Source, y: np.ndarray) -> np.ndarray:
    """One Newton step on g(y) = y - centroid(y); the Jacobian of the centroid map is
    tridiagonal: d c_i / d t = p(t) (c_i - t) / P_i at the cell's lower edge, mirrored at the
    upper one, and every threshold is the mean of its two levels."""
    t, p, c = _cells(src, y)
    dens = src.pdf(np.where(np.isfinite(t), t, 0.0)) * np.isfinite(t)
    safe = np.maximum(p, 1e-300)
    a = dens[:-1] * (c - np.where(np.isfinite(t[:-1]), t[:-1], 0.0)) / safe
    b = dens[1:] * (np.where(np.isfinite(t[1:]), t[1:], 0.0) - c) / safe
    n = y.size
    band = np.zeros((3, n))
    band[1] = 1 - (a + b) / 2  # diagonal of I - dC/dy
    band[0, 1:] = -b[:-1] / 2  # superdiagonal
    band[2, :-1] = -a[1:] / 2  # subdiagonal
    return y - solve_banded((1, 1), band, y - c)


def _solve(src: Source, y: np.ndarray, max_steps: int, tol: float) -> tuple[float, np.ndarray]:
    """Fixed point of Lloyd's map from start ``y``: damped Newton steps (halved until the
    levels stay sorted and the MSE does not rise), else a Lloyd step (levels to the
    centroids, which never raises the MSE); stops when no level moves by more than ``tol``
    x the mean level spacing or the MSE has not moved above rounding for 50 steps."""
    y = np.sort(y)
    d, c = _merit(src, y)
    slack = 1e-14 * src.power  # rounding of E[X^2] - sum P c^2
    best_d, stale = d, 0
    for _ in range(max_steps):
        stale = 0 if d < best_d - slack else stale + 1
        best_d = min(best_d, d)
        if stale > 50:  # the MSE no longer moves above its rounding: converged to precision
            break
        scale = (y[-1] - y[0]) / max(y.size - 1, 1) or 1.0
        if np.max(np.abs(c - y)) <= tol * scale:
            break
        try:
            delta = _newton_step(src, y) - y
        except (ValueError, np.linalg.LinAlgError):
            delta = np.full_like(y, np.nan)
        step = None
        for k in range(10) if np.all(np.isfinite(delta)) else ():
            cand = y + delta / 2**k
            if np.all(np.diff(cand) > 0):
                dc, cc = _merit(src, cand)
                if dc <= d + slack:
                    step = (cand, dc, cc)
                    break
        if step is None:
            dc, cc = _merit(src, c)
            step = (c, dc, cc)
        y, d, c = step
    return d, c


def optimal_quantizer(src: Source | str, levels: int, tol: float = 1e-9) -> Quantizer:
    """The MSE-optimal ``levels``-level scalar quantizer of ``src`` (a Source or a name for
    ``source``). Starts: the high-rate optimal point density p^(1/3) (Panter and Dite 1951)
    cut at two tail masses, equal-probability levels (up to 32 levels), and for sources with
    atoms, one level on each atom with the rest spread by p^(1/3); the best fixed point is
    kept (the global optimum for log-concave sources, where the fixed point is unique)."""
    src = source(src) if isinstance(src, str) else src
    if isinstance(levels, bool) or not isinstance(levels, int | np.integer) or levels < 1:
        raise ValueError(f"levels must be a positive int, got {levels!r}")
    if levels == 1:
        _, p, c = _cells(src, np.zeros(1))
        mse = src.power - float(p[0] * c[0] ** 2)
        return Quantizer(c, np.empty(0), mse, _db(src.power, mse))
    spreads = [_spread(src, n, tail) for n in (levels, levels - len(src.atoms)) for tail in TAILS]
    starts = spreads[:2] + [src.ppf((np.arange(levels) + 0.5) / levels)] * (levels <= 32)
    if src.atoms and levels > len(src.atoms) + 1:
        starts += [np.concatenate([s, [a for a, _ in src.atoms]]) for s in spreads[2:]]
    # a short run from every start, then the best one to convergence
    best = min((_solve(src, s, 40, tol) for s in starts), key=lambda r: r[0])
    best = _solve(src, best[1], 20_000, tol)
    lv = np.sort(best[1])
    d, c = _merit(src, lv)
    t = (c[:-1] + c[1:]) / 2
    return Quantizer(c, t, d, _db(src.power, d))


#: tail mass beyond which the p^(1/3) starting density is cut: a light cut suits few levels,
#: a far one many levels of a heavy-tailed source (both are tried)
TAILS = (5e-7, 1e-12)


def _spread(src: Source, n: int, tail: float) -> np.ndarray:
    """n starting levels at the (i + 1/2)/n quantiles of the high-rate optimal point density
    p^(1/3) of the continuous part, cut at its ``tail``-quantiles (numerically integrated on
    a grid that is fine near 0 and reaches far tails)."""
    u = (np.arange(n) + 0.5) / n
    hi = float(src.ppf(np.array([1 - tail]))[0])
    x = np.sinh(np.linspace(-1, 1, 40001) * np.arcsinh(hi))
    w = np.cbrt(src.pdf(x))
    cum = np.concatenate([[0.0], np.cumsum((w[1:] + w[:-1]) / 2 * np.diff(x))])
    return np.interp(u * cum[-1], cum, x)


def _db(power: float, mse: float) -> float:
    return float("inf") if mse <= 0 else 10 * math.log10(power / mse)
