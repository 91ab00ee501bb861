"""``hwsim demo``: a small, real end-to-end study in two parts.

1. Formats: quantizes weight-like tensors (Gaussian, Laplace, heavy-tailed Student-t) with
   every low-bit block format, measures SQNR/MSE against storage bits per element (scales
   included), with the Lloyd-Max quantizer as reference.
2. PEs: six PE designs (FP16 FMA, INT8 and INT4 MACs, bit-serial, MixPE, shift-add) each as a
   32 x 32 weight-stationary array, with ONE model on both axes: the energy of its prefill
   (128 tokens) simulated on the array, and its accuracy with the linear GEMMs executed by that
   PE model in the design's formats. The model is SmolLM2-135M (perplexity over 256 tokens)
   when the ``llm`` extra is installed, else all-MiniLM-L6 (embedding cosine to FP32) when
   the ``minilm`` extra is, else the PE part is skipped with a message naming the install.
   ``--quick``: four of the designs (``QUICK_DESIGNS``), 32-token prefill and perplexity.
Writes tidy CSVs, Pareto and energy-breakdown plots (PNG and SVG) and a markdown summary.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

import hwsim.formats as F
from hwsim.lloyd_max import optimal_quantizer
from hwsim.metrics import mse, sqnr_db, synthetic
from hwsim.plots import pareto_front

DEMO_FORMATS = [
    "ternary_absmean", "bitmod_fp3", "int4_g128", "uint4_g128_asym", "nf4_b64", "mxfp4",
    "nvfp4", "bitmod_fp4", "bfp4", "mxfp6_e2m3", "mxfp6_e3m2", "int8_channel", "mxfp8_e4m3",
    "mxfp8_e5m2", "mxint8", "bfp8",
]  # fmt: skip


def format_error_table(shape=(256, 1024), seed: int = 0) -> pd.DataFrame:
    """One row per (distribution, format): bits/element, MSE, SQNR in dB, and the SQNR of the
    Lloyd-Max quantizer of the distribution at the same storage (floor(2^bits) levels, which
    fixed-rate coding stores in at most ``bits`` bits per element)."""
    rows = []
    for dist in ("gaussian", "laplace", "student_t"):
        w = synthetic(dist, shape, seed)
        refs: dict[int, float] = {}  # levels -> reference SQNR (formats share storage sizes)
        for name in DEMO_FORMATS:
            fmt = F.get(name)
            q = fmt.quantize(w, axis=-1)
            bits = fmt.storage_bits(w.shape, axis=-1) / w.size
            levels = int(np.floor(2.0**bits + 1e-9))
            if levels not in refs:
                refs[levels] = optimal_quantizer(dist, levels).sqnr_db
            rows.append(
                {
                    "distribution": dist,
                    "format": name,
                    "bits_per_element": bits,
                    "mse": mse(w, q),
                    "sqnr_db": sqnr_db(w, q),
                    "lloyd_max_sqnr_db": refs[levels],
                }  # fmt: skip
            )
    return pd.DataFrame(rows)


def lloyd_max_table(bits=range(2, 9)) -> pd.DataFrame:
    """Reference: the MSE-optimal fixed-rate scalar quantizer (Lloyd-Max, 2^b levels, no
    scale storage) of each distribution, solved on the exact distribution
    (``hwsim.lloyd_max``): levels, MSE and SQNR (dB)."""
    rows = []
    for dist in ("gaussian", "laplace", "student_t"):
        for b in bits:
            q = optimal_quantizer(dist, 1 << b)
            rows.append({"distribution": dist, "bits": b, "levels": 1 << b, "mse": q.mse,
                         "sqnr_db": q.sqnr_db})  # fmt: skip
    return pd.DataFrame(rows)


def plot_sqnr(df: pd.DataFrame, path: Path, reference: pd.DataFrame | None = None) -> None:
    """SQNR vs storage bits, one panel per distribution, through the study plotting path
    (``hwsim.plots.scatter_pareto``): a colour and marker per format with a legend, labels on
    the Pareto front only, and the Lloyd-Max reference as a dashed curve."""
    from hwsim.plots import scatter_pareto

    ref = None
    if reference is not None:
        ref = reference.rename(columns={"bits": "bits_per_element"})
    scatter_pareto(
        df, path, x="bits_per_element", y="sqnr_db", color="format", facet="distribution",
        xlabel="storage (bits / element, scales included)", ylabel="SQNR (dB)",
        title="quantized weights", labels="legend", reference=ref,
        reference_label="Lloyd-Max (optimal scalar, no scales)",
    )  # fmt: skip


#: design (hwsim.evaluators.LLM_DESIGNS) -> (weight format, activation format) of MiniLM's
#: GEMMs on it (the fallback model): per-group-32 scales for 4-bit weights, per-channel INT8,
#: per-tensor INT8 activations. SmolLM2 uses hwsim.evaluators.LLM_ACCURACY_FORMATS.
DEMO_DESIGNS = {
    "fp16_fma": ("fp16", "fp16"),
    "mac_w8a8": ("int8_channel", "int8_tensor"),
    "mac_w4a8": ("int4_g32", "int8_tensor"),
    "bitserial_w4a8": ("int4_g32", "int8_tensor"),
    "mixpe_w4a8": ("int4_g32", "int8_tensor"),
    "shiftadd_w4a8": ("pot4_g32", "int8_tensor"),
}

#: the designs of ``hwsim demo --quick`` (a smoke run: every SmolLM2 perplexity costs ~10-20 s
#: of quantizing and running 30 blocks, measured on the 2-core VM)
QUICK_DESIGNS = ("fp16_fma", "mac_w8a8", "mac_w4a8", "bitserial_w4a8")

#: model -> (label on the plots, accuracy column, better, what that column is)
PE_MODELS = {
    "smollm2-135m": ("SmolLM2-135M", "perplexity", "min",
                     "SmolLM2-135M perplexity on the first tokens of hwsim.accuracy.llm's "
                     "offline text (lower is better)"),
    "minilm-l6": ("MiniLM-L6", "cosine", "max",
                  "all-MiniLM-L6-v2 mean embedding cosine to FP32 over its 16 fixed texts"),
}  # fmt: skip


def pe_accuracy_model() -> tuple[str | None, str]:
    """The model the PE part puts on both axes and a note: "smollm2-135m" with the ``llm``
    extra, else "minilm-l6" with the ``minilm`` extra, else None (the note names both
    installs)."""
    from hwsim.accuracy import minilm
    from hwsim.accuracy.llm import loader

    why = loader.missing()
    if why is None:
        return "smollm2-135m", ""
    if minilm.available():
        return "minilm-l6", f"SmolLM2 not measured ({why}); MiniLM-L6 on both axes instead"
    return None, (
        f"PE part skipped: it measures a model's accuracy on each PE and needs the llm extra "
        f"({loader.INSTALL}) or the minilm extra ({minilm.INSTALL})"
    )


def _fp16_acts(design: str) -> bool:
    from hwsim.evaluators import LLM_ACCURACY_FORMATS

    return LLM_ACCURACY_FORMATS[design][1] == "fp16"


def pe_design_table(
    seq_len: int = 128, rows: int = 32, cols: int = 32, model: str = "smollm2-135m",
    tokens: int = 256, designs=tuple(DEMO_DESIGNS),
) -> pd.DataFrame:  # fmt: skip
    """One row per design of ``designs`` (DEMO_DESIGNS keys): simulated cycles, energy (pJ,
    by PE / SRAM / DRAM), area (um2, approximate) of a rows x cols array on ``model``'s
    prefill of ``seq_len`` tokens, and the same model's accuracy with its linear GEMMs on
    that PE model: SmolLM2 perplexity over ``tokens`` tokens (formats
    ``LLM_ACCURACY_FORMATS``, KV cache in the activation format as simulated) or MiniLM
    cosine (formats ``DEMO_DESIGNS``). The FP16 FMA design's accuracy is format-emulated
    (``accuracy_path``) to keep the demo short: its FP16 PE path costs about 10x a float
    matmul (study 4 runs it)."""
    import hwsim.evaluators as E

    if model not in PE_MODELS:
        raise ValueError(f"model must be one of {sorted(PE_MODELS)}, got {model!r}")
    unknown = set(designs) - set(DEMO_DESIGNS)
    if unknown:
        raise ValueError(f"designs {sorted(unknown)} are not in DEMO_DESIGNS {list(DEMO_DESIGNS)}")
    out = []
    for design in designs:
        wf, af = DEMO_DESIGNS[design]
        kind, params = E.LLM_DESIGNS[design]
        on_pe = not _fp16_acts(design)
        path = {"accuracy_path": f"pe:{kind}" if on_pe else "format-emulated"}
        if model == "smollm2-135m":
            wf, af, kv = E.llm_accuracy_formats(design)
            acc = {"perplexity": E.llm_design_perplexity(design, tokens, pe_exact=on_pe)}
            path["kv_format"] = kv
        else:
            kv = None
            pe_params = {k: v for k, v in params.items() if k not in ("a_fmt", "w_fmt")}
            pe = dict(pe=kind, pe_params=pe_params) if on_pe else {}
            acc = E.minilm_fidelity(dict(weight_format=wf, act_format=af, **pe))
        sim = E.llm_pe(dict(design=design, model=model, phase="prefill", seq_len=seq_len,
                          rows=rows, cols=cols, kv_fmt=kv))  # fmt: skip
        out.append({"design": design, "model": model, "weight_format": wf, "act_format": af,
                    **path, **sim, **acc})  # fmt: skip
    return pd.DataFrame(out).drop(columns="utilization")  # = array_busy_fraction, see GLOSSARY


#: pe_designs.csv columns a reader cannot guess (written into summary.md)
GLOSSARY = {
    "cycles": "clock cycles of the model's whole prefill, stalls included",
    "array_busy_fraction": "PE-cycles spent computing / (PEs x cycles); a bit-serial PE "
    "counts as busy while it streams, whatever it completes per cycle",
    "macs_per_cycle": "multiply-accumulates completed per clock cycle (whole array)",
    "peak_macs_per_cycle": "PEs x MACs one PE completes per cycle on a long dot product "
    "(the bit-serial PE with 4-bit weights: 8, a 4096-MAC dot product in 512 cycles)",
    "peak_fraction": "macs_per_cycle / peak_macs_per_cycle",
    "energy_pj": "energy in pJ (45 nm cost model): energy_pe_pj + energy_sram_pj + energy_dram_pj",
    "area_um2": "array area in um2 (PE logic + SRAM, approximate unit inventory)",
    "accuracy_path": "pe:<kind>: every linear GEMM ran on that PE model (exact accumulation "
    "and scale epilogue); format-emulated: the PE's formats multiplied in float (the FP16 PE "
    "path costs about 10x a float matmul; study 4 runs it)",
}


def _pe_part(out: Path, quick: bool, quiet: bool = False) -> list[str]:
    from hwsim.plots import energy_breakdown, scatter_pareto

    model, note = pe_accuracy_model()
    if note:
        print(f"[demo] {note}", file=sys.stderr if model else sys.stdout, flush=True)
    if model is None:
        return ["", "## PE designs", "", f"- {note}"]
    label, metric, better, meaning = PE_MODELS[model]
    seq_len, tokens = (32, 32) if quick else (128, 256)
    designs = QUICK_DESIGNS if quick else tuple(DEMO_DESIGNS)
    what = f"perplexity over {tokens} tokens" if metric == "perplexity" else "embedding cosine"
    with _step(f"simulating {len(designs)} PE designs on {label} and its {what}", quiet):
        df = pe_design_table(seq_len=seq_len, model=model, tokens=tokens, designs=designs)
        df.to_csv(out / "pe_designs.csv", index=False)
    short = f"perplexity, {tokens} tokens" if metric == "perplexity" else "embedding cosine"
    ylabel = f"{label} {short}"
    xlabel = f"{label} prefill energy, {seq_len} tokens (mJ)"
    with _step("plotting PE figures", quiet):
        scatter_pareto(
            df.assign(energy_mj=df.energy_pj * 1e-9), out / "pe_energy_vs_accuracy",
            x="energy_mj", y=metric, color="design", labels="legend", better=better,
            xlabel=xlabel, ylabel=ylabel,
            title=f"{label} on each PE (GEMMs on the PE; FP16 FMA emulated)",
        )  # fmt: skip
        energy_breakdown(df, out / "pe_energy_breakdown", by="design",
                         title=f"{label} prefill on 32 x 32 arrays")  # fmt: skip
    print(df[["design", "cycles", "energy_pj", "area_um2", metric]].to_string(index=False))
    front = pareto_front(df, "energy_pj", metric, better=better)
    glossary = {**GLOSSARY, metric: meaning}
    return ["", f"## PE designs ({label} prefill on 32 x 32, {label} {what} on the PE)", "",
            *([f"- {note}"] if note else []),
            f"- Pareto front of {metric} vs energy: {', '.join(front.design)}",
            f"- fewest cycles: {df.loc[df.cycles.idxmin(), 'design']}; "
            f"least energy: {df.loc[df.energy_pj.idxmin(), 'design']}",
            "", "### pe_designs.csv columns", "",
            *(f"- `{k}`: {v}" for k, v in glossary.items())]  # fmt: skip


@contextmanager
def _step(what: str, quiet: bool):
    """Print ``what`` before a long step and its wall time (s) after it, unless ``quiet``."""
    t0 = time.perf_counter()
    if not quiet:
        print(f"[demo] {what} ...", end="", flush=True, file=sys.stderr)
    yield
    if not quiet:
        print(f" {time.perf_counter() - t0:.1f} s", flush=True, file=sys.stderr)


def run_demo(out_dir: str = "results/demo", quick: bool = False, quiet: bool = False) -> int:
    """Run both parts and write the outputs into ``out_dir``; progress lines (one per step,
    with its time) go to stderr unless ``quiet``, the result tables to stdout."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with _step("quantizing 3 distributions with 16 formats", quiet):
        df = format_error_table(shape=(32, 256) if quick else (256, 1024))
        df.to_csv(out / "format_error.csv", index=False)
    with _step("Lloyd-Max reference (2-8 bits, exact distributions)", quiet):
        ref = lloyd_max_table(bits=range(2, 9))
        ref.to_csv(out / "lloyd_max_reference.csv", index=False)
    with _step("plotting format_sqnr", quiet):
        plot_sqnr(df, out / "format_sqnr", ref)
    lines = ["# hwsim demo: storage vs quantization error", ""]
    for dist, sub in df.groupby("distribution", sort=False):
        front = pareto_front(sub, "bits_per_element", "sqnr_db")
        pts = ", ".join(f"{r.format} ({r.bits_per_element:.2f} b, {r.sqnr_db:.1f} dB)"
                        for r in front.itertuples())  # fmt: skip
        lines.append(f"- {dist}: Pareto front {pts}")
        above = sub[sub.sqnr_db > sub.lloyd_max_sqnr_db]
        if len(above):
            gain = ", ".join(f"{r.format} (+{r.sqnr_db - r.lloyd_max_sqnr_db:.1f} dB)"
                             for r in above.itertuples())  # fmt: skip
            lines.append(f"  - above the scalar Lloyd-Max optimum at equal storage: {gain}; "
                         "their per-block scales are side information a single scalar "
                         "quantizer does not have")  # fmt: skip
    lines += _pe_part(out, quick, quiet)
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print(df.pivot(index="format", columns="distribution", values="sqnr_db").round(2)
          .assign(bits=df.groupby("format")["bits_per_element"].first().round(3))
          .sort_values("bits").to_string())  # fmt: skip
    pe_files = ("pe_designs.csv, pe_energy_vs_accuracy.png/.svg, pe_energy_breakdown.png/.svg, "
                if (out / "pe_designs.csv").exists() else "")  # fmt: skip
    print(f"\nwrote {out}/format_error.csv, lloyd_max_reference.csv, format_sqnr.png/.svg, "
          f"{pe_files}summary.md in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    return 0
