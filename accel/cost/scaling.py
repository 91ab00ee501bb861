"""Width and technology-node scaling rules (pure functions).

Width rule (every op with anchors): map the width key to a size metric (adder: w; multiplier:
a*b; shifter: w*log2(w); gate/mux/register banks: w; floating point: significand bits m+1),
interpolate log-log between the two nearest anchors (exact at anchors, monotone), and outside
the anchor range extrapolate with a power law of the op's exponent from the nearest anchor.
Node rule: energy is interpolated geometrically between the 45 nm and 7 nm tables,
E(n) = E45 * (E7/E45)**t with t = ln(45/n)/ln(45/7); ops without a 7 nm row use the geometric
mean of the 8 paired Horowitz/TPUv4i ratios. Area scales ideally, A(n) = A45 * (n/45)**2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hwsim.accel.cost.tables import HOROWITZ_45NM, TPUV4I_7NM
from hwsim.accel.cost.widths import normalize

REFERENCE_NODE_NM = 45.0
SMALL_NODE_NM = 7.0
#: Nodes the default scaling rule accepts (inclusive range 7..45 nm, standard node names).
SUPPORTED_NODES_NM: tuple[float, ...] = (45, 40, 32, 28, 22, 20, 16, 14, 12, 10, 7)


@dataclass(frozen=True)
class ScalingRule:
    """How one op's cost grows with width.

    ``metric`` maps a canonical width key to a size; ``exponent`` is the power law used outside
    the anchor range (``None``: the slope of the nearest anchor pair, ``fallback`` if only one).
    """

    metric: Callable[[tuple[int, ...]], float]
    exponent: float | None
    fallback: float
    description: str


def _w(k: tuple[int, ...]) -> float:
    return float(k[0])


def _shift_metric(k: tuple[int, ...]) -> float:
    return k[0] * max(1.0, math.log2(k[0]))


RULES: dict[str, ScalingRule] = {
    "add": ScalingRule(_w, 1.0, 1.0, "adder ~ width (Bit Fusion; Horowitz 8->32b add 3.3x)"),
    "mul": ScalingRule(
        lambda k: float(k[0] * k[1]), 1.0, 1.0, "multiplier ~ a*b (Bit Fusion; Aladdin plug-in)"
    ),
    "shift": ScalingRule(_shift_metric, 1.0, 1.0, "barrel shifter ~ w*log2(w) (cost_model.md)"),
    "and": ScalingRule(_w, 1.0, 1.0, "gate bank ~ width"),
    "xor": ScalingRule(_w, 1.0, 1.0, "gate bank ~ width"),
    "mux": ScalingRule(_w, 1.0, 1.0, "2:1 mux bank ~ width"),
    "reg_write": ScalingRule(_w, 1.0, 1.0, "register bank ~ width"),
    "fadd": ScalingRule(
        lambda k: float(k[1] + 1), None, 1.0, "FP adder ~ significand^k, k fitted to anchors"
    ),
    "fmul": ScalingRule(
        lambda k: float(k[1] + 1), None, 2.0, "FP multiplier ~ significand^k, k fitted to anchors"
    ),
}


def interpolate(x: float, anchors: Sequence[tuple[float, float]], rule: ScalingRule) -> float:
    """Value at size ``x`` from ``(size, value)`` anchors by the rule in the module docstring."""
    pts: dict[float, float] = {}
    for s, v in anchors:
        pts.setdefault(s, v)
    if not pts:
        raise ValueError("no anchors to scale from")
    xs = sorted(pts)
    if x in pts:
        return pts[x]

    def slope(i: int, j: int) -> float:
        return math.log(pts[xs[j]] / pts[xs[i]]) / math.log(xs[j] / xs[i])

    if x < xs[0]:
        k = rule.exponent
        if k is None:
            k = slope(0, 1) if len(xs) > 1 else rule.fallback
        return pts[xs[0]] * (x / xs[0]) ** k
    if x > xs[-1]:
        k = rule.exponent
        if k is None:
            k = slope(-2, -1) if len(xs) > 1 else rule.fallback
        return pts[xs[-1]] * (x / xs[-1]) ** k
    hi = next(i for i, s in enumerate(xs) if s > x)
    k = slope(hi - 1, hi)
    return pts[xs[hi - 1]] * (x / xs[hi - 1]) ** k


def node_fraction(node_nm: float) -> float:
    """t in [0, 1]: 0 at 45 nm, 1 at 7 nm, linear in log(node)."""
    return math.log(REFERENCE_NODE_NM / node_nm) / math.log(REFERENCE_NODE_NM / SMALL_NODE_NM)


def _paired_ratios() -> list[float]:
    ref = {(r.op, normalize(r.op, r.bits)): r.energy_pj for r in HOROWITZ_45NM}
    return [
        r.energy_pj / ref[(r.op, normalize(r.op, r.bits))]
        for r in TPUV4I_7NM
        if (r.op, normalize(r.op, r.bits)) in ref and not r.approximate
    ]


#: Geometric mean of E(7 nm)/E(45 nm) over the 8 ops both tables list (about 0.35).
GEOMEAN_7NM_RATIO: float = math.exp(sum(map(math.log, _paired_ratios())) / len(_paired_ratios()))


def scale_energy_node(e45: float, e7: float | None, node_nm: float) -> float:
    """Energy at ``node_nm`` from the 45 nm value and (optionally) the 7 nm value of the same op."""
    ratio = GEOMEAN_7NM_RATIO if e7 is None else e7 / e45
    return e45 * ratio ** node_fraction(node_nm)


def scale_area_node(a45: float, node_nm: float) -> float:
    """Ideal area scaling from 45 nm: A * (node/45)^2 (approximate: real shrink is smaller)."""
    return a45 * (node_nm / REFERENCE_NODE_NM) ** 2
