"""Layer and workload dataclasses: every compute layer is a (batched) GEMM or an elementwise op."""

from __future__ import annotations

from dataclasses import dataclass

GEMM_KINDS = ("gemm", "bmm", "conv", "attn_qk", "attn_pv")
KINDS = (*GEMM_KINDS, "elementwise")
#: Most MACs (elements for elementwise) one layer times its count, and one workload, may have:
#: 2^53 keeps every count exact in float64 (costs) and far from int64 overflow (cycles, bytes,
#: events; an 8-bit bit-serial PE multiplies MACs by up to 8). Llama-2-7B prefill at 2048
#: tokens is about 2^43.7 MACs.
MAX_MACS = 2**53


def _pos(name: str, v: object) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ValueError(f"{name} must be a positive int, got {v!r}")


@dataclass(frozen=True)
class Layer:
    """Y[M,N] = X[M,K] W[K,N], ``batch`` independent copies; elementwise: ``m`` elements
    (n = k = 1) read from ``inputs`` tensors. ``count``: identical consecutive repetitions."""

    name: str
    kind: str
    m: int
    n: int = 1
    k: int = 1
    batch: int = 1
    inputs: int = 2
    count: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"layer {self.name!r}: unknown kind {self.kind!r}; known: {KINDS}")
        for f in ("m", "n", "k", "batch", "inputs", "count"):
            _pos(f"layer {self.name!r} {f}", getattr(self, f))
        size = self.m * self.n * self.k * self.batch * self.count
        if size > MAX_MACS:
            raise ValueError(
                f"layer {self.name!r}: m*n*k*batch*count = {size:.3g} exceeds the simulator's "
                f"limit of 2^53 = {MAX_MACS:.3g} (counts must stay exact); use smaller sizes"
            )

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one repetition (0 for elementwise)."""
        return 0 if self.kind == "elementwise" else self.m * self.n * self.k * self.batch


@dataclass(frozen=True)
class Workload:
    """An ordered layer list (layers run one after another)."""

    name: str
    layers: tuple[Layer, ...]

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError(f"workload {self.name!r} has no layers")
        total = sum(ly.m * ly.n * ly.k * ly.batch * ly.count for ly in self.layers)
        if total > MAX_MACS:
            raise ValueError(
                f"workload {self.name!r}: {total:.3g} MACs/elements in total exceed the "
                f"simulator's limit of 2^53 = {MAX_MACS:.3g}; simulate a part and scale"
            )

    def __add__(self, other: Workload) -> Workload:
        return Workload(f"{self.name}+{other.name}", self.layers + other.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs * layer.count for layer in self.layers)


def gemm(M: int, N: int, K: int, name: str | None = None) -> Workload:
    """One GEMM layer: M x K activations times K x N weights."""
    layer = Layer(name or f"gemm_{M}x{N}x{K}", "gemm", M, N, K)
    return Workload(layer.name, (layer,))


def conv2d(
    name: str,
    h: int,
    w: int,
    c: int,
    filters: int,
    r: int,
    s: int | None = None,
    stride: int = 1,
    pad: int | None = None,
    batch: int = 1,
) -> Layer:
    """A conv layer lowered to GEMM (im2col, as SCALE-Sim): M = batch*OH*OW, N = filters,
    K = R*S*C. ``pad`` defaults to 'same' padding (r // 2)."""
    s = r if s is None else s
    pad = r // 2 if pad is None else pad
    for f, v in (("h", h), ("w", w), ("c", c), ("filters", filters), ("r", r), ("s", s)):
        _pos(f"conv {name!r} {f}", v)
    _pos(f"conv {name!r} stride", stride)
    oh = (h + 2 * pad - r) // stride + 1
    ow = (w + 2 * pad - s) // stride + 1
    if oh <= 0 or ow <= 0:
        raise ValueError(f"conv {name!r}: output size {oh}x{ow} is empty")
    return Layer(name, "conv", batch * oh * ow, filters, r * s * c)
