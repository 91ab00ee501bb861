"""ILP mapping (hwsim.accel.mapping): precision allocation and heterogeneous placement.

``map_layer``: ILP tile sizes and loop order of one layer on an accelerator's buffers.
"""

from hwsim.accel.mapping.placement import PlacementProblem, PlacementResult, place_layers
from hwsim.accel.mapping.precision import (
    PrecisionProblem,
    PrecisionResult,
    allocate_precision,
    allocate_precision_min_error,
    precision_pareto,
)
from hwsim.accel.mapping.tiling import Mapping, evaluate_tiling, map_layer

__all__ = [
    "Mapping",
    "evaluate_tiling",
    "map_layer",
    "PlacementProblem",
    "PlacementResult",
    "PrecisionProblem",
    "PrecisionResult",
    "allocate_precision",
    "allocate_precision_min_error",
    "place_layers",
    "precision_pareto",
]
