"""hwsim vs ZigZag on small GEMMs (benchmarks/zigzag_compare.py; docs/simulator.md "Side by
side with ZigZag"). The ZigZag half skips unless ``pip install 'zigzag-dse==3.9.1'``
(extra ``hwsim[compare]``) is installed."""

import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "zigzag_compare.py"
_spec = importlib.util.spec_from_file_location("bench_zigzag_compare", _PATH)
zc = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = zc  # its dataclass resolves annotations through sys.modules
_spec.loader.exec_module(zc)

INSTALL = "ZigZag not installed: pip install 'zigzag-dse==3.9.1' (or hwsim[compare])"

# decode-like (M=1: every operand moves once) and prefill-like (M > 1: reuse decides traffic)
DECODE = (1, 1024, 1024)
PREFILL = (512, 2048, 4096)


def compulsory(m: int, n: int, k: int) -> dict:
    """Hand-derived minimum DRAM bytes of an int8 GEMM: each operand once, output written once."""
    return {"act": m * k, "weight": k * n, "out": m * n}


def test_matched_config_is_tpu_like():
    """hwsim's side of the comparison: 32 x 32 WS, 128 KiB weights (1024 PEs x 128 B), 2 MiB
    shared by act and out, 8 B/cycle, 16-bit partial sums (numbers of ZigZag's tpu_like.yaml)."""
    acc = zc.hwsim_accelerator(0.25)
    assert (acc.rows, acc.cols, acc.dataflow) == (32, 32, "ws")
    size = {b.name: b.size_bytes for b in acc.buffers}
    assert size == {
        "act": 16777216 // 8 // 4,
        "weight": 32 * 32 * 128,
        "out": 16777216 // 8 * 3 // 4,
    }
    assert not any(b.double_buffered for b in acc.buffers)
    assert acc.dram.bandwidth_bytes_per_cycle == 64 / 8
    assert dict(acc.pe_params)["acc_bits"] == 16
    assert dict(acc.formats) == {"act": "int8", "weight": "int8", "out": "int8"}


def test_hwsim_decode_moves_compulsory_bytes():
    r = zc.run_hwsim(*DECODE, "energy")
    assert r.dram == {k: float(v) for k, v in compulsory(*DECODE).items()}


@pytest.mark.parametrize("shape", [DECODE, PREFILL], ids=["decode", "prefill"])
def test_hwsim_dram_bytes_not_above_zigzag(shape):
    pytest.importorskip("zigzag", reason=INSTALL)
    zz = min(
        (zc.run_zigzag(*shape, opt) for opt in ("latency", "energy")),
        key=lambda r: r.total,
    )
    hw = zc.run_hwsim(*shape, "energy")
    floor = sum(compulsory(*shape).values())
    assert floor <= hw.total <= zz.total
    if shape == DECODE:  # both move exactly the compulsory bytes, operand by operand
        assert zz.dram == hw.dram == {k: float(v) for k, v in compulsory(*shape).items()}


def test_zigzag_counts_hwsim_mapping_identically():
    """Independent oracle: ZigZag's cost model, given hwsim's chosen loop nest as a pinned
    temporal ordering, counts the same DRAM bytes operand by operand."""
    pytest.importorskip("zigzag", reason=INSTALL)
    hw = zc.run_hwsim(*PREFILL, "energy")
    ordering = zc.zigzag_ordering(*PREFILL, hw.mapping)
    assert ordering[0][0] == "B"  # the PE streams tokens (hwsim's M)
    assert zc.run_zigzag_pinned(*PREFILL, ordering).dram == hw.dram


def test_zigzag_ordering_translation():
    """Hand-translated: SRAM tile M512 N1024 K32 with DRAM order N>K on 512 x 4096 x 4096 is,
    innermost first, 512 tokens, 32 column folds, 128 K steps, 4 N steps (ZigZag: B, K, C)."""
    got = zc.zigzag_ordering(512, 4096, 4096, "sram B1 M512 N1024 K32; dram N>K act 0.125")
    assert got == [["B", 512], ["K", 32], ["C", 128], ["K", 4]]
    with pytest.raises(ValueError, match="divide"):
        zc.zigzag_ordering(512, 11008, 4096, "sram B1 M512 N1024 K32; dram N>K")


# The documented gap (docs/simulator.md): N = 2752 = 32 x 86 is not 32 x 2^j. With 16-bit partial
# sums of 512 tokens in at most 7/8 of 2 MiB, an N tile holds <= 1792 columns: the power-of-two
# candidates give N1024 (3 passes over the activations), the balanced ones N1376 (2 passes).
GAP = (512, 2752, 4096)


def test_mapper_candidates_include_balanced_tiles():
    """For every trip count t <= BALANCED_TRIPS the mapper tries the smallest tile covering the
    dimension in t trips (ZigZag's 1376-column tile of N = 11008 is 8 trips)."""
    from hwsim.accel.mapping.gemm_mapper import BALANCED_TRIPS, _candidates

    got = set(_candidates(11008, 32).tolist())
    assert {32, 1376, 5504, 11008} <= got  # 344, 8, 2 and 1 trips
    for t in range(1, BALANCED_TRIPS + 1):
        assert -(-344 // t) * 32 in got
    assert all(v % 32 == 0 for v in got if v != 11008)
    assert _candidates(5, 32).tolist() == [5]


def test_gap_closed_hand_derived():
    """N = 2752 = 86 x 32: power-of-two tiles give N1024 (3 activation passes); the balanced
    N1376 gives 2: 2 M K + K N + M N bytes (int8)."""
    m, n, k = GAP
    assert zc.run_hwsim(*GAP, "energy").total == 2 * m * k + k * n + m * n


def test_gap_against_zigzag():
    """With balanced tiles hwsim moves no more than ZigZag on the shape that used to lose."""
    pytest.importorskip("zigzag", reason=INSTALL)
    zz = min((zc.run_zigzag(*GAP, opt) for opt in ("latency", "energy")), key=lambda r: r.total)
    assert zz.total >= zc.run_hwsim(*GAP, "energy").total


def test_resnet18_convs_and_zigzag_conv_format():
    """The conv side of the comparison: ResNet-18's 11 unique convolutions, each written for
    ZigZag in its own dimensions on the padded input (ix = stride * ox + fx)."""
    convs = zc.resnet18_convs()
    assert len(convs) == 11
    name, conv1 = convs[0]
    assert name == "conv1" and conv1.conv[:8] == (1, 64, 3, 112, 112, 7, 7, 2)
    (zz,) = zc.zigzag_conv_layer(conv1.conv)
    assert zz["loop_sizes"] == [1, 64, 3, 112, 112, 7, 7]
    assert zz["dimension_relations"] == ["ix=2*ox+1*fx", "iy=2*oy+1*fy"]
    # hwsim reads the touched padded input once: 3 x 229 x 229 (hand count)
    hw = zc.run_hwsim_workload(conv1, "energy")
    assert hw.dram["act"] == 3 * 229 * 229


def test_hwsim_conv_dram_bytes_not_above_zigzag():
    pytest.importorskip("zigzag", reason=INSTALL)
    _, lay = zc.resnet18_convs()[7]  # layer3.0.downsample: 1x1, stride 2
    zz = zc.run_zigzag_layer(zc.zigzag_conv_layer(lay.conv), "energy")
    hw = zc.run_hwsim_workload(lay, "energy")
    assert hw.total <= zz.total
