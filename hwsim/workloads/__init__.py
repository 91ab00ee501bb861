"""Workloads: layer graphs of GEMM / batched matmul / conv / attention / elementwise layers.

>>> from hwsim import workloads
>>> workloads.gemm(128, 64, 256).macs
2097152
"""

from .layers import GEMM_KINDS, KINDS, Layer, Workload, conv2d, gemm
from .loader import layers_from_records, load_onnx, load_toml, onnx_available
from .models import RESNETS, TRANSFORMERS, TransformerShape, generation, get, names

__all__ = [
    "GEMM_KINDS",
    "KINDS",
    "RESNETS",
    "TRANSFORMERS",
    "Layer",
    "TransformerShape",
    "Workload",
    "conv2d",
    "gemm",
    "generation",
    "get",
    "layers_from_records",
    "load_onnx",
    "load_toml",
    "names",
    "onnx_available",
]
