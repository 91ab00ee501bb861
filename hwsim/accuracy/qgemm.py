"""Quantized GEMMs for the accuracy models: exact reference, or executed by a PE model.

Every GEMM of the accuracy models (``digits``, ``minilm``) is ``Y = X @ W`` with activations
X (M x K) and weights W (K x N) quantized along K: activations per row (token) and weights per
output channel, each format's granularity (per tensor / per channel / per group of K)
deciding how many scales there are.

Two ways to compute Y from the quantized operands:

* **reference** (``pe=None``, the default): the dequantized operands multiplied with every
  output summed exactly and rounded once to float64 (``exact_gemm``; products by Dekker's
  error-free TwoProduct, sums by Shewchuk/``math.fsum`` partials, in a numba kernel).
  Exact unless a product underflows below ~2^-969 (never for these models).
* **PE path** (``pe="int_mac"``, ``pe=("fp_fma", {"acc_fmt": "fp16"})``, ...): each operand is
  split into element values (the values of its element format: the integers of INT formats,
  the E2M1 values of MXFP4, ...) and block scales (and zero points). The element values are
  the PE's operands (``a_fmt``/``w_fmt`` default to the formats' element formats, e.g. int8
  for ``int8_channel``), and the PE model's fast path ``ProcessingElement.matmul`` computes
  the products and accumulations with its own accumulator width, overflow and rounding:

  - PEs without scale inputs (int_mac, fp_fma, bitserial, lut, shiftadd, bipolar): K is cut
    into segments on which both operands' scales are constant (length gcd of the two block
    lengths; K for per-channel / per-token / per-tensor scales); the PE computes each
    segment's partial sum (its accumulator starts from zero for every segment, as in
    group-quantized hardware), and the epilogue computes
    ``Y = sum_seg s_x * s_w * (P_seg - z_w * sum_seg x)`` exactly with one rounding to
    float64 (zero points z_w of asymmetric weights need integer activations).
  - PEs with scale inputs (mixpe, dequant_mac): the weight group scales (and zero points) are
    passed to the PE (``group_size`` = the weight format's block length, or K per channel;
    ``scale_fmt`` = the weight scales' format, fp32 for power-of-two E8M0 scales), the PE
    dequantizes and accumulates them itself, and the epilogue multiplies the result by the
    activation scale (which must then be per row or per tensor), exactly, rounded once.

  The epilogue is an ideal exact unit (one float64 rounding): the PE's own arithmetic is the
  only source of error beyond quantization. Hence when the PE is exact (e.g. ``int_mac`` with a
  wide accumulator on INT operands, whose partial sums are exact integers) the PE path equals
  the reference bit for bit; a narrow accumulator (wrap/saturate) or a low-precision FP
  accumulator changes the result (tests).

A format pair that no PE can execute raises ``QGemmError`` naming the PE kinds that can.
Block formats without a single element format (BitMoD's per-group mixture ``bitmod_fp4``)
work in the reference path only; use one type with group scales (``bitmod_fp4_er_pos_g128``)
on a PE.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

import hwsim.formats as F
from hwsim.formats.jitcache import njit_cached

SCALED_KINDS = ("mixpe", "dequant_mac")  # PEs that apply per-group weight scales themselves
#: PE path: rows per call keep the (segments x rows x N) partials at most this many values
PARTIALS_PER_CHUNK = 1 << 23
_BUF = 96  # Shewchuk partials per output: non-overlapping doubles, <= 2098 / 53 + 1 = 41
# Serial kernels: the PE path's numba kernels (epilogues, quantization) run between BLAS
# calls, right when the BLAS library's worker threads still spin waiting for work; a
# parallel kernel then shares the cores with them and waits for its slowest thread. The
# SmolLM2 perplexity at 2,048 tokens on int_mac (2 cores) measured 13.3-13.6 s with
# parallel kernels, 11.6-12.3 s serial (benchmarks/bench_llm_pe.py).


class QGemmError(ValueError):
    """A GEMM cannot be executed as asked (format / PE / layer problem); the message names it."""


# ------------------------------------------------------------------ exact summation kernels
@njit_cached(inline="always")
def _split(a):
    c = 134217729.0 * a  # Veltkamp split, 2^27 + 1
    hi = c - (c - a)
    return hi, a - hi


@njit_cached(inline="always")
def _two_prod(a, b):
    """p + e == a * b exactly (Dekker; no FMA needed), barring overflow / underflow."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


@njit_cached(inline="always")
def _grow(parts, n, x):
    """Add x to the non-overlapping partials parts[:n] (Shewchuk; as CPython's math.fsum)."""
    i = 0
    for j in range(n):
        y = parts[j]
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo != 0.0:
            parts[i] = lo
            i += 1
        x = hi
    parts[i] = x
    return i + 1


@njit_cached(inline="always")
def _finish(parts, n):
    """Correctly rounded sum of the partials (CPython math.fsum's final step)."""
    if n == 0:
        return 0.0
    n -= 1
    hi = parts[n]
    lo = 0.0
    while n > 0:
        x = hi
        n -= 1
        y = parts[n]
        hi = x + y
        yr = hi - x
        lo = y - yr
        if lo != 0.0:
            break
    if n > 0 and ((lo < 0.0 and parts[n - 1] < 0.0) or (lo > 0.0 and parts[n - 1] > 0.0)):
        y = lo * 2.0
        x = hi + y
        yr = x - hi
        if y == yr:
            hi = x
    return hi


@njit_cached
def _exact_gemm_kernel(A, BT, out):
    m_, k_ = A.shape
    n_ = BT.shape[0]
    parts = np.empty(_BUF)
    for m in range(m_):
        for n in range(n_):
            cnt = 0
            naive = 0.0
            for k in range(k_):
                a = A[m, k]
                b = BT[n, k]
                naive += a * b
                if a == 0.0 or b == 0.0:
                    continue
                p, e = _two_prod(a, b)
                cnt = _grow(parts, cnt, p)
                if e != 0.0:
                    cnt = _grow(parts, cnt, e)
            out[m, n] = _finish(parts, cnt) if math.isfinite(naive) else naive


@njit_cached
def _exact_epilogue_kernel(P, SX, SW, out):
    """out[m, n] = sum_g SX[g, m] * SW[g, n] * P[g, m, n], exact, one rounding. Serial, as
    every kernel of the PE path (see "Serial kernels" above)."""
    g_, m_, n_ = P.shape
    for m in range(m_):
        parts = np.empty(_BUF)
        sx = SX[:, m]
        for n in range(n_):
            out[m, n] = _exact_output(P, sx, SW, m, n, parts)


@njit_cached(inline="always")
def _exact_output(P, sx, SW, m, n, parts):
    """sum_g sx[g] * SW[g, n] * P[g, m, n] exactly, rounded once (the scale product split
    into s1 + s2 exactly, each times P as an exact two-term product); a non-finite plain sum
    is returned as it is."""
    cnt = 0
    naive = 0.0
    for g in range(P.shape[0]):
        v = np.float64(P[g, m, n])
        s1, s2 = _two_prod(sx[g], SW[g, n])
        naive += s1 * v
        if v == 0.0:
            continue
        p, e = _two_prod(s1, v)
        cnt = _grow(parts, cnt, p)
        if e != 0.0:
            cnt = _grow(parts, cnt, e)
        if s2 != 0.0:
            p, e = _two_prod(s2, v)
            cnt = _grow(parts, cnt, p)
            if e != 0.0:
                cnt = _grow(parts, cnt, e)
    return _finish(parts, cnt) if math.isfinite(naive) else naive


@njit_cached
def _row_scaled_epilogue_kernel(P, sx, SW, limit, out):
    """out[m, n] = sum_g sx[m] * SW[g, n] * P[g, m, n], exact, one rounding, for segment
    partials P (any real dtype) under a row scale sx[m] common to every segment.

    Fast route per output: S = sum_g SW[g, n] * P[g, m, n] in plain float64, then
    RN(sx[m] * S). When every P is an integer, every term SW[g, n] P is a multiple of
    q_n = the smallest last-significand-bit weight of the nonzero SW[:, n], and limit[n] =
    2^53 q_n: if the float64 sum B of |terms| stays below limit[n], every term and every
    partial sum (multiples of q_n below 2^53 q_n in magnitude) is exact, so S is the exact
    sum and RN(sx S) the exact result rounded once. (B is rigorous: a term or partial sum
    that reaches limit[n] rounds to >= limit[n], since limit[n] is a float64 and rounding is
    monotone.) Outputs that fail the test (a non-integer or non-finite P, a bound too
    large, a row scale not positive and finite) take the Shewchuk route of the general
    kernel. Serial (see "Serial kernels" above)."""
    g_, m_, n_ = P.shape
    for m in range(m_):
        parts = np.empty(_BUF)
        row = np.full(g_, sx[m])  # the row scale of every segment (Shewchuk route)
        acc = np.zeros(n_)
        bnd = np.zeros(n_)
        bad = np.zeros(n_)
        for g in range(g_):
            for n in range(n_):
                v = np.float64(P[g, m, n])
                t = SW[g, n] * v
                acc[n] += t
                bnd[n] += abs(t)
                bad[n] += abs(v - math.floor(v))  # > 0 (or NaN) unless v is an integer
        row_ok = sx[m] > 0.0 and sx[m] < math.inf
        for n in range(n_):
            if row_ok and bad[n] == 0.0 and bnd[n] < limit[n]:
                out[m, n] = sx[m] * acc[n]
            else:
                out[m, n] = _exact_output(P, row, SW, m, n, parts)


def _quantum_limits(sw: np.ndarray) -> np.ndarray:
    """limit[n] = 2^53 * q_n, q_n the smallest weight of a significand's last set bit over
    the nonzero finite sw[:, n] (0 when a column has non-finite scales: never fast)."""
    sw = np.asarray(sw, dtype=np.float64)
    mant, exp = np.frexp(np.abs(sw))  # |sw| = mant 2^exp, mant in [0.5, 1)
    sig = (mant * 2.0**53).astype(np.int64)  # integer significand (53 bits)
    low = (sig & -sig).astype(np.float64)  # weight of its lowest set bit, in units of 2^-53
    q = np.where(sig > 0, np.ldexp(low, exp - 53), np.inf).min(axis=0, initial=np.inf)
    finite = np.isfinite(sw).all(axis=0)
    lim = np.where(np.isfinite(q), q * 2.0**53, np.inf)  # all-zero column: any bound works
    return np.where(finite, lim, 0.0)


def exact_gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (float64, M x K by K x N) with every output the exact sum of the exact
    products, rounded once to float64 (round to nearest even).

    Exact unless a product overflows or underflows below ~2^-969; an output whose plain sum is
    not finite is returned as that plain sum (inf / nan). numba kernel, ~5 ns per MAC.
    """
    a = np.ascontiguousarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise QGemmError(f"exact_gemm: need M x K and K x N arrays, got {a.shape} and {b.shape}")
    out = np.empty((a.shape[0], b.shape[1]))
    _exact_gemm_kernel(a, np.ascontiguousarray(b.T), out)
    return out


def exact_scaled_sum(P: np.ndarray, sx: np.ndarray, sw: np.ndarray) -> np.ndarray:
    """``sum_g sx[g, m] * sw[g, n] * P[g, m, n]`` exactly, rounded once to float64.

    P: (G, M, N) partial sums (float64 values or int64 integers of any size up to 2^62);
    sx: (G, M) and sw: (G, N) scales. Exact barring overflow / underflow (see exact_gemm).
    """
    P = np.asarray(P)
    sx, sw = np.asarray(sx, dtype=np.float64), np.asarray(sw, dtype=np.float64)
    wide = P.dtype.kind in "iu" and P.size and np.abs(P).max() >= 2**53
    if P.ndim == 3 and P.shape[0] and not wide and (sx == sx[:1]).all():
        # one scale per row for every segment (per-token / per-tensor activations)
        out = np.empty(P.shape[1:])
        if P.dtype not in (np.float32, np.float64, np.int64):
            P = P.astype(np.float64)
        _row_scaled_epilogue_kernel(
            np.ascontiguousarray(P), np.ascontiguousarray(sx[0]),
            np.ascontiguousarray(sw), _quantum_limits(sw), out,
        )  # fmt: skip
        return out
    if wide:
        lo = P & ((1 << 24) - 1)  # P = hi + lo, both exact in float64
        P = np.concatenate([(P - lo).astype(np.float64), lo.astype(np.float64)])
        sx, sw = np.concatenate([sx, sx]), np.concatenate([sw, sw])
    out = np.empty(P.shape[1:])
    _exact_epilogue_kernel(
        np.ascontiguousarray(P, dtype=np.float64),
        np.ascontiguousarray(sx, dtype=np.float64),
        np.ascontiguousarray(sw, dtype=np.float64),
        out,
    )
    return out


def _integer_elements(q) -> bool:
    return q.elements is not None and q.element.lstrip("u").startswith("int")


def exact_qgemm(xq, wq) -> np.ndarray:
    """``exact_gemm(xq.values, wq.values.T)`` bit for bit, from the quantized operands
    (``QOperand`` rows: activations M x K, weights N x K).

    When both operands are integer elements times K-block scales (INT formats, any
    grouping, weight zero points included) and every partial sum over a segment of
    constant scales stays below 2^53, it computes the integer segment sums in float64 BLAS
    (exact in any summation order) and ``exact_scaled_sum`` of them: the exact sum of the
    same products (x = e_x s_x and w = (e_w - z_w) s_w exactly, ``quantize_rows`` checks
    it), rounded once, i.e. the same float64 as ``exact_gemm``, about 50x faster. With one
    activation scale per row the scales are folded into the weights instead (one float64
    GEMM, ``_folded``; exact under its bound, checked per column). Any other operands run
    ``exact_gemm``."""
    m, k = xq.shape
    n = wq.shape[0]
    fast = _integer_elements(xq) and _integer_elements(wq) and xq.zeros is None and m and n
    if fast:
        g = math.gcd(xq.block, wq.block)
        WE = wq.elements
        if wq.zeros is not None:
            WE = WE - np.repeat(wq.zeros, wq.block, axis=1)[:, :k]
        fast = min(g, k) * float(np.abs(xq.elements).max()) * float(np.abs(WE).max()) < 2.0**53
    if not fast:
        return exact_gemm(xq.values, wq.values.T)
    nseg = -(-k // g)
    seg0 = np.arange(nseg) * g
    SW = wq.scales[:, seg0 // wq.block].T  # (nseg, N)
    out = np.empty((m, n))
    cols = np.arange(n)  # the columns left for the segment sums
    if xq.block == k:
        done = _folded(xq.elements, WE.T, xq.scales[:, 0], SW, None, g, out)
        if done is not None:
            cols = np.flatnonzero(~done)
    if not cols.size:
        return out
    nc = cols.size
    W = np.ascontiguousarray(WE[cols].T, dtype=np.float64)  # K x columns left
    SW = SW[:, cols]
    chunk = max(1, min(m, (1 << 23) // max(1, nseg * nc)))
    full = k // g
    for r0 in range(0, m, chunk):
        r1 = min(m, r0 + chunk)
        X = np.asarray(xq.elements[r0:r1], dtype=np.float64)
        P = np.empty((nseg, r1 - r0, nc))
        if full:
            Xg = X[:, : full * g].reshape(r1 - r0, full, g).transpose(1, 0, 2)
            np.matmul(Xg, W[: full * g].reshape(full, g, nc), out=P[:full])
        if full < nseg:
            np.matmul(X[:, full * g :], W[full * g :], out=P[full])
        SX = xq.scales[r0:r1, seg0 // xq.block].T  # (nseg, rows)
        out[r0:r1, cols] = exact_scaled_sum(P, SX, SW)
    return out


# ------------------------------------------------------------------ quantized operands
@dataclass(frozen=True, eq=False)
class QOperand:
    """One GEMM operand quantized along K, in row form (rows x K: activations as given,
    weights transposed, i.e. one row per output channel).

    dequantized: the dequantized values (float64, exact), or None to compute them on first
    use of ``values`` from the split (the PE path never needs them); elements: the
    element-format values the PE takes (same shape), or None when the format has no single
    element format; scales: (rows, n_blocks) float64 scale of each K block (1.0 for element
    formats); zeros: (rows, n_blocks) integer zero points or None; block: K-block length (K
    when the scale is per row or per tensor); element: PE operand format name of the
    elements.
    """

    fmt: str | None
    dequantized: np.ndarray | None
    elements: np.ndarray | None = None
    scales: np.ndarray | None = None
    zeros: np.ndarray | None = None
    block: int = 0
    element: str = ""
    scale_format: str = ""

    def __post_init__(self):
        if self.dequantized is None and (self.elements is None or self.scales is None):
            raise QGemmError("QOperand: give the dequantized values or elements and scales")

    @functools.cached_property
    def values(self) -> np.ndarray:
        """Dequantized values (rows x K float64): ``dequantized``, or (elements - zeros) *
        scales, the product the formats' ``dequantize`` forms."""
        if self.dequantized is not None:
            return self.dequantized
        k = self.elements.shape[1]
        el = np.asarray(self.elements, dtype=np.float64)
        if self.zeros is not None:
            el = el - np.repeat(self.zeros, self.block, axis=1)[:, :k]
        return el * np.repeat(self.scales, self.block, axis=1)[:, :k]

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, K) of the operand."""
        return (self.elements if self.dequantized is None else self.dequantized).shape


def operand_format_name(element) -> str:
    """Name of the ``hwsim.formats`` element preset a PE takes for ``element``'s values:
    INT -> int{b} / uint{b} (a superset of restricted-range and fixed-point variants, whose
    fraction bits are folded into the scale), minifloats and tables by their preset name."""
    if isinstance(element, F.IntFormat):
        return f"{'' if element.signed else 'u'}int{element.bits}"
    name = getattr(element, "name", "")
    if isinstance(element, F.MinifloatFormat):
        if name in F.names():
            ref = F.get(name)
            if (ref.ebits, ref.mbits, ref.specials) == (
                element.ebits,
                element.mbits,
                element.specials,
            ):
                return name
        return f"e{element.ebits}m{element.mbits}"
    if name in F.names():
        return name
    raise QGemmError(f"element format {name or element!r} has no PE operand preset")


def _scale_format_name(sf) -> str:
    if isinstance(sf, F.ExponentFormat):
        return "fp32"  # every power-of-two scale of E8M0 is an fp32 value
    return getattr(sf, "name", "fp32")


def quantize_rows(fmt_name, x: np.ndarray) -> QOperand:
    """Quantize a rows x K array along K with format ``fmt_name`` (a ``hwsim.formats`` name, a
    format object built with ``hwsim.formats.get(name, **overrides)``, or None: not quantized)
    and split it into PE element values and K-block scales (see ``QOperand``).

    The split is checked: (elements - zeros) * scales equals the dequantized values exactly,
    else AssertionError (it would mean the format's decode changed). Integer elements with
    computed scales take one kernel pass that writes elements and values together
    (``ScaledFormat.encode_elements``; the same arrays, tested against this generic split)."""
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if x.ndim != 2:
        raise QGemmError(f"quantize_rows: need a 2-D rows x K array, got shape {x.shape}")
    rows, k = x.shape
    if isinstance(fmt_name, str):
        fmt = F.get(fmt_name)
    elif fmt_name is not None:
        fmt, fmt_name = fmt_name, getattr(fmt_name, "name", repr(fmt_name))
    if fmt_name is not None and isinstance(fmt, F.ScaledFormat):
        split = fmt.encode_elements(x, axis=1, with_values=False)  # float32 input as is
        if split is not None:
            return _int_split_operand(fmt, fmt_name, k, split[0], split[1])
    x = np.asarray(x, dtype=np.float64)
    if fmt_name is None:
        return QOperand(None, x, block=k)
    if not getattr(fmt, "is_block", False):
        v = fmt.quantize(x)
        return QOperand(
            fmt_name, v, v, np.ones((rows, 1)), None, k, operand_format_name(fmt), "none"
        )
    qt = fmt.encode(x, axis=1)
    values = qt.dequantize()
    if isinstance(fmt, F.ScaledFormat | F.NVFP4Format):
        el = fmt.element
        elements = np.asarray(el.decode(qt.codes), dtype=np.float64)
        scales = np.asarray(fmt.scale_values(qt), dtype=np.float64)
        if "tensor_scale" in qt.extra:
            scales = scales * float(qt.extra["tensor_scale"])  # exact: 4 + 24 bits
        zeros = qt.zero_points
        if isinstance(el, F.IntFormat) and el.frac_bits:
            elements = np.ldexp(elements, el.frac_bits)  # fixed point -> integers, exact
            scales = np.ldexp(scales, -el.frac_bits)
        block, scales, zeros = _block_layout(qt, rows, k, scales, zeros)
        exp = np.repeat(scales, block, axis=1)[:, :k]
        zexp = 0 if zeros is None else np.repeat(zeros, block, axis=1)[:, :k]
        if not np.array_equal((elements - zexp) * exp, values):
            raise AssertionError(f"{fmt_name}: element x scale split is not exact")
        return QOperand(
            fmt_name, values, elements, scales, zeros, block,
            operand_format_name(el), _scale_format_name(fmt.scale_format),
        )  # fmt: skip
    return QOperand(fmt_name, values, block=k)


def _block_layout(qt, rows: int, k: int, scales, zeros):
    """(block length, scales rows x n_blocks float64, zero points rows x n_blocks int64 or
    None) of a row-quantized tensor (per-row and per-tensor scales broadcast)."""
    block = k if qt.plan.axis < 0 else qt.plan.size
    nb = -(-k // block)
    scales = np.broadcast_to(np.asarray(scales, dtype=np.float64), (rows, nb)).copy()
    if zeros is not None:
        zeros = np.broadcast_to(np.asarray(zeros, dtype=np.int64), (rows, nb)).copy()
    return block, scales, zeros


def _int_split_operand(fmt, fmt_name, k: int, qt, elements) -> QOperand:
    """QOperand of ``ScaledFormat.encode_elements``'s one-pass split (values computed from
    it when first used)."""
    block, scales, zeros = _block_layout(
        qt, elements.shape[0], k, fmt.scale_values(qt), qt.zero_points
    )
    return QOperand(
        fmt_name, None, elements, scales, zeros, block,
        operand_format_name(fmt.element), _scale_format_name(fmt.scale_format),
    )  # fmt: skip


# ------------------------------------------------------------------ PE specification
@dataclass(frozen=True)
class PESpec:
    """A PE kind and its parameters (``hwsim.pe.get(kind, **params)``); a_fmt / w_fmt (and
    group_size / scale_fmt of the scaled kinds) default to the operands' formats."""

    kind: str
    params: tuple = ()

    @property
    def kwargs(self) -> dict:
        return dict(self.params)

    def label(self) -> str:
        if not self.params:
            return self.kind
        return f"{self.kind}({', '.join(f'{k}={v!r}' for k, v in self.params)})"


def pe_spec(pe=None, pe_params=None) -> PESpec | None:
    """Normalise the ``pe`` option: None (reference path), a kind name, a (kind, params)
    pair, a PESpec, or a dict {"kind": ..., **params}; ``pe_params`` is a dict or a JSON
    object string merged into the params."""
    import hwsim.pe as hpe

    if pe in (None, "", "none", "reference"):
        if pe_params:
            raise QGemmError("pe_params given without pe (the PE kind)")
        return None
    params: dict = {}
    if isinstance(pe, PESpec):
        kind, params = pe.kind, pe.kwargs
    elif isinstance(pe, str):
        kind = pe
    elif isinstance(pe, dict):
        params = dict(pe)
        kind = params.pop("kind", None)
    elif isinstance(pe, tuple | list) and len(pe) == 2:
        kind, params = pe[0], dict(pe[1] or {})
    else:
        raise QGemmError(f"pe must be a PE kind name, (kind, params) or PESpec, got {pe!r}")
    if isinstance(pe_params, str):
        try:
            pe_params = json.loads(pe_params) if pe_params.strip() else {}
        except json.JSONDecodeError as exc:
            raise QGemmError(f"pe_params is not valid JSON: {exc}") from None
    if pe_params is not None and not isinstance(pe_params, dict):
        raise QGemmError(f"pe_params must be a dict or a JSON object, got {pe_params!r}")
    params.update(pe_params or {})
    if kind not in hpe.kinds():
        raise QGemmError(f"unknown PE kind {kind!r}; available: {', '.join(hpe.kinds())}")
    return PESpec(kind, tuple(sorted(params.items())))


def pe_plan(pe=None, pe_params=None, layers=None) -> tuple:
    """Per-layer PE selection: ((pattern, PESpec or None), ...), first match wins; a layer
    that no pattern matches runs on the reference path.

    ``pe``: anything ``pe_spec`` takes (one PE for every layer, pattern "*"), or a dict
    {pattern: pe} without a "kind" key, patterns being ``fnmatch`` globs of layer names
    (``"L*.q_proj"``, ``"L1[0-9].*"``) and each value anything ``pe_spec`` takes (None: the
    reference path). ``pe_params`` is merged into every PE. ``layers``: with it, ``pe`` may
    also be (pe, patterns) via ``select_layers``; a pattern that matches none of ``layers``
    raises (a typo would otherwise leave every layer on the reference path)."""
    if isinstance(pe, dict) and "kind" not in pe:
        if not pe:
            raise QGemmError("per-layer pe mapping is empty; give {pattern: pe, ...}")
        plan = []
        for pat, entry in pe.items():
            if not isinstance(pat, str) or not pat:
                raise QGemmError(f"per-layer pe: pattern {pat!r} must be a non-empty string")
            spec = pe_spec(entry, pe_params if entry not in (None, "", "none") else None)
            plan.append((pat, spec))
        plan = tuple(plan)
    else:
        spec = pe_spec(pe, pe_params)
        plan = () if spec is None else (("*", spec),)
    if layers:
        for pat, _ in plan:
            if not fnmatch.filter(layers, pat):
                raise QGemmError(
                    f"pe pattern {pat!r} matches no layer; layers look like "
                    f"{', '.join(list(layers)[:8])}, ..."
                )
    return plan


def select_layers(pe, patterns) -> dict | None:
    """The per-layer ``pe`` mapping that runs the layers matching ``patterns`` (a glob or a
    list of globs) on ``pe`` and every other layer on the reference path (None if ``pe``
    is None). ``patterns`` None or "*": every layer."""
    if pe in (None, "", "none", "reference") or patterns in (None, "*", ["*"], ("*",)):
        return pe
    if isinstance(patterns, str):
        patterns = [p.strip() for p in patterns.split(",") if p.strip()]
    if not patterns or not all(isinstance(p, str) for p in patterns):
        raise QGemmError(f"pe_layers must be a glob or a list of globs, got {patterns!r}")
    return {p: pe for p in patterns}


@lru_cache(maxsize=256)
def _build(kind: str, params: tuple):
    import hwsim.pe as hpe

    return hpe.get(kind, **dict(params))


def compatible_pes(a_element: str, w_element: str) -> list[str]:
    """PE kinds (bitserial / shiftadd with the scheme / mode) whose models accept operands of
    element formats ``a_element`` x ``w_element`` (by construction; values are checked when
    the GEMM runs)."""
    import hwsim.pe as hpe

    out = []
    for kind in hpe.kinds():
        variants = [{}]
        if kind == "bitserial":
            variants = [{"scheme": s} for s in ("stripes", "booth", "bitmod", "fusion")]
        elif kind == "shiftadd":
            variants = [{"mode": "shift"}, {"mode": "lmul"}]
        for v in variants:
            try:
                _build(kind, tuple(sorted({**v, "a_fmt": a_element, "w_fmt": w_element}.items())))
            except (ValueError, TypeError):
                continue
            out.append(kind + (f"({next(iter(v.values()))})" if v else ""))
    return out


# ------------------------------------------------------------------ the GEMM runner
@dataclass
class GemmStats:
    """What the PE path did: GEMMs run, PE GEMMs (``pe_calls``: one per scale segment and
    row chunk, also when ``matmul_segments`` runs the segments in one batched call), layers
    whose accumulator wrapped or saturated (``overflowed``, integer accumulators), layers
    with a non-finite PE result
    (``nonfinite``, e.g. an FP16 accumulator that overflowed to inf), and PE cycles summed
    over calls (``pe_cycles``: one PE computing the outputs in turn, ``matmul_cycles``)."""

    gemms: int = 0
    pe_calls: int = 0
    pe_cycles: int = 0
    overflowed: list = field(default_factory=list)
    nonfinite: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "gemms": self.gemms,
            "pe_calls": self.pe_calls,
            "pe_cycles": self.pe_cycles,
            "overflowed_layers": list(self.overflowed),
            "nonfinite_layers": list(self.nonfinite),
        }


def _unit_for(spec: PESpec, xq: QOperand, wq: QOperand, layer: str):
    params = spec.kwargs
    params.setdefault("a_fmt", xq.element)
    params.setdefault("w_fmt", wq.element)
    if spec.kind in SCALED_KINDS:
        params.setdefault("group_size", wq.block)
        if wq.scale_format != "none":
            params.setdefault("scale_fmt", wq.scale_format)
    try:
        return _build(spec.kind, tuple(sorted(params.items())))
    except (ValueError, TypeError) as exc:
        ok = compatible_pes(xq.element, wq.element)
        raise QGemmError(
            f"layer {layer}: PE {spec.label()} cannot execute activations {xq.fmt} "
            f"(elements {xq.element}) x weights {wq.fmt} (elements {wq.element}): {exc}. "
            f"PE kinds that take {xq.element} x {wq.element}: {ok or 'none'}"
        ) from None


def _check_pe_operands(spec: PESpec, xq: QOperand, wq: QOperand, layer: str) -> None:
    for role, q in (("activation", xq), ("weight", wq)):
        if q.fmt is None:
            raise QGemmError(
                f"layer {layer}: pe={spec.kind!r} runs GEMMs on quantized operands but the "
                f"{role} format is None; give one (e.g. 'fp16', 'int8_channel', 'int4_g128') "
                "or leave the whole layer unquantized"
            )
        if q.elements is None:
            raise QGemmError(
                f"layer {layer}: {role} format {q.fmt!r} has no single element format, so no "
                "PE can take its values; use a scaled single-type format (e.g. "
                "'bitmod_fp4_er_pos_g128') or the reference path (pe=None)"
            )
    if xq.zeros is not None:
        raise QGemmError(
            f"layer {layer}: activation format {xq.fmt!r} has zero points; the PE path supports "
            "zero points on weights only"
        )


def pe_matmul(xq: QOperand, wq: QOperand, spec: PESpec, layer: str = "gemm",
              stats: GemmStats | None = None, fold: bool = True) -> np.ndarray:  # fmt: skip
    """Y (M x N float64) = activations ``xq`` (M x K rows) times weights ``wq`` (N x K rows,
    i.e. W^T) executed by the PE ``spec`` as the module docstring describes. ``fold=False``
    keeps the segmented route where the folded one would apply (same values; for tests)."""
    _check_pe_operands(spec, xq, wq, layer)
    m, k = xq.shape
    n = wq.shape[0]
    unit = _unit_for(spec, xq, wq, layer)
    X, WT = xq.elements, wq.elements
    if spec.kind in SCALED_KINDS:
        if xq.block != k:
            raise QGemmError(
                f"layer {layer}: {spec.kind} applies per-group weight scales only; the "
                f"activation format {xq.fmt!r} has K blocks of {xq.block}: use per-token or "
                "per-tensor activation scales (e.g. 'int8_channel', 'int8_tensor', 'fp16')"
            )
        side = {"scales": np.ascontiguousarray(wq.scales.T)}
        if wq.zeros is not None:
            side["zeros"] = np.ascontiguousarray(wq.zeros.T)
        r = unit.matmul(X, WT.T, **side)
        _record(stats, layer, 1, r.cycles, r.overflowed)
        P = np.asarray(r.value, dtype=np.float64)[None]
        return _note_nonfinite(
            stats, layer, exact_scaled_sum(P, xq.scales[:, :1].T, np.ones((1, n)))
        )
    g = math.gcd(xq.block, wq.block)
    nseg = -(-k // g)
    if wq.zeros is not None and not np.array_equal(X, np.round(X)):
        raise QGemmError(
            f"layer {layer}: weight zero points ({wq.fmt}) need integer activations on "
            f"{spec.kind}; use dequant_mac / mixpe, which take zero points"
        )
    seg0 = np.arange(nseg) * g
    SW = wq.scales[:, seg0 // wq.block].T  # (nseg, N)
    Z = None if wq.zeros is None else wq.zeros[:, seg0 // wq.block].T.astype(np.int64)
    W = WT.T
    out = np.empty((m, n))
    rest = np.arange(n)  # output columns left for the segmented route
    if fold and nseg > 1 and xq.block == k and unit.segments_exact(X, W, g):
        done = _folded(X, W, xq.scales[:, 0], SW, Z, g, out)
        if done is not None and done.any():
            cycles, _ = unit.segments_cost(m, int(done.sum()), k, g)
            _record(stats, layer, nseg, cycles, False)
            rest = np.flatnonzero(~done)
    if rest.size:
        whole = rest.size == n
        Wr, SWr = (W, SW) if whole else (W[:, rest], SW[:, rest])
        Zr = Z if Z is None or whole else Z[:, rest]
        y = _segmented(unit, X, Wr, xq, SWr, Zr, g, layer, stats)
        if whole:
            out = y
        else:
            out[:, rest] = y
    return _note_nonfinite(stats, layer, out)


def _note_nonfinite(stats: GemmStats | None, layer: str, out: np.ndarray) -> np.ndarray:
    """Record ``layer`` in stats.nonfinite when its output has inf / NaN: with finite scales
    (every format's) an output is non-finite iff a PE partial is (the epilogue returns the
    plain sum of a non-finite one), and the output is the smaller array to check."""
    if stats is not None and layer not in stats.nonfinite and not np.isfinite(out).all():
        stats.nonfinite.append(layer)
    return out


def _segmented(unit, X, W, xq: QOperand, SW, Z, g: int, layer: str, stats) -> np.ndarray:
    """Y (M x N) from the PE's per-segment partial sums (``matmul_segments``, row chunks
    bounded by PARTIALS_PER_CHUNK) and the exact scale epilogue."""
    m, k = X.shape
    n = W.shape[1]
    nseg = SW.shape[0]
    seg0 = np.arange(nseg) * g
    chunk = max(1, min(m, PARTIALS_PER_CHUNK // max(1, nseg * n)))
    out = np.empty((m, n))
    for r0 in range(0, m, chunk):
        r1 = min(m, r0 + chunk)
        Xc = X[r0:r1]
        r = unit.matmul_segments(Xc, W, g)  # one PE GEMM per segment, batched
        _record(stats, layer, nseg, r.cycles, r.overflowed)
        P = r.value
        if Z is not None:  # P_seg - z_w * sum_seg x, exact integers
            sx = np.add.reduceat(Xc.astype(np.int64), seg0, axis=1).T  # (nseg, rows)
            P = P.astype(np.int64) - sx[:, :, None] * Z[:, None, :]
        SX = xq.scales[r0:r1, seg0 // xq.block].T  # (nseg, rows)
        out[r0:r1] = exact_scaled_sum(P, SX, SW)
    return out


def _folded(X, W, sx, SW, Z, g: int, out: np.ndarray) -> np.ndarray | None:
    """The segmented route's result in one float64 GEMM, for integer segment sums that the
    PE computes exactly (``segments_exact``) under one scale ``sx[m]`` per row.

    The epilogue's value is RN(sx[m] * S[m, n]) with S = sum_seg SW[seg, n] P[seg, m, n] =
    sum_k x[m, k] Wf[k, n], Wf = (w - z) * SW[seg(k), n]. Every term x Wf is an integer
    multiple of q_n (the smallest last-significand-bit weight of column n's scales, a power
    of two), so every partial sum of any subset is too; when sum_k |x| |Wf| < 2^53 q_n each
    of them is a float64 (Wf's products included), so X @ Wf in float64 BLAS is exactly S,
    in any summation order or blocking, and sx * S rounds once: the same float64 as the
    epilogue (its fast route, whose test this bound implies). The bound used, max_m
    sum_k |x| * max_k |Wf| with a 2^-40 margin for its own rounding, is checked per
    column; writes the columns that pass into ``out`` and returns their mask (None when
    the row scales are not all positive and finite: then nothing is folded)."""
    sx = np.asarray(sx, dtype=np.float64)
    if not (np.isfinite(sx).all() and (sx > 0).all()):
        return None
    k = X.shape[1]
    Wi = np.asarray(W, dtype=np.float64)
    if Z is not None:
        Wi = Wi - np.repeat(Z, g, axis=0)[:k]
    Wf = Wi * np.repeat(SW, g, axis=0)[:k]
    X = np.asarray(X, dtype=np.float64)
    rmax = float(np.abs(X).sum(axis=1).max(initial=0.0))  # exact: integers below 2^53
    ok = rmax * np.abs(Wf).max(axis=0) * (1.0 + 2.0**-40) < _quantum_limits(SW)
    if not ok.any():
        return ok
    S = X @ (Wf if ok.all() else Wf[:, ok])
    S += 0.0  # an exact zero sum is +0 (BLAS may leave -0.0 from 0 * -w), as the epilogue's
    S *= sx[:, None]
    if ok.all():
        out[...] = S
    else:
        out[:, ok] = S
    return ok


def _record(stats: GemmStats | None, layer: str, calls: int, cycles, overflowed) -> None:
    if stats is None:
        return
    stats.pe_calls += calls
    stats.pe_cycles += int(cycles)
    if overflowed and layer not in stats.overflowed:
        stats.overflowed.append(layer)


# ------------------------------------------------------------------ per-layer formats
def parse_layer_formats(layer_formats, valid: list[str]) -> dict[str, tuple]:
    """Normalise ``layer_formats`` (dict or JSON object string) to {layer: (weight_format,
    act_format)}. Values: a [weight, act] pair or {"weight_format": .., "act_format": ..};
    None / "none" / "fp64" entries mean full precision. Unknown layers raise, listing
    ``valid``."""
    if layer_formats is None:
        return {}
    if isinstance(layer_formats, str):
        try:
            layer_formats = json.loads(layer_formats) if layer_formats.strip() else {}
        except json.JSONDecodeError as exc:
            raise QGemmError(f"layer_formats is not valid JSON: {exc}") from None
    if not isinstance(layer_formats, dict):
        raise QGemmError(f"layer_formats must be a dict or JSON object, got {layer_formats!r}")
    out = {}
    for name, v in layer_formats.items():
        if name not in valid:
            raise QGemmError(f"unknown layer {name!r}; layers: {', '.join(valid)}")
        if isinstance(v, dict):
            bad = set(v) - {"weight_format", "act_format"}
            if bad:
                raise QGemmError(f"layer {name}: unknown keys {sorted(bad)}")
            wf, af = v.get("weight_format"), v.get("act_format")
        elif isinstance(v, list | tuple) and len(v) == 2:
            wf, af = v
        else:
            raise QGemmError(f"layer {name}: give [weight_format, act_format] or a dict, got {v!r}")
        out[name] = (none_format(wf), none_format(af))
    return out


def none_format(v):
    """None for the spellings of 'not quantized' (None, '', 'none', 'fp64')."""
    return None if v in (None, "", "none", "fp64") else v


class GemmRunner:
    """Runs a model's named GEMMs with its formats and optional PE.

    ``formats(layer)`` gives (weight_format, act_format): the ``layer_formats`` entry, else
    the defaults. ``pe``: one PE for every layer or a per-layer {glob: pe} plan
    (``pe_plan``; ``spec_for(layer)`` gives a layer's PE). A layer with both formats None,
    or no PE, runs on the reference path: ``reference`` is that GEMM (``exact_gemm``, then
    computed by ``exact_qgemm``, or plain float64 / float32 BLAS, see the model modules).
    Stats of the PE path in ``stats``.
    """

    def __init__(self, weight_format=None, act_format=None, pe=None, pe_params=None,
                 layer_formats=None, layers=(), reference=exact_gemm):  # fmt: skip
        self.default = (none_format(weight_format), none_format(act_format))
        self.plan = pe_plan(pe, pe_params, list(layers))
        self.layer_formats = parse_layer_formats(layer_formats, list(layers))
        self.reference = reference
        self.stats = GemmStats()

    @property
    def spec(self) -> PESpec | None:
        """The PE of every layer (None: no PE). A per-layer plan has no single PE: use
        ``spec_for``."""
        if not self.plan:
            return None
        if len(self.plan) == 1 and self.plan[0][0] == "*":
            return self.plan[0][1]
        raise QGemmError("this runner selects PEs per layer; use spec_for(layer)")

    def spec_for(self, layer: str) -> PESpec | None:
        """The PE of ``layer``: the first plan pattern that matches it (None: reference)."""
        for pat, spec in self.plan:
            if fnmatch.fnmatchcase(layer, pat):
                return spec
        return None

    def pe_label(self) -> str | None:
        """Text naming the PE(s): None, "int_mac(...)" or "L0.*: int_mac; *: reference"."""
        if not self.plan:
            return None
        if len(self.plan) == 1 and self.plan[0][0] == "*":
            return self.plan[0][1].label()
        return "; ".join(f"{p}: {s.label() if s else 'reference'}" for p, s in self.plan)

    def formats(self, layer: str) -> tuple:
        return self.layer_formats.get(layer, self.default)

    def matmul(self, x: np.ndarray, w_rows, layer: str) -> np.ndarray:
        """Y = x @ W for activations x (..., K); ``w_rows`` is W^T (N x K float64), quantized
        here with the layer's weight format, or a ready ``QOperand`` of it."""
        return self.matmul_shared(x, [(w_rows, layer)])[0]

    def matmul_shared(self, x: np.ndarray, gemms) -> list[np.ndarray]:
        """``[matmul(x, w_rows, layer) for w_rows, layer in gemms]`` for GEMMs that share
        their input (attention Q/K/V, FFN gate/up): x is quantized once per distinct
        activation format instead of once per GEMM (the same operands, hence results)."""
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        quantized: dict = {}
        out = []
        for w_rows, layer in gemms:
            wf, af = self.formats(layer)
            key = af if af is None or isinstance(af, str) else id(af)
            if key not in quantized:
                quantized[key] = quantize_rows(af, x2)
            xq = quantized[key]
            wq = w_rows if isinstance(w_rows, QOperand) else quantize_rows(wf, w_rows)
            self.stats.gemms += 1
            spec = self.spec_for(layer)
            if spec is None or (wf is None and af is None):
                if self.reference is exact_gemm:
                    y = exact_qgemm(xq, wq)  # the same values, fast for INT operands
                else:
                    y = self.reference(xq.values, wq.values.T)
            else:
                y = pe_matmul(xq, wq, spec, layer, self.stats)
            out.append(y.reshape(*shape[:-1], y.shape[-1]))
        return out
