"""Stimulus and expected per-cycle state, derived from the PE step models (the oracle).

`plan(kind, params, seed, nvec)` draws random dot products (with corner values and random
stall cycles), runs `unit.step_trace(x, w)` on each and turns every model cycle into
(inputs to drive, registers expected after the next rising edge). Nothing here re-implements
a PE: expected values are read from the model's state dicts; inputs are the operand codes
of the chunk the model says it is working on (format codes from `hwsim.formats`).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import numpy as np

import hwsim.formats as F
import hwsim.pe as pe
from hwsim.pe.base import ceil_div

from .emit import generate


@dataclass
class Cycle:
    inputs: dict  # port -> unsigned int to drive
    expect: dict  # output -> int (signed where the port is signed)
    where: str  # e.g. "dot 3 cycle 2 (chunk 1)"
    operands: str = ""  # human-readable operands of the current chunk


def _codes(fmt: str, values) -> list[int]:
    return [int(c) for c in np.asarray(F.get(fmt).encode(np.asarray(values, float))).ravel()]


def _pack(codes: list[int], bits: int) -> int:
    v = 0
    for i, c in enumerate(codes):
        v |= (int(c) & ((1 << bits) - 1)) << (i * bits)
    return v


@functools.cache
def _corners(fmt: str) -> tuple[float, ...]:
    """Corner values of `fmt`: min, max, 0, +-1 and, for minifloats, +-the smallest
    subnormal and +-the smallest normal (decoded from their codes, so fp32 needs no table)."""
    f = F.get(fmt)
    E, M = getattr(f, "ebits", None), getattr(f, "mbits", None)
    if f.bits <= 16:
        allv = np.asarray(f.decode(np.arange(1 << f.bits)), float)
        allv = allv[np.isfinite(allv)]
        out = {float(allv.min()), float(allv.max())} | {v for v in (0.0, 1.0, -1.0) if v in allv}
    elif E and M:  # IEEE-style wide float: the largest finite code
        mx = float(np.asarray(f.decode(np.asarray([((1 << E) - 2) << M | ((1 << M) - 1)])))[0])
        out = {-mx, mx, 0.0, 1.0, -1.0}
    else:
        raise ValueError(f"random stimulus for {fmt!r}: more than 16 bits and not a float")
    if E and M:
        sign = 1 << (f.bits - 1)
        codes = [1, 1 << M, sign | 1, sign | (1 << M)]
        out |= {float(v) for v in np.asarray(f.decode(np.asarray(codes)), float) if np.isfinite(v)}
    return tuple(sorted(out))


def random_values(fmt: str, n: int, rng: random.Random, corner_p: float = 0.2) -> list[float]:
    """n random representable values of `fmt` (uniform codes, corner values 20%)."""
    f = F.get(fmt)
    codes = [rng.randrange(1 << f.bits) for _ in range(n)]
    vals = [float(v) for v in np.asarray(f.decode(np.asarray(codes)), float)]
    corners = _corners(fmt)
    out = []
    for v in vals:
        if rng.random() < corner_p or not np.isfinite(v):
            v = rng.choice(corners)
        out.append(v + 0.0)
    return out


def _dot_len(unit, rng: random.Random) -> int:
    chunk = getattr(unit, "chunk", None) or getattr(unit, "lanes", None)
    chunk = chunk or getattr(unit.cfg, "lanes", 1)
    return rng.randint(1, max(3 * chunk, 6))


# ------------------------------------------------------------------ per-kind adapters


def _chunk_inputs(kind, unit, design, xs, ws, k):
    """Port values for the chunk [xs, ws] (already sliced, <= lanes long)."""
    c = unit.cfg
    L = design.info.get("lanes", 1)
    pad = L - len(xs)
    if kind in ("int_mac", "bitserial", "shiftadd"):  # format codes, zero-padded lanes
        a = _codes(c.a_fmt, list(xs) + [0.0] * pad)
        w = _codes(c.w_fmt, list(ws) + [0.0] * pad)
        return {"a": _pack(a, unit.a_op.bits), "w": _pack(w, unit.w_op.bits)}
    if kind == "bipolar":
        # padded lanes: XOR form drives all-ones a codes against zero w codes (only `mask`
        # keeps them out); AND form drives the zero pattern (contributes nothing)
        a = _codes(c.a_fmt, xs) + [((1 << unit.p) - 1) if unit.xor_form else 0] * pad
        w = _codes(c.w_fmt, ws) + [0] * pad
        mask = (1 << len(xs)) - 1
        return {"a": _pack(a, unit.p), "w": _pack(w, unit.q), "mask": mask}
    if kind == "lut":
        w = _codes(c.w_fmt, ws) + [0] * pad
        return {"w": _pack(w, unit.B)}  # table_in is added from the model state
    if kind == "fp_fma":
        return {"a": _codes(c.a_fmt, xs)[0], "w": _codes(c.w_fmt, ws)[0]}
    if kind in ("dequant_mac", "mixpe"):  # group scale / zero ports: _group_inputs
        a = _codes(c.a_fmt, list(xs) + [0.0] * pad)
        w = _codes(c.w_fmt, list(ws) + [0.0] * pad)
        return {"a": _pack(a, unit.a_op.bits), "w": _pack(w, unit.w_op.bits)}
    raise NotImplementedError(kind)


EXTRA_STATE = {"bitserial": ["sip", "cnt"], "bipolar": ["sip", "ci", "cj"], "lut": ["cnt"]}


def state_keys(kind: str, unit) -> list[str]:
    """Registers compared every cycle."""
    if kind == "fp_fma":
        return ["acc", "done"] + ([] if unit.cfg.fused else ["prod"])
    if kind == "dequant_mac":
        return ["acc", "wdq", "done"] + ([] if unit.cfg.fused else ["prod"])
    if kind == "mixpe":
        return ["acc", "psum", "done"] + ([] if unit.fp else ["ovf"])
    if kind == "bitserial" and unit.fp_act:  # BitMoD FP16: custom-float group accumulator
        return ["acc_man", "acc_exp", "done", "cnt"]
    if kind == "shiftadd" and not unit.int_path:  # FP modes: IEEE accumulator, no ovf
        return ["acc", "done"]
    if kind == "bitserial" and unit.cfg.scheme == "fusion":  # one cycle per chunk: no cnt
        return ["acc", "ovf", "done", "sip"]
    return ["acc", "ovf", "done"] + EXTRA_STATE.get(kind, [])


def _chunk_index(kind, st) -> int:
    if kind in ("int_mac", "shiftadd", "fp_fma", "dequant_mac", "mixpe"):
        return st["cycle"]  # mixpe: one chunk per MAC cycle, then the drain cycle
    if kind == "lut":
        return st["group"]
    return st["chunk"]


def _fp_code(fmt: str, x: float) -> int:
    """IEEE code of a model value; every NaN maps to the canonical quiet NaN (sign 0, top
    mantissa bit) that the RTL emits: NaN sign and payload are unspecified (the model's NaN
    comes from Python float arithmetic, whose sign is platform-dependent)."""
    if x != x:
        f = F.get(fmt)
        return (((1 << f.ebits) - 1) << f.mbits) | (1 << (f.mbits - 1))
    return _codes(fmt, [x])[0]


def lut_table_port(unit, design, st) -> int:
    """`table_in` value: the stored table half the model precomputed (state "table"), as
    integers or, with FP16 activations, FP16 codes."""
    if unit.fp:
        return _pack([_fp_code(unit.cfg.a_fmt, t) for t in st["table"]], 16)
    return _pack([int(t) for t in st["table"]], design.info["entry_bits"])


def _expect(kind, unit, design, st) -> dict:
    if kind == "dequant_mac":
        e = {"acc": _fp_code(unit.cfg.acc_fmt, st["acc"]), "done": int(bool(st["done"]))}
        e["wdq"] = _fp_code(unit.cfg.deq_fmt, st["w_dequant"])
        if not unit.cfg.fused:
            e["prod"] = _fp_code(unit.prod_op.name, st["product"])
        return e
    if kind == "mixpe":
        # drain cycle: no MAC; the partial register holds the last group's P (the dequant's)
        p = st["group_psum"] if "group_psum" in st else st["dequant"]["psum"]
        e = {"acc": _fp_code(unit.cfg.out_fmt, st["out"]), "done": int(bool(st["done"]))}
        e["psum"] = _fp_code(unit.cfg.out_fmt, p) if unit.fp else int(p)
        if not unit.fp:
            e["ovf"] = int(bool(st["overflowed"]))
        return e
    if kind == "fp_fma":
        e = {"acc": _fp_code(unit.cfg.acc_fmt, st["acc"]), "done": int(bool(st["done"]))}
        if not unit.cfg.fused:
            e["prod"] = _fp_code(unit.prod_op.name, st["product"])
        return e
    if kind == "bitserial" and unit.fp_act:  # BitMoD FP16 (no group scales)
        e = {"acc_man": int(st["acc_man"]), "acc_exp": int(st["acc_exp"])}
        e.update(done=int(bool(st["done"])), cnt=(st["term_index"] + 1) % design.info["cpc"])
        return e
    if design.info.get("acc_code"):  # FP accumulator (lut fp16, shiftadd FP): its IEEE code
        acc = _fp_code(unit.acc_op.name if kind == "shiftadd" else unit.cfg.a_fmt, st["acc"])
    else:
        acc = int(st["acc"])
    e = {"acc": acc, "ovf": int(bool(st["overflowed"])), "done": int(bool(st["done"]))}
    if kind == "shiftadd" and not unit.int_path:
        del e["ovf"]
    cpc = design.info["cpc"]
    if kind == "bitserial":
        e["sip"] = int(st["sip"])
        if unit.cfg.scheme == "stripes":
            step = unit.a_op.bits - 1 - st["bit_index"]
        elif unit.cfg.scheme == "fusion":
            step = None  # no step counter
        elif "term_index" in st:  # bitmod with FP3/FP4 weights: one term per cycle
            step = st["term_index"]
        else:
            step = st["digit_index"]
        if step is not None:
            e["cnt"] = (step + 1) % cpc
    elif kind == "lut":
        e["cnt"] = (st["bit_plane"] + 1) % cpc
    elif kind == "bipolar":
        e["sip"] = int(st["sip"])
        i, j = st["a_plane_index"], st["w_plane_index"]
        j2 = (j + 1) % unit.q
        i2 = (i + 1) % unit.p if j2 == 0 else i
        e["ci"], e["cj"] = i2, j2
    return e


def dot_cycles(kind: str, unit, design, x, w, side: dict) -> list[Cycle]:
    """One dot product x . w (side: group scales / zeros or {}) on PE `unit`: per model
    cycle the ports to drive (operand codes of the chunk the model works on, the LUT table
    it precomputed, the group scale / zero it uses, en / start / last) and the registers
    expected after the next rising edge, all read from the step model's state."""
    x, w = [float(v) for v in x], [float(v) for v in w]
    k, chunk = len(x), design.info["lanes"]
    out = []
    for cyc, st in enumerate(unit.step_trace(np.asarray(x), np.asarray(w), **side)):
        ci = _chunk_index(kind, st)
        xs, ws = x[ci * chunk : (ci + 1) * chunk], w[ci * chunk : (ci + 1) * chunk]
        inp = _chunk_inputs(kind, unit, design, xs, ws, k)
        if kind == "lut":  # the shared table of this group, as the model precomputed it
            inp["table_in"] = lut_table_port(unit, design, st)
        if side:  # scale / zero point of the groups the model state says are in use
            inp.update(_group_inputs(kind, unit, design, st, side))
        inp.update(en=1, start=int(cyc == 0), last=int(ci == ceil_div(k, chunk) - 1))
        exp = _expect(kind, unit, design, st)
        out.append(Cycle(inp, exp, f"cycle {cyc} (chunk {ci}, k={k})", f"x={xs} w={ws}"))
    return out


def plan(kind: str, params: dict, seed: int, nvec: int, stall_p: float = 0.1) -> list[Cycle]:
    """At least `nvec` checked cycles for PE `kind` (not "systolic")."""
    rng = random.Random(seed)
    unit = pe.get(kind, **params)
    design = generate(kind, **params)
    c = unit.cfg
    out: list[Cycle] = []
    keys = state_keys(kind, unit)
    prev_expect = dict.fromkeys(keys, 0)
    ports = list(_chunk_inputs(kind, unit, design, [0.0], [_one(unit)], 1))
    ports += ["table_in"] if kind == "lut" else []
    ports += group_ports(kind, unit)
    dot = 0
    while len(out) < nvec:
        k = _dot_len(unit, rng)
        x = random_values(c.a_fmt, k, rng)
        w = random_values(c.w_fmt, k, rng)
        if rng.random() < 0.05:  # all-extreme dot products: overflow / saturation corners
            x = [max(x, key=abs)] * k if any(x) else x
            w = [max(w, key=abs)] * k if any(w) else w
        side = _group_side(kind, unit, k, rng)
        for cyc, cy in enumerate(dot_cycles(kind, unit, design, x, w, side)):
            while rng.random() < stall_p:  # stall: random inputs, en = 0, state holds
                junk = {p: rng.getrandbits(64) for p in ports}
                junk.update(en=0, start=rng.getrandbits(1), last=rng.getrandbits(1))
                out.append(Cycle(junk, dict(prev_expect), f"dot {dot} stall before cycle {cyc}"))
            out.append(Cycle(cy.inputs, cy.expect, f"dot {dot} {cy.where}", cy.operands))
            prev_expect.update(cy.expect)
        dot += 1
    return out


def group_ports(kind: str, unit) -> list[str]:
    """Per-group scale / zero-point input ports of the dequantizing PEs."""
    if kind == "dequant_mac":
        return ["scale", "zero"] if unit.w_op.kind == "int" else ["scale"]
    if kind == "mixpe":
        return ["zm", "s_dq"] if unit.fp else ["s_dq", "z_dq"]
    return []


def _group_side(kind: str, unit, k: int, rng: random.Random) -> dict:
    """Random per-group scales (finite codes of scale_fmt, 20% corner values) and zero
    points (integers in [-2^b, 2^b) for b-bit weights, the RTL's zero port range) for a
    length-k dot product; {} for PEs without group side inputs."""
    if not group_ports(kind, unit):
        return {}
    ng = ceil_div(k, unit.cfg.group_size)
    b = unit.w_op.bits
    s = random_values(unit.cfg.scale_fmt, ng, rng)
    if unit.w_op.kind != "int":  # zero points only with integer weights (pe/groups.py)
        return {"scales": np.asarray(s, float)[:, None]}
    z = [rng.choice((0, -(1 << b), (1 << b) - 1)) if rng.random() < 0.2 else
         rng.randrange(-(1 << b), 1 << b) for _ in range(ng)]  # fmt: skip
    return {"scales": np.asarray(s, float)[:, None], "zeros": np.asarray(z, np.int64)[:, None]}


def _group_inputs(kind, unit, design, st, side) -> dict:
    """Scale / zero ports of one model cycle: dequant_mac: the current weight's group;
    mixpe: the group the dequant unit works on (state "dequant"; other cycles drive the MAC
    group's values, which the RTL must ignore) and, for W4A16, the MAC group's zero point."""
    s = side["scales"][:, 0]
    z = side["zeros"][:, 0] if "zeros" in side else np.zeros(len(s), np.int64)
    zb = design.info["zero_bits"]
    g = st.get("group", len(s) - 1)  # mixpe drain cycle: no MAC group
    if kind == "dequant_mac":
        out = {"scale": _codes(unit.cfg.scale_fmt, [s[g]])[0]}
        if zb:  # integer weights: signed zero point port
            out["zero"] = int(z[g]) % (1 << zb)
        return out
    dg = st["dequant"]["group"] if "dequant" in st else g
    out = {"s_dq": _codes(unit.cfg.scale_fmt, [s[dg]])[0], "z_dq": int(z[dg]) % (1 << zb)}
    if unit.fp:  # W4A16 has no z_dq port
        del out["z_dq"]
        out["zm"] = int(z[g]) % (1 << zb)
    return out


def directed_plan(kind: str, params: dict, dots) -> list[Cycle]:
    """Cycles of hand-picked dot products `dots` = [(x, w, side), ...] (side: the
    step_trace keyword inputs, e.g. scales / zeros, or {}), no stalls; inputs and expected
    registers come from the step model exactly as in `plan`."""
    unit = pe.get(kind, **params)
    design = generate(kind, **params)
    out = []
    for d, (x, w, side) in enumerate(dots):
        for cy in dot_cycles(kind, unit, design, x, w, side):
            out.append(Cycle(cy.inputs, cy.expect, f"dot {d} {cy.where}", cy.operands))
    return out


def _one(unit):
    return 1.0 if unit.w_op.kind != "table" else float(max(unit.w_op.values))


# ------------------------------------------------------------------ systolic


def plan_systolic(params: dict, seed: int, nvec: int, stall_p: float = 0.1) -> list[Cycle]:
    """Skewed stimulus for the rows x cols wrapper of PE `params["pe"]` (default int_mac):
    row r streams X[r], column c streams W[:, c] (with that column's group scales / zeros),
    and PE(r, c) is checked every cycle against the step model of X[r] . W[:, c], delayed
    by r + c cycles (r with row_broadcast). Stall steps (en = 0, random operands) hold
    every PE's state."""
    rng = random.Random(seed)
    p = dict(params)
    R, C, kind = p.pop("rows"), p.pop("cols"), p.pop("pe", "int_mac")
    bcast = bool(p.pop("row_broadcast", False))  # columns unskewed, PE(r, c) delayed by r
    unit, cell = pe.get(kind, **p), generate(kind, **p)
    info = generate("systolic", **params).info
    row_ports, col_ports = dict(info["row_ports"]), dict(info["col_ports"])
    keys = state_keys(kind, unit)
    rows: list[list[dict]] = [[] for _ in range(R)]  # per stream step: row-side + control
    cols: list[list[dict]] = [[] for _ in range(C)]
    expect = {(r, c): [] for r in range(R) for c in range(C)}
    prev = {rc: dict.fromkeys(keys, 0) for rc in expect}
    while len(rows[0]) < nvec:
        k = _dot_len(unit, rng)
        X = [random_values(unit.cfg.a_fmt, k, rng) for _ in range(R)]
        W = [random_values(unit.cfg.w_fmt, k, rng) for _ in range(C)]
        sides = [_group_side(kind, unit, k, rng) for _ in range(C)]
        per = {(r, c): dot_cycles(kind, unit, cell, X[r], W[c], sides[c]) for r, c in expect}
        n = len(per[0, 0])
        if any(len(t) != n for t in per.values()):
            raise NotImplementedError(
                f"{kind}: cycles per dot product depend on the data; the array needs PEs in "
                "lockstep"
            )
        for i in range(n):
            while rng.random() < stall_p:
                for r in range(R):
                    junk = {q: rng.getrandbits(w) for q, w in row_ports.items()}
                    rows[r].append(junk | {"en": 0, "start": rng.getrandbits(1), "last": 0})
                for c in range(C):
                    cols[c].append({q: rng.getrandbits(w) for q, w in col_ports.items()})
                for rc in expect:
                    expect[rc].append(dict(prev[rc]))
            for r in range(R):
                rows[r].append(_side_of(per, r, None, C, i, [*row_ports, "en", "start", "last"]))
            for c in range(C):
                cols[c].append(_side_of(per, None, c, R, i, list(col_ports)))
            for rc in expect:
                prev[rc] = per[rc][i].expect
                expect[rc].append(prev[rc])
    n = len(rows[0])
    out = []
    for t in range(n + R + C - 1):
        inputs = {f"{q}_in": 0 for q in [*row_ports, *col_ports, "en", "start", "last"]}
        for r in range(R):
            if 0 <= t - r < n:
                for q, val in rows[r][t - r].items():
                    w = row_ports.get(q, 1)
                    inputs[f"{q}_in"] |= (val & ((1 << w) - 1)) << (r * w)
        for c in range(C):
            d = 0 if bcast else c
            if 0 <= t - d < n:
                for q, val in cols[c][t - d].items():
                    w = col_ports[q]
                    inputs[f"{q}_in"] |= (val & ((1 << w) - 1)) << (c * w)
        exp = {}
        for (r, c), seq in expect.items():
            s = t - r - (0 if bcast else c)
            state = dict.fromkeys(keys, 0) if s < 0 else seq[min(s, n - 1)]
            exp.update({f"{key}_{r}_{c}": v for key, v in state.items()})
        out.append(Cycle(inputs, exp, f"array cycle {t}"))
    return out


def _side_of(per: dict, r, c, n_other: int, i: int, names: list[str]) -> dict:
    """Row r's (c is None) or column c's (r is None) port values at step i; every PE of
    that row / column must drive the same values (they depend only on its own operands)."""
    cells = [(r, o) for o in range(n_other)] if c is None else [(o, c) for o in range(n_other)]
    vals = [{q: per[rc][i].inputs[q] for q in names} for rc in cells]
    for rc, v in zip(cells[1:], vals[1:], strict=True):
        if v != vals[0]:
            bad = [q for q in names if v[q] != vals[0][q]]
            raise AssertionError(f"ports {bad} differ between PE {cells[0]} and PE {rc}")
    return vals[0]
