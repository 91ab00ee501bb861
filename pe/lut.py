"""LUT tensor core PE (LUT Tensor Core, ISCA 2025, RTL fp_lut_array_b_cycle_stage1.sv;
T-MAC, Wei et al., EuroSys 2025).

Weights are B-bit bipolar-INT (the offline "symmetrized" reinterpretation q' = 2q - (2^B-1):
every bit plane is a +-1 vector). For each row m and group g of K activations a table holds
the sums +-a_0 +-a_1 ... +-a_{K-1}; only the 2^(K-1) entries with +a_0 are stored (table
symmetrization), the other half is read by flipping the sign bit (T[~i] = -T[i]).

Each cycle handles one weight bit plane b for the whole M x N x K tile: every (m, n) lane
gathers the K weight bits into an index, reads its entry, scales it by 2^b (adding b to the
FP16 exponent field; an integer shift for INT activations) and adds it to its accumulator.
B cycles per M x N x K tile; dot product: ceil(k/K) * B cycles; GEMM:
ceil(M/tm) * ceil(N/tn) * ceil(k/tk) * B cycles (all tiles on one unit, no overlap).

FP16 activations: table entries are the exact sum rounded once to FP16 (RNE), flushed to
zero if subnormal (precompute order fixed this way; the LUT Tensor Core RTL leaves it open); the
accumulator is FP16 with DesignWare DW_fp_add semantics as configured in the RTL: RNE,
ieee_compliance = 0 (subnormal inputs and results flush to zero). Deviations from the
released RTL, by choice: a zero entry stays zero after the exponent increment (the RTL would
turn it into 2^(b-15)); an exponent increment past the largest exponent gives +-inf.
INT activations: exact integer tables and an `acc_bits` accumulator (wrap/saturate).

Table precompute runs outside the tile (on CUDA cores, fused with the previous operator;
Mo et al., ISCA 2025), so it costs events (fadd_32 / add, lut_write) but no tile cycles.
All event counts are data-independent.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from . import kernels as K
from . import softfloat as sf
from .base import (
    ProcessingElement,
    add_events,
    ceil_div,
    check_int,
    check_int_accumulator,
    clog2,
    int_acc_step,
    register,
)
from .operands import PEError, check, resolve, validate


@dataclass(frozen=True)
class LutConfig:
    a_fmt: str = "fp16"  # INT1 x FP16 LUT tensor core (LUT Tensor Core RTL, Mo et al., ISCA 2025)
    w_fmt: str = "bipolar2"  # B_BIT = 2 in the released RTL (LUT Tensor Core RTL, ISCA 2025)
    tile_m: int = 2  # M_DIM = 2 (LUT Tensor Core RTL default, Mo et al., ISCA 2025)
    tile_n: int = 64  # N_DIM = 64
    tile_k: int = 4  # K_DIM = 4, table group size (also T-MAC g = 4, Wei et al., EuroSys 2025)
    acc_bits: int = 32  # INT activations only
    overflow: str = "wrap"  # INT activations only
    ftz: bool = True  # DW_fp_add IEEE_COMPLIANCE = 0 (LUT Tensor Core RTL, Mo et al., ISCA 2025)


def sign_patterns(k: int) -> np.ndarray:
    """(2^k, k) matrix of +-1: row i has +1 where bit j of i is set."""
    i = np.arange(1 << k)[:, None]
    return np.where((i >> np.arange(k)[None, :]) & 1, 1.0, -1.0)


@register
class LutPE(ProcessingElement):
    """LUT-based mixed-precision tile unit (one weight bit plane per cycle)."""

    kind = "lut"
    Config = LutConfig

    def _setup(self):
        c = self.cfg
        for n in ("tile_m", "tile_n"):
            check_int(self.name, n, getattr(c, n), 1)
        check_int(self.name, "tile_k", c.tile_k, 1, 8)
        check_int_accumulator(self.name, c.acc_bits, c.overflow)
        self.a_op, self.w_op = resolve(c.a_fmt), resolve(c.w_fmt)
        if self.w_op.kind != "bipolar":
            raise PEError(
                f"{self.name}: w_fmt {c.w_fmt!r} must be bipolar (symmetrized weights, "
                "q' = 2q - (2^B - 1)); convert INT weights with hwsim.formats.int_to_bipolar"
            )
        self.B = self.w_op.bits
        if self.a_op.kind == "float":
            if (self.a_op.ebits, self.a_op.mbits) != (5, 10):
                raise PEError(f"{self.name}: FP activations must be fp16, got {c.a_fmt!r}")
            self.fp = True
            self.spec = sf.ieee_spec(5, 10, c.ftz, "fp16")
            self.entry_bits = 16
        elif self.a_op.kind == "int":
            self.fp = False
            self.entry_bits = self.a_op.bits + clog2(c.tile_k)
        else:
            raise PEError(f"{self.name}: a_fmt {c.a_fmt!r} must be fp16 or an integer format")

    # --- operands and tables -------------------------------------------------------------
    def _prepare(self, X, W, side):
        X = check(self.name, "x", self.a_op, X)
        W = check(self.name, "w", self.w_op, W)
        if self.fp and self.cfg.ftz:
            X = np.where(np.abs(X) < self.spec.min_normal, np.copysign(0.0, X), X)
        return X, W, side

    def _tables(self, X: np.ndarray) -> np.ndarray:
        """(M, G, 2^K) full tables: stored half (+a_0) and its sign-flipped mirror."""
        Kt = self.cfg.tile_k
        M, k = X.shape
        G = ceil_div(k, Kt)
        Xp = np.pad(X, ((0, 0), (0, G * Kt - k))).reshape(M, G, Kt)
        exact = Xp @ sign_patterns(Kt).T  # exact: fp16 / int values, <= 8 terms
        if self.fp:
            s = self.spec
            flat = K.fp_round_array(exact.reshape(-1), s.mbits, s.emin, s.max_finite, s.ftz)
            exact = flat.reshape(exact.shape)
        i = np.arange(1 << Kt)
        mirror = np.where(i & 1, i, (~i) & ((1 << Kt) - 1))  # stored entry read for index i
        T = exact[:, :, mirror]
        return np.where((i & 1)[None, None, :] == 1, T, -T)

    def _indices(self, W: np.ndarray) -> np.ndarray:
        """(B, G, N) table indices: bit j = bit b of the code of weight g*K + j."""
        return K.lut_indices(W, self.B, self.cfg.tile_k)  # uint8: 2^tile_k <= 256 entries

    def _prepare_fast(self, X, W, side):
        """INT activations: validated operands left in their dtype (no copies), max |x| in
        side["_xmax"]; the tables are only built when the accumulator could overflow."""
        if self.fp:
            return self._prepare(X, W, side)
        X, xmax = validate(self.name, "x", self.a_op, X)
        W, _ = validate(self.name, "w", self.w_op, W)
        return X, W, dict(side, _xmax=xmax)

    def _fast(self, X, W, side):
        if self.fp:
            T, idx = self._tables(X), self._indices(W)
            s = self.spec
            out = K.lut_fp_gemm(T, idx, self.B, s.mbits, s.emin, s.max_finite, s.ftz)
            return out, bool(~np.isfinite(out).all())
        c = self.cfg
        xmax = side["_xmax"] if "_xmax" in side else np.abs(X).max(initial=0)
        bound = X.shape[1] * xmax * ((1 << self.B) - 1)
        if bound < 2.0 ** (c.acc_bits - 1):  # no overflow possible: exact BLAS product
            return K.blas_exact(X, W, bound=bound), False
        X, W = np.add(X, 0.0, dtype=np.float64), np.add(W, 0.0, dtype=np.float64)
        T, idx = self._tables(X), self._indices(W)
        mode = K.SATURATE if c.overflow == "saturate" else K.WRAP
        return K.lut_int_gemm(T.astype(np.int64), idx, self.B, c.acc_bits, mode)

    # --- timing and events ---------------------------------------------------------------
    def dot_cycles(self, k: int) -> int:
        return ceil_div(k, self.cfg.tile_k) * self.B

    def matmul_cycles(self, m: int, n: int, k: int) -> int:
        c = self.cfg
        return ceil_div(m, c.tile_m) * ceil_div(n, c.tile_n) * ceil_div(k, c.tile_k) * self.B

    def _lane_events(self) -> dict[str, int]:
        """Events of one (m, n) lane in one cycle."""
        e = self.entry_bits
        if self.fp:
            return {"lut_read_16": 1, "xor_1": 1, "add_5": 1, "fadd_16": 1, "reg_write_16": 1}
        acc = self.cfg.acc_bits
        return {
            f"lut_read_{e}": 1,
            f"xor_{e}": 1,
            f"shift_{e + self.B}": 1,
            f"add_{acc}": 1,
            f"reg_write_{acc}": 1,
        }

    def _table_events(self) -> dict[str, int]:
        """Events of one table precompute (one row m, one group of K activations)."""
        Kt = self.cfg.tile_k
        adds = (1 << Kt) - 2  # +-a_1 .. +-a_{K-1} on a shared tree: 2 + 4 + ... + 2^(K-1)
        op = "fadd_32" if self.fp else f"add_{self.entry_bits}"
        return {op: adds, f"lut_write_{self.entry_bits}": 1 << (Kt - 1)}

    def matmul_events(self, m: int, n: int, k: int) -> dict[str, int]:
        G = ceil_div(k, self.cfg.tile_k)
        ev = Counter()
        add_events(ev, self._lane_events(), m * n * G * self.B)
        add_events(ev, self._table_events(), m * G)
        return dict(ev)

    def dot_events(self, k: int) -> dict[str, int]:
        return self.matmul_events(1, 1, k)

    # --- step model ----------------------------------------------------------------------
    def _shift_entry(self, v: float, b: int) -> float:
        """FP16 entry * 2^b by adding b to the exponent field (entries are normal, 0 or an
        entry that overflowed to +-inf in the precompute, which stays inf)."""
        if not math.isfinite(v):
            return v
        sign, sig, exp = sf.split(v)
        if sig == 0:
            return v
        top = exp + sig.bit_length() - 1  # unbiased exponent
        field = top + 15 + b
        if field >= 31:
            return -math.inf if sign else math.inf
        return math.ldexp(float(sig), exp + b) * (-1 if sign else 1)

    def _steps(self, x, w, side):
        c, Kt = self.cfg, self.cfg.tile_k
        X = np.asarray(x, dtype=np.float64)[None, :]
        k = X.shape[1]
        G = ceil_div(k, Kt)
        wcodes = [(int(v) + (1 << self.B) - 1) // 2 for v in w] + [0] * (G * Kt - k)
        xs = [float(v) for v in X[0]] + [0.0] * (G * Kt - k)
        acc, ovf, cyc = (0.0 if self.fp else 0), False, 0
        for g in range(G):
            a = xs[g * Kt : (g + 1) * Kt]
            half = []  # stored entries: +a_0, signs of a_1.. from index bits 1..K-1
            for i in range(1 << (Kt - 1)):
                signs = [1] + [1 if (i >> j) & 1 else -1 for j in range(Kt - 1)]
                if self.fp:  # exact sum from integer triples, one FP16 rounding
                    t = (0, 0, 0)
                    for s_, v in zip(signs, a, strict=True):
                        t = sf.add_triples(t, sf.split(s_ * v))
                    half.append(sf.round_triple(*t, self.spec))
                else:
                    half.append(int(sum(s_ * int(v) for s_, v in zip(signs, a, strict=True))))
            ev_table = self._table_events()
            for b in range(self.B):
                idx = sum((((wcodes[g * Kt + j] >> b) & 1) << j) for j in range(Kt))
                flip = not (idx & 1)
                sel = ((~idx) if flip else idx) >> 1 & ((1 << (Kt - 1)) - 1)
                entry = -half[sel] if flip else half[sel]
                if self.fp:
                    shifted = self._shift_entry(entry, b)
                    acc = sf.fp_add(acc, shifted, self.spec)
                    ovf |= not math.isfinite(acc)
                else:
                    shifted = entry << b
                    acc, o = int_acc_step(acc, shifted, c.acc_bits, c.overflow)
                    ovf |= o
                ev = Counter(self._lane_events())
                if b == 0:
                    add_events(ev, ev_table)
                done = g == G - 1 and b == self.B - 1
                yield {
                    "cycle": cyc,
                    "group": g,
                    "bit_plane": b,
                    "table": list(half),
                    "index": idx,
                    "select": sel,
                    "sign_flip": flip,
                    "entry": entry,
                    "shifted_entry": shifted,
                    "acc": acc,
                    "overflowed": ovf,
                    "valid": done,
                    "done": done,
                    "result": acc if done else None,
                    "events": dict(ev),
                }
                cyc += 1
