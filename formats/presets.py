"""Named presets and their sources. ``get(name, **overrides)`` builds one; ``names()`` lists.

Each preset is a factory plus default keyword arguments; overrides replace defaults, and an
unknown override names the valid parameters.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from .adaptive import ANT_TYPES, AntFormat, ant_type
from .base import FormatError
from .bitmod import BitModFormat, bitmod_type
from .codebook import CodebookFormat, log_domain_thresholds, pot_table, sign_magnitude_table
from .exponent import ExponentFormat
from .integer import BipolarFormat, IntFormat
from .minifloat import MinifloatFormat
from .nvfp4 import NVFP4Format
from .olive import OliveFormat
from .olive import value_table as olive_value_table
from .scaled import ScaledFormat

# NF4 values (bitsandbytes get_4bit_type("nf4"), QLoRA, arXiv 2305.14314), code 0..15.
NF4_VALUES = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
)  # fmt: skip
# bitsandbytes dQuantizeNF4 decision thresholds (float literals of its CUDA kernel; an input
# equal to a threshold takes the lower code), sorted.
NF4_THRESHOLDS = tuple(sorted((
    0.03979014977812767, 0.3893125355243683, 0.6427869200706482, 0.8614784181118011,
    0.5016634166240692, 0.2035212516784668, 0.2920137718319893, 0.1202552504837513,
    -0.33967943489551544, -0.13791173323988914, -0.045525018125772476, -0.23460740596055984,
    -0.6106329262256622, -0.4599952697753906, -0.8480964004993439,
)))  # fmt: skip
NF4_SOURCE = "bitsandbytes functional.py get_4bit_type('nf4') and csrc dQuantizeNF4 thresholds"

# APoT normalised level sets (Li, Dong, Wang, ICLR 2020; yhhhli/APoT_Quantization
# build_power_value(B, additive=True)), for B magnitude bits.
APOT_LEVELS = {
    2: ("0", "1/4", "1/2", "1"),
    3: ("0", "1/10", "1/5", "3/10", "2/5", "3/5", "4/5", "1"),
    4: (
        "0", "1/48", "1/24", "1/16", "1/12", "1/8", "1/6", "3/16",
        "1/4", "1/3", "3/8", "1/2", "2/3", "11/16", "3/4", "1",
    ),
}  # fmt: skip
APOT_SOURCE = "APoT, Li et al. ICLR 2020 (yhhhli/APoT_Quantization build_power_value)"


def apot_format(bits: int = 4, tie: str = "toward_zero", name: str = "") -> CodebookFormat:
    """Signed APoT weights: a sign bit plus the (bits-1)-bit level set (weights use B = bits-1)."""
    if bits - 1 not in APOT_LEVELS:
        raise FormatError(f"apot: bits must be in {sorted(b + 1 for b in APOT_LEVELS)}")
    mags = [float(Fraction(v)) for v in APOT_LEVELS[bits - 1]]
    return CodebookFormat(
        sign_magnitude_table(mags), name=name or f"apot{bits}", tie=tie, source=APOT_SOURCE
    )


def pot_format(
    bits: int = 4, zero: bool = True, emax: int = 0, domain: str = "linear", name: str = ""
) -> CodebookFormat:
    """Power-of-two (shift) weights; ``zero=False`` is DenseShift's zero-free set;
    ``domain="log"`` rounds log2|w| (DeepShift) instead of |w|."""
    if domain not in ("linear", "log"):
        raise FormatError("pot: domain must be 'linear' or 'log'")
    table = pot_table(bits, zero=zero, emax=emax)
    return CodebookFormat(
        table,
        name=name or f"pot{bits}{'' if zero else '_nz'}",
        thresholds=log_domain_thresholds(table) if domain == "log" else None,
        source="DeepShift (Elhoushi et al. 2021); DenseShift (Li et al. 2023) zero-free",
    )


def nf4_format(name: str = "nf4", tie: str = "lower") -> CodebookFormat:
    return CodebookFormat(
        NF4_VALUES, name=name, tie=tie, thresholds=NF4_THRESHOLDS, source=NF4_SOURCE,
        threshold_dtype="float32",
    )  # fmt: skip


def binary_format(sign_of_zero: int = 1, name: str = "binary") -> CodebookFormat:
    """{-1, +1} (code 0 = -1, code 1 = +1); ``sign_of_zero`` (+1 or -1) says where 0 goes."""
    if sign_of_zero not in (1, -1):
        raise FormatError("binary: sign_of_zero must be +1 or -1")
    return CodebookFormat(
        (-1.0, 1.0), name=name, tie="upper" if sign_of_zero == 1 else "lower", source="sign(x)"
    )


def mx_format(
    element: str = "fp8_e4m3",
    block: int = 32,
    scale_mode: str = "floor",
    partial: str = "allow",
    name: str = "",
) -> ScaledFormat:
    """OCP MX v1.0: ``block`` elements share an E8M0 scale 2^X, X from the block max.

    scale_mode: "floor" (spec: X = floor(log2 amax) - emax_elem), "ceil", or "rceil"
    (smallest X with amax <= 2^X * max_elem). NaN/Inf in a block give the NaN scale.
    """
    modes = {"floor": "pow2_floor", "ceil": "pow2_ceil", "rceil": "pow2_rceil"}
    if scale_mode not in modes:
        raise FormatError(f"mx: scale_mode must be one of {sorted(modes)}, got {scale_mode!r}")
    if element == "int8":
        elem = IntFormat(8, symmetric=True, frac_bits=6, name="mxint8_element")
    elif element in MX_ELEMENTS:
        elem = get(element)
    else:
        raise FormatError(f"mx: element must be one of {sorted(MX_ELEMENTS) + ['int8']}")
    return ScaledFormat(
        elem,
        block=block,
        rule=modes[scale_mode],
        scale_format=ExponentFormat(8, name="e8m0"),
        partial=partial,
        nonfinite="nan_scale",
        name=name or "mx" + element.replace("_e2m1", ""),
    )


def bfp_format(
    block: int = 16,
    mantissa_bits: int = 8,
    exp_bits: int = 8,
    binary_point: str = "1.m",
    rounding: str = "rne",
    partial: str = "allow",
    name: str = "",
) -> ScaledFormat:
    """Generic block floating point: ``block`` two's-complement ``mantissa_bits`` integers
    (sign included, restricted symmetric range) share one ``exp_bits`` exponent.

    binary_point "1.m": elements have one integer bit, range (-2, 2) * 2^X (MXINT8 style);
    "0.m": elements are pure fractions, range (-1, 1) * 2^X. The stored exponent is biased
    like E8M0 (bias 2^(exp_bits-1) - 1, all-ones = NaN), and X = floor(log2 amax) - emax_elem.
    """
    if binary_point not in ("1.m", "0.m"):
        raise FormatError("bfp: binary_point must be '1.m' or '0.m'")
    frac = mantissa_bits - (2 if binary_point == "1.m" else 1)
    elem = IntFormat(
        mantissa_bits, symmetric=True, frac_bits=frac, rounding=rounding, name="bfp_element"
    )
    return ScaledFormat(
        elem,
        block=block,
        rule="pow2_floor",
        scale_format=ExponentFormat(exp_bits, name=f"e{exp_bits}m0"),
        partial=partial,
        nonfinite="nan_scale",
        name=name or f"bfp{mantissa_bits}",
    )


def scaled_format(element="int8", **kwargs) -> ScaledFormat:
    """Any element format with block scales; ``element`` may be a preset name."""
    elem = get(element) if isinstance(element, str) else element
    sf = kwargs.pop("scale_format", None)
    if isinstance(sf, str):
        sf = get(sf)
    return ScaledFormat(elem, scale_format=sf, **kwargs)


@dataclass(frozen=True)
class Preset:
    factory: Callable
    defaults: dict = field(default_factory=dict)
    doc: str = ""


MX_ELEMENTS = {"fp8_e4m3", "fp8_e5m2", "fp6_e3m2", "fp6_e2m3", "fp4_e2m1"}


def _presets() -> dict[str, Preset]:
    p: dict[str, Preset] = {}
    for n in range(1, 33):
        p[f"int{n}"] = Preset(IntFormat, {"bits": n, "name": f"int{n}"}, "two's complement")
        p[f"uint{n}"] = Preset(IntFormat, {"bits": n, "signed": False, "name": f"uint{n}"})
    for n in range(2, 17):
        p[f"int{n}_sym"] = Preset(
            IntFormat, {"bits": n, "symmetric": True, "name": f"int{n}_sym"}, "restricted range"
        )
    for n in range(1, 9):
        p[f"bipolar{n}"] = Preset(BipolarFormat, {"bits": n, "name": f"bipolar{n}"})
    ml = "ml_dtypes"
    p["fp8_e4m3"] = Preset(
        MinifloatFormat,
        {"ebits": 4, "mbits": 3, "specials": "fn", "name": "fp8_e4m3"},
        f"OCP E4M3FN ({ml} float8_e4m3fn)",
    )  # noqa: E501
    p["fp8_e5m2"] = Preset(
        MinifloatFormat,
        {"ebits": 5, "mbits": 2, "specials": "ieee", "name": "fp8_e5m2"},
        f"OCP E5M2 ({ml} float8_e5m2)",
    )  # noqa: E501
    p["fp8_e4m3fnuz"] = Preset(
        MinifloatFormat,
        {"ebits": 4, "mbits": 3, "specials": "fnuz", "name": "fp8_e4m3fnuz"},
        "Graphcore/AMD",
    )  # noqa: E501
    p["fp8_e5m2fnuz"] = Preset(
        MinifloatFormat,
        {"ebits": 5, "mbits": 2, "specials": "fnuz", "name": "fp8_e5m2fnuz"},
        "Graphcore/AMD",
    )  # noqa: E501
    p["fp8_e4m3_ieee"] = Preset(
        MinifloatFormat,
        {"ebits": 4, "mbits": 3, "specials": "ieee", "name": "fp8_e4m3_ieee"},
        f"IEEE-like ({ml} float8_e4m3)",
    )  # noqa: E501
    p["fp8_e3m4"] = Preset(
        MinifloatFormat,
        {"ebits": 3, "mbits": 4, "specials": "ieee", "name": "fp8_e3m4"},
        f"{ml} float8_e3m4",
    )  # noqa: E501
    p["fp6_e3m2"] = Preset(
        MinifloatFormat,
        {"ebits": 3, "mbits": 2, "specials": "none", "name": "fp6_e3m2"},
        "OCP FP6 E3M2",
    )  # noqa: E501
    p["fp6_e2m3"] = Preset(
        MinifloatFormat,
        {"ebits": 2, "mbits": 3, "specials": "none", "name": "fp6_e2m3"},
        "OCP FP6 E2M3",
    )  # noqa: E501
    p["fp4_e2m1"] = Preset(
        MinifloatFormat,
        {"ebits": 2, "mbits": 1, "specials": "none", "name": "fp4_e2m1"},
        "OCP FP4 E2M1",
    )  # noqa: E501
    p["fp16"] = Preset(
        MinifloatFormat,
        {"ebits": 5, "mbits": 10, "specials": "ieee", "name": "fp16"},
        "IEEE binary16",
    )  # noqa: E501
    p["bf16"] = Preset(
        MinifloatFormat, {"ebits": 8, "mbits": 7, "specials": "ieee", "name": "bf16"}, "bfloat16"
    )  # noqa: E501
    p["fp32"] = Preset(
        MinifloatFormat,
        {"ebits": 8, "mbits": 23, "specials": "ieee", "name": "fp32"},
        "IEEE binary32",
    )  # noqa: E501
    p["e8m0"] = Preset(
        ExponentFormat,
        {"ebits": 8, "name": "e8m0"},
        "OCP MX scale (ml_dtypes float8_e8m0fnu)",
    )  # noqa: E501
    p["minifloat"] = Preset(MinifloatFormat, {}, "any ExMy: get('minifloat', ebits=.., mbits=..)")
    p["int"] = Preset(IntFormat, {}, "any integer: get('int', bits=..)")
    p["exponent"] = Preset(ExponentFormat, {}, "power-of-two scale formats")
    for el in sorted(MX_ELEMENTS):
        short = {"fp8_e4m3": "mxfp8_e4m3", "fp8_e5m2": "mxfp8_e5m2", "fp6_e3m2": "mxfp6_e3m2",
                 "fp6_e2m3": "mxfp6_e2m3", "fp4_e2m1": "mxfp4"}[el]  # fmt: skip
        p[short] = Preset(mx_format, {"element": el, "name": short}, "OCP MX v1.0")
    p["mxint8"] = Preset(mx_format, {"element": "int8", "name": "mxint8"}, "OCP MX v1.0 MXINT8")
    p["mx"] = Preset(mx_format, {}, "any MX: get('mx', element=.., block=..)")
    p["nvfp4"] = Preset(NVFP4Format, {}, "NVIDIA NVFP4 (torchao recipe)")
    p["nvfp4_2level"] = Preset(NVFP4Format, {"tensor_scale": True, "name": "nvfp4_2level"})
    p["bfp"] = Preset(bfp_format, {}, "generic BFP: get('bfp', block=.., mantissa_bits=..)")
    p["bfp8"] = Preset(bfp_format, {"block": 16, "mantissa_bits": 8, "name": "bfp8"})
    p["bfp4"] = Preset(bfp_format, {"block": 16, "mantissa_bits": 4, "name": "bfp4"})
    p["ternary"] = Preset(
        IntFormat, {"bits": 2, "symmetric": True, "name": "ternary"}, "{-1, 0, +1}"
    )
    p["binary"] = Preset(binary_format, {}, "{-1, +1}, sign(0) = +1 by default")
    p["nf4"] = Preset(nf4_format, {}, NF4_SOURCE)
    for n in (3, 4, 5):
        p[f"apot{n}"] = Preset(apot_format, {"bits": n}, APOT_SOURCE)
    for n in range(2, 9):
        p[f"pot{n}"] = Preset(pot_format, {"bits": n}, "power of two with zero")
        p[f"pot{n}_nz"] = Preset(pot_format, {"bits": n, "zero": False}, "DenseShift zero-free")
    for b in (3, 4):
        for v in ("er_pos", "er_neg", "ea_pos", "ea_neg"):
            p[f"bitmod_fp{b}_{v}"] = Preset(bitmod_type, {"bits": b, "variant": v})
        p[f"bitmod_fp{b}"] = Preset(BitModFormat, {"bits": b}, "BitMoD per-group mixed types")
    for t in ANT_TYPES:
        p[f"ant_{t}4"] = Preset(ant_type, {"kind": t}, "ANT 4-bit element type (MICRO 2022)")
    p["ant4"] = Preset(AntFormat, {}, "ANT per-tensor adaptive int/flint/PoT, fp16 scale per 128")
    p["nvint4"] = Preset(
        scaled_format,
        {"element": "int4_sym", "block": 16, "scale_format": "fp8_e4m3", "name": "nvint4"},
        "INT4 in NVFP4's layout: E4M3 absmax scale per 16 (INT vs FP, arXiv 2510.25602)",
    )
    p["olive4"] = Preset(
        OliveFormat, {}, "OliVe outlier-victim pairs (ISCA 2023), fp16 scale per 128"
    )
    p["olive4_values"] = Preset(olive_value_table, {}, "decoded OliVe values (PE operand view)")
    p["codebook"] = Preset(CodebookFormat, {}, "any value table: get('codebook', table=..)")
    p["scaled"] = Preset(scaled_format, {}, "any element with block scales")
    # Common scaled quantizers.
    for n in (2, 3, 4, 8):
        p[f"int{n}_g128"] = Preset(
            scaled_format,
            {
                "element": f"int{n}_sym",
                "block": 128,
                "scale_format": "fp16",
                "name": f"int{n}_g128",
            },  # noqa: E501
            "symmetric absmax per group of 128, fp16 scales (AWQ/GPTQ layout)",
        )
        p[f"uint{n}_g128_asym"] = Preset(
            scaled_format,
            {
                "element": f"uint{n}",
                "block": 128,
                "rule": "minmax",
                "scale_format": "fp16",
                "name": f"uint{n}_g128_asym",
            },  # fmt: skip
            "asymmetric min/max per group of 128 with zero points",
        )
    p["int8_channel"] = Preset(
        scaled_format, {"element": "int8_sym", "block": "channel", "name": "int8_channel"}
    )
    p["int8_tensor"] = Preset(
        scaled_format, {"element": "int8_sym", "block": "tensor", "name": "int8_tensor"}
    )
    p["nf4_b64"] = Preset(
        scaled_format,
        {
            "element": "nf4",
            "block": 64,
            "scale_op": "mul_recip",
            "compute_dtype": "float32",
            "name": "nf4_b64",
        },  # fmt: skip
        "bitsandbytes NF4: absmax blocks of 64, x * (1/absmax) in float32",
    )
    p["ternary_absmean"] = Preset(
        scaled_format,
        {
            "element": "ternary",
            "block": "tensor",
            "rule": "absmean",
            "scale_op": "mul_recip",
            "min_scale": 1e-5,
            "name": "ternary_absmean",
        },  # fmt: skip
        "BitNet b1.58 weights: per-tensor absmean, clamp 1e-5, RNE",
    )
    p["binary_absmean"] = Preset(
        scaled_format,
        {"element": "binary", "block": "channel", "rule": "absmean", "name": "binary_absmean"},
        "XNOR/BWN: sign(w) * mean|w| per output channel",
    )
    return p


PRESETS = _presets()
PUBLIC = [
    n
    for n in PRESETS
    if n not in {"minifloat", "int", "exponent", "mx", "bfp", "codebook", "scaled"}
]
_EXMY = re.compile(r"^e(\d+)m(\d+)$")
_GROUPED = re.compile(r"^(.+)_g(\d+)$")


def _parametric(name: str) -> Preset | None:
    """Presets spelled by pattern: "e{E}m{M}" (sign + ExMy, every code finite, saturating,
    like OCP FP6/FP4) and "{element}_g{N}" (the element preset with symmetric absmax scales
    per group of N along the axis, stored in fp16; signed integers use their restricted
    range)."""
    m = _EXMY.match(name)
    if m:
        e, mb = int(m.group(1)), int(m.group(2))
        return Preset(MinifloatFormat, {"ebits": e, "mbits": mb, "specials": "none", "name": name})
    m = _GROUPED.match(name)
    if m and (m.group(1) in PRESETS or _EXMY.match(m.group(1))):
        base = m.group(1)
        if re.match(r"^int\d+$", base):
            base += "_sym"
        element = get(base)
        if getattr(element, "is_block", False):
            return None
        return Preset(
            scaled_format,
            {"element": element, "block": int(m.group(2)), "scale_format": "fp16", "name": name},
        )
    return None


def names() -> list[str]:
    """Names of the ready-made presets (parametric constructors excluded)."""
    return sorted(PUBLIC)


def get(name: str, **overrides):
    """Build the preset ``name`` with keyword overrides of its parameters."""
    if isinstance(name, str) and name in PRESETS:
        preset = PRESETS[name]
    elif isinstance(name, str) and (found := _parametric(name)) is not None:
        preset = found
    else:
        close = difflib.get_close_matches(str(name), list(PRESETS), n=4)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise FormatError(f"unknown format {name!r}{hint} (`hwsim formats` lists them)")
    kwargs = {**preset.defaults, **overrides}
    try:
        return preset.factory(**kwargs)
    except TypeError as exc:
        params = list(inspect.signature(preset.factory).parameters)
        bad = [k for k in overrides if k not in params]
        if bad:
            raise FormatError(
                f"{name}: unknown parameter(s) {', '.join(bad)}; valid: {', '.join(params)}"
            ) from None
        raise FormatError(f"{name}: {exc}") from None
