"""Verilog generators for the floating-point PEs: fp_fma, dequant_mac and mixpe.

Two datapaths:

* **Exact fixed point** (`_gen_fp_fma_exact`, fp_fma with a/w/acc/product in one IEEE
  format of <= 5 exponent bits and ftz=False): operands become fixed-point magnitudes whose
  LSB is the smallest subnormal, the sum is exact, one RNE rounding unit per result.
* **Aligning** (`_fadd`, `_fround`, used for everything else, including 8-bit exponents
  such as bf16 and the FP32 accumulators): numbers are carried as (sign, integer magnitude,
  signed LSB exponent) wires (`Num`); a product is exact (magnitudes multiplied, exponents
  added); an addition places the operand with the higher top exponent at the top of a window
  of WA + WC + M + 2 bits, shifts the other right by the exponent difference and ORs every
  bit shifted out into a sticky bit below the window; a leading-one detector, a right shift
  and RNE (guard / sticky) produce the result code. Subnormal results, overflow to inf,
  flush-to-zero (results below the smallest normal after rounding, inputs below it where
  `hwsim.pe.softfloat` flushes them), canonical quiet NaN and IEEE signed zeros follow
  `hwsim.pe.softfloat` (the step models' arithmetic) exactly.

Why the window is wide enough: bits are lost only when the shift d exceeds W_big + G (G =
M + 2 guard bits); then |small| < 2^-(G+1) |big|, so the result's leading one lies at least
G - 1 bits above the window bottom, its half-ulp falls on the window grid, and the exact and
the windowed values (the latter with a half-LSB sticky marker) round to the same code.

All widths are in bits; exponents are signed `XW`-bit wires.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim.pe.base import clog2

from .emit_base import (
    CONTROL_PORTS,
    Design,
    V,
    _header,
    _lane_operand,
    _maxabs,
    _sum,
    const,
    cw,
    module_name,
    sext,
    swidth,
    zeros,
)

XW = 14  # bits of every signed exponent wire (fp32 x fp32 products need |e| < 2^9)


# ----------------------------------------------------------------------------- exact (fp16)


def _fp_decode(v: V, p: str, code: str, E: int, M: int, XW: int):
    """Fields of an IEEE-style (E, M) code and its exact fixed-point magnitude
    `{p}_fx` = sig << (max(e, 1) - 1) (LSB = the format's smallest subnormal)."""
    v(f"    wire {p}_s = {code}[{E + M}];")
    v(f"    wire [{E - 1}:0] {p}_e = {code}[{E + M - 1}:{M}];")
    v(f"    wire [{M - 1}:0] {p}_f = {code}[{M - 1}:0];")
    v(f"    wire {p}_emax = &{p}_e;")
    v(f"    wire {p}_inf = {p}_emax & ~(|{p}_f);", f"    wire {p}_nan = {p}_emax & (|{p}_f);")
    v(f"    wire {p}_zero = ~(|{p}_e) & ~(|{p}_f);")
    v(f"    wire [{M}:0] {p}_sig = {{|{p}_e, {p}_f}};")
    v(f"    wire [{E - 1}:0] {p}_sh = (|{p}_e) ? {p}_e - {const(E, 1)} : {zeros(E)};")
    v(f"    wire [{XW - 1}:0] {p}_fx = {{{zeros(XW - M - 1)}, {p}_sig}} << {p}_sh;")


def _fp_round(v: V, p: str, mag: str, W: int, qmin: int, E: int, M: int):
    """RNE of an unsigned fixed-point magnitude `mag` (W bits; its bit `qmin` is the ulp of
    the smallest subnormal, qmin >= 1) to an (E, M) code `{p}_code` (no sign; overflow ->
    inf). Leading-one position k; ulp position q = max(k - M, qmin)."""
    KW = clog2(W) or 1
    v(f"    reg [{KW - 1}:0] {p}_k;", "    always @* begin", f"        {p}_k = {zeros(KW)};")
    for i in range(1, W):
        v(f"        if ({mag}[{i}]) {p}_k = {const(KW, i)};")
    v("    end")
    v(
        f"    wire [{KW - 1}:0] {p}_q = ({p}_k >= {const(KW, qmin + M)}) ? "
        f"{p}_k - {const(KW, M)} : {const(KW, qmin)};"
    )
    v.drop(f"    wire [{W - 1}:0] {p}_kf = {mag} >> {p}_q;")
    v(f"    wire [{M + 1}:0] {p}_kept = {p}_kf[{M + 1}:0];")
    v.drop(f"    wire [{W - 1}:0] {p}_gf = {mag} >> ({p}_q - {const(KW, 1)});")
    v(f"    wire {p}_g = {p}_gf[0];")
    v(f"    wire [{W - 1}:0] {p}_sm = ~({{{W}{{1'b1}}}} << ({p}_q - {const(KW, 1)}));")
    v(f"    wire {p}_st = |({mag} & {p}_sm);")
    v(
        f"    wire [{M + 1}:0] {p}_r = {p}_kept + "
        f"{{{zeros(M + 1)}, {p}_g & ({p}_st | {p}_kept[0])}};"
    )
    CW = max(KW, E) + M + 2
    v(
        f"    wire [{CW - 1}:0] {p}_c = ({{{zeros(CW - KW)}, {p}_q}} - {const(CW, qmin)}) "
        f"* {const(CW, 1 << M)} + {{{zeros(CW - M - 2)}, {p}_r}};"
    )
    inf = ((1 << E) - 1) << M
    v(
        f"    wire [{E + M - 1}:0] {p}_code = ({p}_c >= {const(CW, inf)}) ? "
        f"{const(E + M, inf)} : {p}_c[{E + M - 1}:0];"
    )


def _gen_fp_fma_exact(unit) -> Design:
    """FP multiply-add with one (fused) or two (unfused) RNE roundings, IEEE subnormals,
    overflow to inf, canonical NaN. Exact arithmetic on fixed-point magnitudes (a Kulisch
    style datapath, practical for formats with up to 5 exponent bits such as fp16)."""
    c = unit.cfg
    ops = [unit.a_op, unit.w_op, unit.acc_op, unit.prod_op]
    E, M = unit.acc_op.ebits, unit.acc_op.mbits
    if c.ftz or any(o.kind != "float" or (o.ebits, o.mbits) != (E, M) for o in ops) or E > 5:
        raise NotImplementedError(
            "fp_fma RTL: a, w, acc and product in one IEEE format with <= 5 exponent bits "
            "(e.g. fp16), ftz=False"
        )
    params = dict(a_fmt=c.a_fmt, w_fmt=c.w_fmt, acc_fmt=c.acc_fmt, fused=c.fused)
    top = module_name("fp_fma", params)
    N = 1 + E + M
    bias = (1 << (E - 1)) - 1
    L0 = bias + M - 1  # fixed-point LSB = 2^-L0 (smallest subnormal)
    XW = M + 1 + (1 << E) - 3  # operand magnitude bits: sig << (emax_field - 1)
    PW = 2 * XW  # exact product magnitude bits (LSB 2^-2L0)
    nan = ((1 << E) - 1) << M | (1 << (M - 1))
    v = V()
    _header(
        v,
        top,
        f"fp_fma {params}: {'fused' if c.fused else 'unfused'} e{E}m{M} MAC, 1 cycle/MAC, RNE",
        [
            "input  wire clk",
            "input  wire rst",
            "input  wire en",
            "input  wire start",
            "input  wire last",
            f"input  wire [{N - 1}:0] a",
            f"input  wire [{N - 1}:0] w",
            f"output reg  [{N - 1}:0] acc",
            f"output reg  [{N - 1}:0] prod",
            "output reg  done",
        ],
    )
    _fp_decode(v, "da", "a", E, M, XW)
    _fp_decode(v, "dw", "w", E, M, XW)
    v(f"    wire [{N - 1}:0] acc_base = start ? {zeros(N)} : acc;")
    _fp_decode(v, "dc", "acc_base", E, M, XW)
    v("    wire p_s = da_s ^ dw_s;")
    v(
        f"    wire [{PW - 1}:0] p_mag = ({{{zeros(PW - M - 1)}, da_sig}} * "
        f"{{{zeros(PW - M - 1)}, dw_sig}})"
    )
    v("        << ({1'b0, da_sh} + {1'b0, dw_sh});")
    v("    wire unused_in = ^{da_inf, da_nan, dw_inf, dw_nan, da_fx, dw_fx};  // finite inputs")
    SW = max(PW, XW + L0) + 2
    if c.fused:
        v("    wire p_zero = da_zero | dw_zero;")
        v(f"    wire [{N - 1}:0] p_code = {{p_s, {zeros(N - 1)}}};  // unused in fused mode")
        v(f"    wire signed [{SW - 1}:0] xp = {{{zeros(SW - PW)}, p_mag}};")
        v(f"    wire signed [{SW - 1}:0] xc = {{{zeros(SW - XW - L0)}, dc_fx, {zeros(L0)}}};")
        qmin, L = L0, 2 * L0
        z = "p_zero & dc_zero"
        zs = "p_s & dc_s"
        spec_nan, spec_inf, inf_s = "dc_nan", "dc_inf", "dc_s"
    else:
        _fp_round(v, "rp", "p_mag", PW, L0, E, M)
        v(f"    wire [{N - 1}:0] p_code = {{p_s, rp_code}};")
        _fp_decode(v, "dp", "p_code", E, M, XW)
        SW = XW + 4
        v(f"    wire signed [{SW - 1}:0] xp = {{{zeros(SW - XW - 2)}, dp_fx, 2'b00}};")
        v(f"    wire signed [{SW - 1}:0] xc = {{{zeros(SW - XW - 2)}, dc_fx, 2'b00}};")
        qmin, L = 2, L0 + 2
        z = "dp_zero & dc_zero"
        zs = "dp_s & dc_s"
        spec_nan = "dp_nan | dc_nan | (dp_inf & dc_inf & (dp_s ^ dc_s))"
        spec_inf, inf_s = "dp_inf | dc_inf", "(dp_inf ? dp_s : dc_s)"
        v("    wire unused_p = ^{da_zero, dw_zero, dp_sh};")
    del L
    ps = "p_s" if c.fused else "dp_s"
    v(f"    wire signed [{SW - 1}:0] sp = {ps} ? -xp : xp;")
    v(f"    wire signed [{SW - 1}:0] sc = dc_s ? -xc : xc;")
    v(f"    wire signed [{SW - 1}:0] s_sum = sp + sc;")
    v(f"    wire s_neg = s_sum[{SW - 1}];")
    v(f"    wire [{SW - 1}:0] s_mag = s_neg ? -s_sum : s_sum;")
    _fp_round(v, "rs", "s_mag", SW, qmin, E, M)
    v(f"    wire s_zero = ~(|s_sum);")  # noqa: F541
    v(f"    wire r_s = s_zero ? (({z}) & ({zs})) : s_neg;")
    v(
        f"    wire [{N - 1}:0] acc_new = ({spec_nan}) ? {const(N, nan)} : ({spec_inf}) ? "
        f"{{{inf_s}, {const(E + M, ((1 << E) - 1) << M)}}} : {{r_s, rs_code}};"
    )
    v("    always @(posedge clk) begin")
    v(f"        if (rst) begin acc <= {zeros(N)}; prod <= {zeros(N)}; done <= 1'b0; end")
    v("        else if (en) begin acc <= acc_new; prod <= p_code; done <= last; end")
    v("    end", "endmodule", "`default_nettype wire")
    return Design("fp_fma", top, v.text(), params, dict(lanes=1, cpc=1, fused=c.fused))


# ----------------------------------------------------------------------------- aligning


def sc(v: int) -> str:
    """XW-bit signed constant."""
    return f"{XW}'sd{v}" if v >= 0 else f"-{XW}'sd{-v}"


@dataclass(frozen=True)
class Num:
    """Wires `{p}_s`, `{p}_m` (W-bit magnitude), `{p}_x` (signed LSB exponent), `{p}_zero`,
    `{p}_inf`, `{p}_nan`: the value (-1)^s * m * 2^x unless inf / nan is set."""

    p: str
    W: int

    def __getattr__(self, k):
        if k in ("s", "m", "x", "zero", "inf", "nan"):
            return f"{self.p}_{k}"
        raise AttributeError(k)


def _ieee(where: str, op) -> tuple[int, int]:
    """(ebits, mbits) of an IEEE-style float operand, else a clear error."""
    if op.kind != "float" or not op.has_inf:
        raise NotImplementedError(f"{where}: {op.name!r} is not an IEEE-style float with inf")
    return op.ebits, op.mbits


def _dec_fp(
    v: V,
    p: str,
    code: str,
    E: int,
    M: int,
    flush_below: int | None = None,
    specials: str = "ieee",
    bias: int | None = None,
) -> Num:
    """Decode an (E, M) float code. flush_below: read values below 2^flush_below as zero
    (softfloat's flush of inputs / DAZ), None = keep subnormals. specials (as in
    hwsim.formats minifloats): "ieee" (all-ones exponent = inf / NaN), "fn" (only the
    all-ones code is NaN, e.g. OCP E4M3), "fnuz" (the negative-zero code is NaN), "none";
    bias: exponent bias (default 2^(E-1) - 1)."""
    bias = (1 << (E - 1)) - 1 if bias is None else bias
    emin = 1 - bias
    v(f"    wire {p}_s = {code}[{E + M}];")
    v(f"    wire [{E - 1}:0] {p}_e = {code}[{E + M - 1}:{M}];")
    v(f"    wire [{M - 1}:0] {p}_f = {code}[{M - 1}:0];")
    inf, nan = {
        "ieee": (f"(&{p}_e) & ~(|{p}_f)", f"(&{p}_e) & (|{p}_f)"),
        "fn": ("1'b0", f"(&{p}_e) & (&{p}_f)"),
        "fnuz": ("1'b0", f"{p}_s & ~(|{p}_e) & ~(|{p}_f)"),
        "none": ("1'b0", "1'b0"),
    }[specials]
    v(f"    wire {p}_inf = {inf};", f"    wire {p}_nan = {nan};")
    fl = None
    if flush_below is not None and flush_below > emin - M:
        if flush_below < emin:
            raise NotImplementedError(
                f"flush below 2^{flush_below} of an e{E}m{M} value: only part of its "
                "subnormals would flush"
            )
        fl = f"~(|{p}_e)"
        if flush_below + bias > 1:
            fl += f" | ({p}_e < {const(E, flush_below + bias)})"
    if fl is None:
        v(f"    wire [{M}:0] {p}_m = {{|{p}_e, {p}_f}};")
    else:
        v(f"    wire [{M}:0] {p}_m = ({fl}) ? {zeros(M + 1)} : {{|{p}_e, {p}_f}};")
    v(f"    wire [{E - 1}:0] {p}_ee = (|{p}_e) ? {p}_e : {const(E, 1)};")
    v(
        f"    wire signed [{XW - 1}:0] {p}_x = $signed({{{zeros(XW - E)}, {p}_ee}}) - "
        f"{sc(bias + M)};"
    )
    v(f"    wire {p}_zero = ~(|{p}_m);")
    return Num(p, M + 1)


def _dec_int(v: V, p: str, ident: str, n: int, signed: bool) -> Num:
    """Sign-magnitude view of an n-bit integer identifier (exponent 0)."""
    v(f"    wire {p}_s = {ident}[{n - 1}];" if signed else f"    wire {p}_s = 1'b0;")
    if signed:
        v(f"    wire [{n - 1}:0] {p}_m = {p}_s ? -{ident} : {ident};")
    else:
        v(f"    wire [{n - 1}:0] {p}_m = {ident};")
    v(f"    wire signed [{XW - 1}:0] {p}_x = {zeros(XW)};")
    v(f"    wire {p}_zero = ~(|{p}_m);", f"    wire {p}_inf = 1'b0;", f"    wire {p}_nan = 1'b0;")
    return Num(p, n)


def _operand(v: V, p: str, port: str, op, daz: bool) -> Num:
    """A PE input port holding a code of `op` (IEEE float or integer)."""
    if op.kind == "int":
        return _dec_int(v, p, port, op.bits, op.signed)
    if op.kind != "float":
        raise NotImplementedError(f"operand {port}: {op.name!r} is not a float or integer format")
    flush = op.emin if daz else None  # inputs only: any specials, any bias (1 - emin)
    return _dec_fp(v, p, port, op.ebits, op.mbits, flush, op.specials, 1 - op.emin)


def _mul(v: V, p: str, a: Num, b: Num) -> Num:
    """Exact product (IEEE flags: inf * 0 = NaN)."""
    W = a.W + b.W
    v(f"    wire {p}_s = {a.s} ^ {b.s};")
    v(f"    wire [{W - 1}:0] {p}_m = {{{zeros(b.W)}, {a.m}}} * {{{zeros(a.W)}, {b.m}}};")
    v(f"    wire signed [{XW - 1}:0] {p}_x = {a.x} + {b.x};")
    v(f"    wire {p}_zero = {a.zero} | {b.zero};")
    v(
        f"    wire {p}_nan = {a.nan} | {b.nan} | ({a.inf} & {b.zero}) | ({b.inf} & {a.zero});",
        f"    wire {p}_inf = ({a.inf} | {b.inf}) & ~{p}_nan;",
    )
    return Num(p, W)


def _round_mag(
    v: V, p: str, m: str, W: int, x: str, E: int, M: int, ftz: bool, zero: str | None = None
) -> str:
    """RNE of the finite magnitude m * 2^x (m: W bits, x: signed exponent wire) to an (E, M)
    code without sign, `{p}_code`: subnormals, overflow -> inf, ftz flushes results below
    the smallest normal, m = 0 (or the `zero` flag) -> 0. Leading one k; ulp exponent
    q = max(x + k, emin) - M."""
    bias = (1 << (E - 1)) - 1
    emin = 1 - bias
    KW = cw(W)
    v(f"    reg [{KW - 1}:0] {p}_k;", "    always @* begin", f"        {p}_k = {zeros(KW)};")
    for i in range(1, W):
        v(f"        if ({m}[{i}]) {p}_k = {const(KW, i)};")
    v("    end")
    v(f"    wire signed [{XW - 1}:0] {p}_lead = {x} + $signed({{{zeros(XW - KW)}, {p}_k}});")
    v(
        f"    wire signed [{XW - 1}:0] {p}_q = ({p}_lead >= {sc(emin)}) ? {p}_lead - {sc(M)} : "
        f"{sc(emin - M)};"
    )
    WM = W + M + 1  # m * 2^(M+1): the right shift t = q - x + M + 1 is >= 1
    TMAX = WM + 1
    TW = clog2(TMAX + 1)
    v(f"    wire signed [{XW - 1}:0] {p}_t = {p}_q - {x} + {sc(M + 1)};")
    v(
        f"    wire [{TW - 1}:0] {p}_tc = ({p}_t > {sc(TMAX)}) ? {const(TW, TMAX)} : "
        f"{p}_t[{TW - 1}:0];"
    )
    v(f"    wire [{WM - 1}:0] {p}_mw = {{{m}, {zeros(M + 1)}}};")
    v.drop(f"    wire [{WM - 1}:0] {p}_kf = {p}_mw >> {p}_tc;")
    v(f"    wire [{M + 1}:0] {p}_kept = {p}_kf[{M + 1}:0];")
    v.drop(f"    wire [{WM - 1}:0] {p}_gf = {p}_mw >> ({p}_tc - {const(TW, 1)});")
    v(f"    wire {p}_g = {p}_gf[0];")
    v(f"    wire [{WM - 1}:0] {p}_sm = ~({{{WM}{{1'b1}}}} << ({p}_tc - {const(TW, 1)}));")
    v(f"    wire {p}_st = |({p}_mw & {p}_sm);")
    v(
        f"    wire [{M + 1}:0] {p}_r = {p}_kept + "
        f"{{{zeros(M + 1)}, {p}_g & ({p}_st | {p}_kept[0])}};"
    )
    CW = XW + M + 2
    v(f"    wire [{XW - 1}:0] {p}_qd = {p}_q - {sc(emin - M)};")
    v(f"    wire [{CW - 1}:0] {p}_c = {{2'b00, {p}_qd, {zeros(M)}}} + {{{zeros(XW)}, {p}_r}};")
    inf = ((1 << E) - 1) << M
    flush = f"({p}_c < {const(CW, 1 << M)}) | " if ftz else ""
    v(
        f"    wire [{E + M - 1}:0] {p}_code = ({p}_c >= {const(CW, inf)}) ? {const(E + M, inf)} : "
        f"({flush}{zero or f'~(|{m})'}) ? {zeros(E + M)} : {p}_c[{E + M - 1}:0];"
    )
    return f"{p}_code"


def _special(v: V, p: str, E: int, M: int, nan: str, inf: str, inf_s: str, s: str, code: str):
    """`{p}_out` = canonical NaN / signed inf / {s, code}."""
    N = 1 + E + M
    qnan = ((1 << E) - 1) << M | (1 << (M - 1))
    v(
        f"    wire [{N - 1}:0] {p}_out = ({nan}) ? {const(N, qnan)} : ({inf}) ? "
        f"{{{inf_s}, {const(E + M, ((1 << E) - 1) << M)}}} : {{{s}, {code}}};"
    )
    return f"{p}_out"


def _fround(v: V, p: str, a: Num, E: int, M: int, ftz: bool) -> str:
    """softfloat.round_triple of `a` (e.g. fp_mul): the (1+E+M)-bit code `{p}_out`."""
    code = _round_mag(v, p, a.m, a.W, a.x, E, M, ftz, a.zero)
    return _special(v, p, E, M, a.nan, a.inf, a.s, a.s, code)


def _fadd(v: V, p: str, a: Num, c: Num, E: int, M: int, ftz: bool) -> str:
    """a + c rounded once (RNE) to (E, M): the (1+E+M)-bit code `{p}_out` (aligning adder;
    a may be an exact product, which makes this a fused multiply-add)."""
    G = M + 2
    WIN = a.W + c.W + G
    DW = clog2(WIN + 2)
    v(f"    wire signed [{XW - 1}:0] {p}_ta = {a.x} + {sc(a.W)};")
    v(f"    wire signed [{XW - 1}:0] {p}_tc = {c.x} + {sc(c.W)};")
    v(f"    wire {p}_abig = {c.zero} | (~{a.zero} & ({p}_ta >= {p}_tc));")
    v(f"    wire signed [{XW - 1}:0] {p}_tb = {p}_abig ? {p}_ta : {p}_tc;")
    v(f"    wire signed [{XW - 1}:0] {p}_d = {p}_abig ? {p}_ta - {p}_tc : {p}_tc - {p}_ta;")
    v(
        f"    wire [{DW - 1}:0] {p}_dc = ({p}_d < {sc(0)}) ? {zeros(DW)} : "
        f"({p}_d > {sc(WIN + 1)}) ? {const(DW, WIN + 1)} : {p}_d[{DW - 1}:0];"
    )
    pa, pc = f"{{{a.m}, {zeros(WIN - a.W)}}}", f"{{{c.m}, {zeros(WIN - c.W)}}}"
    v(f"    wire [{WIN - 1}:0] {p}_big = {p}_abig ? {pa} : {pc};")
    v(f"    wire [{WIN}:0] {p}_sml = {{{p}_abig ? {pc} : {pa}, 1'b0}};")
    v(f"    wire [{WIN}:0] {p}_ssh = {p}_sml >> {p}_dc;")
    v(f"    wire {p}_lost = |({p}_sml & ~({{{WIN + 1}{{1'b1}}}} << {p}_dc));")
    v(f"    wire [{WIN}:0] {p}_sal = {{{p}_ssh[{WIN}:1], {p}_ssh[0] | {p}_lost}};")
    v(f"    wire {p}_sb = {p}_abig ? {a.s} : {c.s};")
    v(f"    wire {p}_sub = {a.s} ^ {c.s};")
    SW = WIN + 3
    v(f"    wire [{SW - 1}:0] {p}_xb = {{2'b00, {p}_big, 1'b0}};")
    v(f"    wire [{SW - 1}:0] {p}_xs = {{2'b00, {p}_sal}};")
    v(f"    wire [{SW - 1}:0] {p}_sum = {p}_sub ? {p}_xb - {p}_xs : {p}_xb + {p}_xs;")
    v(f"    wire {p}_neg = {p}_sum[{SW - 1}];")
    v.drop(f"    wire [{SW - 1}:0] {p}_abs = {p}_neg ? -{p}_sum : {p}_sum;")
    v(f"    wire [{SW - 2}:0] {p}_mag = {p}_abs[{SW - 2}:0];")
    v(f"    wire signed [{XW - 1}:0] {p}_xl = {p}_tb - {sc(WIN + 1)};")
    code = _round_mag(v, f"{p}r", f"{p}_mag", SW - 1, f"{p}_xl", E, M, ftz)
    v(
        f"    wire {p}_rs = (~(|{p}_mag)) ? ({a.zero} & {c.zero} & {a.s} & {c.s}) : "
        f"({p}_sb ^ {p}_neg);"
    )
    v(f"    wire {p}_nan = {a.nan} | {c.nan} | ({a.inf} & {c.inf} & {p}_sub);")
    v(f"    wire {p}_inf = {a.inf} | {c.inf};")
    return _special(v, p, E, M, f"{p}_nan", f"{p}_inf", f"({a.inf} ? {a.s} : {c.s})",
                    f"{p}_rs", code)  # fmt: skip


# ----------------------------------------------------------------------------- generators


def _emin(E: int) -> int:
    return 2 - (1 << (E - 1))


def _mac(v: V, unit, a: Num, w: Num, E: int, M: int) -> tuple[str, str | None]:
    """FP MAC of the step models (`FloatAccumulatorPE._mac_step`) on acc_base: fused
    softfloat.fp_fma, or fp_mul to prod_fmt then fp_add. (new acc code, product code)."""
    c = unit.cfg
    fl = _emin(E) if c.ftz else None
    prod = _mul(v, "pm", a, w)
    acc = _dec_fp(v, "dc", "acc_base", E, M, fl)
    if getattr(c, "fused", False):
        return _fadd(v, "fa", prod, acc, E, M, c.ftz), None
    Ep, Mp = _ieee(f"{unit.name} prod_fmt", unit.prod_op)
    pc = _fround(v, "rp", prod, Ep, Mp, c.ftz)
    pd = _dec_fp(v, "dp", pc, Ep, Mp, fl)
    return _fadd(v, "fa", pd, acc, E, M, c.ftz), pc


def gen_fp_fma(unit) -> Design:
    """fp_fma: the exact fixed-point datapath when a/w/acc/product share one IEEE format of
    <= 5 exponent bits and ftz=False, else the aligning datapath (bf16, fp32, mixed
    formats, integer operands, ftz)."""
    c = unit.cfg
    E, M = unit.acc_op.ebits, unit.acc_op.mbits
    ops = [unit.a_op, unit.w_op, unit.acc_op, unit.prod_op]
    if (
        not c.ftz
        and E <= 5
        and all(o.kind == "float" and (o.ebits, o.mbits) == (E, M) for o in ops)
    ):
        return _gen_fp_fma_exact(unit)
    E, M = _ieee("fp_fma acc_fmt", unit.acc_op)
    N = 1 + E + M
    params = dict(a_fmt=c.a_fmt, w_fmt=c.w_fmt, acc_fmt=c.acc_fmt, fused=c.fused,
                  prod_fmt=unit.prod_op.name, ftz=c.ftz)  # fmt: skip
    top = module_name("fp_fma", params)
    NP = unit.prod_op.bits
    v = V()
    ports = CONTROL_PORTS + [
        f"input  wire [{unit.a_op.bits - 1}:0] a",
        f"input  wire [{unit.w_op.bits - 1}:0] w",
        f"output reg  [{N - 1}:0] acc",
    ]
    ports += [] if c.fused else [f"output reg  [{NP - 1}:0] prod"]
    _header(v, top, f"fp_fma {params}: aligning FP MAC into e{E}m{M}, 1 cycle/MAC, RNE",
            ports + ["output reg  done"])  # fmt: skip
    a = _operand(v, "da", "a", unit.a_op, c.ftz)
    w = _operand(v, "dw", "w", unit.w_op, c.ftz)
    v(f"    wire [{N - 1}:0] acc_base = start ? {zeros(N)} : acc;")
    nxt, pc = _mac(v, unit, a, w, E, M)
    v("    always @(posedge clk) begin")
    pr = "" if c.fused else f" prod <= {zeros(NP)};"
    v(f"        if (rst) begin acc <= {zeros(N)};{pr} done <= 1'b0; end")
    pr = "" if c.fused else f" prod <= {pc};"
    v(f"        else if (en) begin acc <= {nxt};{pr} done <= last; end")
    v("    end", "endmodule", "`default_nettype wire")
    return Design("fp_fma", top, v.text(), params, dict(lanes=1, cpc=1, fused=c.fused))


def _zero_bits(unit) -> int:
    """Zero-point port bits: signed, any zero point in [-2^b, 2^b) for b-bit weights."""
    return unit.w_op.bits + 1


def _q_minus_z(v: V, unit, zport: str) -> Num:
    """`dq`: the exact integer q - z of the (lane 0) weight port `w` and the signed zero
    point port `zport` (b + 1 bits for b-bit weights), b + 2 signed bits."""
    WB, ZW = unit.w_op.bits, _zero_bits(unit)
    QW = WB + 2
    _lane_operand(v, "wq", "w", 0, WB, unit.w_op.signed)
    v(f"    wire signed [{ZW - 1}:0] zs = {zport};")
    v(f"    wire signed [{QW - 1}:0] wq_x = {sext('wq', WB + 1, QW)};")
    v(f"    wire signed [{QW - 1}:0] zs_x = {sext('zs', ZW, QW)};")
    v(f"    wire signed [{QW - 1}:0] qz = wq_x - zs_x;")
    return _dec_int(v, "dq", "qz", QW, True)


def gen_dequant_mac(unit) -> Design:
    """dequant_mac: w_deq = round((q - z) * s) in deq_fmt, then the FP MAC into acc_fmt,
    one weight per cycle. The group's scale (scale_fmt code) and, for integer weights, zero
    point (signed) are input ports; the driver presents those of the current weight's group.
    Weights: integers (with zero points), bipolar-INT (odd values 2u - (2^n - 1)) or floats
    of any minifloat convention (e.g. FP4 E2M1 with FP16 / E8M0-like scales), no zero point.
    """
    c = unit.cfg
    kind = unit.w_op.kind
    if kind not in ("int", "bipolar", "float"):
        raise NotImplementedError(
            f"dequant_mac RTL: integer, bipolar or float weights, not {c.w_fmt!r} ({kind})"
        )
    E, M = _ieee("dequant_mac acc_fmt", unit.acc_op)
    Ed, Md = _ieee("dequant_mac deq_fmt", unit.deq_op)
    _ieee("dequant_mac scale_fmt", unit.scale_op)
    has_zero = kind == "int"
    N, ND, WB = 1 + E + M, 1 + Ed + Md, unit.w_op.bits
    ZW = _zero_bits(unit) if has_zero else 0
    params = dict(a_fmt=c.a_fmt, w_fmt=c.w_fmt, deq_fmt=c.deq_fmt, acc_fmt=c.acc_fmt,
                  fused=c.fused, prod_fmt=unit.prod_op.name, scale_fmt=c.scale_fmt,
                  ftz=c.ftz)  # fmt: skip
    top = module_name("dequant_mac", params)
    NP = unit.prod_op.bits
    v = V()
    ports = CONTROL_PORTS + [
        f"input  wire [{unit.a_op.bits - 1}:0] a",
        f"input  wire [{WB - 1}:0] w",
        f"input  wire [{unit.scale_op.bits - 1}:0] scale",
    ]
    ports += [f"input  wire [{ZW - 1}:0] zero"] if has_zero else []
    ports += [f"output reg  [{N - 1}:0] acc", f"output reg  [{ND - 1}:0] wdq"]
    ports += [] if c.fused else [f"output reg  [{NP - 1}:0] prod"]
    what = "(q - z) * s" if has_zero else "w * s"
    _header(v, top, f"dequant_mac {params}: {what} -> e{Ed}m{Md}, FP MAC -> e{E}m{M}",
            ports + ["output reg  done"])  # fmt: skip
    a = _operand(v, "da", "a", unit.a_op, c.ftz)
    if kind == "float":  # weights are read as given (no DAZ), as the model's dequantize
        q = _operand(v, "dq", "w", unit.w_op, False)
    elif kind == "bipolar":  # 2u - (2^n - 1) = {0, u, 1} - 2^n, n + 2 signed bits
        QW = WB + 2
        v(f"    wire signed [{QW - 1}:0] qz = $signed({{1'b0, w, 1'b1}}) - {QW}'sd{1 << WB};")
        q = _dec_int(v, "dq", "qz", QW, True)
    else:
        q = _q_minus_z(v, unit, "zero")
    s = _operand(v, "ds", "scale", unit.scale_op, False)  # fp_mul reads inputs as given
    dcode = _fround(v, "rd", _mul(v, "dm", q, s), Ed, Md, c.ftz)
    wd = _dec_fp(v, "dd", dcode, Ed, Md, None)
    v(f"    wire [{N - 1}:0] acc_base = start ? {zeros(N)} : acc;")
    nxt, pc = _mac(v, unit, a, wd, E, M)
    v("    always @(posedge clk) begin")
    pr = "" if c.fused else f" prod <= {zeros(NP)};"
    v(f"        if (rst) begin acc <= {zeros(N)}; wdq <= {zeros(ND)};{pr} done <= 1'b0; end")
    pr = "" if c.fused else f" prod <= {pc};"
    v(f"        else if (en) begin acc <= {nxt}; wdq <= {dcode};{pr} done <= last; end")
    v("    end", "endmodule", "`default_nettype wire")
    return Design("dequant_mac", top, v.text(), params, dict(lanes=1, cpc=1, zero_bits=ZW))


def gen_mixpe(unit) -> Design:
    """MixPE. W4A8: `lanes` shift&add MACs (x * q = sum of x << i gated by the bits of q,
    the sign bit subtracting) into the integer group partial P (acc_bits, wrap/saturate,
    sticky ovf) and S = sum x; W4A16: the FP16 activation times (q - z) (exact) added into
    the out_fmt partial P (RNE). A group ends after group_size / lanes chunks or at `last`;
    in the next cycle the dequant unit computes out <- round(s * (P - z * S) + out) (W4A16:
    round(s * P + out)) from the P / S registers while the MAC unit starts the next group
    from zero. After the last group one drain cycle (dequant only) raises `done`.
    Ports s_dq / z_dq: scale and zero point of the group being dequantized; zm (W4A16):
    zero point of the group being multiplied."""
    c = unit.cfg
    if unit.w_op.kind != "int":
        raise NotImplementedError(f"mixpe RTL: integer weights only, not {c.w_fmt!r}")
    E, M = _ieee("mixpe out_fmt", unit.out_op)
    _ieee("mixpe scale_fmt", unit.scale_op)
    N, WB, ZW, L, G = 1 + E + M, unit.w_op.bits, _zero_bits(unit), c.lanes, c.group_size
    A, AB = c.acc_bits, unit.a_op.bits
    fp = unit.fp
    params = dict(a_fmt=c.a_fmt, w_fmt=c.w_fmt, group_size=G, lanes=L, out_fmt=c.out_fmt,
                  scale_fmt=c.scale_fmt, ftz=c.ftz)  # fmt: skip
    if not fp:
        params.update(acc_bits=A, overflow=c.overflow)
    top = module_name("mixpe", params)
    CPG = G // L  # chunks per group
    CG = cw(CPG)
    v = V()
    ports = CONTROL_PORTS + [f"input  wire [{L * AB - 1}:0] a", f"input  wire [{L * WB - 1}:0] w"]
    ports += [f"input  wire [{ZW - 1}:0] zm"] if fp else []
    ports += [f"input  wire [{unit.scale_op.bits - 1}:0] s_dq"]
    ports += [] if fp else [f"input  wire [{ZW - 1}:0] z_dq"]
    ports += [f"output reg  [{N - 1}:0] acc"]
    ports += [f"output reg  [{N - 1}:0] psum"] if fp else [
        f"output reg  signed [{A - 1}:0] psum", "output reg  ovf"]  # fmt: skip
    ports += ["output reg  done"]
    _header(v, top, f"mixpe {params}: {CPG} chunks of {L} per group, 1-cycle dequant -> e{E}m{M}",
            ports)  # fmt: skip
    v(f"    reg [{CG - 1}:0] gcnt;  // chunk index within the group")
    v("    reg pend;  // the previous cycle ended a group: dequantize P / S now")
    v("    reg fin;   // the previous cycle ended the dot product: drain (dequant only)")
    v(f"    wire [{CG - 1}:0] gstep = start ? {zeros(CG)} : gcnt;")
    v(f"    wire gend = last | (gstep == {const(CG, CPG - 1)});")
    v("    wire fresh = start | pend;")
    v(f"    wire [{N - 1}:0] out_base = start ? {zeros(N)} : acc;")
    fl = _emin(E) if c.ftz else None
    seq_rst, seq_mac = [], []
    if fp:
        if unit.a_op.emin < _emin(E):
            raise NotImplementedError("mixpe RTL: out_fmt must reach below a_fmt's normals")
        q = _q_minus_z(v, unit, "zm")
        x = _operand(v, "da", "a", unit.a_op, c.ftz)
        prod = _mul(v, "pm", x, q)  # exact: the significand shift&added by |q - z|
        v(f"    wire [{N - 1}:0] p_base = fresh ? {zeros(N)} : psum;")
        pb = _dec_fp(v, "db", "p_base", E, M, fl)
        p_new = _fadd(v, "pa", prod, pb, E, M, c.ftz)
        corr = _dec_fp(v, "dr", "psum", E, M, None)
        seq_mac.append(f"psum <= {p_new};")
        seq_rst.append(f"psum <= {zeros(N)};")
    else:
        ma, mw = _maxabs(unit.a_op), _maxabs(unit.w_op)
        PW = swidth(-ma * mw, ma * mw)
        TW = swidth(-L * ma * mw, L * ma * mw)
        terms = []
        for i in range(L):
            _lane_operand(v, f"a{i}", "a", i, AB, unit.a_op.signed)
            v(f"    wire signed [{PW - 1}:0] ax{i} = {sext(f'a{i}', AB + 1, PW)};")
            sh = []
            for j in range(WB):
                neg = unit.w_op.signed and j == WB - 1
                v(f"    wire signed [{PW - 1}:0] t{i}_{j} = w[{i * WB + j}] ? (ax{i} <<< {j}) : "
                  f"{zeros(PW)};")  # fmt: skip
                sh.append(("-" if neg else "+") + f" t{i}_{j}")
            v(f"    wire signed [{PW - 1}:0] pr{i} = {zeros(PW)} {' '.join(sh)};")
            terms.append((f"pr{i}", PW))
        _sum(v, "tree", terms, TW)
        SWd = swidth(-G * ma, G * ma)
        _sum(v, "xsum", [(f"a{i}", AB + 1) for i in range(L)], SWd)
        v(f"    reg signed [{SWd - 1}:0] ssum;  // S = sum of the group's activations")
        v(f"    wire signed [{SWd - 1}:0] s_base = fresh ? {zeros(SWd)} : ssum;")
        v(f"    wire signed [{A - 1}:0] p_base = fresh ? {zeros(A)} : psum;")
        S = max(A, TW) + 1
        v(f"    wire signed [{S - 1}:0] p_sum = {sext('p_base', A, S)} + {sext('tree', TW, S)};")
        hi = f"p_sum[{S - 1}:{A - 1}]"
        v(f"    wire p_o = ~((&{hi}) | ~(|{hi}));")
        lo = f"p_sum[{A - 1}:0]"
        if c.overflow == "saturate":
            mx, mn = f"{{1'b0, {{{A - 1}{{1'b1}}}}}}", f"{{1'b1, {{{A - 1}{{1'b0}}}}}}"
            v(f"    wire [{A - 1}:0] p_new = p_o ? (p_sum[{S - 1}] ? {mn} : {mx}) : {lo};")
        elif c.overflow == "wrap":
            v(f"    wire [{A - 1}:0] p_new = {lo};")
        else:
            raise NotImplementedError(f"mixpe RTL: overflow {c.overflow!r} (wrap / saturate)")
        # dequant operand: corr = P - z * S (exact)
        ZS = ZW + SWd
        CW_ = max(A, ZS) + 1
        v(f"    wire signed [{ZW - 1}:0] zs = z_dq;")
        v(f"    wire signed [{ZS - 1}:0] zs_x = {sext('zs', ZW, ZS)};")
        v(f"    wire signed [{ZS - 1}:0] ss_x = {sext('ssum', SWd, ZS)};")
        v(f"    wire signed [{ZS - 1}:0] zsum = zs_x * ss_x;")
        v(
            f"    wire signed [{CW_ - 1}:0] corr_v = {sext('psum', A, CW_)} - "
            f"{sext('zsum', ZS, CW_)};"
        )
        corr = _dec_int(v, "dr", "corr_v", CW_, True)
        seq_mac += ["psum <= p_new;", "ssum <= s_base + xsum;", "ovf <= (~start & ovf) | p_o;"]
        seq_rst += [f"psum <= {zeros(A)};", f"ssum <= {zeros(SWd)};", "ovf <= 1'b0;"]
    # dequant unit (one rounding into out_fmt)
    s = _operand(v, "ds", "s_dq", unit.scale_op, False)
    o = _dec_fp(v, "do", "out_base", E, M, fl)
    dq = _fadd(v, "fo", _mul(v, "dm", s, corr), o, E, M, c.ftz)
    v("    always @(posedge clk) begin")
    v(f"        if (rst) begin acc <= {zeros(N)}; done <= 1'b0; gcnt <= {zeros(CG)};")
    v("            pend <= 1'b0; fin <= 1'b0;", *[f"            {x}" for x in seq_rst])
    v("        end else if (en) begin")
    v(f"            acc <= pend ? {dq} : out_base;")
    v("            done <= fin;")
    v("            if (fin) begin  // drain cycle: P / S hold")
    v(f"                gcnt <= {zeros(CG)}; pend <= 1'b0; fin <= 1'b0;")
    v("            end else begin")
    v(f"                gcnt <= gend ? {zeros(CG)} : gstep + {const(CG, 1)};")
    v("                pend <= gend; fin <= last;")
    v(*[f"                {x}" for x in seq_mac])
    v("            end", "        end", "    end", "endmodule", "`default_nettype wire")
    return Design("mixpe", top, v.text(), params,
                  dict(lanes=L, cpc=1, zero_bits=ZW, fp=fp))  # fmt: skip
