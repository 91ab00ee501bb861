"""Verilog generators of the integer-accumulator PEs (the registry `hwsim.rtl.emit` lists
them in `GENERATORS`):

* int_mac: `lanes` parallel products + adder tree, one chunk per cycle;
* bipolar: 1-bit plane pairs (XOR or AND form) with popcounts;
* bitserial: schemes "stripes" (activation bit planes, MSB first), "booth" and "bitmod" with
  INT weights (radix-4 Booth digits, LSB first), "bitmod" with BitMoD FP3/FP4 extended-type
  weights (format decoder ROM to sign/magnitude, leading/trailing-one split into two
  power-of-two terms, one term per cycle) and "fusion" (Bit Fusion: every product built
  from 2-bit BitBricks, 3b x 3b signed, shifted by 2(i+j); one cycle per chunk); "bitmod"
  with FP16 activations (BitMoD's exp_match / bs_mul / grp_accum custom-float datapath);
* shiftadd, mode "shift" with INT activations: PoT (`potN`), zero-free PoT (`potN_nz`) and
  two-term APoT (`apotN`) weights; a ROM turns each weight code into its sign and term
  fields (shift amount, term present), one barrel shifter per term. FP activations: mode
  "shift" (exponent add) and "lmul" (L-Mul) products into an IEEE accumulator;
* lut: one LUT tensor-core lane (table as an input port), INT or FP16 activations.

The common port interface and the accumulator tail are those of `hwsim.rtl.emit_base`; the FP
accumulators use the aligning RNE adder of `hwsim.rtl.emit_fp`. Units: every width is in
bits, every count in clock cycles. Widths are derived from the operand formats' value
ranges, so one function serves every operand width.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

import hwsim.formats as F
from hwsim.pe.base import ceil_div, clog2

from .emit_base import (
    CONTROL_PORTS,
    Design,
    V,
    _acc_tail,
    _header,
    _lane_operand,
    _maxabs,
    _popcount,
    _sum,
    const,
    cw,
    module_name,
    sext,
    swidth,
    zeros,
)

# ----------------------------------------------------------------------------- shared helpers


def pe_ports(
    inputs: dict[str, int], acc_bits: int, extra_out=(), ovf: bool = True, code: bool = False
) -> list[str]:
    """Port list of a PE: control inputs, the operand inputs (name -> width in bits), the
    `acc_bits`-bit accumulator (signed integer, or an FP code if `code`), `ovf`, `done` and
    extra outputs."""
    out = CONTROL_PORTS + [f"input  wire [{w - 1}:0] {n}" for n, w in inputs.items()]
    out.append(f"output reg  {'' if code else 'signed '}[{acc_bits - 1}:0] acc")
    out += ["output reg  ovf"] if ovf else []
    return out + ["output reg  done"] + list(extra_out)


def _case(v: V, out: str, sel: str, sel_bits: int, out_bits: int, cases: dict, signed=False):
    """`out` = cases[sel] as a combinational case statement (selector values missing from
    `cases` give 0). cases: selector value -> Verilog expression of `out_bits` bits."""
    sg = "signed " if signed else ""
    v(f"    reg {sg}[{out_bits - 1}:0] {out};", "    always @*", f"        case ({sel})")
    for k, e in cases.items():
        v(f"            {const(sel_bits, k)}: {out} = {e};")
    if len(cases) < (1 << sel_bits):
        v(f"            default: {out} = {zeros(out_bits)};")
    v("        endcase")


def _rom(v: V, out: str, sel: str, sel_bits: int, out_bits: int, words: list[int]):
    """Read-only table `out` = words[sel] (a decoder generated from a format's codes)."""
    _case(v, out, sel, sel_bits, out_bits, {k: const(out_bits, x) for k, x in enumerate(words)})


def _serial_counter(v: V, cpc: int, first: bool = False) -> tuple:
    """Step counter of a PE taking `cpc` cycles per chunk: wires `step` (restarts at 0 on
    `start`), `chunk_end` (and `first`); returns the register update for `_acc_tail`."""
    C = cw(cpc)
    v(f"    wire [{C - 1}:0] step = start ? {zeros(C)} : cnt;")
    if first:
        v(f"    wire first = (step == {const(C, 0)});")
    v(f"    wire chunk_end = (step == {const(C, cpc - 1)});")
    return ("cnt", zeros(C), f"chunk_end ? {zeros(C)} : step + {const(C, 1)}")


def _truncate(v: V, out: str, src: str, w_src: int, w_out: int):
    """`out` = the low w_out bits of signed `src` (exact when the value fits w_out bits,
    two's complement sums being exact modulo 2^w_out) or its sign extension."""
    if w_src <= w_out:
        v(f"    wire signed [{w_out - 1}:0] {out} = {sext(src, w_src, w_out)};")
        return
    v.drop(f"    wire signed [{w_src - 1}:0] {out}_w = {src};")
    v(f"    wire signed [{w_out - 1}:0] {out} = {out}_w[{w_out - 1}:0];")


def _code_levels(fmt: str, unit) -> list[int]:
    """Value of every code of table format `fmt` in units of `unit` (integers)."""
    f = F.get(fmt)
    vals = np.asarray(f.decode(np.arange(1 << f.bits)), float)
    u = Fraction(unit)
    out = []
    for x in vals:
        lv = Fraction(float(x)) / u if np.isfinite(x) else Fraction(0)
        r = round(lv)
        if abs(lv - r) > Fraction(1, 1 << 20):  # float64 of 1/10 etc. is not exact
            raise ValueError(f"{fmt}: value {x} is not a multiple of the grid unit {u}")
        out.append(int(r))
    return out


# ----------------------------------------------------------------------------- bitserial


def _sip_bound(unit) -> int:
    """Largest |chunk sum| of a bit-serial scheme (the `sip` register range)."""
    a, L = _maxabs(unit.a_op), unit.lanes
    s = unit.cfg.scheme
    if s == "fusion":
        return unit.chunk * a * _maxabs(unit.w_op)
    if unit.w_terms:
        return L * a * unit.max_mag
    if s == "stripes":
        return L * a * _maxabs(unit.w_op)
    return L * a * ceil_div(2 * 4**unit.cpc, 3)  # Booth digits: |w| < 2 * 4^cpc / 3


def gen_bitserial(unit) -> Design:
    """Bit-serial / Bit Fusion PE (pe/bitserial.py); see the module docstring. FP16
    activations (scheme "bitmod") go to `_gen_bitmod_fp`."""
    c = unit.cfg
    if unit.fp_act:
        return _gen_bitmod_fp(unit)
    a, w = unit.a_op, unit.w_op
    N, AB, WB, A = unit.chunk, a.bits, w.bits, c.acc_bits
    cpc = unit.cpc
    params = dict(
        scheme=c.scheme, a_fmt=c.a_fmt, w_fmt=c.w_fmt, lanes=unit.lanes, acc_bits=A,
        overflow=c.overflow,
    )  # fmt: skip
    top = module_name("bitserial", params)
    SW = swidth(-_sip_bound(unit), _sip_bound(unit))
    serial = c.scheme != "fusion"
    extra = [f"output reg  signed [{SW - 1}:0] sip"]
    extra += [f"output reg  [{cw(cpc) - 1}:0] cnt"] if serial else []
    v = V()
    _header(
        v,
        top,
        f"bitserial {params}: {cpc} cycle(s) per chunk of {N} products",
        pe_ports({"a": N * AB, "w": N * WB}, A, extra),
    )
    seq = [("sip", zeros(SW), "sip_nxt")]
    if serial:
        seq.append(_serial_counter(v, cpc, first=True))
    if c.scheme == "stripes":
        _stripes(v, unit, SW)
    elif c.scheme == "fusion":
        _fusion(v, unit, SW)
    elif unit.w_terms:
        _bitmod_terms(v, unit, SW)
    else:  # booth, and bitmod with INT weights (BitMoD's serial_reader Booth path)
        _booth(v, unit, SW)
    _acc_tail(v, "sip_nxt", SW, A, c.overflow == "saturate", "chunk_end" if serial else "1'b1", seq)
    info = dict(lanes=N, acc_bits=A, cpc=cpc, sip_bits=SW)
    return Design("bitserial", top, v.text(), params, info)


def _stripes(v: V, unit, SW: int):
    """One activation bit plane per cycle, MSB first; the sign plane subtracts."""
    a, w = unit.a_op, unit.w_op
    L, AB, WB, cpc = unit.lanes, a.bits, w.bits, unit.cpc
    planes = {}
    for s in range(cpc):
        t = AB - 1 - s
        planes[s] = "{" + ", ".join(f"a[{i * AB + t}]" for i in range(L - 1, -1, -1)) + "}"
    _case(v, "plane", "step", cw(cpc), L, planes)
    lw = WB + 1
    terms = []
    for i in range(L):
        _lane_operand(v, f"w{i}", "w", i, WB, w.signed)
        v(f"    wire signed [{lw - 1}:0] t{i} = plane[{i}] ? w{i} : {zeros(lw)};")
        terms.append((f"t{i}", lw))
    PW = swidth(-L * _maxabs(w), L * _maxabs(w))
    _sum(v, "part", terms, PW)
    neg = "first" if a.signed else "1'b0"
    v(f"    wire signed [{PW}:0] part_x = {sext('part', PW, PW + 1)};")
    v(f"    wire signed [{PW}:0] contrib = ({neg}) ? -part_x : part_x;")
    v(f"    wire signed [{SW}:0] sip2 = first ? {zeros(SW + 1)} : {{sip, 1'b0}};")
    v.drop(f"    wire signed [{SW}:0] sip_sum = sip2 + {sext('contrib', PW + 1, SW + 1)};")
    v(f"    wire signed [{SW - 1}:0] sip_nxt = sip_sum[{SW - 1}:0];")


def _booth_windows(v: V, unit):
    """`win` = the 3-bit Booth window {w[2s+1], w[2s], w[2s-1]} of every lane's weight at
    step s (lane i in bits 3i+2..3i); w[-1] = 0, sign- or zero-extended above the top."""
    w, L, WB, cpc = unit.w_op, unit.lanes, unit.w_op.bits, unit.cpc
    XW = 2 * cpc + 1
    for i in range(L):
        lo, hi = i * WB, i * WB + WB - 1
        ext = f"w[{hi}]" if w.signed else "1'b0"
        pad = XW - 1 - WB
        ext = f"{{{pad}{{{ext}}}}}, " if pad else ""
        v(f"    wire [{XW - 1}:0] wx{i} = {{{ext}w[{hi}:{lo}], 1'b0}};")
    wins = {}
    for s in range(cpc):
        lanes = ", ".join(f"wx{i}[{2 * s + 2}:{2 * s}]" for i in range(L - 1, -1, -1))
        wins[s] = "{" + lanes + "}"
    _case(v, "win", "step", cw(cpc), 3 * L, wins)


def _booth(v: V, unit, SW: int):
    """Radix-4 Booth: one digit in {0, +-1, +-2} of every weight per cycle, LSB first."""
    a = unit.a_op
    L, AB = unit.lanes, a.bits
    _booth_windows(v, unit)
    PPW = AB + 3
    terms = []
    for i in range(L):
        _lane_operand(v, f"a{i}", "a", i, AB, a.signed)
        v(f"    wire signed [{PPW - 1}:0] a1_{i} = {sext(f'a{i}', AB + 1, PPW)};")
        v(f"    wire signed [{PPW - 1}:0] a2_{i} = a1_{i} <<< 1;")
        d = f"win[{3 * i + 2}:{3 * i}]"
        v(
            f"    wire signed [{PPW - 1}:0] pp{i} = ({d} == 3'b011) ? a2_{i} : "
            f"({d} == 3'b100) ? -a2_{i} : ({d} == 3'b001 || {d} == 3'b010) ? a1_{i} : "
            f"({d} == 3'b101 || {d} == 3'b110) ? -a1_{i} : {zeros(PPW)};"
        )
        terms.append((f"pp{i}", PPW))
    DW = PPW + clog2(L)
    _sum(v, "dsum", terms, DW)
    _truncate(v, "dsum_x", "dsum", DW, SW)
    v(f"    wire signed [{SW - 1}:0] contrib = dsum_x <<< {{step, 1'b0}};")
    v(f"    wire signed [{SW - 1}:0] sip_nxt = (first ? {zeros(SW)} : sip) + contrib;")


def _bitmod_terms(v: V, unit, SW: int):
    """BitMoD FP3/FP4 weights: code -> (sign, magnitude in grid units) decoder ROM (the
    `fpcvt` step), then the magnitude's leading one is the term of cycle 0 and its second
    set bit (the trailing one, when two bits are set) the term of cycle 1."""
    a, w = unit.a_op, unit.w_op
    L, AB, WB = unit.lanes, a.bits, w.bits
    levels = _code_levels(unit.cfg.w_fmt, unit.w_unit)
    MW = max(1, int(unit.max_mag).bit_length())
    PB = cw(MW)
    TW = swidth(-(_maxabs(a) << (MW - 1)), _maxabs(a) << (MW - 1))
    terms = []
    for i in range(L):
        _lane_operand(v, f"a{i}", "a", i, AB, a.signed)
        _weight_magnitude(v, i, WB, MW, levels)
        v(f"    wire tnz{i} = first ? (|mag{i}) : two{i};")
        v(f"    wire [{PB - 1}:0] pos{i} = first ? hi{i} : lo{i};")
        v(f"    wire signed [{TW - 1}:0] ax{i} = {sext(f'a{i}', AB + 1, TW)};")
        v(f"    wire signed [{TW - 1}:0] sh{i} = ax{i} <<< pos{i};")
        v(
            f"    wire signed [{TW - 1}:0] t{i} = ~tnz{i} ? {zeros(TW)} : "
            f"(wd{i}[{MW}] ? -sh{i} : sh{i});"
        )
        terms.append((f"t{i}", TW))
    _sum(v, "part", terms, max(SW, TW))
    _truncate(v, "part_x", "part", max(SW, TW), SW)
    v(f"    wire signed [{SW - 1}:0] sip_nxt = (first ? {zeros(SW)} : sip) + part_x;")


def _weight_magnitude(v: V, i: int, WB: int, MW: int, levels: list[int]):
    """Lane i's weight code w[i] -> decoder ROM `wd{i}` = {sign, magnitude} (grid units),
    `mag{i}` (MW bits), its leading-one position `hi{i}`, trailing-one position `lo{i}` and
    `two{i}` (two bits set). Positions are cw(MW)-bit; 0 for a zero magnitude."""
    PB = cw(MW)
    words = [(int(lv < 0) << MW) | abs(lv) for lv in levels]
    _rom(v, f"wd{i}", f"w[{i * WB + WB - 1}:{i * WB}]", WB, MW + 1, words)
    v(f"    wire [{MW - 1}:0] mag{i} = wd{i}[{MW - 1}:0];")
    v(f"    reg [{PB - 1}:0] hi{i}, lo{i};", "    always @* begin")
    v(f"        hi{i} = {zeros(PB)};", f"        lo{i} = {zeros(PB)};")
    for b in range(MW):
        v(f"        if (mag{i}[{b}]) hi{i} = {const(PB, b)};")
    for b in range(MW - 1, -1, -1):
        v(f"        if (mag{i}[{b}]) lo{i} = {const(PB, b)};")
    v("    end")
    v(f"    wire two{i} = |(mag{i} & (mag{i} - {const(MW, 1)}));")


def _fusion(v: V, unit, SW: int):
    """Bit Fusion: each product a * w = sum_ij BB(x_i, y_j) << 2(i + j) over 2-bit slices;
    a BitBrick is a 3b x 3b signed multiply of {s & x[1], x[1:0]}, the sign mode set only on
    the top slice of a signed operand. All chunk products in one cycle (`sip` = their sum)."""
    a, w = unit.a_op, unit.w_op
    N, AB, WB, pa, pw = unit.chunk, a.bits, w.bits, unit.pa, unit.pw
    terms = []
    for p in range(N):
        for nm, port, bits, width, op in (("x", "a", AB, pa, a), ("y", "w", WB, pw, w)):
            hi = p * bits + bits - 1
            sgn = f"{port}[{hi}]" if op.signed else "1'b0"
            ext = f"{{{width - bits}{{{sgn}}}}}, " if width > bits else ""
            v(f"    wire [{width - 1}:0] {nm}{p} = {{{ext}{port}[{hi}:{p * bits}]}};")
            for s in range(width // 2):
                sg = f"{nm}{p}[{2 * s + 1}]" if (op.signed and s == width // 2 - 1) else "1'b0"
                v(f"    wire signed [2:0] {nm}{p}_{s} = {{{sg}, {nm}{p}[{2 * s + 1}:{2 * s}]}};")
        for i in range(pa // 2):
            for j in range(pw // 2):
                n = f"bb{p}_{i}_{j}"
                v(f"    wire signed [5:0] {n} = x{p}_{i} * y{p}_{j};")
                sh = 2 * (i + j)
                if sh:
                    v(f"    wire signed [{5 + sh}:0] {n}s = {{{n}, {zeros(sh)}}};")
                terms.append((f"{n}s" if sh else n, 6 + sh))
    TW = max(SW, max(t[1] for t in terms) + clog2(len(terms)))
    _sum(v, "fsum", terms, TW)
    _truncate(v, "sip_nxt", "fsum", TW, SW)


def _gen_bitmod_fp(unit) -> Design:
    """BitMoD with FP16 activations (pe/bitmod_fp.py golden semantics, no group scales).

    Per cycle and lane: the activation (FTZ: a zero exponent field reads as 0) meets one
    weight term (sign, ew in 0..3, man): INT weights give Booth digits (ew = |d| == 2),
    FP3/FP4 weights a term schedule from the magnitude's set bits (lower bit in cycle 0,
    upper bit in cycle 1 with ew = pos - 1; a single bit above 3 goes to cycle 1).
    exp_match: v = ea + ew, max over lanes; bs_mul: (ma * man) << 3 >> (max - v), truncated,
    negated on sign_a ^ sign_w, summed (`bs_out`). grp_accum: both bs_out << bsig and the
    15-bit signed mantissa are arithmetically right-shifted to E = max(acc_exp, max_exp),
    added, and shifted right by the smallest s that fits 15 signed bits; acc_exp = E + s.
    Registers: acc_man (15 bits, signed), acc_exp (7 bits; BitMoD's RTL has 6, the model
    none: 7 bits hold every exponent of dot products shorter than about 2^80), done, cnt."""
    from hwsim.pe import bitmod_fp as BF

    c = unit.cfg
    L, WB, cpc = unit.lanes, unit.w_op.bits, unit.cpc
    MB, XB = BF.MAN_BITS, 7
    GB = 3  # guard bits of the bs_mul aligner (model: << 3)
    AW = 11 + GB  # aligned magnitude bits
    params = dict(scheme="bitmod", a_fmt=c.a_fmt, w_fmt=c.w_fmt, lanes=L)
    top = module_name("bitserial", params)
    bsig_max = 1 if unit.w_terms else 2 * (cpc - 1)
    BW = AW + 1 + clog2(L)  # bs_out
    TW = max(BW + bsig_max, MB) + 1
    C = cw(cpc)
    v = V()
    _header(
        v,
        top,
        f"bitserial {params}: BitMoD FP16 x {unit.w_op.name} terms, {cpc} cycles per chunk "
        f"of {L} lanes, custom-float group accumulator",
        CONTROL_PORTS
        + [f"input  wire [{16 * L - 1}:0] a", f"input  wire [{WB * L - 1}:0] w"]
        + [f"output reg  signed [{MB - 1}:0] acc_man", f"output reg  [{XB - 1}:0] acc_exp"]
        + ["output reg  done", f"output reg  [{C - 1}:0] cnt"],
    )
    cnt = _serial_counter(v, cpc, first=unit.w_terms)
    if unit.w_terms:
        levels = _code_levels(c.w_fmt, unit.w_unit)
        MW = max(1, int(unit.max_mag).bit_length())
        PB = cw(MW)
    else:
        _booth_windows(v, unit)
    lanes = []
    for i in range(L):
        v(f"    wire [4:0] ae{i} = a[{16 * i + 14}:{16 * i + 10}];")
        v(f"    wire an{i} = |ae{i};  // normal; FTZ reads subnormals as 0")
        v(f"    wire [10:0] am{i} = an{i} ? {{1'b1, a[{16 * i + 9}:{16 * i}]}} : 11'd0;")
        v(f"    wire as{i} = an{i} & a[{16 * i + 15}];")
        if unit.w_terms:
            _weight_magnitude(v, i, WB, MW, levels)
            le3 = f"(hi{i} <= {const(PB, 3)})" if MW > 4 else "1'b1"  # position <= 3
            v(f"    wire hi_le3_{i} = {le3};")
            v(f"    wire t0m{i} = (|mag{i}) & (two{i} | hi_le3_{i});")
            v(f"    wire t1m{i} = (|mag{i}) & (two{i} | ~hi_le3_{i});")
            v(f"    wire [{PB - 1}:0] t0e{i} = two{i} ? lo{i} : hi{i};")
            v(f"    wire [{PB - 1}:0] t1e{i} = hi{i} - {const(PB, 1)};")
            v(f"    wire tm{i} = first ? t0m{i} : t1m{i};")
            v.drop(
                f"    wire [{PB - 1}:0] tef{i} = ~tm{i} ? {zeros(PB)} : (first ? t0e{i} : t1e{i});"
            )
            v(f"    wire [1:0] te{i} = tef{i}[1:0];", f"    wire ts{i} = wd{i}[{MW}];")
        else:  # Booth digit of this cycle: sign, |d| == 2, d != 0
            v(f"    wire [2:0] dg{i} = win[{3 * i + 2}:{3 * i}];")
            d = f"dg{i}"
            v(f"    wire ts{i} = {d}[2] & ~({d}[1] & {d}[0]);")
            v(f"    wire tm{i} = ({d} != 3'b000) & ({d} != 3'b111);")
            v(f"    wire [1:0] te{i} = {{1'b0, ({d} == 3'b011) | ({d} == 3'b100)}};")
        v(f"    wire [5:0] ve{i} = {{1'b0, ae{i}}} + {{4'b0000, te{i}}};")
    v("    wire [5:0] mx0 = ve0;")
    for i in range(1, L):
        v(f"    wire [5:0] mx{i} = (ve{i} > mx{i - 1}) ? ve{i} : mx{i - 1};")
    v(f"    wire [5:0] mxe = mx{L - 1};")
    for i in range(L):
        p = f"{{(tm{i} ? am{i} : 11'd0), {zeros(GB)}}}"
        v(f"    wire [{AW - 1}:0] al{i} = {p} >> (mxe - ve{i});")
        v(f"    wire signed [{AW}:0] la{i} = {{1'b0, al{i}}};")
        v(f"    wire signed [{AW}:0] ls{i} = (as{i} ^ ts{i}) ? -la{i} : la{i};")
        lanes.append((f"ls{i}", AW + 1))
    _sum(v, "bs_out", lanes, BW)
    bsig = "{step, 1'b0}" if not unit.w_terms else "step"
    v(f"    wire [{XB - 1}:0] eb = start ? {zeros(XB)} : acc_exp;")
    v(f"    wire signed [{MB - 1}:0] mb = start ? {zeros(MB)} : acc_man;")
    v(f"    wire [{XB - 1}:0] mxx = {{{zeros(XB - 6)}, mxe}};")
    v(f"    wire [{XB - 1}:0] ee = (eb > mxx) ? eb : mxx;")
    v(f"    wire signed [{TW - 1}:0] xs = {sext('bs_out', BW, TW)} <<< {bsig};")
    v(f"    wire signed [{TW - 1}:0] xa = xs >>> (ee - mxx);")
    v(f"    wire signed [{TW - 1}:0] mbx = {sext('mb', MB, TW)};")
    v(f"    wire signed [{TW - 1}:0] ya = mbx >>> (ee - eb);")
    v(f"    wire signed [{TW - 1}:0] tot = xa + ya;")
    v(f"    wire [{TW - 1}:0] tu = tot[{TW - 1}] ? ~tot : tot;")
    KW = cw(TW + 1)
    v(f"    reg [{KW - 1}:0] nb;  // bits of |tot| (sign excluded)", "    always @* begin")
    v(f"        nb = {zeros(KW)};")
    for b in range(TW):
        v(f"        if (tu[{b}]) nb = {const(KW, b + 1)};")
    v("    end")
    m1 = const(KW, MB - 1)
    v(f"    wire [{KW - 1}:0] ns = (nb > {m1}) ? nb - {m1} : {zeros(KW)};")
    v.drop(f"    wire signed [{TW - 1}:0] tn = tot >>> ns;")
    v(f"    wire signed [{MB - 1}:0] man_new = tn[{MB - 1}:0];")
    v(f"    wire [{XB - 1}:0] exp_new = ee + {{{zeros(XB - KW)}, ns}};" if XB > KW else
      f"    wire [{XB - 1}:0] exp_new = ee + ns[{XB - 1}:0];")  # fmt: skip
    v("    always @(posedge clk) begin")
    v(f"        if (rst) begin acc_man <= {zeros(MB)}; acc_exp <= {zeros(XB)}; done <= 1'b0;")
    v(f"            cnt <= {cnt[1]}; end")
    v("        else if (en) begin acc_man <= man_new; acc_exp <= exp_new;")
    v(f"            done <= last & chunk_end; cnt <= {cnt[2]}; end")
    v("    end", "endmodule", "`default_nettype wire")
    info = dict(lanes=L, cpc=cpc, signed=["acc_man"])
    return Design("bitserial", top, v.text(), params, info)


# ----------------------------------------------------------------------------- shiftadd


def gen_shiftadd(unit) -> Design:
    """Shift-add PE, INT activations, weights with <= 2 power-of-two terms (PoT, zero-free
    PoT, APoT): per lane a ROM decodes the weight code into its sign and, per term, the
    shift amount and a term-present bit; x << shift per term, summed, negated on the sign."""
    c = unit.cfg
    if not unit.int_path:
        return _gen_shiftadd_fp(unit)
    a, w = unit.a_op, unit.w_op
    L, AB, WB, A = c.lanes, a.bits, w.bits, c.acc_bits
    P, NT = int(unit.max_pos), int(unit.n_terms)
    SB = max(1, clog2(P + 1))
    params = dict(a_fmt=c.a_fmt, w_fmt=c.w_fmt, lanes=L, acc_bits=A, overflow=c.overflow)
    top = module_name("shiftadd", params)
    levels = _code_levels(c.w_fmt, unit.unit)
    tmax = _maxabs(a) * max(abs(lv) for lv in levels)
    TW = swidth(-tmax, tmax)
    SUMW = swidth(-L * tmax, L * tmax)
    # ROM word: {term NT-1: (present, shift), ..., term 0: (present, shift), sign}
    pos = [[b for b in range(abs(lv).bit_length()) if abs(lv) >> b & 1] for lv in levels]
    present = [any(len(p) <= t for p in pos) for t in range(NT)]  # term can be absent
    words = []
    for lv, ps in zip(levels, pos, strict=True):
        word = int(lv < 0)
        for t in range(NT):
            word |= (ps[t] if t < len(ps) else 0) << (1 + t * (SB + 1))
            word |= int(t < len(ps)) << (1 + t * (SB + 1) + SB)
        words.append(word)
    DW = 1 + NT * (SB + 1)
    v = V()
    _header(
        v,
        top,
        f"shiftadd {params}: x * (+-(2^p [+ 2^q])) by {NT} barrel shifter(s) per lane, "
        f"{L} lanes, 1 cycle/chunk",
        pe_ports({"a": L * AB, "w": L * WB}, A),
    )
    lanes = []
    for i in range(L):
        _lane_operand(v, f"a{i}", "a", i, AB, a.signed)
        v(f"    wire signed [{TW - 1}:0] ax{i} = {sext(f'a{i}', AB + 1, TW)};")
        _rom(v, f"wd{i}", f"w[{i * WB + WB - 1}:{i * WB}]", WB, DW, words)
        v(f"    wire ws{i} = wd{i}[0];")
        parts = []
        for t in range(NT):
            lo = 1 + t * (SB + 1)
            v(f"    wire signed [{TW - 1}:0] sh{i}_{t} = ax{i} <<< wd{i}[{lo + SB - 1}:{lo}];")
            if present[t]:
                m = f"wd{i}[{lo + SB}] ? sh{i}_{t} : {zeros(TW)}"
                v(f"    wire signed [{TW - 1}:0] m{i}_{t} = {m};")
            else:  # every code has this term (zero-free PoT): no term-present bit
                v(f"    wire signed [{TW - 1}:0] m{i}_{t} = sh{i}_{t};")
                v(f"    wire unused_p{i}_{t} = wd{i}[{lo + SB}];")
            parts.append(f"m{i}_{t}")
        v(f"    wire signed [{TW - 1}:0] tt{i} = {' + '.join(parts)};")
        v(f"    wire signed [{TW - 1}:0] t{i} = (ws{i} ? -tt{i} : tt{i});")
        lanes.append((f"t{i}", TW))
    _sum(v, "tree", lanes, SUMW)
    _acc_tail(v, "tree", SUMW, A, c.overflow == "saturate", "1'b1")
    return Design("shiftadd", top, v.text(), params, dict(lanes=L, acc_bits=A, cpc=1))


def _gen_shiftadd_fp(unit) -> Design:
    """Shift-add PE on FP activations, one MAC per cycle, FP accumulator in acc_fmt.

    mode "shift" (PoT weights): a ROM turns the weight code into (sign, exponent p, zero);
    the product keeps the activation's significand and adds p to its exponent (the model's
    exponent add): zero below the activation format's smallest normal, +-inf above its
    largest exponent; subnormal activations read as zero.
    mode "lmul" (L-Mul): one integer add of the two (exponent|mantissa) fields minus
    (bias << m) - (2^m >> l(m)); zero if an input has a zero exponent field or the result
    exponent is <= 0, +-inf if it reaches all ones. The sign of a zero input counts as +.
    Either product goes to the `hwsim.rtl.emit_fp` aligning adder (one RNE rounding to
    acc_fmt; ftz: inputs and results below the smallest normal flush to zero)."""
    from .emit_fp import XW, Num, _dec_fp, _fadd, sc

    c = unit.cfg
    a, w, acc = unit.a_op, unit.w_op, unit.acc_op
    for where, op in (("a_fmt", a), ("acc_fmt", acc)) + (
        (("w_fmt", w),) if c.mode == "lmul" else ()
    ):
        if op.kind != "float":
            raise NotImplementedError(f"shiftadd FP RTL: {where} {op.name!r} is not a float")
    if not acc.has_inf:
        raise NotImplementedError(f"shiftadd FP RTL: acc_fmt {acc.name!r} has no inf")
    Ea, Ma, Ec, Mc = a.ebits, a.mbits, acc.ebits, acc.mbits
    bias = (1 << (Ea - 1)) - 1
    emin_c = 2 - (1 << (Ec - 1))
    params = dict(mode=c.mode, a_fmt=c.a_fmt, w_fmt=c.w_fmt, acc_fmt=c.acc_fmt, ftz=c.ftz)
    top = module_name("shiftadd", params)
    v = V()
    _header(
        v,
        top,
        f"shiftadd {params}: {'L-Mul' if c.mode == 'lmul' else 'exponent-add'} product, "
        f"{acc.name} accumulator (RNE{', ftz' if c.ftz else ''}), 1 cycle/MAC",
        pe_ports({"a": a.bits, "w": w.bits}, acc.bits, ovf=False, code=True),
    )
    v(f"    wire a_s = a[{Ea + Ma}];", f"    wire [{Ea - 1}:0] a_e = a[{Ea + Ma - 1}:{Ma}];")
    v(f"    wire [{Ma - 1}:0] a_f = a[{Ma - 1}:0];", "    wire a_norm = |a_e;  // DAZ")
    if c.mode == "lmul":
        v(f"    wire w_s = w[{Ea + Ma}];", f"    wire w_norm = |w[{Ea + Ma - 1}:{Ma}];")
        off = (bias << Ma) - ((1 << Ma) >> int(unit.lspec[3]))
        RW = Ea + Ma + 2
        v(f"    wire signed [{RW - 1}:0] lr = $signed({{2'b00, a[{Ea + Ma - 1}:0]}}) + "
          f"$signed({{2'b00, w[{Ea + Ma - 1}:0]}}) - $signed({const(RW, off)});")  # fmt: skip
        v(f"    wire signed [{RW - Ma - 1}:0] le = lr[{RW - 1}:{Ma}];")
        v(f"    wire signed [{XW - 1}:0] le_x = {sext('le', RW - Ma, XW)};")
        small = f"(le_x - {sc(bias)} < {sc(emin_c)})" if c.ftz else "1'b0"
        v(f"    wire pr_zero = ~a_norm | ~w_norm | (le_x <= {sc(0)}) | {small};")
        v("    wire pr_s = (a_s & a_norm) ^ (w_s & w_norm);")
        v(f"    wire pr_inf = ~pr_zero & (le_x >= {sc((1 << Ea) - 1)});")
        v(f"    wire [{Ma}:0] pr_m = pr_zero ? {zeros(Ma + 1)} : {{1'b1, lr[{Ma - 1}:0]}};")
        v(f"    wire signed [{XW - 1}:0] pr_x = le_x - {sc(bias + Ma)};")
        v("    wire unused_a = ^a_f;")
    else:
        # PoT weight ROM: {zero, sign, exponent p (two's complement)}
        f = F.get(c.w_fmt)
        vals = np.asarray(f.decode(np.arange(1 << w.bits)), float)
        exps = [int(np.frexp(x)[1]) - 1 if x != 0 and np.isfinite(x) else 0 for x in vals]
        PB = max(swidth(min(exps), max(exps)), 2)
        words = []
        for x, p in zip(vals, exps, strict=True):
            zero = int(not (np.isfinite(x) and x != 0))
            words.append((zero << (PB + 1)) | (int(np.signbit(x)) << PB) | (p % (1 << PB)))
        _rom(v, "wd", "w", w.bits, PB + 2, words)
        v(f"    wire signed [{PB - 1}:0] w_p = wd[{PB - 1}:0];", f"    wire w_s = wd[{PB}];")
        v(f"    wire w_zero = wd[{PB + 1}];")
        v(f"    wire signed [{XW - 1}:0] pt = $signed({{{zeros(XW - Ea)}, a_e}}) - {sc(bias)} + "
          f"{sext('w_p', PB, XW)};")  # fmt: skip
        emin_a, emax_a = 1 - bias, (1 << Ea) - 2 - bias
        lo = max(emin_a, emin_c) if c.ftz else emin_a
        v(f"    wire pr_zero = ~a_norm | w_zero | (pt < {sc(lo)});")
        v("    wire pr_s = a_s ^ w_s;", f"    wire pr_inf = ~pr_zero & (pt > {sc(emax_a)});")
        v(f"    wire [{Ma}:0] pr_m = pr_zero ? {zeros(Ma + 1)} : {{1'b1, a_f}};")
        v(f"    wire signed [{XW - 1}:0] pr_x = pt - {sc(Ma)};")
    v("    wire pr_nan = 1'b0;")
    N = acc.bits
    v(f"    wire [{N - 1}:0] acc_base = start ? {zeros(N)} : acc;")
    dc = _dec_fp(v, "dc", "acc_base", Ec, Mc, emin_c if c.ftz else None)
    out = _fadd(v, "fa", Num("pr", Ma + 1), dc, Ec, Mc, c.ftz)
    v("    always @(posedge clk) begin")
    v(f"        if (rst) begin acc <= {zeros(N)}; done <= 1'b0; end")
    v(f"        else if (en) begin acc <= {out}; done <= last; end")
    v("    end", "endmodule", "`default_nettype wire")
    return Design("shiftadd", top, v.text(), params, dict(lanes=1, cpc=1, acc_code=True))


# ----------------------------------------------------------------------------- lut


def gen_lut(unit) -> Design:
    """One LUT tensor-core lane (one (m, n) of a tile row), INT activations: each cycle reads
    the entry selected by weight bit plane b of the K weights (table symmetrization: index
    bit 0 = 0 reads the negated mirror entry), shifts it by b and accumulates. The table
    (2^(K-1) entries, precomputed outside the tile as in the model) is an input port."""
    c = unit.cfg
    if unit.fp:
        return _gen_lut_fp(unit)
    a = unit.a_op
    Kt, B, A = c.tile_k, unit.B, c.acc_bits
    params = dict(a_fmt=c.a_fmt, w_fmt=c.w_fmt, tile_k=Kt, acc_bits=A, overflow=c.overflow)
    top = module_name("lut", params)
    NE = 1 << (Kt - 1)
    emax = Kt * _maxabs(a)
    EW = swidth(-emax, emax)
    SW = max(swidth(-(emax << (B - 1)), emax << (B - 1)), EW + 1)
    v = V()
    _header(
        v,
        top,
        f"lut {params}: {NE}-entry symmetric table, {B} weight bit planes per group of {Kt}",
        pe_ports({"table_in": NE * EW, "w": Kt * B}, A, [f"output reg  [{cw(B) - 1}:0] cnt"]),
    )
    cnt = _serial_counter(v, B)
    _lut_select(v, Kt, B, NE, EW)
    v(f"    wire signed [{EW}:0] ex = {sext('entry', EW, EW + 1)};")
    v(f"    wire signed [{EW}:0] en_s = flip ? -ex : ex;")
    v(f"    wire signed [{SW - 1}:0] contrib = {sext('en_s', EW + 1, SW)} <<< step;")
    _acc_tail(v, "contrib", SW, A, c.overflow == "saturate", "1'b1", [cnt], done_when="chunk_end")
    return Design("lut", top, v.text(), params, dict(lanes=Kt, cpc=B, entry_bits=EW))


def _lut_select(v: V, Kt: int, B: int, NE: int, EW: int):
    """Index of bit plane `step` from the K weight codes, mirror flag `flip` and the stored
    entry `entry` (EW bits) it selects from `table_in`."""
    planes = {}
    for b in range(B):
        planes[b] = "{" + ", ".join(f"w[{j * B + b}]" for j in range(Kt - 1, -1, -1)) + "}"
    _case(v, "idx", "step", cw(B), Kt, planes)
    v("    wire flip = ~idx[0];")
    SELW = max(1, Kt - 1)
    if Kt > 1:
        v(f"    wire [{SELW - 1}:0] sel = flip ? ~idx[{Kt - 1}:1] : idx[{Kt - 1}:1];")
    else:
        v("    wire [0:0] sel = 1'b0;")
    entries = {i: f"table_in[{i * EW + EW - 1}:{i * EW}]" for i in range(NE)}
    _case(v, "entry", "sel", SELW, EW, entries)


def _gen_lut_fp(unit) -> Design:
    """LUT tensor-core lane with FP16 activations: the stored half of the table holds FP16
    codes (the model's rounded entries, an input port); each cycle selects the entry of
    weight bit plane b, flips its sign bit for mirror indices, scales it by 2^b (exponent
    increment: a nonzero entry whose exponent field reaches 31 becomes +-inf, zero stays
    zero) and adds it to the FP16 accumulator with one RNE rounding (`hwsim.rtl.emit_fp`
    aligning adder; ftz: subnormal inputs read as zero, results below 2^-14 flush). `ovf`
    is sticky: the accumulator became inf or NaN in this dot product."""
    from .emit_fp import XW, Num, _dec_fp, _fadd

    c = unit.cfg
    Kt, B = c.tile_k, unit.B
    E, M, N = 5, 10, 16
    params = dict(a_fmt=c.a_fmt, w_fmt=c.w_fmt, tile_k=Kt, ftz=c.ftz)
    top = module_name("lut", params)
    NE = 1 << (Kt - 1)
    v = V()
    _header(
        v,
        top,
        f"lut {params}: {NE}-entry symmetric FP16 table, {B} weight bit planes per group of "
        f"{Kt}, FP16 accumulator (RNE{', ftz' if c.ftz else ''})",
        pe_ports(
            {"table_in": NE * N, "w": Kt * B}, N, [f"output reg  [{cw(B) - 1}:0] cnt"], code=True
        ),
    )
    cnt = _serial_counter(v, B)
    _lut_select(v, Kt, B, NE, N)
    v(f"    wire [{N - 1}:0] ent = {{entry[{N - 1}] ^ flip, entry[{N - 2}:0]}};")
    _dec_fp(v, "de", "ent", E, M)
    SH = cw(B)
    v("    // entry * 2^step: exponent + step (the significand is unchanged)")
    v("    wire se_s = de_s;", f"    wire [{M}:0] se_m = de_m;", "    wire se_zero = de_zero;")
    v(f"    wire signed [{XW - 1}:0] se_x = de_x + $signed({{{zeros(XW - SH)}, step}});")
    v(f"    wire [{E + SH}:0] se_ef = {{{zeros(SH + 1)}, de_e}} + {{{zeros(E + 1)}, step}};")
    v(f"    wire se_big = ~de_zero & (|de_e) & (se_ef >= {const(E + SH + 1, (1 << E) - 1)});")
    v("    wire se_inf = de_inf | (se_big & ~de_nan);", "    wire se_nan = de_nan;")
    shifted = Num("se", M + 1)
    v(f"    wire [{N - 1}:0] acc_base = start ? {zeros(N)} : acc;")
    acc_in = _dec_fp(v, "da", "acc_base", E, M, 1 - 15 if c.ftz else None)
    out = _fadd(v, "fa", acc_in, shifted, E, M, c.ftz)
    v(f"    wire acc_bad = &{out}[{N - 2}:{M}];  // inf or NaN")
    v("    always @(posedge clk) begin")
    v("        if (rst) begin")
    v(f"            acc <= {zeros(N)};", "            ovf <= 1'b0;", "            done <= 1'b0;")
    v(f"            cnt <= {cnt[1]};")
    v("        end else if (en) begin")
    v(f"            acc <= {out};", "            ovf <= (~start & ovf) | acc_bad;")
    v("            done <= last & chunk_end;", f"            cnt <= {cnt[2]};")
    v("        end", "    end", "endmodule", "`default_nettype wire")
    info = dict(lanes=Kt, cpc=B, entry_bits=N, acc_code=True)
    return Design("lut", top, v.text(), params, info)


# ----------------------------------------------------------------------------- int_mac


def gen_int_mac(unit) -> Design:
    c = unit.cfg
    a, w = unit.a_op, unit.w_op
    L, AB, WB, A = c.lanes, a.bits, w.bits, c.acc_bits
    params = dict(a_fmt=c.a_fmt, w_fmt=c.w_fmt, lanes=L, acc_bits=A, overflow=c.overflow)
    top = module_name("int_mac", params)
    pw = swidth(-_maxabs(a) * _maxabs(w), _maxabs(a) * _maxabs(w))
    tw = swidth(-L * _maxabs(a) * _maxabs(w), L * _maxabs(a) * _maxabs(w))
    v = V()
    _header(
        v,
        top,
        f"int_mac {params}: {L} x ({a.name} x {w.name}) products + adder tree, 1 cycle/chunk",
        [
            "input  wire clk",
            "input  wire rst",
            "input  wire en",
            "input  wire start",
            "input  wire last",
            f"input  wire [{L * AB - 1}:0] a",
            f"input  wire [{L * WB - 1}:0] w",
            f"output reg  signed [{A - 1}:0] acc",
            "output reg  ovf",
            "output reg  done",
        ],
    )
    prods = []
    for i in range(L):
        _lane_operand(v, f"a{i}", "a", i, AB, a.signed)
        _lane_operand(v, f"w{i}", "w", i, WB, w.signed)
        pe_w = AB + WB + 2
        v.drop(f"    wire signed [{pe_w - 1}:0] pf{i} = a{i} * w{i};")
        v(f"    wire signed [{pw - 1}:0] p{i} = pf{i}[{pw - 1}:0];")
        prods.append((f"p{i}", pw))
    _sum(v, "tree", prods, tw)
    _acc_tail(v, "tree", tw, A, c.overflow == "saturate", "1'b1")
    return Design("int_mac", top, v.text(), params, dict(lanes=L, acc_bits=A, cpc=1))


# ----------------------------------------------------------------------------- bipolar


def gen_bipolar(unit) -> Design:
    c = unit.cfg
    a = unit.a_op
    L, P, Q, A = c.lanes, unit.p, unit.q, c.acc_bits
    xor_form = unit.xor_form
    params = dict(a_fmt=c.a_fmt, w_fmt=c.w_fmt, lanes=L, acc_bits=A, overflow=c.overflow)
    top = module_name("bipolar", params)
    cpc = P * Q
    CI, CJ = cw(P), cw(Q)
    bound = L * ((1 << P) - 1) * ((1 << Q) - 1)
    SW = swidth(-bound, bound)
    v = V()
    _header(
        v,
        top,
        f"bipolar {params}: {P}x{Q} 1-bit plane pairs per chunk of {L} lanes "
        f"({'XOR' if xor_form else 'AND'} form)",
        [
            "input  wire clk",
            "input  wire rst",
            "input  wire en",
            "input  wire start",
            "input  wire last",
            f"input  wire [{L * P - 1}:0] a",
            f"input  wire [{L * Q - 1}:0] w",
            f"input  wire [{L - 1}:0] mask",
            f"output reg  signed [{A - 1}:0] acc",
            "output reg  ovf",
            "output reg  done",
            f"output reg  signed [{SW - 1}:0] sip",
            f"output reg  [{CI - 1}:0] ci",
            f"output reg  [{CJ - 1}:0] cj",
        ],
    )
    v(f"    wire [{CI - 1}:0] si = start ? {zeros(CI)} : ci;")
    v(f"    wire [{CJ - 1}:0] sj = start ? {zeros(CJ)} : cj;")
    v(f"    wire first = (si == {const(CI, 0)}) && (sj == {const(CJ, 0)});")
    v(f"    wire j_end = (sj == {const(CJ, Q - 1)});")
    v(f"    wire chunk_end = (si == {const(CI, P - 1)}) && j_end;")
    for nm, port, cnt, nb in (("ap", "a", "si", P), ("wp", "w", "sj", Q)):
        Cn = CI if cnt == "si" else CJ
        v(f"    reg [{L - 1}:0] {nm};", "    always @* begin", f"        case ({cnt})")
        for s in range(nb):
            bits = ", ".join(f"{port}[{i * nb + s}]" for i in range(L - 1, -1, -1))
            v(f"            {const(Cn, s)}: {nm} = {{{bits}}};")
        v(f"            default: {nm} = {zeros(L)};", "        endcase", "    end")
    DW = swidth(-L, L)
    if xor_form:
        v(f"    wire [{L - 1}:0] xm = (ap ^ wp) & mask;")
        pw = _popcount(v, "pc", "xm", L)
        _popcount(v, "nv", "mask", L)
        v(f"    wire signed [{DW - 1}:0] pc_x = {{{zeros(DW - pw)}, pc}};")
        v(f"    wire signed [{DW - 1}:0] nv_x = {{{zeros(DW - pw)}, nv}};")
        v(f"    wire signed [{DW - 1}:0] d = nv_x - (pc_x <<< 1);")
    else:
        v(f"    wire [{L - 1}:0] am = ap & wp;")
        pw = _popcount(v, "pc", "am", L)
        _popcount(v, "pa", "ap", L)
        v(f"    wire signed [{DW - 1}:0] pc_x = {{{zeros(DW - pw)}, pc}};")
        v(f"    wire signed [{DW - 1}:0] pa_x = {{{zeros(DW - pw)}, pa}};")
        v(f"    wire signed [{DW - 1}:0] d = (pc_x <<< 1) - pa_x;")
        v("    wire unused_mask = ^mask;  // AND form: padded lanes carry zero codes")
    neg = f"(si == {const(CI, P - 1)})" if (not xor_form and a.signed) else "1'b0"
    v(f"    wire signed [{DW - 1}:0] dn = {neg} ? -d : d;")
    SHW = clog2(P + Q - 1) or 1
    v(f"    wire [{SHW}:0] sh = {{{zeros(SHW + 1 - CI)}, si}} + {{{zeros(SHW + 1 - CJ)}, sj}};")
    v(f"    wire signed [{SW - 1}:0] contrib = {sext('dn', DW, SW)} <<< sh;")
    v(f"    wire signed [{SW - 1}:0] sip_nxt = (first ? {zeros(SW)} : sip) + contrib;")
    _acc_tail(
        v,
        "sip_nxt",
        SW,
        A,
        c.overflow == "saturate",
        "chunk_end",
        extra_seq=[
            ("sip", zeros(SW), "sip_nxt"),
            ("ci", zeros(CI), f"chunk_end ? {zeros(CI)} : (j_end ? si + {const(CI, 1)} : si)"),
            ("cj", zeros(CJ), f"j_end ? {zeros(CJ)} : sj + {const(CJ, 1)}"),
        ],
    )
    return Design("bipolar", top, v.text(), params, dict(lanes=L, acc_bits=A, cpc=cpc, sip_bits=SW))
