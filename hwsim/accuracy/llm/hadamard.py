"""Hadamard rotation of the residual stream, QuaRot-style (Ashkboos et al. 2024, "QuaRot:
Outlier-Free 4-Bit Inference in Rotated LLMs", Sec. 4), folded into the weights offline.

With x' = x Q for an orthogonal Q (hidden x hidden) the float model is unchanged:
RMSNorm(x Q) = RMSNorm(x) Q (Q keeps mean(x^2)), once each RMSNorm gain g is folded into the
weights that read it. Offline: embedding E' = E Q; q/k/v and gate/up W' = W diag(g) Q with
the gains set to 1; o_proj and down_proj W' = Q^T W; the LM head becomes untied,
E diag(g_out) Q, with the final gain 1. V and O per head: V' = V H_hd (v_proj rows),
o_proj columns per head times H_hd (attention output is linear in V). Online (``Online``):
the down_proj input u -> u R with R = (H_12 kron H_128) / sqrt(1536) (W_down' = W_down R
offline; applied as two small matmuls), and q, k -> q H_hd, k H_hd after RoPE (cancels in
q.k; the KV cache stores rotated K and V).

Q = diag(d) H_n / sqrt(n) with random signs d (seed ``SEED``) and H_n the Kronecker product
of Sylvester (powers of two) and Paley (order 12) Hadamard matrices: 576 = 12 * 12 * 4;
H_hd = H_64 / 8. Folding in float64, rounded to float32 once.
"""

from __future__ import annotations

import dataclasses
from functools import reduce

import numpy as np

from .loader import LlamaConfig, LlamaWeights
from .model import Online

F32 = np.float32
SEED = 0  # signs of the residual rotation (QuaRot uses a randomized Hadamard matrix)


def paley12() -> np.ndarray:
    """Hadamard matrix of order 12 (Paley construction I from the quadratic residues mod 11)."""
    q = 11
    residues = {(i * i) % q for i in range(1, q)}
    chi = np.array([0] + [1 if a in residues else -1 for a in range(1, q)])
    jac = chi[(np.arange(q)[None, :] - np.arange(q)[:, None]) % q]  # Jacobsthal, skew
    s = np.zeros((q + 1, q + 1), dtype=np.int64)
    s[0, 1:], s[1:, 0], s[1:, 1:] = 1, -1, jac
    return np.eye(q + 1, dtype=np.int64) + s


def sylvester(n: int) -> np.ndarray:
    """Hadamard matrix of order n (a power of two)."""
    if n < 1 or n & (n - 1):
        raise ValueError(f"Sylvester Hadamard order must be a power of two, got {n}")
    h = np.ones((1, 1), dtype=np.int64)
    while len(h) < n:
        h = np.block([[h, h], [h, -h]])
    return h


def factors(n: int) -> list[int]:
    """n as 12^a * 2^b (a <= 2) Kronecker factors, or ValueError."""
    out = []
    while n % 12 == 0 and len(out) < 2 and (n // 12) >= 1:
        out.append(12)
        n //= 12
        if n & (n - 1) == 0:
            break
    if n < 1 or n & (n - 1):
        raise ValueError("no Hadamard construction here for that order (12^a * 2^b, a <= 2)")
    return out + ([n] if n > 1 else [])


def hadamard(n: int) -> np.ndarray:
    """A Hadamard matrix (entries +-1, H H^T = n I) of order n = 12^a * 2^b, a <= 2."""
    mats = [paley12() if f == 12 else sylvester(f) for f in factors(n)]
    return reduce(np.kron, mats, np.ones((1, 1), dtype=np.int64))


def rotation(n: int, seed: int = SEED) -> np.ndarray:
    """Orthogonal diag(d) H_n / sqrt(n) (float64), random signs d from ``seed``."""
    d = np.random.default_rng(seed).choice([-1.0, 1.0], size=n)
    return d[:, None] * hadamard(n) / np.sqrt(n)


def kron_apply(u: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """u (..., len(a) * len(b)) times kron(a, b), as a^T U b on u reshaped (..., len(a), len(b))."""
    t = u.reshape(*u.shape[:-1], len(a), len(b)) @ b
    return (a.T @ t).reshape(u.shape)


def _down_factors(ffn: int):
    f = factors(ffn)
    a = hadamard(f[0]) if f else np.ones((1, 1))
    b = hadamard(ffn // len(a))
    scale = np.sqrt(ffn)
    return a / np.sqrt(len(a)), b / (scale / np.sqrt(len(a)))


def apply(weights: LlamaWeights, seed: int = SEED) -> tuple[LlamaWeights, Online]:
    """The rotated weights and the forward's online rotations (module docstring)."""
    cfg: LlamaConfig = weights.config
    q = rotation(cfg.hidden, seed)
    ra, rb = _down_factors(cfg.ffn)
    r_down = np.kron(ra, rb)
    hh = hadamard(cfg.head_dim) / np.sqrt(cfg.head_dim)
    heads_o = np.kron(np.eye(cfg.heads), hh)  # o_proj input, per query head
    heads_v = np.kron(np.eye(cfg.kv_heads), hh)  # v_proj output, per KV head

    def f64(a):
        return np.asarray(a, dtype=np.float64)

    blocks = []
    for blk in weights.blocks:
        b = dict(blk)
        ga, gf = f64(blk["attn_norm"]), f64(blk["ffn_norm"])
        for c in ("q_proj", "k_proj"):
            b[c] = ((f64(blk[c]) * ga) @ q).astype(F32)
        b["v_proj"] = (heads_v.T @ ((f64(blk["v_proj"]) * ga) @ q)).astype(F32)
        b["o_proj"] = (q.T @ f64(blk["o_proj"]) @ heads_o).astype(F32)
        for c in ("gate_proj", "up_proj"):
            b[c] = ((f64(blk[c]) * gf) @ q).astype(F32)
        b["down_proj"] = (q.T @ f64(blk["down_proj"]) @ r_down).astype(F32)
        b["attn_norm"] = np.ones_like(blk["attn_norm"])
        b["ffn_norm"] = np.ones_like(blk["ffn_norm"])
        blocks.append(b)
    embed = f64(weights.embed)
    new = dataclasses.replace(
        weights,
        embed=(embed @ q).astype(F32),
        head=((embed * f64(weights.out_norm)) @ q).astype(F32),
        out_norm=np.ones_like(weights.out_norm),
        blocks=tuple(blocks),
    )
    ra32, rb32 = ra.astype(F32), rb.astype(F32)
    online = Online(down_rotation=lambda u: kron_apply(u, ra32, rb32), qk_rotation=hh.astype(F32))
    return new, online
