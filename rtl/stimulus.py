"""Stimulus and expected per-cycle state, derived from the PE step models (the oracle).

`plan(kind, params, seed, nvec)` draws random dot products (with corner values and random
stall cycles), runs `unit.step_trace(x, w)` on each and turns every model cycle into
(inputs to drive, registers expected after the next rising edge). Nothing here re-implements
a PE: expected values are read from the model's state dicts; inputs are the operand codes
of the chunk the model says it is working on (format codes from `hwsim.formats`).
"""

from __future__ import annotations

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


def random_values(fmt: str, n: int, rng: random.Random, corner_p: float = 0.2) -> list[float]:
    """n random representable values of `fmt` (uniform codes, corner values 20%)."""
    f = F.get(fmt)
    bits = f.bits
    codes = [rng.randrange(1 << bits) for _ in range(n)]
    vals = [float(v) for v in np.asarray(f.decode(np.asarray(codes)), float)]
    finite = sorted({v for v in vals if np.isfinite(v)})
    allv = np.asarray(f.decode(np.arange(1 << bits)), float)
    allv = allv[np.isfinite(allv)]
    corners = sorted(
        {float(allv.min()), float(allv.max())} | {v for v in (0.0, 1.0, -1.0) if v in allv}
    )
    out = []
    for v in vals:
        if rng.random() < corner_p or not np.isfinite(v):
            v = rng.choice(corners)
        out.append(v + 0.0)
    del finite
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
    if kind in ("int_mac", "bitserial"):
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
    if kind == "shiftadd":
        a = _codes(c.a_fmt, list(xs) + [0.0] * pad)
        levels = [int(round(float(v) / float(unit.unit))) for v in ws] + [0] * pad
        sb = design.info["shift_bits"]
        sh = [abs(lv).bit_length() - 1 if lv else 0 for lv in levels]
        return {
            "a": _pack(a, unit.a_op.bits),
            "wsgn": _pack([int(lv < 0) for lv in levels], 1),
            "wsh": _pack(sh, sb),
            "wnz": _pack([int(lv != 0) for lv in levels], 1),
        }
    raise NotImplementedError(kind)


EXTRA_STATE = {"bitserial": ["sip", "cnt"], "bipolar": ["sip", "ci", "cj"], "lut": ["cnt"]}


def state_keys(kind: str, unit) -> list[str]:
    """Registers compared every cycle."""
    if kind == "fp_fma":
        return ["acc", "done"] + ([] if unit.cfg.fused else ["prod"])
    return ["acc", "ovf", "done"] + EXTRA_STATE.get(kind, [])


def _chunk_index(kind, st) -> int:
    if kind in ("int_mac", "shiftadd", "fp_fma"):
        return st["cycle"]
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


def _expect(kind, unit, design, st) -> dict:
    if kind == "fp_fma":
        e = {"acc": _fp_code(unit.cfg.acc_fmt, st["acc"]), "done": int(bool(st["done"]))}
        if not unit.cfg.fused:
            e["prod"] = _fp_code(unit.prod_op.name, st["product"])
        return e
    e = {"acc": int(st["acc"]), "ovf": int(bool(st["overflowed"])), "done": int(bool(st["done"]))}
    cpc = design.info["cpc"]
    if kind == "bitserial":
        e["sip"] = int(st["sip"])
        if unit.cfg.scheme == "stripes":
            step = unit.a_op.bits - 1 - st["bit_index"]
        else:
            step = st["digit_index"]
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
    dot = 0
    skipped_dots: list = []
    while len(out) < nvec:
        k = _dot_len(unit, rng)
        x = random_values(c.a_fmt, k, rng)
        w = random_values(c.w_fmt, k, rng)
        if rng.random() < 0.05:  # all-extreme dot products: overflow / saturation corners
            x = [max(x, key=abs)] * k if any(x) else x
            w = [max(w, key=abs)] * k if any(w) else w
        chunk = design.info["lanes"]
        try:
            trace = list(unit.step_trace(np.asarray(x), np.asarray(w)))
        except (ValueError, OverflowError):
            # the fp step model cannot continue from a NaN accumulator (inf - inf); such dot
            # products are skipped (reported as a model limitation in docs/rtl.md)
            skipped_dots.append((x, w))
            continue
        for cyc, st in enumerate(trace):
            ci = _chunk_index(kind, st)
            xs, ws = x[ci * chunk : (ci + 1) * chunk], w[ci * chunk : (ci + 1) * chunk]
            inp = _chunk_inputs(kind, unit, design, xs, ws, k)
            if kind == "lut":  # the shared table of this group, as the model precomputed it
                inp["table_in"] = _pack([int(t) for t in st["table"]], design.info["entry_bits"])
            while rng.random() < stall_p:  # stall: random inputs, en = 0, state holds
                junk = {p: rng.getrandbits(64) for p in ports}
                junk.update(en=0, start=rng.getrandbits(1), last=rng.getrandbits(1))
                out.append(Cycle(junk, dict(prev_expect), f"dot {dot} stall before cycle {cyc}"))
            inp.update(en=1, start=int(cyc == 0), last=int(ci == ceil_div(k, chunk) - 1))
            exp = _expect(kind, unit, design, st)
            out.append(
                Cycle(inp, exp, f"dot {dot} cycle {cyc} (chunk {ci}, k={k})", f"x={xs} w={ws}")
            )
            prev_expect.update(exp)
        dot += 1
    return out


def _one(unit):
    return 1.0 if unit.w_op.kind != "table" else float(max(unit.w_op.values))


# ------------------------------------------------------------------ systolic


def plan_systolic(params: dict, seed: int, nvec: int) -> list[Cycle]:
    """Skewed stimulus for the rows x cols wrapper; PE(r, c) is checked every cycle against
    the int_mac step model of its dot product X[r] . W[:, c], delayed by r + c cycles."""
    rng = random.Random(seed)
    p = dict(params)
    R, C = p.pop("rows"), p.pop("cols")
    unit = pe.get("int_mac", **p)
    a_bits, w_bits = unit.a_op.bits, unit.w_op.bits
    # per row/column edge streams (before skew) and per-PE concatenated traces
    row_stream: list[list[tuple]] = [[] for _ in range(R)]  # (a_code, en, start, last)
    col_stream: list[list[int]] = [[] for _ in range(C)]
    traces = {(r, cc): [] for r in range(R) for cc in range(C)}
    while len(row_stream[0]) < nvec:
        k = rng.randint(1, 8)
        X = [random_values(p.get("a_fmt", "int8"), k, rng) for _ in range(R)]
        Wt = [random_values(p.get("w_fmt", "int8"), k, rng) for _ in range(C)]
        for t in range(k):
            for r in range(R):
                row_stream[r].append(
                    (_codes(unit.cfg.a_fmt, [X[r][t]])[0], 1, int(t == 0), int(t == k - 1))
                )
            for cc in range(C):
                col_stream[cc].append(_codes(unit.cfg.w_fmt, [Wt[cc][t]])[0])
        for r in range(R):
            for cc in range(C):
                for st in unit.step_trace(np.asarray(X[r]), np.asarray(Wt[cc])):
                    traces[r, cc].append((int(st["acc"]), int(bool(st["done"])), X[r], Wt[cc]))
    n = len(row_stream[0])
    out = []
    for t in range(n + R + C):
        a_in = en = start = last = 0
        for r in range(R):
            s = t - r
            if 0 <= s < n:
                code, e, st_, la = row_stream[r][s]
                a_in |= (code & ((1 << a_bits) - 1)) << (r * a_bits)
                en |= e << r
                start |= st_ << r
                last |= la << r
        w_in = 0
        for cc in range(C):
            s = t - cc
            if 0 <= s < n:
                w_in |= (col_stream[cc][s] & ((1 << w_bits) - 1)) << (cc * w_bits)
        exp = {}
        for r in range(R):
            for cc in range(C):
                s = t - r - cc
                tr = traces[r, cc]
                if s < 0:
                    acc, done = 0, 0
                else:
                    acc, done = tr[min(s, len(tr) - 1)][:2]
                exp[f"acc_{r}_{cc}"] = acc
                exp[f"done_{r}_{cc}"] = done
        out.append(
            Cycle(
                {"a_in": a_in, "w_in": w_in, "en_in": en, "start_in": start, "last_in": last},
                exp,
                f"array cycle {t}",
            )
        )
    return out
