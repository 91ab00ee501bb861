"""Workload library shapes, phases, conv lowering and the TOML loader."""

import pytest

from hwsim import workloads


def test_gemm_layer():
    w = workloads.gemm(128, 64, 256, name="fc")
    (layer,) = w.layers
    assert (layer.name, layer.m, layer.n, layer.k) == ("fc", 128, 64, 256)
    assert w.macs == 128 * 64 * 256


def test_llama2_7b_prefill_macs_match_parameter_count():
    s = workloads.TRANSFORMERS["llama2-7b"]
    w = workloads.get("llama2-7b", phase="prefill", seq_len=16)
    proj = sum(lay.macs for lay in w.layers if lay.kind == "gemm" and lay.name != "lm_head")
    per_token = 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)  # ~6.5e9 weights in the blocks
    assert proj == 16 * per_token
    assert s.vocab == 32000 and s.heads == 32


def test_llama3_gqa_kv_projection_width():
    w = workloads.get("llama3-8b", seq_len=8)
    k = next(lay for lay in w.layers if lay.name == "L0.k_proj")
    assert k.n == 8 * 128  # 8 KV heads x head dim 128


def test_decode_attends_to_kv_cache():
    w = workloads.get("llama2-7b", phase="decode", seq_len=100, step=3)
    qk = next(lay for lay in w.layers if lay.name == "L0.attn_qk")
    pv = next(lay for lay in w.layers if lay.name == "L0.attn_pv")
    assert (qk.m, qk.n, qk.k, qk.batch) == (1, 104, 128, 32)
    assert (pv.m, pv.n, pv.k) == (1, 128, 104)


def test_generation_concatenates_phases():
    w = workloads.generation("opt-1.3b", 32, 3)
    per_pass = len(workloads.get("opt-1.3b", seq_len=32).layers)
    assert len(w.layers) == 4 * per_pass


def test_encoders_have_no_decode_and_vit_has_197_tokens():
    with pytest.raises(ValueError, match="encoder"):
        workloads.get("bert-base", phase="decode")
    vit = workloads.get("vit-b16")
    assert next(lay for lay in vit.layers if lay.name == "L0.q_proj").m == 197


@pytest.mark.parametrize(
    ("model", "convs", "macs_g"), [("resnet18", 20, 1.81), ("resnet50", 53, 4.09)]
)
def test_resnet_shapes(model, convs, macs_g):
    w = workloads.get(model)
    n_conv = sum(lay.kind == "conv" for lay in w.layers)
    assert n_conv == convs  # incl. downsample 1x1 convs (torchvision)
    # Published multiply-accumulates: 1.8 G (ResNet-18), 4.1 G (ResNet-50), He et al. 2016.
    assert w.macs / 1e9 == pytest.approx(macs_g, rel=0.03)


def test_conv_lowering():
    layer = workloads.conv2d("c", 56, 56, 64, 128, 3, stride=2)
    assert (layer.m, layer.n, layer.k) == (28 * 28, 128, 9 * 64)
    # geometry (N, K, C, P, Q, R, S, stride, dilation, pad): same padding 1 -> 28 x 28
    assert layer.conv == (1, 128, 64, 28, 28, 3, 3, 2, 1, 1)
    # PyTorch's rule with dilation 2, pad 0: (10 - 2*(3-1) - 1) // 1 + 1 = 6
    dil = workloads.conv2d("d", 10, 10, 2, 4, 3, pad=0, dilation=2, batch=2)
    assert dil.conv == (2, 4, 2, 6, 6, 3, 3, 1, 2, 0) and dil.m == 2 * 36


def test_conv_geometry_checked():
    with pytest.raises(ValueError, match=r"GEMM view .* is not the im2col view"):
        workloads.Layer("x", "conv", 10, 4, 9, conv=(1, 4, 1, 3, 3, 3, 3, 1, 1, 1))
    with pytest.raises(ValueError, match="kind must be 'conv'"):
        workloads.Layer("x", "gemm", 9, 4, 9, conv=(1, 4, 1, 3, 3, 3, 3, 1, 1, 1))
    with pytest.raises(ValueError, match="dilation must be a positive int"):
        workloads.conv2d("c", 8, 8, 3, 4, 3, dilation=0)
    with pytest.raises(ValueError, match="pad must be a non-negative int"):
        workloads.conv2d("c", 8, 8, 3, 4, 3, pad=-1)


def test_resnet_layers_carry_conv_geometry():
    w = workloads.get("resnet18", batch=2)
    conv1 = w.layers[0]
    assert conv1.conv == (2, 64, 3, 112, 112, 7, 7, 2, 1, 3)
    assert all(ly.conv is not None for ly in w.layers if ly.kind == "conv")


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model"):
        workloads.get("gpt-17")


def test_toml_loader(tmp_path):
    p = tmp_path / "net.toml"
    p.write_text(
        'name = "tiny"\n[[layer]]\nname = "fc"\nm = 4\nn = 8\nk = 16\n'
        '[[layer]]\nname = "c"\nkind = "conv"\nh = 8\nw = 8\nc = 3\nfilters = 4\nr = 3\n'
    )
    w = workloads.load_toml(p)
    assert w.name == "tiny" and [lay.kind for lay in w.layers] == ["gemm", "conv"]
    assert w.layers[1].conv == (1, 4, 3, 8, 8, 3, 3, 1, 1, 1)
    p.write_text('[[layer]]\nname = "c"\nkind = "conv"\nh = 9\nw = 9\nc = 3\nfilters = 4\n'
                 'r = 3\npad = 0\ndilation = 2\n')  # fmt: skip
    assert workloads.load_toml(p).layers[0].conv == (1, 4, 3, 5, 5, 3, 3, 1, 2, 0)
    p.write_text('[[layer]]\nname = "fc"\nm = 4\nn = 8\nk = 16\nwidth = 3\n')
    with pytest.raises(ValueError, match=r"layer 'fc': unknown key\(s\) \['width'\]"):
        workloads.load_toml(p)


def test_onnx_loader_optional():
    if not workloads.onnx_available():
        with pytest.raises(ValueError, match="onnx"):
            workloads.load_onnx("missing.onnx")


def test_llama2_70b_gqa_shapes_and_macs():
    # Published shapes (Touvron et al. 2023 Table 1; HF Llama-2-70b-hf config.json), typed here:
    # hidden 8192, FFN 28672, 64 heads of 128, 8 KV heads (GQA), 80 layers, vocab 32000.
    h, f, heads, kv, n_layers, vocab, seq = 8192, 28672, 64, 8, 80, 32000, 16
    d = h // heads
    w = workloads.get("llama-2-70b", phase="prefill", seq_len=seq)
    by = {lay.name: lay for lay in w.layers}
    assert sum(lay.name.endswith(".q_proj") for lay in w.layers) == n_layers
    assert (by["L0.q_proj"].n, by["L0.q_proj"].k) == (h, h)
    assert (by["L79.k_proj"].n, by["L79.k_proj"].k) == (kv * d, h) == (1024, 8192)
    assert (by["L0.v_proj"].n, by["L0.v_proj"].k) == (1024, 8192)
    assert (by["L0.gate_proj"].n, by["L0.down_proj"].k) == (f, f)
    qk = by["L0.attn_qk"]
    assert (qk.m, qk.n, qk.k, qk.batch) == (seq, seq, d, heads)
    # Weights per block: q, o (h x h), k, v (h x kv*d), gate, up, down (h x f).
    per_block = 2 * h * h + 2 * h * kv * d + 3 * h * f
    assert per_block == 855_638_016
    proj = sum(lay.macs for lay in w.layers if lay.kind == "gemm" and lay.name != "lm_head")
    assert proj == seq * n_layers * per_block
    assert by["lm_head"].macs == vocab * h
    # Block weights + embedding + LM head = 68.98e9, the paper's "70B" (within 2 %).
    total = n_layers * per_block + 2 * vocab * h
    assert total == pytest.approx(70e9, rel=0.02)
    attn = seq * seq * d * heads * n_layers  # QK^T; PV is the same size
    assert sum(lay.macs for lay in w.layers if lay.kind == "attn_qk") == attn


def test_numpy_integer_sizes_are_accepted_and_stored_as_int():
    """Pins: numpy integer sizes (e.g. from np.arange or a DataFrame) were refused as 'not a
    positive int' by the workload, accelerator and cost validators; bools stay refused."""
    import numpy as np

    import hwsim
    import hwsim.accel as A
    from hwsim.accel.cost import op_energy_pj

    i = np.int64
    layer = hwsim.workloads.gemm(i(16), np.int32(8), i(4)).layers[0]
    assert (layer.m, layer.n, layer.k) == (16, 8, 4) and type(layer.m) is int
    conv = hwsim.workloads.conv2d("c", i(8), i(8), i(3), i(4), i(3))
    assert (conv.m, conv.n, conv.k) == (64, 4, 27)  # 8x8 outputs, 4 filters, 3*3*3
    assert hwsim.workloads.get("llama2-7b", seq_len=i(16), batch=np.uint8(1)).layers
    acc = A.systolic(i(8), np.int16(8))
    assert type(acc.rows) is int and acc.rows == 8
    assert hwsim.simulate(acc, hwsim.workloads.gemm(i(16), i(16), i(16))).cycles > 0
    assert op_energy_pj("mul", i(8)) == op_energy_pj("mul", 8)
    with pytest.raises(ValueError, match="positive int"):
        hwsim.workloads.gemm(True, 8, 8)
    with pytest.raises(ValueError, match="positive int"):
        A.systolic(8.0, 8)


def test_onnx_conv_nodes_carry_geometry(tmp_path):
    onnx = pytest.importorskip("onnx", reason="ONNX missing: pip install 'hwsim[onnx]'")
    from onnx import TensorProto, helper

    def model(**conv_attrs):
        w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.0] * 108)
        nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="c1", **conv_attrs),
                 helper.make_node("MatMul", ["a", "b"], ["z"], name="fc")]  # fmt: skip
        graph = helper.make_graph(
            nodes, "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 10, 8]),
             helper.make_tensor_value_info("a", TensorProto.FLOAT, [5, 6]),
             helper.make_tensor_value_info("b", TensorProto.FLOAT, [6, 7])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
             helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
            initializer=[w],
        )  # fmt: skip
        path = tmp_path / "m.onnx"
        onnx.save(helper.make_model(graph), str(path))
        return path

    wl = workloads.load_onnx(model(strides=[2, 2], pads=[1, 1, 1, 1]))
    conv, fc = wl.layers
    # (10 + 2 - 3) // 2 + 1 = 5 rows, (8 + 2 - 3) // 2 + 1 = 4 columns
    assert conv.conv == (2, 4, 3, 5, 4, 3, 3, 2, 1, 1)
    assert (fc.m, fc.n, fc.k) == (5, 7, 6)
    with pytest.raises(ValueError, match="pads .* differ per side"):
        workloads.load_onnx(model(pads=[0, 0, 1, 1]))
