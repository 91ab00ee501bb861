"""Report throughput measures: busy fraction, MACs/cycle and fraction of peak say what they are."""

import pytest

import hwsim


def _run(pe, **params):
    acc = hwsim.accel.systolic(32, 32, pe=pe, dataflow="os", pe_params=params)
    return hwsim.simulate(acc, hwsim.workloads.gemm(1024, 1024, 1024))


def test_int_mac_one_mac_per_busy_pe_cycle():
    rep = _run("int_mac")
    assert rep.macs == 1024**3  # M x N x K
    assert rep.peak_macs_per_cycle == 32 * 32  # one MAC per PE per cycle
    assert rep.macs_per_cycle == pytest.approx(1024**3 / rep.cycles)
    assert rep.array_busy_fraction == rep.utilization  # CONTRACT: the old name stays
    assert rep.peak_fraction == pytest.approx(rep.utilization, rel=1e-9)


def test_bitserial_busy_fraction_is_not_the_peak_fraction():
    rep = _run("bitserial", scheme="booth", a_fmt="int8", w_fmt="int4")
    # README: this PE does a 4096-MAC dot product in 512 cycles -> 8 MACs per PE-cycle
    assert rep.peak_macs_per_cycle == 32 * 32 * 8
    assert rep.peak_fraction == pytest.approx(rep.macs_per_cycle / (32 * 32 * 8))
    assert 0 < rep.peak_fraction <= rep.array_busy_fraction <= 1
