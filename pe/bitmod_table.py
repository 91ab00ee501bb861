"""Table-driven fast path of BitMoD's 4-lane FP16-activation datapath (see bitmod_fp.py).

One exp_match + bs_mul cycle depends on the chunk's 4 activations and the 4 lanes' weight
terms. A lane's term (sign, ew, man) takes few values per term cycle j (Booth digits -2..2:
5; FP4 terms: at most 9), its *alphabet*. Per row of X, chunk of 4 activations and term
cycle, the kernel tabulates the cycle's result (bs_out, max_exp) over all A_j^4 term
combinations; each weight column carries per (cycle, chunk) the index of its combination
(`term_codes`). The inner work per (output, chunk, cycle) is then one table lookup plus the
sequential grp_accum update of `_bitmod_fp4_tiles` (same operations, same order), so the
results are bit-identical to it. A cycle whose table would cost more than it saves
(A_j^4 > N * TABLE_USES) is computed lane by lane as in `_bitmod_fp4_tiles`.

Table entries pack bs_out and max_exp in one int64: (bs_out << 8) | max_exp (max_exp =
ea + ew <= 34 < 256; bs_out * 2^8 stays far inside int64).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from hwsim.formats.jitcache import njit_cached
from hwsim.pe import kernels as K

TB_TM, TB_TN = 4, 2048  # output tile: rows x columns (tables are per row, chunk and cycle)
TABLE_USES = 1.0  # a cycle uses tables if A_j^4 <= TABLE_USES * min(N, TB_TN)
N_KEYS = 16  # term key ((sign & man) << 3) | (ew << 1) | man, ew in 0..3


def term_keys(TS: np.ndarray, TE: np.ndarray, TM: np.ndarray) -> np.ndarray:
    """Key of each term, int8 (T, K, N): ((sign & man) << 3) | (ew << 1) | man. Terms with
    equal keys give equal lane results (a zero term's sign never matters)."""
    if np.any((TE < 0) | (TE > 3)) or np.any((TM < 0) | (TM > 1)):
        raise ValueError("term_keys: term exponents must be 0..3 and mantissas 0 or 1")
    ts, te, tm = (np.asarray(a, np.int8) for a in (TS, TE, TM))
    return (((ts & tm) << 3) | (te << 1) | tm).astype(np.int8)


def alphabets(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per term cycle j: the alphabet (present keys, key 0 = zero term always included, as
    padded lanes carry it) and the key -> index map. Returns (sizes (T,), alph (T, 16)
    keys by index, index (T, 16) index by key, -1 where absent)."""
    T = keys.shape[0]
    sizes = np.zeros(T, np.int64)
    alph = np.zeros((T, N_KEYS), np.int64)
    index = np.full((T, N_KEYS), -1, np.int64)
    for j in range(T):
        present = np.union1d(np.unique(keys[j]), [0]).astype(np.int64)
        sizes[j] = len(present)
        alph[j, : len(present)] = present
        index[j, present] = np.arange(len(present))
    return sizes, alph, index


@njit_cached
def term_codes(keys, index, sizes):
    """Combination code per (cycle j, chunk, column): sum over lanes i of
    index[j, key_i] * A_j^i for the 4 lanes of the chunk; keys (T, Kp, N) with Kp % 4 == 0.
    Returns int32 (T, Kp // 4, N)."""
    T, Kp, N = keys.shape
    out = np.zeros((T, Kp // 4, N), np.int32)
    for j in range(T):
        A = sizes[j]
        for ch in range(Kp // 4):
            for n in range(N):
                c = 0
                for i in range(3, -1, -1):
                    c = c * A + index[j, keys[j, 4 * ch + i, n]]
                out[j, ch, n] = c
    return out


@njit_cached
def _fill_table(tab, sa, ea, ma, ts, te, tm, A):
    """tab[code] = (bs_out << 8) | max_exp of one cycle for every term combination code
    (lane 0 the least significant digit), activations sa/ea/ma (4 lanes) and the cycle's
    alphabet of terms ts/te/tm[0:A] (sign, ew, man)."""
    code = 0
    for a3 in range(A):
        v3 = ea[3] + te[a3]
        p3 = (ma[3] * tm[a3]) << 3
        n3 = (sa[3] ^ ts[a3]) != 0
        for a2 in range(A):
            v2 = ea[2] + te[a2]
            p2 = (ma[2] * tm[a2]) << 3
            n2 = (sa[2] ^ ts[a2]) != 0
            for a1 in range(A):
                v1 = ea[1] + te[a1]
                p1 = (ma[1] * tm[a1]) << 3
                n1 = (sa[1] ^ ts[a1]) != 0
                for a0 in range(A):
                    v0 = ea[0] + te[a0]
                    p0 = (ma[0] * tm[a0]) << 3
                    n0 = (sa[0] ^ ts[a0]) != 0
                    mx = max(max(v0, v1), max(v2, v3))
                    b0 = p0 >> (mx - v0)
                    b1 = p1 >> (mx - v1)
                    b2 = p2 >> (mx - v2)
                    b3 = p3 >> (mx - v3)
                    tot = ((-b0 if n0 else b0) + (-b1 if n1 else b1)) + (
                        (-b2 if n2 else b2) + (-b3 if n3 else b3)
                    )
                    tab[code] = (tot << 8) | mx
                    code += 1


@njit_cached(inline="always")
def _acc(mrow, erow, jn, tot, mx, bs):
    """grp_accum update of one output (as `_bitmod_fp4_tiles`)."""
    e_acc = erow[jn]
    E = max(mx, e_acc)
    total = ((tot << bs) >> min(E - mx, 63)) + (mrow[jn] >> (E - e_acc))
    u = total ^ (total >> 63)
    bl = ((np.float64(u).view(np.int64) >> 52) & 0x7FF) - 1022
    sh = max(bl - 14, 0)
    mrow[jn] = total >> sh
    erow[jn] = E + sh


@njit_cached
def _bitmod_table_tiles(SA, EA, MA, TS, TE, TM, BS, CODES, use_tab, sizes, alph, Kd, group,
                        scales, has_scales, unit, t_lo, t_hi, out):  # fmt: skip
    """Output tiles t_lo <= t < t_hi (TB_TM rows x TB_TN columns) of the 4-lane BitMoD FP16
    GEMM; operands padded along K to a multiple of 4 as for `_bitmod_fp4_tiles`."""
    M = SA.shape[0]
    T = TS.shape[0]
    N = TS.shape[2]
    f32_tiny = math.ldexp(1.0, -126)
    n_nt = (N + TB_TN - 1) // TB_TN
    tmax = 1
    for j in range(T):
        if use_tab[j]:
            tmax = max(tmax, sizes[j] ** 4)
    tab = np.zeros((TB_TM, tmax), np.int64)
    man = np.zeros((TB_TM, TB_TN), dtype=np.int64)
    exp = np.zeros((TB_TM, TB_TN), dtype=np.int64)
    res = np.zeros((TB_TM, TB_TN))
    for t in range(t_lo, t_hi):
        m0 = (t // n_nt) * TB_TM
        n0 = (t % n_nt) * TB_TN
        mm = min(M - m0, TB_TM)
        nn = min(N - n0, TB_TN)
        res[:] = 0.0
        for g0 in range(0, Kd, group):
            g1 = min(g0 + group, Kd)
            man[:] = 0
            exp[:] = 0
            for c0 in range(g0, g1, 4):
                ch = c0 // 4
                for j in range(T):
                    bs = BS[j]
                    if use_tab[j]:
                        for r in range(mm):
                            m = m0 + r
                            acts = (SA[m, c0 : c0 + 4], EA[m, c0 : c0 + 4], MA[m, c0 : c0 + 4])
                            terms = (alph[0, j], alph[1, j], alph[2, j])
                            _fill_table(tab[r], *acts, *terms, sizes[j])
                        cj = CODES[j, ch, n0 : n0 + nn]
                        for r in range(mm):
                            trow = tab[r]
                            mrow = man[r]
                            erow = exp[r]
                            for jn in range(nn):
                                p = trow[cj[jn]]
                                _acc(mrow, erow, jn, p >> 8, p & 255, bs)
                        continue
                    te0, te1 = TE[j, c0, n0 : n0 + nn], TE[j, c0 + 1, n0 : n0 + nn]
                    te2, te3 = TE[j, c0 + 2, n0 : n0 + nn], TE[j, c0 + 3, n0 : n0 + nn]
                    tm0, tm1 = TM[j, c0, n0 : n0 + nn], TM[j, c0 + 1, n0 : n0 + nn]
                    tm2, tm3 = TM[j, c0 + 2, n0 : n0 + nn], TM[j, c0 + 3, n0 : n0 + nn]
                    ts0, ts1 = TS[j, c0, n0 : n0 + nn], TS[j, c0 + 1, n0 : n0 + nn]
                    ts2, ts3 = TS[j, c0 + 2, n0 : n0 + nn], TS[j, c0 + 3, n0 : n0 + nn]
                    for r in range(mm):
                        m = m0 + r
                        ea0, ea1, ea2, ea3 = EA[m, c0], EA[m, c0 + 1], EA[m, c0 + 2], EA[m, c0 + 3]
                        ma0, ma1, ma2, ma3 = MA[m, c0], MA[m, c0 + 1], MA[m, c0 + 2], MA[m, c0 + 3]
                        sa0, sa1, sa2, sa3 = SA[m, c0], SA[m, c0 + 1], SA[m, c0 + 2], SA[m, c0 + 3]
                        mrow = man[r]
                        erow = exp[r]
                        for jn in range(nn):
                            v0 = ea0 + np.int64(te0[jn])
                            v1 = ea1 + np.int64(te1[jn])
                            v2 = ea2 + np.int64(te2[jn])
                            v3 = ea3 + np.int64(te3[jn])
                            mx = max(max(v0, v1), max(v2, v3))
                            a0 = ((ma0 * np.int64(tm0[jn])) << 3) >> (mx - v0)
                            a1 = ((ma1 * np.int64(tm1[jn])) << 3) >> (mx - v1)
                            a2 = ((ma2 * np.int64(tm2[jn])) << 3) >> (mx - v2)
                            a3 = ((ma3 * np.int64(tm3[jn])) << 3) >> (mx - v3)
                            a0 = -a0 if (sa0 ^ np.int64(ts0[jn])) != 0 else a0
                            a1 = -a1 if (sa1 ^ np.int64(ts1[jn])) != 0 else a1
                            a2 = -a2 if (sa2 ^ np.int64(ts2[jn])) != 0 else a2
                            a3 = -a3 if (sa3 ^ np.int64(ts3[jn])) != 0 else a3
                            _acc(mrow, erow, jn, (a0 + a1) + (a2 + a3), mx, bs)
            for r in range(mm):
                for jn in range(nn):
                    gv = float(man[r, jn]) * math.ldexp(unit, int(exp[r, jn]) - 28)
                    if has_scales:
                        gv *= scales[g0 // group, n0 + jn]
                        s = K.sum_to_odd(gv, res[r, jn])
                        res[r, jn] = K.round_fast(s, 23, -126, K.F32_MAX, False, f32_tiny)
                    else:
                        res[r, jn] = gv
        out[m0 : m0 + mm, n0 : n0 + nn] = res[:mm, :nn]
    return out


@njit_cached(parallel=True)
def _bitmod_table_par(SA, EA, MA, TS, TE, TM, BS, CODES, use_tab, sizes, alph, Kd, group,
                      scales, has, unit, n, out):  # fmt: skip
    nch = min(n, K.PAR_CHUNKS)
    for c in numba.prange(nch):
        lo, hi = c * n // nch, (c + 1) * n // nch
        _bitmod_table_tiles(SA, EA, MA, TS, TE, TM, BS, CODES, use_tab, sizes, alph, Kd,
                            group, scales, has, unit, lo, hi, out)  # fmt: skip
    return out


def bitmod_fp_gemm_table(SA, EA, MA, TS, TE, TM, BS, group, scales, has_scales, unit,
                         uses=TABLE_USES):  # fmt: skip
    """4-lane BitMoD FP16 GEMM, bit-identical to `kernels.bitmod_fp_gemm` with lanes = 4:
    activation fields SA/EA/MA (M x K), term fields TS/TE/TM (T x K x N), bit significance
    BS (T,) per term cycle, group length (a multiple of 4, or >= K for one group), scales
    (G x N) if has_scales, grid unit. `uses`: a cycle is tabulated if its A_j^4 table
    entries are at most `uses` x the columns a table serves."""
    M, Kd = SA.shape
    T, Kw, N = TS.shape
    if Kw != Kd:
        raise ValueError(f"bitmod_fp_gemm_table: activations have K = {Kd}, terms {Kw}")
    if group >= Kd:  # one group (no scales): chunks past K read the zero padding
        group = Kd + (-Kd % 4)
    if group % 4:
        raise ValueError(f"bitmod_fp_gemm_table: group {group} is not a multiple of 4")
    pad = -Kd % 4
    SA, EA, MA = (np.pad(np.asarray(a, np.int64), ((0, 0), (0, pad))) for a in (SA, EA, MA))
    TS, TE, TM = (np.pad(np.asarray(a, np.int8), ((0, 0), (0, pad), (0, 0))) for a in (TS, TE, TM))
    keys = term_keys(TS, TE, TM)
    sizes, keys_by_index, index = alphabets(keys)
    alph = np.stack([keys_by_index >> 3, (keys_by_index >> 1) & 3, keys_by_index & 1])
    use_tab = (sizes**4 <= uses * min(N, TB_TN)).astype(np.int64)
    codes = term_codes(keys, index, sizes)
    out = np.zeros((M, N))
    n = -(-M // TB_TM) * -(-N // TB_TN)
    BS = np.asarray(BS, np.int64)
    args = (SA, EA, MA, TS, TE, TM, BS, codes, use_tab, sizes, alph, Kd, group, scales,
            has_scales, unit)  # fmt: skip
    if M * N * Kd * T >= K.PAR_MIN_WORK:
        return _bitmod_table_par(*args, n, out)
    return _bitmod_table_tiles(*args, 0, n, out)
