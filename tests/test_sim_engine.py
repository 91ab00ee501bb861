"""Memory hierarchy, stalls, precision-aware traffic, energy hooks and timeline export."""

import math

import pytest

import hwsim
from hwsim import accel, workloads


def test_limited_bandwidth_adds_stalls_and_bounds_cycles():
    wl = workloads.gemm(64, 4096, 4096)
    fast = hwsim.simulate(accel.systolic(32, 32, dataflow="os"), wl)
    slow = hwsim.simulate(accel.systolic(32, 32, dataflow="os", dram_bw=8), wl)
    assert slow.cycles > fast.cycles
    assert slow.stall_cycles == slow.cycles - fast.cycles
    traffic = slow.layers.filter(regex="^dram_").sum(axis=1).iloc[0]
    assert slow.cycles >= math.ceil(traffic / 8)  # cannot beat the DRAM channel
    assert slow.stalls["dram_bw"] > 0


def test_traffic_scales_with_storage_bits_including_scales():
    wl = workloads.gemm(32, 256, 512)
    big = dict(act_sram_bytes=1 << 22, weight_sram_bytes=1 << 22, out_sram_bytes=1 << 22)
    r8 = hwsim.simulate(accel.systolic(32, 32, weight_fmt="int8", **big), wl)
    r4 = hwsim.simulate(accel.systolic(32, 32, weight_fmt="mxfp4", **big), wl)
    w8 = r8.layers["dram_read_bytes_weight"].iloc[0]
    assert w8 == 256 * 512  # weights read once, 1 byte each
    assert r4.layers["dram_read_bytes_weight"].iloc[0] == pytest.approx(w8 * 4.25 / 8)


def test_weights_refetched_when_they_do_not_fit():
    wl = workloads.gemm(128, 256, 512)  # 128 KB of int8 weights, 4 row folds on 32x32
    fits = hwsim.simulate(accel.systolic(32, 32, weight_sram_bytes=1 << 20), wl, mapping="scalesim")
    small = hwsim.simulate(
        accel.systolic(32, 32, weight_sram_bytes=64 * 1024), wl, mapping="scalesim"
    )
    assert (
        small.layers["dram_read_bytes_weight"].iloc[0]
        == 4 * fits.layers["dram_read_bytes_weight"].iloc[0]
    )


def test_single_buffering_stalls_are_capacity():
    wl = workloads.gemm(256, 1024, 1024)
    r = hwsim.simulate(accel.systolic(32, 32, dram_bw=16, double_buffered=False), wl)
    d = hwsim.simulate(accel.systolic(32, 32, dram_bw=16, double_buffered=True), wl)
    assert r.stalls["capacity"] > 0 and r.stalls["dram_bw"] == 0
    assert r.cycles > d.cycles


def test_dram_latency_is_a_dependency_stall():
    wl = workloads.gemm(64, 64, 64)
    r = hwsim.simulate(accel.systolic(32, 32, dram_latency=500), wl)
    base = hwsim.simulate(accel.systolic(32, 32), wl)
    assert r.stalls["dependency"] >= 500
    assert r.cycles >= base.cycles + 2 * 500  # first load and last write-back both wait


def test_stationary_tile_too_big_names_buffer_and_sizes():
    acc = accel.systolic(128, 128, dataflow="ws", weight_sram_bytes=8 * 1024)
    with pytest.raises(ValueError, match=r"buffer 'weight'.*4096 bytes usable of 8192"):
        hwsim.simulate(acc, workloads.gemm(256, 256, 256), mapping="scalesim")
    # the mapper: no tile fits; names the buffer, what the smallest tile needs and the gap
    with pytest.raises(ValueError, match=r"fits buffer 'weight'.*16384 bytes, 4096 usable"):
        hwsim.simulate(acc, workloads.gemm(256, 256, 256))


def test_bad_configuration_messages():
    with pytest.raises(ValueError, match="rows"):
        accel.systolic(0, 4)
    with pytest.raises(ValueError, match="bandwidth"):
        accel.systolic(4, 4, dram_bw=-1)
    with pytest.raises(ValueError, match="unknown operand format"):
        accel.systolic(4, 4, act_fmt="int99")
    with pytest.raises(ValueError, match="positive int"):
        workloads.gemm(0, 4, 4)


def test_energy_and_area_from_cost_model():
    rep = hwsim.simulate(accel.systolic(16, 16), workloads.gemm(64, 64, 64))
    assert rep.energy_pj > 0 and rep.area_um2 > 0
    row = rep.layers.iloc[0]
    assert rep.energy_dynamic_pj == pytest.approx(
        row.energy_pe_pj + row.energy_sram_pj + row.energy_dram_pj
    )
    assert rep.energy_pj == pytest.approx(rep.energy_dynamic_pj + rep.energy_static_pj)
    assert row.energy_static_pj == pytest.approx(
        row.energy_leak_logic_pj + row.energy_leak_sram_pj + row.energy_clock_pj
    )
    assert row.energy_static_pj > 0
    # int8 MAC events: one multiply per MAC
    assert rep.events["mul_8x8"] == 64**3
    assert rep.area_um2 == pytest.approx(rep.area_pe_um2 + rep.area_sram_um2)
    assert rep.area_pe_um2 > 0 and rep.area_sram_um2 > 0


@pytest.mark.parametrize("lanes", [1, 4, 16])
def test_area_inventory_counts_every_lane(lanes):
    """A bit-serial PE's per-lane hardware (term muxes) is counted lanes times, and the
    adder tree grows with the lanes, so the PE array area grows with lanes."""
    from hwsim.accel.pe_adapter import PETiming

    params = (("a_fmt", "int8"), ("lanes", lanes), ("scheme", "booth"), ("w_fmt", "int4"))
    inv = PETiming("bitserial", params).unit_inventory()
    assert inv["mux_9"] == lanes
    one = PETiming("bitserial", (("lanes", 1),) + params[:1] + params[2:]).unit_inventory()
    area = {
        n: hwsim.simulate(
            accel.systolic(
                4, 4, pe="bitserial", pe_params=dict(params[:1] + ((("lanes", n),)) + params[2:])
            ),
            workloads.gemm(8, 8, 64),
        ).area_pe_um2
        for n in (1, lanes)
    }
    assert sum(inv.values()) >= sum(one.values())
    assert area[lanes] >= area[1] and (lanes == 1 or area[lanes] > area[1])
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        PETiming("bitserial", params).unit_inventory(0)


def test_lut_inventory_follows_the_rtl_lane_across_weight_bits():
    """The LUT lane's area must not grow as its weights shrink: the generated lane
    (rtl/emit_int.py) has the same mux / sign flip / exponent increment / FP16 adder at every
    weight width (only its bit-plane select widens with the bits) and takes the table as an
    input, and Yosys orders the lanes 1 < 2 < 4 bits (rtl/data/llm_pe_area.csv). The
    inventory used to round the busier 1-bit table-precompute adder up to a full FP32 adder
    per PE (1978 -> 5972 um2). rtl/data has no INT8-activation LUT lanes at 1 or 2 bits, so
    only the FP16 lanes are checked against synthesis."""
    from hwsim.evaluators import _pe_area

    designs = ["lut_w1a16", "lut_w2a16", "lut_w4a16"]  # 1, 2, 4 weight bits
    model = [_pe_area(d, "model") for d in designs]
    rtl = [_pe_area(d, "rtl") for d in designs]
    assert rtl == sorted(rtl)  # Yosys: non-decreasing in weight bits
    assert model == sorted(model)  # the model orders them the same way (ties allowed)
    spread = max(model) / min(model)
    assert spread <= max(rtl) / min(rtl) + 1e-9  # and spreads them no more than synthesis


def test_timeline_csv(tmp_path):
    wl = workloads.gemm(64, 64, 64) + workloads.gemm(32, 32, 32)
    rep = hwsim.simulate(accel.systolic(16, 16, dram_bw=32), wl, timeline=True)
    tl = rep.timeline
    array = tl[tl.resource == "array"]
    assert array.end_cycle.max() <= rep.cycles
    assert (array.end_cycle - array.start_cycle).sum() == rep.layers["compute_cycles"].sum()
    path = rep.write_timeline(tmp_path / "t.csv")
    assert path.read_text().startswith("layer,resource,step,start_cycle,end_cycle")


def test_heterogeneous_picks_the_faster_cluster():
    a = accel.systolic(8, 8, dataflow="os", name="small")
    b = accel.systolic(32, 32, dataflow="os", name="big")
    wl = workloads.gemm(256, 256, 256)
    rep = hwsim.simulate(accel.Heterogeneous((a, b)), wl)
    assert rep.cycles == hwsim.simulate(b, wl).cycles
    pinned = hwsim.simulate(accel.Heterogeneous((a, b), (("gemm_256x256x256", 0),)), wl)
    assert pinned.cycles == hwsim.simulate(a, wl).cycles


def test_identical_layers_reuse_results():
    wl = workloads.get("llama2-7b", phase="decode", seq_len=128)
    rep = hwsim.simulate(accel.systolic(32, 32, dataflow="ws"), wl)
    q = rep.layers[rep.layers.layer.str.endswith("q_proj")]
    assert q.cycles.nunique() == 1 and len(q) == 32
    assert rep.cycles == rep.layers.cycles.sum()


def test_refetch_traffic_stalls_count_as_capacity_and_causes_add_up():
    wl = workloads.gemm(256, 1024, 1024)
    fits = hwsim.simulate(accel.systolic(32, 32, dram_bw=32, weight_sram_bytes=4 << 20), wl)
    small = hwsim.simulate(accel.systolic(32, 32, dram_bw=32, weight_sram_bytes=16 << 10), wl)
    assert fits.stalls["capacity"] == 0
    assert small.stalls["capacity"] > 0
    for rep in (fits, small):
        assert sum(rep.stalls.values()) == pytest.approx(rep.stall_cycles)


def test_operand_formats_default_to_the_pe_model():
    acc = accel.systolic(8, 8, pe="dequant_mac")  # int4 weights, fp16 scale per 128, fp16 acts
    assert acc.bits("weight") == 4 + 16 / 128
    assert acc.bits("act") == 16 and acc.bits("out") == 16
    acc = accel.systolic(8, 8, pe="int_mac", pe_params={"w_fmt": "int4"})
    assert acc.bits("weight") == 4
    assert accel.systolic(8, 8, pe="int_mac", weight_fmt=3.5).bits("weight") == 3.5


@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("kind", ["lut", "mixpe", "int_mac"])
def test_layer_events_are_the_pe_models_gemm_events(kind, dataflow):
    """Events do not depend on the dataflow: LUT tables are built once per activation row and
    K-group, MixPE dequantizes once per K-group and output (not once per PE stream)."""
    from hwsim import pe

    m, n, k = 3, 40, 300
    acc = accel.systolic(8, 8, pe=kind, dataflow=dataflow)
    rep = hwsim.simulate(acc, workloads.gemm(m, n, k))
    assert rep.events == pe.get(kind).matmul_events(m, n, k)
