"""Quantization methods of the LLM evaluation (hwsim.accuracy.llm: smoothquant, hadamard,
gptq, awq, clip, outlier, methods, table). Default tier: a tiny synthetic Llama and synthetic
layers (no model file needed); the real SmolLM2 under -m slow."""

from pathlib import Path

import numpy as np
import pytest

import hwsim.formats
from hwsim.accuracy import llm_perplexity
from hwsim.accuracy.llm import awq, clip, gptq, hadamard, loader, migrate, smoothquant, table
from hwsim.accuracy.llm import model as M
from hwsim.accuracy.llm.calibrate import collect_stats, truncated
from hwsim.accuracy.llm.methods import apply_method
from hwsim.accuracy.llm.outlier import split_matmul
from hwsim.accuracy.qgemm import quantize_rows

ROOT = Path(__file__).resolve().parents[1]
MISSING = loader.missing()
needs_model = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


# ------------------------------------------------------------------ a tiny synthetic Llama
def tiny_llama(seed: int = 0) -> loader.LlamaWeights:
    """2 blocks, hidden 24 = 12 * 2, FFN 48 = 12 * 4, 3 query heads / 1 KV head of 8
    (GQA), vocabulary 40; gains away from 1 so that folding them matters."""
    cfg = loader.LlamaConfig(2, 24, 48, 3, 1, 8, 40, 64, 10000.0, 1e-5)
    rng = np.random.default_rng(seed)

    def mat(r, c):
        return (rng.standard_normal((r, c)) * 0.3).astype(np.float32)

    def gain(n):
        return rng.uniform(0.5, 2.0, n).astype(np.float32)

    blocks = []
    for _ in range(cfg.layers):
        blocks.append({
            "q_proj": mat(24, 24), "k_proj": mat(8, 24), "v_proj": mat(8, 24),
            "o_proj": mat(24, 24), "gate_proj": mat(48, 24), "up_proj": mat(48, 24),
            "down_proj": mat(24, 48), "attn_norm": gain(24), "ffn_norm": gain(24),
        })  # fmt: skip
    embed = mat(40, 24)
    embed[:, 3] *= 20.0  # an outlier channel of the residual stream
    return loader.LlamaWeights(cfg, embed, tuple(blocks), gain(24), (), ())


IDS = np.array([[1, 5, 9, 2, 33, 17, 8, 8, 30, 4, 11, 39, 0, 21, 6, 15]])


FLOAT, NO_ONLINE = M.QuantSpec(), M.Online()


def logits(w, quant=FLOAT, online=NO_ONLINE):
    return M.Llama(w, quant, online=online).logits(IDS)[0].astype(np.float64)


def rel(a, b) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def tiny():
    w = tiny_llama()
    ids = np.random.default_rng(1).integers(0, 40, 96)
    return w, collect_stats(w, ids, 32)


# ------------------------------------------------------------------ Hadamard
def test_hadamard_matrices_are_exactly_orthogonal():
    for n in (12, 24, 48, 576, 1536, 64):
        h = hadamard.hadamard(n)
        assert set(np.unique(h)) == {-1, 1}
        assert np.array_equal(h @ h.T, n * np.eye(n, dtype=np.int64))  # integers: exact
    q = hadamard.rotation(576)
    assert np.abs(q @ q.T - np.eye(576)).max() < 1e-13
    a, b = hadamard._down_factors(1536)
    u = np.random.default_rng(0).standard_normal((3, 1536))
    assert np.allclose(hadamard.kron_apply(u, a, b), u @ np.kron(a, b), atol=1e-12)
    with pytest.raises(ValueError, match="12\\^a"):
        hadamard.hadamard(20)


def test_hadamard_rotated_fp32_model_gives_the_same_logits(tiny):
    w, _ = tiny
    base = logits(w)
    new, online = apply_method(w, M.QuantSpec(), "hadamard")
    assert new.head is not None and not np.allclose(new.embed, w.embed)
    assert rel(logits(new, online=online), base) < 1e-5  # float32 rounding only
    # the mutation: forgetting the online rotation before down_proj changes the model
    broken = M.Online(qk_rotation=online.qk_rotation)
    assert rel(logits(new, online=broken), base) > 1e-2


def test_hadamard_spreads_the_outlier_channel(tiny):
    w, _ = tiny
    new, _ = apply_method(w, M.QuantSpec(), "hadamard")
    peak = np.abs(w.embed).max(axis=0)
    rpeak = np.abs(new.embed).max(axis=0)
    assert peak.max() / np.median(peak) > 5 and rpeak.max() / np.median(rpeak) < 2


# ------------------------------------------------------------------ SmoothQuant
def test_smoothquant_fp32_equivalence(tiny):
    w, st = tiny
    new, _ = apply_method(w, M.QuantSpec(), "smoothquant", stats=st)
    assert not np.allclose(new.blocks[0]["q_proj"], w.blocks[0]["q_proj"])
    assert rel(logits(new), logits(w)) < 1e-5


def _outlier_layer(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((256, 64))
    x[:, [5, 17, 40]] *= 60.0  # outlier activation channels (Xiao et al. 2023, Fig. 4)
    wt = rng.standard_normal((32, 64)) * 0.1
    return x, wt


def _w8a8_error(x, wt, s):
    f = M.resolve_format("int8")
    y = quantize_rows(f, x / s).values @ quantize_rows(f, wt * s).values.T
    return float(np.mean((y - x @ wt.T) ** 2))


def test_smoothquant_reduces_w8a8_error_on_outlier_channels():
    x, wt = _outlier_layer()
    s = smoothquant.smooth_scales(np.abs(x).max(0), np.abs(wt).max(0), 0.5)
    plain = _w8a8_error(x, wt, np.ones(64))
    assert _w8a8_error(x, wt, s) < 0.2 * plain
    assert _w8a8_error(x, wt, 1.0 / s) > plain  # inverted direction makes it worse
    assert np.array_equal(smoothquant.smooth_scales([0.0, 2.0], [1.0, 0.0], 0.5), [1.0, 1.0])
    with pytest.raises(ValueError, match="alpha"):
        smoothquant.smooth_scales([1.0], [1.0], 1.5)


def test_migration_under_gqa_needs_tied_scales(tiny):
    w, _ = tiny
    s = np.ones(24)
    s[0] = 2.0  # head 0 only: its KV head also feeds heads 1 and 2
    with pytest.raises(ValueError, match="sharing a KV head"):
        migrate.fold_scales(w.blocks[0], "o_in", s, w.config)
    tied = migrate.gqa_tie(s, w.config)
    assert tied[0] == tied[8] == tied[16] == 2.0
    with pytest.raises(ValueError, match="finite and > 0"):
        migrate.fold_scales(w.blocks[0], "attn_in", np.zeros(24), w.config)


# ------------------------------------------------------------------ GPTQ
def _correlated(seed=0, n=512, k=16):
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((k, k)) + 2.0 * np.eye(k)
    return rng.standard_normal((n, k)) @ mix


def gptq_reference(w, h, quant_col, damp=0.01):
    """Algorithm 1 of Frantar et al. 2023 one row and one column at a time (no lazy batch,
    no vectorization): q_j = quant(w_j), w_{j+1:} -= (w_j - q_j) / U_jj * U_{j, j+1:}."""
    h = h.astype(np.float64).copy()
    k = len(h)
    h += damp * np.mean(np.diag(h)) * np.eye(k)
    u = np.linalg.cholesky(np.linalg.inv(h)).T  # upper, H^-1 = U^T U
    out = np.zeros_like(w, dtype=np.float64)
    for r in range(w.shape[0]):
        row = w[r].astype(np.float64).copy()
        for j in range(k):
            out[r, j] = quant_col(np.array([row[j]]), j, r)[0]
            e = (row[j] - out[r, j]) / u[j, j]
            for m in range(j + 1, k):
                row[m] -= e * u[j, m]
    return out


def _nvfp4_col(v, s):
    """NVFP4's element rounding (formats/nvfp4.py): float32 x times float32 1 / scale."""
    el = hwsim.formats.get("nvfp4").element
    return np.asarray(el.quantize(np.float32(v) * (np.float32(1.0) / np.float32(s))), np.float64)


@pytest.mark.parametrize("fmt", ["int4", "int4_g128", "mxfp4", "nvfp4"])
def test_gptq_equals_the_reference_and_beats_round_to_nearest(fmt):
    k = 160 if fmt == "int4_g128" else 64  # two groups of 128 / two MX blocks of 32
    x = _correlated(k=k)
    wt = np.random.default_rng(2).standard_normal((6, k))
    h = 2.0 * x.T @ x
    f = M.resolve_format(fmt)
    grid, rtn = gptq.grid_for(f, wt)

    def quant_col(v, j, r):
        g = j // grid.block
        s = grid.scales[r, g]
        if fmt == "nvfp4":
            return _nvfp4_col(v, s) * s
        return (np.asarray(grid.element.quantize(v / s))) * s

    op = gptq.gptq(wt, h, f, block=16)  # several lazy-batch blocks
    ref = gptq_reference(wt, h, quant_col)
    assert np.array_equal(op.values, ref)
    err = [float(np.sum((x @ (wt - q).T) ** 2)) for q in (op.values, rtn.values)]
    assert err[0] < 0.9 * err[1]  # no error feedback would give err[0] == err[1]
    # the operand is consistent: elements x scales are the values (PE paths use them)
    s = np.repeat(op.scales, op.block, axis=1)[:, :k]
    assert np.array_equal(op.elements * s, op.values)


def test_gptq_grid_rounds_nvfp4_near_ties_as_the_format_does():
    # block scale 5.625 / 6 = 0.9375 (E4M3); 1.171875 / 0.9375 = 1.25 is an E2M1 tie in
    # float64 (-> 1.0), but NVFP4 multiplies by float32(1 / 0.9375) and lands above it (1.5)
    wt = np.zeros((2, 16))
    wt[:, 0], wt[:, 1] = 5.625, 1.171875
    grid, rtn = gptq.grid_for(M.resolve_format("nvfp4"), wt)  # raised before the fix
    assert rtn.values[0, 1] == 1.5 * 0.9375 == grid.matrix(wt)[0, 1]
    op = gptq.gptq(wt, np.eye(16), "nvfp4")
    assert np.array_equal(op.values, rtn.values)


def test_gptq_without_correlation_is_round_to_nearest():
    wt = np.random.default_rng(3).standard_normal((5, 32))
    f = M.resolve_format("int4")
    op = gptq.gptq(wt, np.eye(32), f)  # U diagonal: no error reaches other columns
    assert np.array_equal(op.values, quantize_rows(f, wt).values)


def test_gptq_rejects_what_it_cannot_do():
    wt = np.ones((2, 32))
    with pytest.raises(ValueError, match="one element format"):
        gptq.grid_for("bitmod_fp4", wt)
    with pytest.raises(ValueError, match="needs a weight format"):
        gptq.grid_for(None, wt)
    with pytest.raises(ValueError, match="damping"):
        gptq.gptq(wt, np.eye(32), "mxfp4", damp=0.0)
    with pytest.raises(ValueError, match="Hessian shape"):
        gptq.gptq(wt, np.eye(8), "mxfp4")
    for fmt in ("nvfp4", "int4_g128", "fp8_e4m3"):
        gptq.grid_for(M.resolve_format(fmt), np.random.default_rng(0).standard_normal((3, 256)))


def test_gptq_in_the_model_uses_its_operands(tiny):
    w, st = tiny
    q = M.QuantSpec("int4")
    new, online = apply_method(w, q, "gptq", stats=st)
    net = M.Llama(new, q, online=online)
    assert net._wq[(0, "q_proj")] is online.quantized[(0, "q_proj")]
    assert np.isfinite(logits(new, q, online)).all()


# ------------------------------------------------------------------ AWQ, clip, LLM.int8
def _salient_layer(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((512, 64)) * 0.1
    x[:, :4] *= 100.0  # salient channels (Lin et al. 2024, Sec. 3.1)
    wt = rng.standard_normal((16, 64))
    return x, wt


def _out_err(x, wt, weff):
    return float(np.sum((x @ (wt - weff).T) ** 2))


def test_awq_beats_rtn_on_salient_channels_and_a0_is_rtn():
    x, wt = _salient_layer()
    f, gram = M.resolve_format("int3"), x.T @ x
    mean = np.abs(x).mean(0)
    rtn = _out_err(x, wt, quantize_rows(f, wt).values)
    a, s, errs = awq.search([wt], mean, f, gram)
    assert a > 0 and errs[0] == pytest.approx(rtn, rel=1e-5)
    assert _out_err(x, wt, quantize_rows(f, wt * s).values / s) < 0.7 * rtn
    a0, s0, _ = awq.search([wt], mean, f, gram, grid=1)
    assert a0 == 0.0 and np.array_equal(s0, np.ones(64))


def test_awq_and_clip_at_identity_leave_the_model_unchanged(tiny):
    w, st = tiny
    q = M.QuantSpec("int4")
    for method, params in (("awq", {"grid": 1}), ("clip", {"ratios": (1.0,)})):
        new, _ = apply_method(w, q, method, params, stats=st)
        for b0, b1 in zip(w.blocks, new.blocks, strict=True):
            for key in b0:
                assert np.array_equal(b0[key], b1[key]), (method, key)


def test_clip_beats_rtn_on_a_weight_outlier_and_ratio_1_is_rtn():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((512, 64))
    x[:, 0] *= 0.01  # the outlier weight sits on an almost idle input
    wt = rng.standard_normal((8, 64))
    wt[:, 0] = 30.0
    f, gram = M.resolve_format("int4"), x.T @ x
    rtn = _out_err(x, wt, quantize_rows(f, wt).values)
    wc, r = clip.clip_layer(wt, f, gram)
    assert (r < 1).all() and _out_err(x, wt, quantize_rows(f, wc).values) < 0.5 * rtn
    w1, r1 = clip.clip_layer(wt, f, gram, ratios=(1.0,))
    assert np.array_equal(w1, wt) and (r1 == 1).all()
    with pytest.raises(ValueError, match="start with 1.0"):
        clip.clip_layer(wt, f, gram, ratios=(0.9,))
    # per block: a group of 32 is clipped to r times its own max
    c = clip.clip_blocks(np.array([[4.0, 1.0, -2.0, 0.5]]), 2, 0.5)
    assert np.array_equal(c, [[2.0, 1.0, -1.0, 0.5]])


def test_llm_int8_split_beats_rtn_and_equals_it_without_outliers():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 32))
    x[:, 7] = 40.0 * rng.standard_normal(64)  # one outlier feature (|x| > 6)
    wt = rng.standard_normal((16, 32))
    f = M.resolve_format("int4")
    exact = x @ wt.T
    rtn = quantize_rows(f, x).values @ quantize_rows(f, wt).values.T
    split = split_matmul(x, wt, f, f, 6.0)
    assert np.mean((split - exact) ** 2) < 0.2 * np.mean((rtn - exact) ** 2)
    plain = split_matmul(x, wt, f, f, 1e9)
    runner = M._f32_gemm(quantize_rows(f, x).values, quantize_rows(f, wt).values.T)
    assert np.array_equal(plain, runner)  # the model's RTN GEMM, bit for bit
    with pytest.raises(ValueError, match="threshold"):
        split_matmul(x, wt, f, f, 0.0)


def test_llm_int8_in_the_model(tiny):
    w, _ = tiny
    q = M.QuantSpec("int8", "int4")
    base, rtn = logits(w), logits(w, q)
    _, online = apply_method(w, q, "llm_int8")
    split = logits(w, q, online)
    assert np.mean((split - base) ** 2) < np.mean((rtn - base) ** 2)
    _, off = apply_method(w, q, "llm_int8", {"threshold": 1e9})
    assert np.array_equal(logits(w, q, off), rtn)


# ------------------------------------------------------------------ names and combinations
def test_bad_methods_and_combinations_are_clear_errors():
    with pytest.raises(ValueError, match="unknown method 'gpt'"):
        llm_perplexity(method="gpt")
    for method, need in (("gptq", "weight_fmt"), ("awq", "weight_fmt"), ("clip", "weight_fmt"),
                         ("llm_int8", "act_fmt")):  # fmt: skip
        with pytest.raises(ValueError, match=f"needs {need}"):
            llm_perplexity(method=method, kv_fmt="int8")
    with pytest.raises(ValueError, match="float path only"):
        llm_perplexity(method="llm_int8", act_fmt="int8", pe="int_mac")
    with pytest.raises(ValueError, match="no parameter beta"):
        llm_perplexity(method="smoothquant", method_params={"beta": 1})


def test_truncated_model_keeps_the_first_blocks(tiny):
    w, _ = tiny
    t = truncated(w, 1)
    assert t.config.layers == 1 and t.blocks[0] is w.blocks[0]
    with pytest.raises(ValueError, match="layers must lie"):
        truncated(w, 3)


# ------------------------------------------------------------------ the docs table
def test_docs_table_is_the_rendering_of_the_committed_csv():
    csv_text = (ROOT / "docs" / "data" / "llm_methods.csv").read_text()
    results = table.read_csv(csv_text)
    assert results, "the committed CSV has no rows"
    doc = (ROOT / "docs" / "accuracy.md").read_text()
    assert table.block(doc) == table.render(results)
    assert results[("FP32 (shipped weights)", "none")] == pytest.approx(15.163, abs=5e-4)


def test_table_render_marks_missing_and_inapplicable_cells():
    out = table.render({("W8A8 int8 / int8", "smoothquant"): 16.5})
    row = next(line for line in out.splitlines() if line.startswith("| W8A8"))
    assert "16.50" in row and "not run" in row
    kv = next(line for line in out.splitlines() if line.startswith("| KV int8"))
    assert kv.count("n/a") == 5  # smoothquant, gptq, awq, clip, llm_int8
    with pytest.raises(ValueError, match="marker"):
        table.replace_block("no markers", out)


# ------------------------------------------------------------------ the real model (slow)
@pytest.mark.slow
@needs_model
@pytest.mark.parametrize("method", ["hadamard", "smoothquant"])
def test_real_model_rotation_and_smoothing_keep_fp32_logits(method):
    from hwsim.accuracy.llm.calibrate import calibration_stats
    from hwsim.accuracy.llm.text import eval_text
    from hwsim.accuracy.llm.tokenizer import encode

    w = truncated(loader.load_model(), 2)
    st = calibration_stats(tokens=256, window=128, layers=2)
    ids = encode(eval_text())[:64][None]
    base = M.Llama(w).logits(ids)[0]
    new, online = apply_method(w, M.QuantSpec(), method, stats=st)
    out = M.Llama(new, online=online).logits(ids)[0]
    assert rel(out.astype(np.float64), base.astype(np.float64)) < 1e-4
