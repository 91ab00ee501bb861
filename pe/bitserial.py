"""Bit-serial PE family (Stripes, Bit Fusion, BitMoD): one model, four schemes:

* "stripes": activation bit-serial (Stripes, MICRO 2016): each cycle ANDs one activation
  bit (MSB first) of `lanes` activations with their bit-parallel weights, sums them and
  shift-accumulates; the sign-bit cycle subtracts. a_bits cycles per `lanes` MACs.
* "booth": weight bit-serial, radix-4 Booth: 2 weight bits (one digit in {0, +-1, +-2})
  per cycle, LSB first: ceil(w_bits / 2) cycles (ceil((w_bits + 1) / 2) if unsigned).
* "bitmod": BitMoD's unified term representation (HPCA 2025, RTL serial_reader): INT
  weights as Booth digits (ceil(b/2) cycles), BitMoD FP3/FP4 extended types as two
  power-of-two terms (leading-one detection), 2 cycles; optional per-group bit-serial
  dequantization by an unsigned `scale_bits`-bit integer scale (MSB first, one scale bit
  per cycle) overlapped with the next group's MACs.
* "fusion": Bit Fusion (ISCA 2018) fusible 2-bit BitBricks: a Fusion Unit of 16 bricks does
  floor(8/pa) * floor(8/pw) MACs per cycle (pa, pw rounded up to 2/4/8 bits).

With `a_fmt="fp16"` the "bitmod" scheme runs BitMoD's FP16-activation datapath
(exp_match, truncating bs_mul aligners, grp_accum custom float, bit-serial dequant):
see bitmod_fp.py. Otherwise every scheme sums each chunk exactly (internal registers wide
enough) and adds it to the `acc_bits` accumulator (wrap or saturate), so the result is the
exact dot product unless the accumulator overflows. All event counts are data-independent
(no zero skipping is modelled).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import bitmod_f32 as B32
from . import bitmod_fp as BF
from . import kernels as K
from . import softfloat as sf
from .base import (
    add_events,
    ceil_div,
    check_choice,
    check_int,
    check_int_accumulator,
    clog2,
    register,
    scale_events,
)
from .int_mac import IntegerAccumulatorPE
from .operands import PEError, as_fraction, check, grid_unit, resolve, validate

SCHEMES = ("stripes", "booth", "bitmod", "fusion")
DEFAULT_LANES = {
    "stripes": 16,  # SIP: 16 weights x 1 activation bit per cycle (Judd et al., MICRO 2016)
    "booth": 16,  # same lane count as the Stripes SIP, for comparison (choice)
    "bitmod": 4,  # BitMoD PE VEC_LENGTH = 4 lanes (RTL bs_mul.v; Chen et al., HPCA 2025)
    "fusion": 1,  # one Fusion Unit of 4x4 BitBricks (Bit Fusion; Sharma et al., ISCA 2018)
}


@dataclass(frozen=True)
class BitSerialConfig:
    scheme: str = "booth"
    a_fmt: str = "int8"
    w_fmt: str = "int4"
    lanes: int | None = None  # None: scheme default (DEFAULT_LANES)
    acc_bits: int = 32  # INT32 (docs/pe_models.md); Bit Fusion's OBUF: 32 bits (ISCA 2018)
    overflow: str = "wrap"
    group_size: int = 128  # BitMoD per-group scale over 128 weights (Chen et al., HPCA 2025)
    scale_bits: int = 8  # BitMoD 8-bit integer group scales, 8 dequant cycles (HPCA 2025)


def booth_digits(w: int, bits: int, signed: bool) -> list[int]:
    """Radix-4 Booth digits of w (LSB digit first), each in {-2, -1, 0, 1, 2}."""
    n = ceil_div(bits, 2) if signed else ceil_div(bits + 1, 2)
    pattern = w & ((1 << (2 * n + 1)) - 1)  # sign-extended two's complement bits

    def bit(i: int) -> int:
        return 0 if i < 0 else (pattern >> i) & 1

    return [-2 * bit(2 * j + 1) + bit(2 * j) + bit(2 * j - 1) for j in range(n)]


def lod_terms(mag: int) -> list[int]:
    """Bit positions of a magnitude with at most two set bits, highest first, padded to 2
    with -1 (no term)."""
    pos = [i for i in range(mag.bit_length() - 1, -1, -1) if (mag >> i) & 1]
    return pos + [-1] * (2 - len(pos))


def brick_width(bits: int) -> int:
    """Bit Fusion operand width: 2, 4 or 8 bits."""
    for b in (2, 4, 8):
        if bits <= b:
            return b
    raise PEError(f"Bit Fusion supports operands of up to 8 bits, got {bits}")


def fused_product(a: int, w: int, pa: int, pw: int, sa: bool, sw: bool) -> tuple[int, int]:
    """a * w from 2-bit BitBricks: 3b x 3b signed brick products shifted by 2(i+j).
    Returns (product, number of bricks)."""
    total, bricks = 0, 0
    for i in range(pa // 2):
        xs = (a >> (2 * i)) & 3
        if sa and i == pa // 2 - 1 and xs & 2:
            xs -= 4  # signed top slice: {sx & x[1], x[1:0]}
        for j in range(pw // 2):
            ys = (w >> (2 * j)) & 3
            if sw and j == pw // 2 - 1 and ys & 2:
                ys -= 4
            total += (xs * ys) << (2 * (i + j))
            bricks += 1
    return total, bricks


@register
class BitSerialPE(IntegerAccumulatorPE):
    """Bit-serial / bit-fusion integer PE; see module docstring for the schemes."""

    kind = "bitserial"
    Config = BitSerialConfig
    side_inputs = ("scales",)

    def _setup(self):
        c = self.cfg
        check_choice(self.name, "scheme", c.scheme, SCHEMES)
        lanes = DEFAULT_LANES[c.scheme] if c.lanes is None else c.lanes
        check_int(self.name, "lanes", lanes, 1)
        check_int_accumulator(self.name, c.acc_bits, c.overflow)
        check_int(self.name, "group_size", c.group_size, 1)
        check_int(self.name, "scale_bits", c.scale_bits, 1, 16)
        self.lanes = lanes
        self.a_op, self.w_op = resolve(c.a_fmt), resolve(c.w_fmt)
        self.fp_act = self.a_op.kind == "float"
        if self.fp_act and (c.scheme != "bitmod" or (self.a_op.ebits, self.a_op.mbits) != (5, 10)):
            raise PEError(f"{self.name}: FP activations need scheme='bitmod' and a_fmt fp16")
        if self.a_op.kind not in ("int", "float"):
            raise PEError(f"{self.name}: a_fmt {c.a_fmt!r} must be an integer format (or fp16)")
        self.w_unit = Fraction(1)
        ab, wb = self.a_op.bits, self.w_op.bits
        if c.scheme == "bitmod" and self.w_op.kind == "table":
            self.w_unit = grid_unit(self.w_op.values)
            mags = [abs(as_fraction(v) / self.w_unit) for v in self.w_op.values]
            if any(m.denominator != 1 or bin(int(m)).count("1") > 2 for m in mags):
                raise PEError(
                    f"{self.name}: w_fmt {c.w_fmt!r} values are not sums of two powers of two"
                )
            self.max_mag = int(max(mags))
            self.w_terms = True
        elif self.w_op.kind != "int":
            raise PEError(f"{self.name}: w_fmt {c.w_fmt!r} must be an integer format")
        else:
            self.w_terms = False
        if c.scheme == "bitmod" and c.group_size % lanes:
            raise PEError(f"{self.name}: group_size must be a multiple of lanes ({lanes})")
        if c.scheme == "stripes":
            self.cpc, self.chunk = ab, lanes
        elif c.scheme in ("booth", "bitmod"):
            self.cpc = 2 if self.w_terms else len(booth_digits(0, wb, self.w_op.signed))
            self.chunk = lanes
        else:
            self.pa, self.pw = brick_width(ab), brick_width(wb)
            self.cpc, self.chunk = 1, lanes * (8 // self.pa) * (8 // self.pw)
        self.sip_bits = ab + wb + clog2(self.chunk)  # exact chunk (SIP) register width
        if self.fp_act and self.w_terms:
            try:
                for m in range(self.max_mag + 1):
                    if m in {abs(int(as_fraction(v) / self.w_unit)) for v in self.w_op.values}:
                        BF.fp_term_schedule(m)
            except ValueError as exc:
                raise PEError(f"{self.name}: w_fmt {c.w_fmt!r}: {exc}") from None

    # --- operands ------------------------------------------------------------------------
    def _prepare(self, X, W, side):
        X = check(self.name, "x", self.a_op, X)
        if not self.fp_act:
            X = X.astype(np.int64)
        W = check(self.name, "w", self.w_op, W)
        W = np.rint(W / float(self.w_unit)).astype(np.int64)  # unit divides every value
        return X, W, self._scales_side(X, W, side)

    def _prepare_fast(self, X, W, side):
        """Integer weights: validated operands left in their dtype (no copies); with INT
        activations their largest magnitudes go to side["_maxes"]."""
        if self.w_terms:  # table weights: converted to integers in grid units
            return self._prepare(X, W, side)
        if self.fp_act:  # FP16 activations: checked as in _prepare; integer weights as is
            X = check(self.name, "x", self.a_op, X)
            W, _ = validate(self.name, "w", self.w_op, W)
            return X, W, self._scales_side(X, W, side)
        X, xmax = validate(self.name, "x", self.a_op, X)
        W, wmax = validate(self.name, "w", self.w_op, W)
        return X, W, dict(self._scales_side(X, W, side), _maxes=(xmax, wmax))

    def _scales_side(self, X, W, side):
        scales = side.get("scales")
        if scales is not None:
            if self.cfg.scheme != "bitmod":
                raise PEError(f"{self.name}: scales are only used by scheme='bitmod'")
            s = np.asarray(scales)
            ng = ceil_div(X.shape[1], self.cfg.group_size)
            if s.shape != (ng, W.shape[1]):
                raise PEError(f"{self.name}: scales must have shape {(ng, W.shape[1])}")
            if (s != np.floor(s)).any() or s.min() < 0 or s.max() >= 1 << self.cfg.scale_bits:
                raise PEError(
                    f"{self.name}: scales must be unsigned {self.cfg.scale_bits}-bit integers"
                )
            side = {"scales": s.astype(np.int64)}
        return side

    def _finish(self, v):
        """Integer result in weight units -> value (int, or exact float for fractions)."""
        return v if self.w_unit == 1 else v * float(self.w_unit)

    def _fast(self, X, W, side):
        c = self.cfg
        if self.fp_act:
            return self._fast_fp(X, W, side.get("scales")), False
        maxes = side.get("_maxes")
        if side.get("scales") is None:
            v, ovf = K.exact_int_matmul(X, W, self.chunk, c.acc_bits, self.mode, maxes=maxes)
            return self._finish(v), ovf
        P, ovf = K.group_partials(
            X, W, c.group_size, self.chunk, c.acc_bits, self.mode, maxes=maxes
        )
        v = np.einsum("gmn,gn->mn", P.astype(np.int64), side["scales"])
        return self._finish(v), ovf

    def _fast_segments(self, X, W, segment):
        """Integer activations and weights: all K segments in one pass
        (``kernels.group_partials`` with this PE's chunk); otherwise one call per segment."""
        if self.fp_act or self.w_terms:
            return super()._fast_segments(X, W, segment)
        c = self.cfg
        X, W, side = self._prepare_fast(X, W, {})
        P, ovf = K.group_partials(
            X, W, segment, self.chunk, c.acc_bits, self.mode, maxes=side["_maxes"],
            float32_ok=True,
        )  # fmt: skip
        return self._finish(P), ovf

    # --- timing and events ---------------------------------------------------------------
    def _n_groups(self, k: int) -> int:
        return ceil_div(k, self.cfg.group_size)

    def _mac_cycles(self, k: int) -> int:
        return ceil_div(k, self.chunk) * self.cpc

    def dot_cycles(self, k: int, scaled: bool = False) -> int:
        """Cycles of a length-k dot product; scaled=True adds BitMoD's per-group
        dequantization (a 2-stage pipeline, only its tail is exposed)."""
        if not scaled:
            return self._mac_cycles(k)
        G = self.cfg.group_size
        ends = np.array([self._mac_cycles(min(k, (g + 1) * G)) for g in range(self._n_groups(k))])
        return K.pipeline_end(ends, self.cfg.scale_bits)

    def _cycle_events(self, used: int) -> dict[str, int]:
        """Events of one MAC-unit cycle with `used` active elements (not the chunk end)."""
        c, ab, wb = self.cfg, self.a_op.bits, self.w_op.bits
        if self.fp_act:  # exp_match, bs_mul, adder tree, grp_accum (BitMoD RTL)
            return {
                "add_6": used,
                "cmp_6": used - 1,
                "and_11": used,
                "shift_14": used,
                "add_17": used - 1,
                "shift_23": 2,
                "add_23": 1,
                "reg_write_21": 1,
            }
        if c.scheme == "stripes":
            return {
                f"and_{wb}": used,
                f"add_{wb + clog2(self.chunk)}": used - 1,
                f"add_{self.sip_bits}": 1,
                f"reg_write_{self.sip_bits}": 1,
            }
        if c.scheme == "fusion":
            return {
                "mul_2x2": 16 * self.lanes,
                f"shift_{self.pa + self.pw}": 16 * self.lanes,
                f"add_{self.pa + self.pw + 4}": 15 * self.lanes,  # 16-input tree per FU
                f"add_{self.sip_bits}": self.lanes - 1,
            }
        sel = f"shift_{ab + 4}" if self.w_terms else f"mux_{ab + 1}"
        return {
            sel: used,
            f"add_{ab + 5 + clog2(self.chunk)}": used - 1,
            f"shift_{self.sip_bits}": 1,
            f"add_{self.sip_bits}": 1,
            f"reg_write_{self.sip_bits}": 1,
        }

    def _chunk_end_events(self) -> dict[str, int]:
        if self.fp_act:
            return {}
        return {f"add_{self.cfg.acc_bits}": 1, f"reg_write_{self.cfg.acc_bits}": 1}

    def _dequant_cycle_events(self) -> dict[str, int]:
        if self.fp_act:  # 15-bit mantissa x scale bit, 21-bit out mantissa (dequant.v)
            return {"and_15": 1, "add_21": 1, "reg_write_21": 1}
        w = self.cfg.acc_bits + self.cfg.scale_bits
        return {f"and_{self.cfg.acc_bits}": 1, f"add_{w}": 1, f"reg_write_{w}": 1}

    def dot_events(self, k: int, scaled: bool = False) -> dict[str, int]:
        ev = Counter()
        full, rest = divmod(k, self.chunk)
        for used, times in ((self.chunk, full), (rest, 1 if rest else 0)):
            add_events(ev, self._cycle_events(used), times * self.cpc)
            add_events(ev, self._chunk_end_events(), times)
        if scaled:
            add_events(ev, self._dequant_cycle_events(), self._n_groups(k) * self.cfg.scale_bits)
            if self.fp_act:
                ev["fadd_32"] += self._n_groups(k)  # FP32 sum of group results
        return {n: v for n, v in ev.items() if v}

    def matmul(self, X, W, **side):
        r = super().matmul(X, W, **side)
        if side.get("scales") is None:
            return r
        m, kk = np.shape(X)
        n = np.shape(W)[1]
        cyc, ev = m * n * self.dot_cycles(kk, True), scale_events(self.dot_events(kk, True), m * n)
        return type(r)(r.value, cyc, ev, r.overflowed)

    def dot(self, x, w, **side):
        r = super().dot(x, w, **side)
        if side.get("scales") is None:
            return r
        k = len(x)
        return type(r)(r.value, self.dot_cycles(k, True), self.dot_events(k, True), r.overflowed)

    # --- step model ----------------------------------------------------------------------
    def _chunk_cycles(self, a: list[int], w: list[int]):
        """Yield (state, events) for each cycle of one chunk; last state has 'sip' = sum."""
        c, ab, wb = self.cfg, self.a_op.bits, self.w_op.bits
        used = len(a)
        ev = {n: v for n, v in self._cycle_events(used).items() if v}
        sip = 0
        if c.scheme == "stripes":
            for t in range(ab - 1, -1, -1):  # MSB first
                bits = [(ai >> t) & 1 for ai in a]
                part = sum(wi for wi, b in zip(w, bits, strict=True) if b)
                neg = self.a_op.signed and t == ab - 1
                sip = (sip << 1) + (-part if neg else part)
                yield {"bit_index": t, "a_bits": bits, "sign_cycle": neg, "sip": sip}, ev
        elif c.scheme in ("booth", "bitmod") and not self.w_terms:
            digits = [booth_digits(wi, wb, self.w_op.signed) for wi in w]
            for j in range(self.cpc):
                d = [dg[j] for dg in digits]
                sip += sum(di * ai for di, ai in zip(d, a, strict=True)) << (2 * j)
                yield {"digit_index": j, "bsig": 2 * j, "digits": d, "sip": sip}, ev
        elif c.scheme == "bitmod":
            terms = [lod_terms(abs(wi)) for wi in w]
            for j in range(2):
                tj = []
                part = 0
                for ai, wi, tt in zip(a, w, terms, strict=True):
                    pos = tt[j]
                    bsig = max(0, pos - 3)
                    tj.append((int(wi < 0), max(pos, 0) - bsig, int(pos >= 0), bsig))
                    if pos >= 0:
                        part += (-ai if wi < 0 else ai) << pos
                sip += part
                yield {"term_index": j, "terms": tj, "sip": sip}, ev
        else:  # fusion: one cycle for the whole chunk
            prods = [
                fused_product(ai, wi, self.pa, self.pw, self.a_op.signed, self.w_op.signed)[0]
                for ai, wi in zip(a, w, strict=True)
            ]
            sip = sum(prods)
            yield {"fused_products": prods, "fused_config": (self.pa, self.pw), "sip": sip}, ev

    def _steps(self, x, w, side):
        if self.fp_act:
            yield from self._steps_fp(x, w, side)
            return
        c = self.cfg
        scales = side.get("scales")
        x, w = [int(v) for v in x], [int(v) for v in w]
        k = len(x)
        G = c.group_size if scales is not None else k
        chunks = [(c0, min(c0 + self.chunk, k)) for c0 in range(0, k, self.chunk)]
        mac_cycles = list(self._mac_cycle_iter(x, w, chunks, G))
        acc, out, ovf, i, cyc = 0, 0, False, 0, 0
        queue: list[tuple[int, int]] = []  # finished group partials waiting for dequant
        deq = None  # (group, partial, scale bit index, out mantissa) in the dequant unit
        while True:
            ev, state = Counter(), {"cycle": cyc}
            if i < len(mac_cycles):  # MAC unit
                st, e, chunk_sum, g_end = mac_cycles[i]
                i += 1
                add_events(ev, e)
                state.update(st)
                if chunk_sum is not None:
                    acc, o = self._acc(acc, chunk_sum)
                    ovf |= o
                    add_events(ev, self._chunk_end_events())
                if g_end is not None and scales is not None:
                    queue.append((g_end, acc))
                    acc = 0
            if deq is not None:  # dequant unit: one scale bit per cycle, MSB first
                g, part, t, man = deq
                bit = (int(scales[g, 0]) >> t) & 1
                man = (man << 1) + (part if bit else 0)
                add_events(ev, self._dequant_cycle_events())
                state["dequant"] = {"group": g, "scale_bit": t, "out_man": man}
                deq = (g, part, t - 1, man) if t > 0 else None
                if t == 0:
                    out += man
            if scales is not None and deq is None and queue:  # starts next cycle
                g, part = queue.pop(0)
                deq = (g, part, c.scale_bits - 1, 0)
            done = i >= len(mac_cycles) and deq is None and not queue
            result = acc if scales is None else out
            state.update(
                acc=acc,
                out=out if scales is not None else None,
                overflowed=ovf,
                valid=done,
                done=done,
                result=self._finish(result) if done else None,
                events=dict(ev),
            )
            yield state
            cyc += 1
            if done:
                return

    def _mac_cycle_iter(self, x, w, chunks, G):
        """Yield (state, events, chunk_sum or None, finished group or None) per MAC cycle."""
        for ci, (c0, c1) in enumerate(chunks):
            cyc_list = list(self._chunk_cycles(x[c0:c1], w[c0:c1]))
            for j, (st, ev) in enumerate(cyc_list):
                last = j == len(cyc_list) - 1
                chunk_sum = st["sip"] if last else None
                g_end = None
                if last and (c1 % G == 0 or c1 == chunks[-1][1]):
                    g_end = (c1 - 1) // G
                st = dict(st, a_reg=x[c0:c1], w_reg=w[c0:c1], chunk=ci)
                yield st, ev, chunk_sum, g_end

    # --- BitMoD FP16-activation datapath (bitmod_fp.py) -----------------------------------
    def _booth_arrays(self, W: np.ndarray) -> np.ndarray:
        """Booth digits of integer weights, shape (digits, K, N)."""
        n = self.cpc
        pattern = W & ((1 << (2 * n + 1)) - 1)

        def bit(i: int) -> np.ndarray:
            return np.zeros_like(W) if i < 0 else (pattern >> i) & 1

        return np.stack([-2 * bit(2 * j + 1) + bit(2 * j) + bit(2 * j - 1) for j in range(n)])

    def _fast_fp(self, X, W, scales):
        c = self.cfg
        SA, EA, MA = BF.act_fields(X)
        if self.w_terms:
            TS, TE, TM = BF.fp_term_fields(W)  # the values of term_arrays, as int8
            BS = np.arange(2, dtype=np.int64)
        else:  # Booth digits straight to int8 term fields (same values as term_arrays)
            TS, TE, TM = K.booth_terms(W, self.cpc)
            BS = 2 * np.arange(self.cpc, dtype=np.int64)
        has = scales is not None
        group = c.group_size if has else X.shape[1]
        sc = scales.astype(np.float64) if has else np.ones((1, W.shape[1]))
        if self.lanes == 4 and (group % 4 == 0 or group >= X.shape[1]):
            return B32.bitmod_fp_gemm_f32(
                SA, EA, MA, TS, TE, TM, BS, group, sc, has, float(self.w_unit)
            )  # float32 datapath; falls back to K.bitmod_fp_gemm where it is not exact
        return K.bitmod_fp_gemm(
            SA, EA, MA, TS, TE, TM, BS, self.lanes, group, sc, has, float(self.w_unit)
        )

    def _lane_terms(self, wv: int) -> list[tuple[int, int, int]]:
        """(sign, ew, man) of each term cycle of one weight (grid units)."""
        if not self.w_terms:
            digits = booth_digits(wv, self.w_op.bits, self.w_op.signed)
            return [(int(d < 0), int(abs(d) == 2), int(d != 0)) for d in digits]
        return [(int(wv < 0), ew, man) for ew, man in BF.fp_term_schedule(abs(wv))]

    def _steps_fp(self, x, w, side):
        c = self.cfg
        scales = side.get("scales")
        k = len(x)
        G = c.group_size if scales is not None else k
        sa, ea, ma = (v.tolist() for v in BF.act_fields(np.asarray(x, dtype=np.float64)))
        terms = [self._lane_terms(int(v)) for v in w]
        unit = float(self.w_unit)
        mac = []  # (state, events, group finished or None) per MAC cycle
        man = exp = 0
        for c0 in range(0, k, self.chunk):
            c1 = min(c0 + self.chunk, k)
            idx = range(c0, c1)
            acts = [(sa[i], ea[i], ma[i]) for i in idx]
            for j in range(self.cpc):
                bsig = 2 * j if not self.w_terms else j
                tj = [terms[i][j] for i in idx]
                bs_out, max_exp, lanes = BF.lane_cycle(acts, tj)
                man, exp = BF.acc_update(man, exp, bs_out, max_exp, bsig)
                g_end = None
                if j == self.cpc - 1 and (c1 % G == 0 or c1 == k):
                    g_end = ((c1 - 1) // G, man, exp)
                st = {"chunk": c0 // self.chunk, "term_index": j, "bsig": bsig, "terms": tj,
                      "lanes": lanes, "max_exp": max_exp, "bs_out": bs_out,
                      "acc_man": man, "acc_exp": exp}  # fmt: skip
                mac.append((st, {n: v for n, v in self._cycle_events(len(tj)).items() if v}, g_end))
                if g_end is not None:
                    man = exp = 0
        res, i, cyc = 0.0, 0, 0
        queue, deq = [], None
        while True:
            ev, state = Counter(), {"cycle": cyc}
            if i < len(mac):
                st, e, g_end = mac[i]
                i += 1
                add_events(ev, e)
                state.update(st)
                if g_end is not None:
                    if scales is None:
                        res = g_end[1] * 2.0 ** (g_end[2] - BF.FRAC) * unit
                    else:
                        queue.append(g_end)
            if deq is not None:  # dequant: one scale bit per cycle, MSB first
                g, gman, gexp, t, out_man = deq
                bit = (int(scales[g, 0]) >> t) & 1
                out_man = (out_man << 1) + (gman if bit else 0)
                add_events(ev, self._dequant_cycle_events())
                state["dequant"] = {"group": g, "scale_bit": t, "out_man": out_man}
                deq = (g, gman, gexp, t - 1, out_man) if t > 0 else None
                if t == 0:
                    gv = out_man * 2.0 ** (gexp - BF.FRAC) * unit  # exact
                    res = sf.fp_add(gv, res, sf.FP32)
                    ev["fadd_32"] += 1
            if scales is not None and deq is None and queue:
                g, gman, gexp = queue.pop(0)
                deq = (g, gman, gexp, c.scale_bits - 1, 0)
            done = i >= len(mac) and deq is None and not queue
            state.update(out=res, overflowed=False, valid=done, done=done,
                         result=res if done else None, events=dict(ev))  # fmt: skip
            yield state
            cyc += 1
            if done:
                return
