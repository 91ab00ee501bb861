"""Deliberately injected RTL bugs must be caught by the step-model bench.

Each mutation edits the generated Verilog text (the generator itself stays correct), the
bench runs on Icarus with a fixed seed, and the test asserts that the run FAILS with a
per-cycle mismatch message (cycle, inputs, expected and actual state).
"""

from __future__ import annotations

import dataclasses

import pytest

from hwsim.rtl import tools
from hwsim.rtl.emit import generate
from hwsim.rtl.runner import DEFAULT_PARAMS, run_one

IM, IM_SAT = DEFAULT_PARAMS["int_mac"]
ST, BO = DEFAULT_PARAMS["bitserial"][:2]
BX, BA = DEFAULT_PARAMS["bipolar"]
SA = DEFAULT_PARAMS["shiftadd"][0]
BM = DEFAULT_PARAMS["bitserial"][3]  # bitmod, FP4 extended-type weights
FU = DEFAULT_PARAMS["bitserial"][6]  # fusion, uint3 x int8
BF = DEFAULT_PARAMS["bitserial"][7]  # bitmod, FP16 activations
AP, NZ, SF, LM = DEFAULT_PARAMS["shiftadd"][2:6]  # APoT, zero-free PoT, FP16, L-Mul
FP, FPF = DEFAULT_PARAMS["fp_fma"][:2]
FA32, FA_BF = DEFAULT_PARAMS["fp_fma"][4], DEFAULT_PARAMS["fp_fma"][6]  # aligning datapath
DQ = DEFAULT_PARAMS["dequant_mac"][0]
MX8, MX16 = DEFAULT_PARAMS["mixpe"][0], DEFAULT_PARAMS["mixpe"][3]  # W4A8, W4A16
LU = DEFAULT_PARAMS["lut"][0]
LF = DEFAULT_PARAMS["lut"][2]  # FP16 activations
FE4, FNUZ = DEFAULT_PARAMS["fp_fma"][-2:]  # operands without inf (E4M3 x E2M1; fnuz)
DQ_FP4, DQ_BIP = DEFAULT_PARAMS["dequant_mac"][-2:]  # FP4 E2M1 and bipolar4 weights
ARR_MX, ARR_LUT = DEFAULT_PARAMS["systolic"][-1], DEFAULT_PARAMS["systolic"][1]  # 2x2, 1x4
ARR_ROW = DEFAULT_PARAMS["systolic"][2]  # LUT tile row, table broadcast to 3 lanes

# (name, kind, params, old text, new text)
MUTATIONS = [
    ("mac_ignores_enable", "int_mac", IM, "end else if (en) begin", "end else begin"),
    ("mac_start_does_not_clear", "int_mac", IM, "= start ? {20{1'b0}} : acc;", "= acc;"),
    ("mac_wraps_instead_of_saturating", "int_mac", IM_SAT, "acc_o ? (acc_sum[", "1'b0 ? (acc_sum["),
    ("overflow_flag_not_sticky", "int_mac", IM_SAT, "(~start & ovf) | ", ""),
    ("mac_product_unsigned", "int_mac", IM, "= {a[7], a[7:0]};", "= {1'b0, a[7:0]};"),
    ("stripes_sign_plane_added", "bitserial", ST, "(first) ? -part_x : part_x", "part_x"),
    (
        "booth_minus2_as_plus2",
        "bitserial",
        BO,
        "(win[2:0] == 3'b100) ? -a2_0",
        "(win[2:0] == 3'b100) ? a2_0",
    ),
    ("booth_digit_shift_off_by_one", "bitserial", BO, "<<< {step, 1'b0}", "<<< step"),
    ("bipolar_mask_ignored", "bipolar", BX, "= (ap ^ wp) & mask;", "= (ap ^ wp);"),
    ("bipolar_and_sign_plane_not_negated", "bipolar", BA, "(si == 2'd2) ? -d : d", "d"),
    ("shiftadd_sign_ignored", "shiftadd", SA, "(ws0 ? -tt0 : tt0)", "tt0"),
    ("shiftadd_apot_second_term_dropped", "shiftadd", AP, "= m0_0 + m0_1;", "= m0_0;"),
    ("shiftadd_nz_shift_off_by_one", "shiftadd", NZ, "<<< wd1[2:1];", "<<< wd1[2:1] + 2'd1;"),
    ("bitmod_second_term_repeats_first", "bitserial", BM, "first ? hi0 : lo0", "hi0"),
    ("bitmod_decoder_sign_ignored", "bitserial", BM, "(wd1[5] ? -sh1 : sh1)", "sh1"),
    ("fusion_top_brick_unsigned", "bitserial", FU, "{y0[7], y0[7:6]}", "{1'b0, y0[7:6]}"),
    ("fusion_brick_shift_off_by_two", "bitserial", FU, "{bb1_1_0, {2{", "{bb1_1_0, {4{"),
    ("bitmod_fp_acc_not_aligned", "bitserial", BF, "ya = mbx >>> (ee - eb);", "ya = mbx;"),
    ("bitmod_fp_normalise_late", "bitserial", BF, "nb - 5'd14 :", "nb - 5'd13 :"),
    ("shiftadd_fp_underflow_kept", "shiftadd", SF, " | (pt < -14'sd14)", ""),
    ("lmul_mantissa_sum_dropped", "shiftadd", LM, "{1'b1, lr[2:0]}", "{1'b1, 3'd0}"),
    ("lut_mirror_sign_ignored", "lut", LU, "wire flip = ~idx[0];", "wire flip = 1'b0;"),
    ("lut_plane_shift_dropped", "lut", LU, "<<< step;", ";"),
    ("lut_fp_mirror_sign_ignored", "lut", LF, "{entry[15] ^ flip,", "{entry[15],"),
    ("fp_sum_truncates_instead_of_rne", "fp_fma", FPF, "rs_g & (rs_st | rs_kept[0])", "1'b0"),
    ("fp_product_truncates", "fp_fma", FP, "rp_g & (rp_st | rp_kept[0])", "1'b0"),
    ("fp_subnormal_gets_hidden_bit", "fp_fma", FP, "{|da_e, da_f}", "{1'b1, da_f}"),
    ("fp_no_overflow_to_inf", "fp_fma", FP, "(rp_c >= ", "1'b0 & (rp_c >= "),
    ("fpa_round_sticky_dropped", "fp_fma", FA32, "(far_st | far_kept[0])", "far_kept[0]"),
    ("fpa_sum_truncates_instead_of_rne", "fp_fma", FA32, "far_g & (far_st | far_kept[0])", "1'b0"),
    ("fpa_ftz_product_not_flushed", "fp_fma", FA_BF, "(rp_c < 23'd128) | ", ""),
    ("dequant_zero_point_added", "dequant_mac", DQ, "qz = wq_x - zs_x", "qz = wq_x + zs_x"),
    ("dequant_scale_subnormal_hidden_bit", "dequant_mac", DQ, "{|ds_e, ds_f}", "{1'b1, ds_f}"),
    ("mixpe_zero_point_correction_added", "mixpe", MX8, "psum} - {{", "psum} + {{"),
    ("mixpe_shiftadd_sign_bit_added", "mixpe", MX8, "- t0_3;", "+ t0_3;"),
    ("mixpe_dequant_one_cycle_early", "mixpe", MX8, "acc <= pend ?", "acc <= gend ?"),
    ("mixpe_w4a16_zero_point_ignored", "mixpe", MX16, "qz = wq_x - zs_x", "qz = wq_x"),
    # operand decoders of formats without inf: IEEE specials or the default bias assumed
    ("e4m3_top_binade_read_as_inf", "fp_fma", FE4, "wire da_inf = 1'b0;", "wire da_inf = &da_e;"),
    ("fnuz_bias_taken_as_ieee", "fp_fma", FNUZ, "dw_ee}) - 14'sd18;", "dw_ee}) - 14'sd17;"),
    ("dequant_fp4_top_binade_as_inf", "dequant_mac", DQ_FP4, "dq_inf = 1'b0;", "dq_inf = &dq_e;"),
    ("dequant_bipolar_offset_off_by_one", "dequant_mac", DQ_BIP, "- 6'sd16;", "- 6'sd15;"),
    # array wrapper: a bus that skips its pipeline register reaches the next PE a cycle early
    (
        "array_weight_bus_unregistered",
        "systolic",
        ARR_MX,
        "assign v_1_0 = vr_0_0;",
        "assign v_1_0 = v_0_0;",
    ),
    (
        "array_table_bus_unregistered",
        "systolic",
        ARR_LUT,
        "assign h_0_1 = hr_0_0;",
        "assign h_0_1 = h_0_0;",
    ),
    ("tile_row_lane_reads_lane0_weights", "systolic", ARR_ROW, ".w(v_0_1[", ".w(v_0_0["),
]


@pytest.mark.parametrize("name,kind,params,old,new", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_injected_bug_is_caught(name, kind, params, old, new):
    tools.setup_path()
    if tools.missing("icarus"):
        pytest.skip(tools.missing("icarus"))
    d = generate(kind, **dict(params))
    assert d.verilog.count(old) >= 1, f"mutation {name}: pattern not in generated RTL"
    bad = dataclasses.replace(d, verilog=d.verilog.replace(old, new, 1))
    r = run_one(kind, dict(params), "icarus", nvec=800, seed=11, design=bad, tag=f"_mut_{name}")
    assert r.passed is False, f"mutation {name} was NOT caught"
    assert "mismatch at checked cycle" in r.message and "seed=11" in r.message, r.message


# ----------------------------------------------------------------- accelerator tile (emit_tile)
# (name, tile case, marker of the generated line, old text, new text); cases: DEFAULT_TILES
# indices 0..2 (mapping "scalesim"), "n_outer": MAPPED_TILES[0] (a pinned loop nest),
# "k_split": MAPPED_TILES[2] (a nest splitting K, partial sums through DRAM)
TILE_MUTATIONS = [
    # the activation address generator reads chunk k + 1 (off by one)
    ("tile_act_address_off_by_one", 0, "MUT:a_addr", ";  // MUT", " + 1'b1;  // MUT"),
    # weights are preloaded only in the first row fold although they do not stay resident
    ("tile_weight_preload_skipped", 0, "MUT:need_w", "= !w_ok || (w_tag != tj);",
     "= (ti == 16'd0);"),
    # results spilled to the wrong DRAM block (block index bit 0 flipped)
    ("tile_spill_to_wrong_block", 2, "MUT:spill", "dma_blk <= ", "dma_blk <= 16'd1 ^ "),
    # the capture happens one drain cycle early: the last PE has not finished
    ("tile_drain_one_cycle_short", 1, "MUT:drain", ") st <= S_CAP;", " - 1'b1) st <= S_CAP;"),
    # loop-nest controller: the weight tile is reloaded every step although the nest keeps it
    # resident across the inner M loop (DRAM weight bytes exceed the nest's)
    ("tile_nest_weight_reloaded_while_resident", "n_outer", "MUT:need_w", "!w_ok ||",
     "1'b1 ||"),
    # loop-nest controller: the act tile is not reloaded when the inner M loop moves on (the
    # tag is ignored): later steps compute with a stale act tile
    pytest.param("tile_nest_act_not_reloaded", "n_outer", "MUT:need_a", "|| (a_tag != ti)", "",
                 marks=pytest.mark.slow, id="tile_nest_act_not_reloaded"),
    # K split (partial sums through DRAM): the second K tile does not read its partial sums
    # back, so its captures resume from whatever the out buffer holds (another output tile)
    ("tile_k_split_psum_not_reloaded", "k_split", "MUT:need_p", "= !first_tk;", "= 1'b0;"),
    # K split: partial sums spilled in the output format (DMA op 2, 1 B per element) instead
    # of the accumulator width: DRAM bytes and the block read back no longer match
    pytest.param("tile_k_split_spill_in_output_format", "k_split", "MUT:store",
                 "(last_tk ? 2'd2 : 2'd3)", "2'd2", marks=pytest.mark.slow,
                 id="tile_k_split_spill_in_output_format"),
]  # fmt: skip


@pytest.mark.parametrize(
    "name,idx,marker,old,new", TILE_MUTATIONS,
    ids=[m[0] if isinstance(m, tuple) else m.id for m in TILE_MUTATIONS],
)  # fmt: skip
def test_injected_tile_bug_is_caught(name, idx, marker, old, new, tmp_path):
    import hwsim
    from hwsim.rtl.emit_tile import tile_design
    from hwsim.rtl.tile_check import DEFAULT_TILES, MAPPED_TILES, check_tile, simulate_mapping

    tools.setup_path()
    if tools.missing("icarus"):
        pytest.skip(tools.missing("icarus"))
    if idx in ("n_outer", "k_split"):
        _, kw, mnk, mapping = MAPPED_TILES[0 if idx == "n_outer" else 2]
    else:
        (_, kw, mnk), mapping = DEFAULT_TILES[idx], "scalesim"
    acc = hwsim.accel.systolic(dataflow="os", **kw)
    layer = hwsim.workloads.gemm(*mnk).layers[0]
    d = tile_design(acc, layer, mapping)
    lines = d.verilog.splitlines(keepends=True)
    hits = [i for i, ln in enumerate(lines) if marker in ln and old in ln]
    assert len(hits) == 1, f"mutation {name}: pattern not in generated RTL"
    lines[hits[0]] = lines[hits[0]].replace(old, new, 1)
    bad = dataclasses.replace(d, verilog="".join(lines))
    row = hwsim.simulate(acc, layer, mapping=simulate_mapping(layer, mapping)).layers.iloc[0]
    res = check_tile(acc, layer, "icarus", row, seed=3, design=bad, build_dir=tmp_path)
    assert res.passed is False, f"mutation {name} was NOT caught"
    assert res.message, res.message
