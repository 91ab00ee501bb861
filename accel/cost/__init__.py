"""Energy and area cost model with per-number provenance (hwsim.accel.cost).

Default numbers: Horowitz ISSCC 2014 (45 nm, 0.9 V), the TPUv4i 7 nm table, ShiftAddNet shift
constants, Aladdin 40 nm (cross-calibrated per-bit gate/register rows); static (leakage) and
clock energy per area and cycle from Bit Fusion's synthesis/CACTI outputs and Duarte et al.
2002; see docs/cost_model.md.
"""

from hwsim.accel.cost.costtable import (
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    Cost,
    CostTable,
    read_rows_csv,
    synthesis_rows,
)
from hwsim.accel.cost.events import event_energy_pj, event_energy_total_pj, parse_event
from hwsim.accel.cost.memory import (
    DRAM_FIGURES,
    DRAM_SPECS,
    SRAM_FIGURES,
    DramSpec,
    MemoryFigure,
    RegisterFileConfig,
    SramConfig,
    SramCost,
    dram_energy_pj,
    dram_spec,
    register_file_cost,
    sram_cost,
    sram_pj_per_bit,
    static_energy_pj,
)
from hwsim.accel.cost.ops import mac_energy_pj, op_area_um2, op_cost, op_energy_pj
from hwsim.accel.cost.reports import (
    DramTraffic,
    SramAccesses,
    area_breakdown,
    efficiency,
    energy_breakdown,
    summarize,
)
from hwsim.accel.cost.scaling import GEOMEAN_7NM_RATIO, SUPPORTED_NODES_NM, scale_energy_node
from hwsim.accel.cost.static import (
    STATIC_FIGURES_45NM,
    StaticDensities,
    StaticFigure,
    node_density_factor,
    static_densities,
    static_density_table,
    static_energy_parts_pj,
)
from hwsim.accel.cost.tables import (
    ALADDIN_40NM_TABLE,
    HOROWITZ_45NM,
    SHIFTADDNET_45NM,
    TPUV4I_7NM,
    OpRow,
    default_rows,
)
from hwsim.accel.cost.widths import FLOAT_LAYOUTS, OPS

__all__ = [
    "ALADDIN_40NM_TABLE",
    "Cost",
    "CostTable",
    "DRAM_FIGURES",
    "DRAM_SPECS",
    "DramSpec",
    "DramTraffic",
    "FLOAT_LAYOUTS",
    "GEOMEAN_7NM_RATIO",
    "HOROWITZ_45NM",
    "MemoryFigure",
    "OPS",
    "OPTIONAL_COLUMNS",
    "OpRow",
    "REQUIRED_COLUMNS",
    "RegisterFileConfig",
    "SHIFTADDNET_45NM",
    "SRAM_FIGURES",
    "SUPPORTED_NODES_NM",
    "SramAccesses",
    "static_energy_parts_pj",
    "static_densities",
    "static_density_table",
    "node_density_factor",
    "StaticFigure",
    "StaticDensities",
    "STATIC_FIGURES_45NM",
    "SramConfig",
    "SramCost",
    "TPUV4I_7NM",
    "area_breakdown",
    "default_rows",
    "dram_energy_pj",
    "dram_spec",
    "efficiency",
    "energy_breakdown",
    "event_energy_pj",
    "event_energy_total_pj",
    "mac_energy_pj",
    "op_area_um2",
    "op_cost",
    "op_energy_pj",
    "parse_event",
    "read_rows_csv",
    "register_file_cost",
    "scale_energy_node",
    "sram_cost",
    "sram_pj_per_bit",
    "static_energy_pj",
    "summarize",
    "synthesis_rows",
]
