"""Mapping-driven simulator figures quoted in docs/simulator.md (regenerate with this script).

1. Llama-2-7B prefill (2048 tokens) on 64 x 64 arrays with 256 KiB buffers per operand:
   DRAM bytes with ``mapping="scalesim"`` (SCALE-Sim's fixed orders) vs ``"optimal"`` per
   objective, for ws/os/is.
2. Llama-2-7B decode (KV 2048) on 64 x 64 WS with preload overlap, and on a 64 x 64 tensor
   core, 32 B/cycle DRAM: cycles with int4 / int8 / fp16 weight storage and the speed-up.
   With it, for WS, the measurement behind its smaller gain (``ws_breakdown``): DRAM bytes
   per operand, compute vs DRAM-bound cycles, and the reuse floor of a tiled GEMM with these
   buffers (below).
3. Wall time of ``simulate`` including mapping (one call, warm process).
4. Accumulator buffer and inter-layer prefetch (``levels_table``): Llama-2-7B prefill 2048
   on 64 x 64 WS with 256 KiB buffers, objective energy, DRAM bytes and partial-sum traffic
   without / with a 256 KiB accumulator buffer; Llama-2-7B prefill 2048 + 128 decode at
   128 B/cycle, cycles without / with ``prefetch_next_layer``.
5. ResNet-18 (batch 1, 224 x 224, int8) on a 32 x 32 OS array: DRAM activation bytes per
   conv layer with ``mapping="scalesim"`` (the im2col matrix) vs ``"optimal"`` (conv nests
   in 7 dimensions) with the default buffers and with 64 MiB buffers, next to the padded
   input positions the windows touch (counted here by enumeration); total cycles and the
   wall time of a ResNet-50 forward.
"""

from __future__ import annotations

import time

import hwsim

KIB256 = dict(act_sram_bytes=256 * 1024, weight_sram_bytes=256 * 1024, out_sram_bytes=256 * 1024)


def dram_bytes(rep) -> float:
    return float(rep.layers.filter(regex="^dram_").to_numpy().sum())


def prefill_table() -> None:
    wl = hwsim.workloads.get("llama2-7b", phase="prefill", seq_len=2048)
    print("| dataflow | scalesim DRAM GB | optimal latency GB (x fewer) | optimal energy GB "
          "(x fewer) | cycles scalesim / latency / energy | simulate s |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for df in ("ws", "os", "is"):
        acc = hwsim.accel.systolic(64, 64, dataflow=df, dram_bw=128, **KIB256)
        out = {}
        for mp, obj in (("scalesim", "latency"), ("optimal", "latency"), ("optimal", "energy")):
            t = time.perf_counter()
            rep = hwsim.simulate(acc, wl, mapping=mp, objective=obj)
            out[(mp, obj)] = (dram_bytes(rep), rep.cycles, time.perf_counter() - t)
        ss, lat, en = out[("scalesim", "latency")], out[("optimal", "latency")], out[
            ("optimal", "energy")]  # fmt: skip
        print(f"| {df} | {ss[0] / 1e9:.1f} | {lat[0] / 1e9:.1f} ({ss[0] / lat[0]:.2f}x) | "
              f"{en[0] / 1e9:.1f} ({ss[0] / en[0]:.2f}x) | {ss[1]:.3g} / {lat[1]:.3g} / "
              f"{en[1]:.3g} | {lat[2]:.1f} |")  # fmt: skip


def reuse_floor_bytes(m: int, n: int, k: int, acc, acc_bytes: float = 4.0) -> float:
    """Least DRAM bytes of an int8 GEMM tiled with one operand's tile resident at a time, in
    the continuous relaxation (so a floor, not a mapping). With usable buffer elements A, W,
    O (O at the accumulator width ``acc_bytes`` per partial sum):

    * output resident (K split inside, partial sums stay): act MK*N/Tn + weight KN*M/Tm with
      Tm*Tn <= O, least 2*MNK/sqrt(O), plus MN final writes;
    * weight resident: act MNK/Tn + partial sums 2*acc_bytes*MNK/Tk with Tk*Tn <= W, least
      2*sqrt(2*acc_bytes)*MNK/sqrt(W), plus KN; activation resident: the same with A, plus MK;

    never below the compulsory MK + KN + MN."""
    a = acc.buffer("act").tile_bytes
    w = acc.buffer("weight").tile_bytes
    o = acc.buffer("out").tile_bytes / acc_bytes
    mnk = m * n * k
    cand = (
        2 * mnk / o**0.5 + m * n,
        2 * (2 * acc_bytes) ** 0.5 * mnk / w**0.5 + k * n,
        2 * (2 * acc_bytes) ** 0.5 * mnk / a**0.5 + m * k,
    )
    return max(m * k + k * n + m * n, min(cand))


def ws_breakdown() -> None:
    """Why WS gains less: per-operand DRAM GB, compute vs DRAM cycles, the reuse floor."""
    wl = hwsim.workloads.get("llama2-7b", phase="prefill", seq_len=2048)
    acc = hwsim.accel.systolic(64, 64, dataflow="ws", dram_bw=128, **KIB256)
    floor = sum(
        reuse_floor_bytes(ly.m, ly.n, ly.k, acc) * ly.count for ly in wl.layers if ly.kind == "gemm"
    )
    print("\n| WS, 64x64, 256 KiB buffers | act GB | weight GB | out GB | KV GB | all GB | "
          "compute cycles | DRAM bytes / 128 | cycles | GEMM GB / GEMM floor |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for mp, obj in (("scalesim", "latency"), ("optimal", "latency"), ("optimal", "energy")):
        rep = hwsim.simulate(acc, wl, mapping=mp, objective=obj)
        lay = rep.layers
        gb = {o: float((lay[f"dram_read_bytes_{o}"] + lay[f"dram_write_bytes_{o}"]).sum()) / 1e9
              for o in ("act", "weight", "out", "kv")}  # fmt: skip
        gemm = lay[lay["kind"] == "gemm"].filter(regex="^dram_").to_numpy().sum()
        total = sum(gb.values())
        print(f"| {mp} {obj} | {gb['act']:.1f} | {gb['weight']:.1f} | {gb['out']:.1f} | "
              f"{gb['kv']:.1f} | {total:.1f} | {lay['compute_cycles'].sum():.3g} | "
              f"{total * 1e9 / 128:.3g} | {rep.cycles:.3g} | {gemm / floor:.2f} |")  # fmt: skip
    print(f"\nGEMM reuse floor (sum over layers, reuse_floor_bytes): {floor / 1e9:.1f} GB")
    for df in ("os", "is"):
        other = hwsim.accel.systolic(64, 64, dataflow=df, dram_bw=128, **KIB256)
        lay = hwsim.simulate(other, wl, mapping="scalesim").layers
        gemm = lay[lay["kind"] == "gemm"].filter(regex="^dram_").to_numpy().sum()
        print(f"scalesim {df}: GEMM bytes {gemm / 1e9:.1f} GB = {gemm / floor:.2f}x the floor")


def decode_table() -> None:
    wl = hwsim.workloads.get("llama2-7b", phase="decode", seq_len=2048)
    print("\n| array (32 B/cycle) | int4 cycles | int8 cycles | fp16 cycles | fp16 / int4 |")
    print("|---|---|---|---|---|")
    builds = {
        "64x64 ws, no overlap": lambda **k: hwsim.accel.systolic(64, 64, dataflow="ws", **k),
        "64x64 ws, preload overlap": lambda **k: hwsim.accel.systolic(
            64, 64, dataflow="ws", preload_overlap=True, **k
        ),
        "64x64 tensor core": lambda **k: hwsim.accel.tensor_core(64, 64, **k),
    }
    for name, build in builds.items():
        cyc = {}
        for wf in ("int4", "int8", "fp16"):
            acc = build(dram_bw=32, weight_fmt=wf, act_fmt="int8", **KIB256)
            cyc[wf] = hwsim.simulate(acc, wl).cycles
        print(f"| {name} | {cyc['int4']:.3g} | {cyc['int8']:.3g} | {cyc['fp16']:.3g} | "
              f"{cyc['fp16'] / cyc['int4']:.2f}x |")  # fmt: skip


def levels_table() -> None:
    wl = hwsim.workloads.get("llama2-7b", phase="prefill", seq_len=2048)
    print("\n| WS 64x64, 256 KiB buffers, objective energy | DRAM GB | partial sums to/from "
          "DRAM GB | accumulator GB (reads + writes) | cycles |")  # fmt: skip
    print("|---|---|---|---|---|")
    for acc_bytes in (None, 256 * 1024):
        acc = hwsim.accel.systolic(64, 64, dataflow="ws", dram_bw=128,
                                   accumulator_bytes=acc_bytes, **KIB256)  # fmt: skip
        rep = hwsim.simulate(acc, wl, objective="energy")
        lay = rep.layers
        spill = float(lay["dram_read_bytes_out"].sum()) * 2  # re-read = spilled (acc width)
        accum = float(lay["sram_read_bytes_accum"].sum() + lay["sram_write_bytes_accum"].sum())
        name = "none" if acc_bytes is None else f"{acc_bytes // 1024} KiB"
        print(f"| accumulator {name} | {dram_bytes(rep) / 1e9:.1f} | {spill / 1e9:.1f} | "
              f"{accum / 1e9:.1f} | {rep.cycles:.4g} |")  # fmt: skip
    gen = hwsim.workloads.generation("llama2-7b", 2048, 128)
    acc = hwsim.accel.systolic(64, 64, dataflow="ws", dram_bw=128)
    off = hwsim.simulate(acc, gen).cycles
    on = hwsim.simulate(acc, gen, prefetch_next_layer=True).cycles
    print(
        f"\nprefetch_next_layer, Llama-2-7B 2048 + 128 decode, 64x64 ws, 128 B/cycle: "
        f"{off:,} -> {on:,} cycles ({(off - on) / off:.2%} fewer)"
    )


def _touched(out: int, r: int, stride: int, dilation: int) -> int:
    """Padded input rows (or columns) the windows of ``out`` outputs touch, by enumeration."""
    return len({o * stride + i * dilation for o in range(out) for i in range(r)})


def conv_table() -> None:
    wl = hwsim.workloads.get("resnet18")
    big = 64 * 1024 * 1024
    accs = {
        "default": hwsim.accel.systolic(32, 32, dataflow="os"),
        "64 MiB": hwsim.accel.systolic(32, 32, dataflow="os", act_sram_bytes=big,
                                       weight_sram_bytes=big, out_sram_bytes=big),
    }  # fmt: skip
    reps = {"scalesim": hwsim.simulate(accs["default"], wl, mapping="scalesim")}
    for name, acc in accs.items():
        reps[name] = hwsim.simulate(acc, wl)
    act = {k: dict(zip(r.layers["layer"], r.layers["dram_read_bytes_act"], strict=True))
           for k, r in reps.items()}  # fmt: skip
    print("\n| layer | N K C P Q R S / stride | scalesim act bytes | optimal (default buffers) "
          "| optimal (64 MiB) | touched padded input |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    tot = dict.fromkeys(("scalesim", "default", "64 MiB", "unique"), 0.0)
    for ly in wl.layers:
        if ly.conv is None:
            continue
        n, k, c, p, q, r, s, stride, dil, _ = ly.conv
        unique = n * c * _touched(p, r, stride, dil) * _touched(q, s, stride, dil)
        row = [act["scalesim"][ly.name], act["default"][ly.name], act["64 MiB"][ly.name], unique]
        for key, v in zip(tot, row, strict=True):
            tot[key] += v
        print(f"| {ly.name} | {n} {k} {c} {p} {q} {r} {s} / {stride} | {row[0]:,.0f} | "
              f"{row[1]:,.0f} | {row[2]:,.0f} | {row[3]:,.0f} |")  # fmt: skip
    print(f"| **all convs** | | {tot['scalesim']:,.0f} | {tot['default']:,.0f} | "
          f"{tot['64 MiB']:,.0f} | {tot['unique']:,.0f} |")  # fmt: skip
    cyc = {k: r.cycles for k, r in reps.items()}
    print(f"\ncycles (unlimited DRAM bandwidth): scalesim {cyc['scalesim']:,}, optimal "
          f"{cyc['default']:,} (default buffers), {cyc['64 MiB']:,} (64 MiB)")  # fmt: skip
    r50 = hwsim.workloads.get("resnet50")
    hwsim.simulate(accs["default"], r50)  # warm (numba, imports)
    t = time.perf_counter()
    hwsim.simulate(accs["default"], r50)
    print(f"ResNet-50 forward, mapping='optimal': {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    prefill_table()
    ws_breakdown()
    levels_table()
    decode_table()
    conv_table()
