"""BitMoD FP16-activation datapath (Chen et al., HPCA 2025; RTL exp_match.v, bs_mul.v,
grp_accum.v, dequant.v as summarised in Chen et al., HPCA 2025), golden semantics.

Per cycle, for each of the lanes (4): the FP16 activation (FTZ: subnormals read as 0;
fields sign, biased exponent ea, 11-bit significand ma) meets one weight term (sign, exp
ew in 0..3, man in {0, 1}, bit significance bsig):

* exp_match: v_i = ea_i + ew_i; max_exp = max_i v_i; delta_i = max_exp - v_i.
* bs_mul: p_i = ma_i * man_i aligned with 3 guard bits, floor((p_i << 3) >> delta_i)
  (bits shifted out are truncated), negated if sign_a xor sign_w; summed to `bs_out`.
  bs_out is worth bs_out * 2^(max_exp - 28) * 2^bsig.
* grp_accum (custom float: 15-bit signed mantissa, exponent): both operands are aligned to
  E = max(acc_exp, max_exp) by arithmetic right shifts (the golden semantics docs/pe_models.md asks
  for; the RTL skips the right-alignment of bs_out), summed exactly, then shifted right by
  the smallest s >= 0 that fits the 15-bit signed mantissa (floor): acc_exp = E + s.
  The accumulator is worth acc_man * 2^(acc_exp - 28) (times the weight grid unit).
* dequant (per group, with scales): acc_man times the unsigned integer scale, MSB first,
  one scale bit per cycle (exact, 21-bit mantissa); group results are summed by an FP32
  adder (RNE) outside the PE. Without scales the result is the accumulator itself.
"""

from __future__ import annotations

import numpy as np

FRAC = 28  # value of a mantissa unit: 2^(exp - 15 (bias) - 10 (fraction) - 3 (guard bits))
MAN_BITS = 15  # grp_accum mantissa, signed


def act_fields(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sign, biased exponent, significand with hidden bit) of FP16 values; subnormals -> 0."""
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x)
    normal = ax >= 2.0**-14
    mant, e = np.frexp(np.where(normal, ax, 1.0))  # ax = mant * 2^e, mant in [0.5, 1)
    ea = np.where(normal, e - 1 + 15, 0).astype(np.int64)
    ma = np.where(normal, np.rint(mant * 2048.0), 0).astype(np.int64)  # 11 bits exactly
    sa = (np.signbit(x) & normal).astype(np.int64)
    return sa, ea, ma


def normalise(total: int, exp: int) -> tuple[int, int]:
    """Shift right (floor) until the value fits a 15-bit signed mantissa."""
    s = 0
    lim = 1 << (MAN_BITS - 1)
    while not -lim <= (total >> s) < lim:
        s += 1
    return total >> s, exp + s


def lane_cycle(acts, terms) -> tuple[int, int, list]:
    """One exp_match + bs_mul cycle: (bs_out, max_exp, per-lane details).

    acts: (sa, ea, ma) per lane; terms: (sign, ew, man, bsig) per lane."""
    v = [ea + t[1] for (_, ea, _), t in zip(acts, terms, strict=True)]
    max_exp = max(v)
    total, lanes = 0, []
    for (sa, _, ma), t, vi in zip(acts, terms, v, strict=True):
        delta = max_exp - vi
        aligned = ((ma * t[2]) << 3) >> delta
        signed = -aligned if (sa ^ t[0]) else aligned
        total += signed
        lanes.append({"v_exp": vi, "delta": delta, "aligned": signed})
    return total, max_exp, lanes


def acc_update(man: int, exp: int, bs_out: int, max_exp: int, bsig: int) -> tuple[int, int]:
    """grp_accum: align both to the larger exponent, add, normalise."""
    E = max(exp, max_exp)
    total = ((bs_out << bsig) >> (E - max_exp)) + (man >> (E - exp))
    return normalise(total, E)


def fp_term_schedule(mag: int) -> list[tuple[int, int]]:
    """(ew, man) of the two term cycles of a magnitude with at most two set bits.

    Cycle j has bit significance bsig = j (shared by the lanes, as grp_accum shifts bs_out
    by one w_sig per cycle): the lower set bit goes to cycle 0 (ew = pos), the upper to
    cycle 1 (ew = pos - 1); a single set bit goes to cycle 0 if pos <= 3, else cycle 1.
    Raises ValueError if a term exponent leaves 0..3."""
    pos = [i for i in range(mag.bit_length()) if (mag >> i) & 1]
    if len(pos) > 2:
        raise ValueError(f"magnitude {mag} has more than two set bits")
    sched = [(0, 0), (0, 0)]
    if len(pos) == 2:
        sched = [(pos[0], 1), (pos[1] - 1, 1)]
    elif len(pos) == 1:
        sched = [(pos[0], 1), (0, 0)] if pos[0] <= 3 else [(0, 0), (pos[0] - 1, 1)]
    if any(not 0 <= ew <= 3 for ew, _ in sched):
        raise ValueError(f"magnitude {mag} does not fit 2-bit term exponents")
    return sched


def term_arrays(W: np.ndarray, booth: bool, digits_fn, cycles: int):
    """(sign, ew, man) arrays of shape (cycles, K, N) and bsig per cycle for integer
    weights W (in grid units)."""
    s = np.zeros((cycles,) + W.shape, dtype=np.int64)
    e = np.zeros_like(s)
    m = np.zeros_like(s)
    if booth:
        D = digits_fn(W)  # (cycles, K, N) Booth digits
        s[:] = D < 0
        e[:] = np.abs(D) == 2
        m[:] = D != 0
        bsig = 2 * np.arange(cycles, dtype=np.int64)
    else:
        mags = np.abs(W)
        table = {int(v): fp_term_schedule(int(v)) for v in np.unique(mags)}
        for j in range(2):
            lut_e = np.zeros(int(mags.max(initial=0)) + 1, dtype=np.int64)
            lut_m = np.zeros_like(lut_e)
            for v, sched in table.items():
                lut_e[v], lut_m[v] = sched[j]
            e[j], m[j] = lut_e[mags], lut_m[mags]
            s[j] = W < 0
        bsig = np.arange(2, dtype=np.int64)
    return s, e, m, bsig


def fp_term_fields(W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`term_arrays` for FP term weights (two cycles), as int8 (sign, ew, man) arrays of
    shape (2, K, N): the same values from one look-up table over the magnitudes present
    (no sort). Raises ValueError as `fp_term_schedule` for a magnitude it cannot schedule."""
    W = np.asarray(W)
    mags = np.abs(W)
    present = np.zeros(int(mags.max(initial=0)) + 1, dtype=bool)
    present[mags] = True
    lut = np.zeros((2, 2, len(present)), dtype=np.int8)  # (cycle, ew / man, magnitude)
    for v in np.flatnonzero(present):
        for j, (ew, man) in enumerate(fp_term_schedule(int(v))):
            lut[j, 0, v], lut[j, 1, v] = ew, man
    from . import kernels  # numba gather; kernels does not import this module

    return kernels.table_terms(np.ascontiguousarray(W, dtype=np.int64), lut)
