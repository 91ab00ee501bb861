"""LLM.int8-style outlier split (Dettmers et al. 2022, "LLM.int8(): 8-bit Matrix
Multiplication for Transformers at Scale"): the input-feature columns in which any activation
of the GEMM has |x| > threshold (6.0 in the paper) are multiplied in FP16 (activations and
the matching weight columns), the rest with the quantized operands.

Decomposition of Y = X W^T (X: tokens x K, W: out x K) with O the outlier columns of this
GEMM call (dynamic, as in the paper): Y = fp16(X_O) fp16(W_O)^T + Qa(X_R) Qw(W_R)^T, where
X_R / W_R are X / W with the columns O set to zero, quantized along K by ``act_fmt`` /
``weight_fmt`` (their scales therefore ignore the outliers). Both products are summed in one
float32 BLAS GEMM of the merged operands. With no outlier column it is plain round to
nearest (the quantized GEMM of ``model.Llama`` bit for bit).
"""

from __future__ import annotations

import numpy as np

from ..qgemm import quantize_rows

THRESHOLD = 6.0  # |x| above which a feature column is an outlier (Dettmers et al. 2022, Sec. 3.2)


def outlier_columns(x: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean mask (K,) of the columns of x (tokens x K) holding any |x| > threshold."""
    return np.any(np.abs(x) > threshold, axis=0)


def _fp16(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).astype(np.float16).astype(np.float64)


def split_matmul(x: np.ndarray, w: np.ndarray, weight_fmt, act_fmt, threshold: float):
    """Y (tokens x out, float32) of x (tokens x K) and w (out x K) with the outlier split
    (module docstring); formats as resolved by ``model.resolve_format`` (None: float)."""
    if not threshold > 0:
        raise ValueError(f"outlier threshold must be > 0, got {threshold!r}")
    cols = outlier_columns(x, threshold)
    xq = quantize_rows(act_fmt, np.where(cols, 0.0, x)).values.copy()
    wq = quantize_rows(weight_fmt, np.where(cols, 0.0, w)).values.copy()
    if cols.any():
        xq[:, cols] = _fp16(x[:, cols])
        wq[:, cols] = _fp16(w[:, cols])
    return np.asarray(xq, dtype=np.float32) @ np.asarray(wq.T, dtype=np.float32)
