"""Workloads from a plain TOML layer list (and ONNX when the optional `onnx` package exists).

TOML format::

    name = "tiny"
    [[layer]]
    name = "fc1"
    kind = "gemm"        # gemm | bmm | attn_qk | attn_pv | elementwise | conv
    m = 128
    n = 64
    k = 256
    [[layer]]
    name = "c1"
    kind = "conv"        # h, w, c, filters, r, [s, stride, pad, batch, dilation]
    h = 56
    w = 56
    c = 64
    filters = 64
    r = 3
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from .layers import KINDS, Layer, Workload, conv2d

_GEMM_KEYS = {"name", "kind", "m", "n", "k", "batch", "inputs", "count"}
_CONV_KEYS = {
    "name",
    "kind",
    "h",
    "w",
    "c",
    "filters",
    "r",
    "s",
    "stride",
    "pad",
    "batch",
    "dilation",
}


def layers_from_records(name: str, records: list, where: str = "workload") -> Workload:
    """Build a workload from a list of layer dicts (keys checked; ValueError names the layer)."""
    if not isinstance(records, list) or not records:
        raise ValueError(f"{where}: needs a non-empty [[layer]] list")
    out = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise ValueError(f"{where}: layer #{i} must be a table, got {rec!r}")
        lname = rec.get("name", f"layer{i}")
        kind = rec.get("kind", "gemm")
        if kind not in KINDS:
            raise ValueError(f"{where}: layer {lname!r}: unknown kind {kind!r}; known: {KINDS}")
        allowed = _CONV_KEYS if kind == "conv" else _GEMM_KEYS
        unknown = sorted(set(rec) - allowed)
        if unknown:
            raise ValueError(
                f"{where}: layer {lname!r}: unknown key(s) {unknown}; allowed: {sorted(allowed)}"
            )
        args = {k: v for k, v in rec.items() if k not in ("name", "kind")}
        try:
            out.append(conv2d(lname, **args) if kind == "conv" else Layer(lname, kind, **args))
        except TypeError as exc:
            raise ValueError(f"{where}: layer {lname!r}: {exc}") from None
    return Workload(name, tuple(out))


def load_toml(path: str | Path) -> Workload:
    """Read a TOML layer list (see module docstring)."""
    path = Path(path)
    with path.open("rb") as f:
        data = tomllib.load(f)
    unknown = sorted(set(data) - {"name", "layer"})
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {unknown}; allowed: ['layer', 'name']")
    return layers_from_records(data.get("name", path.stem), data.get("layer", []), str(path))


def onnx_available() -> bool:
    """True when the optional `onnx` package can be imported."""
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def _onnx_conv(node, shapes: dict, where: str) -> Layer:
    """A 2-D Conv node as ``conv2d`` (geometry kept); groups, asymmetric padding and
    auto_pad are refused with an error naming the node."""
    attr = {}
    for at in node.attribute:
        attr[at.name] = list(at.ints) if at.ints else (at.s.decode() if at.s else at.i)
    x, w = (shapes.get(v) for v in node.input[:2])
    if not x or not w or 0 in x or 0 in w:
        raise ValueError(f"{where}: node {node.name!r} has unknown shapes")
    if len(x) != 4:
        raise ValueError(f"{where}: node {node.name!r}: only 2-D convolutions are supported")
    if attr.get("group", 1) != 1:
        raise ValueError(f"{where}: node {node.name!r}: grouped convolution (group "
                         f"{attr['group']}) is not supported")  # fmt: skip
    if attr.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise ValueError(f"{where}: node {node.name!r}: auto_pad {attr['auto_pad']!r} is not "
                         "supported; export explicit pads")  # fmt: skip
    pads = attr.get("pads", [0, 0, 0, 0])
    if len(set(pads)) != 1:
        raise ValueError(f"{where}: node {node.name!r}: pads {pads} differ per side; only one "
                         "padding for all sides is supported")  # fmt: skip
    strides = attr.get("strides", [1, 1])
    dil = attr.get("dilations", [1, 1])
    if strides[0] != strides[1] or dil[0] != dil[1]:
        raise ValueError(f"{where}: node {node.name!r}: strides {strides} / dilations {dil} "
                         "differ between rows and columns")  # fmt: skip
    n, c, h, wd = x
    return conv2d(node.name, h, wd, c, w[0], w[2], w[3], stride=strides[0], pad=pads[0],
                  batch=n, dilation=dil[0])  # fmt: skip


def load_onnx(path: str | Path) -> Workload:  # pragma: no cover - optional extra
    """MatMul/Gemm nodes (GEMM layers) and 2-D Conv nodes (conv layers with their geometry)
    of an ONNX model with static shapes (needs `onnx`)."""
    if not onnx_available():
        raise ValueError("load_onnx needs the optional 'onnx' package (pip install onnx)")
    import onnx
    from onnx import shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = {}
    for vi in [*model.graph.value_info, *model.graph.input, *model.graph.output]:
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    layers = []
    for i, node in enumerate(model.graph.node):
        if node.op_type == "Conv":
            if not node.name:
                node.name = f"Conv{i}"
            layers.append(_onnx_conv(node, shapes, str(path)))
            continue
        if node.op_type not in ("MatMul", "Gemm"):
            continue
        a, b = (shapes.get(x) for x in node.input[:2])
        if not a or not b or 0 in a or 0 in b:
            raise ValueError(f"{path}: node {node.name or i} has unknown shapes")
        trans_b = any(at.name == "transB" and at.i for at in node.attribute)
        m = 1
        for d in a[:-1]:
            m *= d
        k = a[-1]
        n = b[-2] if trans_b else b[-1]
        layers.append(Layer(node.name or f"{node.op_type}{i}", "gemm", m, n, k))
    return Workload(Path(path).stem, tuple(layers))
