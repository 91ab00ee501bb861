"""Layer and workload dataclasses: every compute layer is a (batched) GEMM or an elementwise op;
a convolution also carries its own geometry (``Layer.conv``) next to its im2col GEMM view."""

from __future__ import annotations

import numbers
from dataclasses import dataclass

GEMM_KINDS = ("gemm", "bmm", "conv", "attn_qk", "attn_pv")
KINDS = (*GEMM_KINDS, "elementwise")
#: Most MACs (elements for elementwise) one layer times its count, and one workload, may have:
#: 2^53 keeps every count exact in float64 (costs) and far from int64 overflow (cycles, bytes,
#: events; an 8-bit bit-serial PE multiplies MACs by up to 8). Llama-2-7B prefill at 2048
#: tokens is about 2^43.7 MACs.
MAX_MACS = 2**53


def _pos(name: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
        raise ValueError(f"{name} must be a positive int, got {v!r}")
    return int(v)  # numpy integers are accepted and stored as int


def _nonneg(name: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
        raise ValueError(f"{name} must be a non-negative int, got {v!r}")
    return int(v)


CONV_FIELDS = ("N", "K", "C", "P", "Q", "R", "S", "stride", "dilation", "pad")


def _check_conv(layer: Layer) -> None:
    where = f"layer {layer.name!r} conv"
    if layer.kind != "conv":
        raise ValueError(
            f"{where}: geometry given for a {layer.kind!r} layer (kind must be 'conv')"
        )
    if not isinstance(layer.conv, tuple) or len(layer.conv) != len(CONV_FIELDS):
        raise ValueError(f"{where} must be a tuple {CONV_FIELDS}, got {layer.conv!r}")
    g = dict(zip(CONV_FIELDS, layer.conv, strict=True))
    for f, v in g.items():
        if f == "pad":
            _nonneg(f"{where} pad", v)
        else:
            _pos(f"{where} {f}", v)
    im2col = (g["N"] * g["P"] * g["Q"], g["K"], g["C"] * g["R"] * g["S"])
    if (layer.m * layer.batch, layer.n, layer.k) != im2col:
        raise ValueError(
            f"{where}: GEMM view (m*batch, n, k) = {(layer.m * layer.batch, layer.n, layer.k)} "
            f"is not the im2col view (N*P*Q, K, C*R*S) = {im2col} of the geometry"
        )


@dataclass(frozen=True)
class Layer:
    """Y[M,N] = X[M,K] W[K,N], ``batch`` independent copies; elementwise: ``m`` elements
    (n = k = 1) read from ``inputs`` tensors. ``count``: identical consecutive repetitions.
    Attention products (``attn_qk``, ``attn_pv``) read the KV cache as their W operand.

    ``conv`` (kind "conv" only, optional): the convolution's geometry ``(n, k, c, p, q, r, s,
    stride, dilation, pad)`` (batch, filters, channels, output rows x cols, filter rows x
    cols, stride, dilation, padding; counts and elements), which the optimal mapper uses;
    ``m, n, k`` stay the im2col view (M = n*p*q, N = k, K = c*r*s) that ``mapping="scalesim"``
    uses."""

    name: str
    kind: str
    m: int
    n: int = 1
    k: int = 1
    batch: int = 1
    inputs: int = 2
    count: int = 1
    kv_out: bool = False  # the output is written to the KV cache (k/v projections)
    conv: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"layer {self.name!r}: unknown kind {self.kind!r}; known: {KINDS}")
        for f in ("m", "n", "k", "batch", "inputs", "count"):
            object.__setattr__(self, f, _pos(f"layer {self.name!r} {f}", getattr(self, f)))
        size = self.m * self.n * self.k * self.batch * self.count
        if size > MAX_MACS:
            raise ValueError(
                f"layer {self.name!r}: m*n*k*batch*count = {size:.3g} exceeds the simulator's "
                f"limit of 2^53 = {MAX_MACS:.3g} (counts must stay exact); use smaller sizes"
            )
        if not isinstance(self.kv_out, bool):
            raise ValueError(f"layer {self.name!r} kv_out must be a bool, got {self.kv_out!r}")
        if self.conv is not None:
            _check_conv(self)

    @property
    def conv_dims(self) -> dict[str, int] | None:
        """The conv geometry by name (N, K, C, P, Q, R, S, stride, dilation, pad), or None."""
        return None if self.conv is None else dict(zip(CONV_FIELDS, self.conv, strict=True))

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
    dilation: int = 1,
) -> Layer:
    """A conv layer (h x w x c input, ``filters`` r x s filters; elements): its im2col GEMM
    view (as SCALE-Sim: M = batch*OH*OW, N = filters, K = R*S*C) plus its geometry in
    ``Layer.conv``. ``pad`` (elements, each side) defaults to 'same' padding (r // 2);
    OH = (h + 2*pad - dilation*(r-1) - 1) // stride + 1 (PyTorch's rule), likewise OW."""
    s = r if s is None else s
    pad = r // 2 if pad is None else pad
    h, w, c, filters, r, s, stride, dilation, batch = (
        _pos(f"conv {name!r} {f}", v)
        for f, v in (("h", h), ("w", w), ("c", c), ("filters", filters), ("r", r), ("s", s),
                     ("stride", stride), ("dilation", dilation), ("batch", batch))
    )  # fmt: skip
    pad = _nonneg(f"conv {name!r} pad", pad)
    oh = (h + 2 * pad - dilation * (r - 1) - 1) // stride + 1
    ow = (w + 2 * pad - dilation * (s - 1) - 1) // stride + 1
    if oh <= 0 or ow <= 0:
        raise ValueError(f"conv {name!r}: output size {oh}x{ow} is empty")
    geom = (batch, filters, c, oh, ow, r, s, stride, dilation, pad)
    return Layer(name, "conv", batch * oh * ow, filters, r * s * c, conv=geom)
