"""hwsim side by side with ZigZag (``pip install zigzag-dse==3.9.1``, extra ``hwsim[compare]``).

Same Llama-2-7B GEMM shapes (prefill 512 and 2048 tokens, decode M=1: q/k/v/o, gate/up, down;
q/k/v/o share one shape) on ZigZag's bundled ``tpu_like`` accelerator and on hwsim's closest
configuration of it (hwsim follows ZigZag where they differ):

* 32 x 32 weight-stationary array (ZigZag: K on D1, C on D2, its default spatial mapping);
* weights: DRAM -> one 128 B register file per PE in ZigZag (no SRAM level); hwsim: a
  128 KiB weight buffer (= 1024 PEs x 128 B) above one weight register per PE;
* activations and outputs share one 2 MiB SRAM in ZigZag; hwsim has separate buffers, so it
  is given every static split of the same 2 MiB in eighths and the best split is reported;
* no double buffering (ZigZag's tiles may use a memory's full capacity);
* DRAM: 64 bit/cycle = 8 B/cycle shared by all operands in both;
* int8 activations, weights and final outputs; partial sums 16 bit (ZigZag's default, twice the
  activation width; its 16-bit output register cannot hold more), hwsim ``acc_bits=16``;
* hwsim ``preload_overlap=True``: ZigZag's weight registers refill while the array computes
  and it charges no per-fold systolic fill/drain.

Per tool the DRAM bytes are those of its fewest-DRAM-bytes mapping over its objectives
(ZigZag ``opt`` latency and energy, hwsim ``objective`` latency and energy); cycles are those
of its latency-optimal mapping (hwsim with single and with double buffering: ZigZag overlaps
transfers with compute at full capacity, hwsim overlaps only double-buffered tiles).

The second table gives hwsim's mapping to ZigZag as a pinned temporal ordering: ZigZag's own
DRAM counts and energy of hwsim's loop nest.

The third table puts ResNet-18's unique convolutions (batch 1) side by side, each tool in its
own conv dimensions: ZigZag's Conv (B, K, C, OY, OX, FY, FX; ``ix = stride*ox + fx``) on the
padded input (padding stored with the tensor, as hwsim counts it), hwsim's conv nest (N, K,
C, P, Q, R, S); same accelerator match as above.

Run: ``python benchmarks/zigzag_compare.py [--quick | --convs]`` (the GEMM tables take about
5 min on the 2-core VM, the conv table about 8 min, almost all of it in ZigZag).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass

import hwsim

KIB = 1024
MIB = 1024 * KIB
ARRAY = 32  # tpu_like.yaml operational_array sizes [32, 32]
WEIGHT_RF_BYTES = 128  # tpu_like.yaml rf_128B: 1024 bit per PE, weights only
SHARED_SRAM_BYTES = 2 * MIB  # tpu_like.yaml sram_2MB: 16777216 bit, activations + outputs
DRAM_BYTES_PER_CYCLE = 8  # tpu_like.yaml dram rw_port_1 bandwidth 64 bit/cycle
PSUM_BITS = 16  # ZigZag's default intermediate output precision (2 x 8-bit activations)
SPLITS = tuple(i / 8 for i in range(1, 8))  # act share of the shared SRAM tried in hwsim

OPERANDS = ("act", "weight", "out")
PHASES = {"prefill 512": ("prefill", 512), "prefill 2048": ("prefill", 2048), "decode": None}


@dataclass(frozen=True)
class Result:
    """One tool's figures for one layer: DRAM bytes per operand (out = reads + writes)."""

    dram: dict
    cycles: float
    mapping: str
    seconds: float
    energy_pj: float = float("nan")  # ZigZag's total energy estimate (pJ)
    compute: float = float("nan")  # hwsim: compute cycles with ideal memory

    @property
    def total(self) -> float:
        return float(sum(self.dram.values()))


def llama_gemms(seq: int | None) -> list:
    """Unique GEMM shapes of one Llama-2-7B block: prefill with ``seq`` tokens, or decode (M=1)."""
    if seq is None:
        wl = hwsim.workloads.get("llama2-7b", phase="decode", seq_len=2048)
    else:
        wl = hwsim.workloads.get("llama2-7b", phase="prefill", seq_len=seq)
    shapes = {}
    for lay in wl.layers:
        if lay.kind == "gemm" and lay.name.startswith("L0."):
            shapes.setdefault((lay.m, lay.n, lay.k), []).append(lay.name[3:].removesuffix("_proj"))
    return [("/".join(names), m, n, k) for (m, n, k), names in shapes.items()]


def hwsim_accelerator(act_share: float = 0.5, double_buffered: bool = False):
    """hwsim's closest configuration of ZigZag's tpu_like (act_share of the shared 2 MiB)."""
    act = int(SHARED_SRAM_BYTES * act_share)
    return hwsim.accel.systolic(
        ARRAY,
        ARRAY,
        dataflow="ws",
        act_sram_bytes=act,
        out_sram_bytes=SHARED_SRAM_BYTES - act,
        weight_sram_bytes=ARRAY * ARRAY * WEIGHT_RF_BYTES,
        double_buffered=double_buffered,
        dram_bw=DRAM_BYTES_PER_CYCLE,
        pe_params={"acc_bits": PSUM_BITS},
        act_fmt="int8",
        weight_fmt="int8",
        out_fmt="int8",
        preload_overlap=True,
    )


def hwsim_dram(row) -> dict:
    """Per-operand DRAM bytes of one ``rep.layers`` row."""
    return {
        "act": float(row["dram_read_bytes_act"]),
        "weight": float(row["dram_read_bytes_weight"]),
        "out": float(row["dram_read_bytes_out"] + row["dram_write_bytes_out"]),
    }


def resnet18_convs() -> list:
    """(name, hwsim Layer) of ResNet-18's unique convolutions (batch 1), first occurrence."""
    out, seen = [], set()
    for lay in hwsim.workloads.get("resnet18").layers:
        if lay.conv is not None and lay.conv not in seen:
            seen.add(lay.conv)
            out.append((lay.name, lay))
    return out


def run_hwsim(
    m: int, n: int, k: int, objective: str, act_share=None, double_buffered: bool = False
) -> Result:
    """Best hwsim result over the act/out splits (objective energy: fewest DRAM bytes, then
    cycles; latency: fewest cycles, then bytes)."""
    wl = hwsim.workloads.gemm(m, n, k, name="g")
    return run_hwsim_workload(wl, objective, act_share, double_buffered)


def run_hwsim_workload(wl, objective: str, act_share=None, double_buffered: bool = False):
    """:func:`run_hwsim` on a one-layer workload (a GEMM or a conv layer)."""
    if not hasattr(wl, "layers"):
        wl = hwsim.workloads.Workload(wl.name, (wl,))
    t = time.perf_counter()
    best = None
    for share in SPLITS if act_share is None else (act_share,):
        rep = hwsim.simulate(hwsim_accelerator(share, double_buffered), wl, objective=objective)
        row = rep.layers.iloc[0]
        cand = Result(hwsim_dram(row), float(rep.cycles), f"{row['mapping']} act {share:g}", 0.0,
                      compute=float(row["compute_cycles"]))  # fmt: skip
        key = (cand.total, cand.cycles) if objective == "energy" else (cand.cycles, cand.total)
        if best is None or key < best[0]:
            best = (key, cand)
    r = best[1]
    return Result(r.dram, r.cycles, r.mapping, time.perf_counter() - t, compute=r.compute)


def pin(summary: str) -> dict:
    """``{"tiles", "order"}`` of a mapping summary such as ``sram B1 M512 N1376 K32; dram N>K``."""
    tiles = {d: int(v) for d, v in re.findall(r"([BMNK])(\d+)", summary.split(";")[0])}
    order = summary.split("dram ")[1].split()[0]
    return {"tiles": tiles, "order": [] if order == "-" else order.split(">")}


def run_hwsim_pinned(m: int, n: int, k: int, spec: dict, act_share: float) -> Result:
    """hwsim with a pinned ``{"tiles", "order"}`` mapping."""
    rep = hwsim.simulate(
        hwsim_accelerator(act_share), hwsim.workloads.gemm(m, n, k, name="g"), mapping={"g": spec}
    )
    row = rep.layers.iloc[0]
    return Result(hwsim_dram(row), float(rep.cycles), row["mapping"], 0.0)


def zigzag_inputs():
    """Paths of ZigZag's bundled tpu_like accelerator and mapping."""
    import zigzag

    base = os.path.join(os.path.dirname(zigzag.__file__), "inputs")
    return f"{base}/hardware/tpu_like.yaml", f"{base}/mapping/tpu_like.yaml"


def zigzag_layer(m: int, n: int, k: int) -> list:
    """A GEMM O[b][k] += I[b][c] * W[c][k] in ZigZag's workload format (B=M, C=K, K=N)."""
    return [
        dict(
            id=0,
            name="g",
            operator_type="Gemm",
            equation="O[b][k]+=I[b][c]*W[c][k]",
            loop_dims=["B", "C", "K"],
            loop_sizes=[m, k, n],
            operand_precision=dict(I=8, W=8, O=PSUM_BITS, O_final=8),
            operand_source=dict(I=0),
        )
    ]


def zigzag_dram(cme) -> dict:
    """Per-operand DRAM bytes of a ZigZag cost-model evaluation (top memory level)."""
    from zigzag.mapping.data_movement import DataDirection, DataMoveAttr

    names = {"I": "act", "W": "weight", "O": "out"}
    out = {}
    mp = cme.mapping
    for op in mp.operand_list:
        move = mp.unit_mem_data_movement[op][mp.mem_level[op] - 1]
        count = move.get_attribute(DataMoveAttr.DATA_ELEM_MOVE_COUNT)
        bits = move.get_attribute(DataMoveAttr.DATA_PRECISION)
        out[names[op.name]] = sum(count.get(d) * bits.get(d) for d in DataDirection) / 8
    return out


def zigzag_conv_layer(conv: tuple) -> list:
    """One hwsim conv geometry ``(n, k, c, p, q, r, s, stride, dilation, pad)`` in ZigZag's
    format, on the padded input (no ZigZag padding: the halo is part of the tensor)."""
    n, k, c, p, q, r, s, stride, dil, _ = conv
    return [
        dict(
            id=0,
            name="c",
            operator_type="Conv",
            equation="O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
            dimension_relations=[f"ix={stride}*ox+{dil}*fx", f"iy={stride}*oy+{dil}*fy"],
            loop_dims=["B", "K", "C", "OY", "OX", "FY", "FX"],
            loop_sizes=[n, k, c, p, q, r, s],
            operand_precision=dict(I=8, W=8, O=PSUM_BITS, O_final=8),
            operand_source=dict(I=0),
        )
    ]


def run_zigzag(m: int, n: int, k: int, opt: str) -> Result:
    """ZigZag (LOMA, uneven mappings, its defaults) on one GEMM of the tpu_like accelerator."""
    return run_zigzag_layer(zigzag_layer(m, n, k), opt)


def run_zigzag_layer(layer: list, opt: str) -> Result:
    """ZigZag on one layer in its workload format (:func:`zigzag_layer`, ...conv_layer)."""
    from zigzag.api import get_hardware_performance_zigzag

    acc, mapping = zigzag_inputs()
    logging.disable(logging.WARNING)  # ZigZag logs every stage at INFO
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        _, _, cmes = get_hardware_performance_zigzag(
            layer,
            acc,
            mapping,
            opt=opt,
            dump_folder=tmp,
            loma_show_progress_bar=False,
        )
    logging.disable(logging.NOTSET)
    return _zigzag_result(cmes, t)


ZZ_DIM = {"M": "B", "N": "K", "K": "C"}  # hwsim GEMM dim -> ZigZag loop dim (O[b][k] += ...)


def zigzag_ordering(m: int, n: int, k: int, summary: str) -> list:
    """ZigZag ``temporal_ordering`` (innermost first) of an hwsim WS mapping on the 32 x 32
    array: the PE streams the SRAM tile's M, the SRAM steps column folds (N) outside row folds
    (K), then the DRAM loops. Tiles must divide the layer (ZigZag pins even loops only)."""
    spec = pin(summary)
    size = {"B": 1, "M": m, "N": n, "K": k}
    tile = {d: min(spec["tiles"].get(d, size[d]), size[d]) for d in size}
    if tile["B"] != 1 or any(size[d] % tile[d] for d in size):
        raise ValueError(f"{summary}: ZigZag can pin only tiles that divide {m} x {n} x {k}")
    if tile["N"] % ARRAY or tile["K"] % ARRAY:
        raise ValueError(f"{summary}: N and K tiles must be multiples of {ARRAY}")
    loops = [("M", tile["M"]), ("K", tile["K"] // ARRAY), ("N", tile["N"] // ARRAY)]
    order = spec["order"] + [d for d in "MNK" if d not in spec["order"]]
    loops += [(d, size[d] // tile[d]) for d in reversed(order)]
    return [[ZZ_DIM[d], int(f)] for d, f in loops if f > 1]


def run_zigzag_pinned(m: int, n: int, k: int, ordering: list) -> Result:
    """ZigZag's cost model on one pinned temporal ordering (spatial: K on D1, C on D2)."""
    import yaml
    from zigzag.api import get_hardware_performance_zigzag

    acc, _ = zigzag_inputs()
    mapping = [
        dict(
            name="default",
            spatial_mapping=dict(D1=[f"K, {ARRAY}"], D2=[f"C, {ARRAY}"]),
            temporal_ordering=ordering,
            memory_operand_links=dict(O="O", W="I2", I="I1"),
        )
    ]
    logging.disable(logging.WARNING)
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "mapping.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(mapping, f)
        _, _, cmes = get_hardware_performance_zigzag(
            zigzag_layer(m, n, k), acc, path, dump_folder=tmp, loma_show_progress_bar=False
        )
    logging.disable(logging.NOTSET)
    return _zigzag_result(cmes, t)


def _zigzag_result(cmes, t0: float) -> Result:
    """The Result of ZigZag's first cost-model evaluation, timed from ``t0``."""
    cme = cmes[0][1][0][0]
    return Result(
        zigzag_dram(cme), float(cme.latency_total2), str(cme.temporal_mapping),
        time.perf_counter() - t0, float(cme.energy_total),
    )  # fmt: skip


def compare(m: int, n: int, k: int) -> dict:
    """Both tools on one GEMM: fewest-bytes and latency-optimal results of each."""
    return compare_layer(zigzag_layer(m, n, k), hwsim.workloads.gemm(m, n, k, name="g"))


def compare_layer(zz_layer: list, hw_workload) -> dict:
    """Both tools on one layer (each in its own format): fewest-bytes and latency-optimal."""
    zz = {opt: run_zigzag_layer(zz_layer, opt) for opt in ("latency", "energy")}
    hw = {obj: run_hwsim_workload(hw_workload, obj) for obj in ("latency", "energy")}
    return {
        "zz_bytes": min(zz.values(), key=lambda r: (r.total, r.cycles)),
        "zz_lat": zz["latency"],
        "hw_bytes": min(hw.values(), key=lambda r: (r.total, r.cycles)),
        "hw_lat": hw["latency"],
        "hw_lat_db": run_hwsim_workload(hw_workload, "latency", double_buffered=True),
        "hw_compute": hw["latency"].compute,
        "zz_seconds": sum(r.seconds for r in zz.values()),
        "zz_energy": zz["energy"],
    }


def cross_check(m: int, n: int, k: int, hw: Result) -> Result | None:
    """ZigZag's cost model on hwsim's mapping, None when ZigZag cannot pin it (ragged tiles)."""
    try:
        ordering = zigzag_ordering(m, n, k, hw.mapping)
    except ValueError:
        return None
    return run_zigzag_pinned(m, n, k, ordering)


def mb(x: float) -> str:
    return f"{x / 1e6:.2f}"


def conv_table() -> None:
    """ResNet-18's unique convolutions side by side (markdown on stdout)."""
    print(
        "| layer (K x C x P x Q, R x S / stride) | ZigZag DRAM MB act / weight / out | hwsim "
        "DRAM MB act / weight / out | hwsim / ZigZag bytes | ZigZag cycles | hwsim cycles "
        "(1x / 2x buffers) | hwsim / ZigZag cycles | ZigZag spatial bound | hwsim compute | "
        "DRAM bound | ZigZag s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, lay in resnet18_convs():
        n, k, c, p, q, r, s, stride, _, _ = lay.conv
        res = compare_layer(zigzag_conv_layer(lay.conv), lay)
        zb, hb = res["zz_bytes"], res["hw_bytes"]
        zz_ops = " / ".join(mb(zb.dram[o]) for o in OPERANDS)
        hw_ops = " / ".join(mb(hb.dram[o]) for o in OPERANDS)
        zl, hl = res["zz_lat"].cycles, res["hw_lat"].cycles
        # ZigZag's default spatial mapping unrolls K on D1 and C on D2 (32 each): its MACs per
        # cycle are at most min(K, 32) * min(C, 32); hwsim's array sees the im2col view (C*R*S
        # on the rows); DRAM bound: the fewer bytes over 8 B/cycle
        macs = n * k * c * p * q * r * s
        zz_bound = macs / (min(k, ARRAY) * min(c, ARRAY))
        dram_bound = min(zb.total, hb.total) / DRAM_BYTES_PER_CYCLE
        print(
            f"| {name} ({k} x {c} x {p} x {q}, {r}x{s}/{stride}) | {zz_ops} | {hw_ops} | "
            f"{hb.total / zb.total:.3f} | {zl:.4g} | {hl:.4g} / {res['hw_lat_db'].cycles:.4g} | "
            f"{hl / zl:.3f} | {zz_bound:.4g} | {res['hw_compute']:.4g} | {dram_bound:.4g} | "
            f"{res['zz_seconds']:.1f} |",
            flush=True,
        )
        print(f"<!-- zigzag: {zb.mapping} | hwsim: {hb.mapping} -->", flush=True)


def main(quick: bool = False, convs: bool = False) -> None:
    if convs:
        conv_table()
        return
    print(
        "| phase | layer (M x N x K) | ZigZag DRAM MB act / weight / out | hwsim DRAM MB act / "
        "weight / out | hwsim / ZigZag bytes | ZigZag cycles | hwsim cycles (1x / 2x buffers) "
        "| ZigZag s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    cross = []
    for phase, spec in PHASES.items():
        if quick and phase != "decode":
            continue
        for name, m, n, k in llama_gemms(None if spec is None else spec[1]):
            r = compare(m, n, k)
            zb, hb = r["zz_bytes"], r["hw_bytes"]
            zz_ops = " / ".join(mb(zb.dram[o]) for o in OPERANDS)
            hw_ops = " / ".join(mb(hb.dram[o]) for o in OPERANDS)
            print(
                f"| {phase} | {name} ({m} x {n} x {k}) | {zz_ops} | {hw_ops} | "
                f"{hb.total / zb.total:.3f} | {r['zz_lat'].cycles:.4g} | "
                f"{r['hw_lat'].cycles:.4g} / {r['hw_lat_db'].cycles:.4g} | {r['zz_seconds']:.1f} |",
                flush=True,
            )
            print(
                f"<!-- zigzag: {zb.mapping} | hwsim: {hb.mapping} -->",
                flush=True,
            )
            cross.append((phase, name, hb, r["zz_energy"], cross_check(m, n, k, hb)))
    print(
        "\n| phase | layer | hwsim mapping (fewest bytes) | ZigZag DRAM MB of it act / weight / "
        "out | equal to hwsim's | ZigZag pJ of it / of ZigZag's energy-optimal mapping |"
    )
    print("|---|---|---|---|---|---|")
    for phase, name, hb, zz_en, x in cross:
        if x is None:
            print(f"| {phase} | {name} | {hb.mapping} | ragged tiles: ZigZag cannot pin | | |")
            continue
        ops = " / ".join(mb(x.dram[o]) for o in OPERANDS)
        same = "yes" if x.dram == hb.dram else "no"
        print(
            f"| {phase} | {name} | {hb.mapping} | {ops} | {same} | "
            f"{x.energy_pj:.4g} / {zz_en.energy_pj:.4g} |"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="decode layers only")
    ap.add_argument("--convs", action="store_true", help="ResNet-18 convolutions only")
    main(**vars(ap.parse_args()))
