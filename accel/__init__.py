"""Accelerator models (hwsim.accel): systolic arrays, dataflows, memory, SimPy engine, cost.

>>> import hwsim.accel as accel
>>> acc = accel.systolic(32, 32, pe="int_mac", dataflow="os")
>>> (acc.rows, acc.cols, acc.dataflow)
(32, 32, 'os')
"""

from .arch import (
    DEFAULT_SRAM_BYTES,
    OPERANDS,
    Accelerator,
    BufferConfig,
    DramConfig,
    Heterogeneous,
    systolic,
    tensor_core,
)
from .engine import TIMELINE_COLUMNS, simulate_elementwise, simulate_gemm
from .formats_bits import storage_bits
from .memory import GemmPlan, plan_gemm
from .pe_adapter import PETiming
from .systolic import DATAFLOWS, fold_counts, fold_cycles, gemm_cycles, mapping_utilization

__all__ = [
    "DATAFLOWS",
    "DEFAULT_SRAM_BYTES",
    "OPERANDS",
    "TIMELINE_COLUMNS",
    "Accelerator",
    "BufferConfig",
    "DramConfig",
    "GemmPlan",
    "Heterogeneous",
    "PETiming",
    "fold_counts",
    "fold_cycles",
    "gemm_cycles",
    "mapping_utilization",
    "plan_gemm",
    "simulate_elementwise",
    "simulate_gemm",
    "storage_bits",
    "systolic",
    "tensor_core",
]
