"""Problems as loop-nest iteration spaces: named dimensions and operand projections.

A problem is a perfectly nested iteration space (one MAC per point) and, per operand, the
projection of a point onto the operand's tensor: each tensor axis is an affine sum of
dimensions, ``sum(coef * index)``. GEMM and convolution in their own dimensions:

* GEMM ``out[B,M,N] += act[B,M,K] * weight[K,N]`` (``weight[B,K,N]`` for a batched matmul
  whose second operand differs per batch item, e.g. attention);
* convolution ``out[N,K,P,Q] += act[N,C,P*stride+R*dil, Q*stride+S*dil] * weight[K,C,R,S]``
  (Timeloop's problem shape). The input is indexed in *padded* coordinates: padding is
  stored with the tensor, so a tile's input elements are the distinct padded positions its
  sliding windows touch (halos counted once per tile, never as im2col copies).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hwsim.accel._checks import pos_int

INPUT, OUTPUT = "input", "output"


@dataclass(frozen=True)
class Operand:
    """One tensor: ``axes`` is a tuple of axes, each a tuple of ``(dim, coef)`` terms."""

    name: str
    role: str  # INPUT (read-only) or OUTPUT (read-modify-write partial sums)
    axes: tuple[tuple[tuple[str, int], ...], ...]

    @property
    def dims(self) -> frozenset[str]:
        """Problem dimensions this operand depends on (its *relevant* dimensions)."""
        return frozenset(d for axis in self.axes for d, _ in axis)


@dataclass(frozen=True)
class Problem:
    """Dimension sizes (ordered) and operands; ``name`` labels reports."""

    name: str
    dims: tuple[tuple[str, int], ...]
    operands: tuple[Operand, ...]

    def __post_init__(self) -> None:
        names = [d for d, _ in self.dims]
        if len(set(names)) != len(names):
            raise ValueError(f"problem {self.name!r}: repeated dimension in {names}")
        for d, v in self.dims:
            pos_int(f"problem {self.name!r} dimension {d}", v)
        seen: set[str] = set()
        for op in self.operands:
            if op.role not in (INPUT, OUTPUT):
                raise ValueError(f"operand {op.name!r}: role must be {INPUT!r} or {OUTPUT!r}")
            if op.name in seen:
                raise ValueError(f"problem {self.name!r}: repeated operand {op.name!r}")
            seen.add(op.name)
            for axis in op.axes:
                for d, c in axis:
                    if d not in names:
                        raise ValueError(f"operand {op.name!r} uses unknown dimension {d!r}")
                    pos_int(f"operand {op.name!r} coefficient of {d}", c)
            axis_of = [d for axis in op.axes for d, _ in axis]
            if len(set(axis_of)) != len(axis_of):
                raise ValueError(f"operand {op.name!r}: a dimension appears in two axes")
        if sum(op.role == OUTPUT for op in self.operands) != 1:
            raise ValueError(f"problem {self.name!r} needs exactly one output operand")

    @property
    def size(self) -> dict[str, int]:
        return dict(self.dims)

    @property
    def macs(self) -> int:
        """Iteration-space points (multiply-accumulates)."""
        return math.prod(v for _, v in self.dims)

    def operand(self, name: str) -> Operand:
        for op in self.operands:
            if op.name == name:
                return op
        raise ValueError(
            f"problem {self.name!r} has no operand {name!r}; "
            f"operands: {[o.name for o in self.operands]}"
        )

    @property
    def output(self) -> Operand:
        return next(op for op in self.operands if op.role == OUTPUT)

    def elements(self, name: str) -> int:
        """Distinct elements of an operand touched by the whole problem (count)."""
        size = self.size
        return math.prod(
            axis_extent(axis, {d: size[d] for d, _ in axis}) for axis in self.operand(name).axes
        )


def axis_extent(axis: tuple[tuple[str, int], ...], extent: dict[str, int]) -> int:
    """Distinct values of ``sum(coef * i_d)`` over ``0 <= i_d < extent[d]`` (count).

    One term: its extent. Two terms ``s*i + d*j`` (a sliding window): with g = gcd(s, d),
    s' = s/g, d' = d/g, the pair (i, j) and (i + d', j - s') give the same value; counting one
    representative per value gives ``a*b - max(0, a - d') * max(0, b - s')``. More terms are
    counted by enumeration.
    """
    terms = [(c, extent[d]) for d, c in axis]
    if any(e <= 0 for _, e in terms):
        return 0
    if len(terms) == 1:
        return terms[0][1]
    if len(terms) == 2:
        (s, a), (d, b) = terms
        g = math.gcd(s, d)
        sp, dp = s // g, d // g
        return a * b - max(0, a - dp) * max(0, b - sp)
    values = {0}
    for c, e in terms:
        values = {v + c * i for v in values for i in range(e)}
    return len(values)


def gemm_problem(m: int, n: int, k: int, batch: int = 1, *, shared_weight: bool = True,
                 name: str = "gemm") -> Problem:  # fmt: skip
    """``out[B,M,N] += act[B,M,K] * weight[K,N]``; ``shared_weight=False``: ``weight[B,K,N]``."""
    w_axes = (("K", 1),), (("N", 1),)
    if not shared_weight:
        w_axes = ((("B", 1),), *w_axes)
    return Problem(
        name,
        (("B", batch), ("M", m), ("N", n), ("K", k)),
        (
            Operand("act", INPUT, ((("B", 1),), (("M", 1),), (("K", 1),))),
            Operand("weight", INPUT, w_axes),
            Operand("out", OUTPUT, ((("B", 1),), (("M", 1),), (("N", 1),))),
        ),
    )


def conv_problem(
    n: int, k: int, c: int, p: int, q: int, r: int, s: int, *,
    stride: int = 1, dilation: int = 1, name: str = "conv",
) -> Problem:  # fmt: skip
    """Convolution in its 7 dimensions (N batch, K filters, C channels, P x Q outputs,
    R x S filter); the input is ``act[N, C, P*stride + R*dilation, Q*stride + S*dilation]``."""
    pos_int(f"conv {name!r} stride", stride)
    pos_int(f"conv {name!r} dilation", dilation)
    return Problem(
        name,
        (("N", n), ("K", k), ("C", c), ("P", p), ("Q", q), ("R", r), ("S", s)),
        (
            Operand(
                "act",
                INPUT,
                (
                    (("N", 1),),
                    (("C", 1),),
                    (("P", stride), ("R", dilation)),
                    (("Q", stride), ("S", dilation)),
                ),
            ),
            Operand("weight", INPUT, ((("K", 1),), (("C", 1),), (("R", 1),), (("S", 1),))),
            Operand("out", OUTPUT, ((("N", 1),), (("K", 1),), (("P", 1),), (("Q", 1),))),
        ),
    )
