"""ILP mapping (hwsim.accel.mapping): precision allocation and heterogeneous placement.

``map_layer`` (tile mapping of one layer onto an accelerator) is added by the simulator author.
"""

from hwsim.accel.mapping.placement import PlacementProblem, PlacementResult, place_layers
from hwsim.accel.mapping.precision import (
    PrecisionProblem,
    PrecisionResult,
    allocate_precision,
    allocate_precision_min_error,
    precision_pareto,
)

__all__ = [
    "PlacementProblem",
    "PlacementResult",
    "PrecisionProblem",
    "PrecisionResult",
    "allocate_precision",
    "allocate_precision_min_error",
    "place_layers",
    "precision_pareto",
]
