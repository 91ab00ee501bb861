"""LLM realism in the simulator: the KV cache as its own operand, per-layer formats, batch."""

from __future__ import annotations

import pytest

import hwsim
from hwsim import accel, workloads


def _decode(seq_len=100, batch=1):
    return workloads.get("llama2-7b", phase="decode", seq_len=seq_len, batch=batch)


def _rows(rep):
    return rep.layers.set_index("layer")


def test_kv_cache_read_by_attention_in_its_own_format():
    ctx = 100 + 1  # 100 cached tokens + the new one
    heads, d = 32, 128  # Llama-2-7B: 32 heads of 128 (Touvron et al. 2023, Table 1)
    for kv_fmt, bits in ((None, 8), ("int4", 4), ("fp16", 16)):  # default: the act format
        acc = accel.systolic(16, 16, weight_fmt="int4", act_fmt="int8", kv_fmt=kv_fmt,
                             weight_sram_bytes=1 << 22)  # fmt: skip
        r = _rows(hwsim.simulate(acc, _decode()))
        qk = r.loc["L0.attn_qk"]
        assert qk.dram_read_bytes_kv == heads * ctx * d * bits / 8  # K read once per head
        assert qk.dram_read_bytes_weight == 0
        assert r.loc["L0.attn_pv"].dram_read_bytes_kv == heads * ctx * d * bits / 8  # V
        # the k/v projections write the new token's K and V into the cache
        kp = r.loc["L0.k_proj"]
        assert kp.dram_write_bytes_kv == heads * d * bits / 8
        assert kp.dram_write_bytes_out == 0
        # weights stay in the weight format: q_proj reads 4096 x 4096 int4 weights
        assert r.loc["L0.q_proj"].dram_read_bytes_weight == 4096 * 4096 / 2


def test_kv_buffer_of_its_own_adds_sram_area_and_is_used():
    base = accel.systolic(16, 16)
    own = accel.systolic(16, 16, kv_sram_bytes=64 * 1024)
    a = hwsim.simulate(base, workloads.gemm(16, 16, 16))
    b = hwsim.simulate(own, workloads.gemm(16, 16, 16))
    assert b.area_sram_um2 > a.area_sram_um2
    assert own.buffer("kv").size_bytes == 64 * 1024
    assert base.buffer("kv") is base.buffer("weight")
    with pytest.raises(ValueError, match="optional 'kv' buffer"):
        accel.Accelerator(16, 16, buffers=(*base.buffers, *own.buffers[3:], *own.buffers[3:]))


def test_layer_formats_change_only_their_layers():
    acc = accel.systolic(16, 16, weight_fmt="int8", weight_sram_bytes=1 << 22)
    wl = _decode()
    base = _rows(hwsim.simulate(acc, wl))
    fmts = {"L0.q_proj": "int4", "L3.down_proj": {"weight": "fp16"}}
    rep = _rows(hwsim.simulate(acc, wl, layer_formats=fmts))
    assert (
        rep.loc["L0.q_proj"].dram_read_bytes_weight
        == base.loc["L0.q_proj"].dram_read_bytes_weight / 2
    )
    assert rep.loc["L3.down_proj"].dram_read_bytes_weight == 2 * base.loc[
        "L3.down_proj"].dram_read_bytes_weight  # fmt: skip
    assert (
        rep.loc["L1.q_proj"].dram_read_bytes_weight == base.loc["L1.q_proj"].dram_read_bytes_weight
    )
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['L99.q_proj'\]"):
        hwsim.simulate(acc, wl, layer_formats={"L99.q_proj": "int4"})
    with pytest.raises(ValueError, match="unknown operand 'wieght'"):
        hwsim.simulate(acc, wl, layer_formats={"L0.q_proj": {"wieght": "int4"}})


def test_allocate_precision_choice_simulates_directly():
    from hwsim.accel.mapping import PrecisionProblem, allocate_precision

    wl = workloads.Workload("two", (workloads.Layer("a", "gemm", 4, 64, 64),
                                    workloads.Layer("b", "gemm", 4, 64, 64)))  # fmt: skip
    prob = PrecisionProblem(
        layers=("a", "b"),
        formats=("int4", "int8"),
        error=[[1.0, 0.1], [5.0, 0.1]],  # per layer x format
        sensitivity=[1.0, 1.0],
        memory_bits=[[64 * 64 * 4, 64 * 64 * 8]] * 2,
        energy_pj=[[4.0, 8.0]] * 2,
    )
    res = allocate_precision(prob, "energy", error_budget=2.0)
    assert res.choice == {"a": "int4", "b": "int8"}
    rows = _rows(hwsim.simulate(accel.systolic(8, 8), wl, layer_formats=res.choice))
    assert rows.loc["a"].dram_read_bytes_weight == 64 * 64 / 2
    assert rows.loc["b"].dram_read_bytes_weight == 64 * 64


def test_batched_decode_reads_weights_once_per_step():
    acc = accel.systolic(32, 32, dataflow="ws", preload_overlap=True, dram_bw=32,
                         weight_fmt="int4", weight_sram_bytes=1 << 20)  # fmt: skip
    one = _rows(hwsim.simulate(acc, _decode(batch=1)))
    eight = _rows(hwsim.simulate(acc, _decode(batch=8)))
    assert eight.loc["L0.q_proj"].m == 8
    assert (
        eight.loc["L0.q_proj"].dram_read_bytes_weight == one.loc["L0.q_proj"].dram_read_bytes_weight
    )
    # the KV cache is per sequence: 8x the bytes
    assert (
        eight.loc["L0.attn_qk"].dram_read_bytes_kv == 8 * one.loc["L0.attn_qk"].dram_read_bytes_kv
    )
