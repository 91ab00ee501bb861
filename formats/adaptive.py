"""ANT adaptive numeric types (Guo et al., "ANT: Exploiting Adaptive Numerical Data Type for
Low-bit Deep Neural Network Quantization", MICRO 2022).

Three 4-bit sign-magnitude element types, values in integer units (the PE's decoder turns
each into an integer times a power of two, docs/pe_models.md):

* ``ant_int4``: int, magnitudes 0..7 (the -0 code duplicates 0);
* ``ant_flint4``: flint (float-int), magnitudes {0, 1, 2, 3, 4, 6, 8, 16}: the reference
  ``flint_value`` grid (clevercool/ANT-Quantization, also BitMoD's FLINT4 table);
* ``ant_pot4``: power of two, magnitudes {0, 1, 2, 4, .., 64}.

``AntFormat`` quantizes a tensor with symmetric absmax scales per group of ``group_size``
along the axis (fp16 scales, as the other *_g128 presets) and picks ONE type per tensor:
the candidate with the least total squared error (ties keep the earlier candidate), which is
ANT's per-tensor type selection (ANT searches the clipping ratio too; that search is not
reproduced here). Its ``encode`` returns the chosen type's QuantizedTensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import FormatError, as_real_array, check_int
from .codebook import CodebookFormat, pot_table, sign_magnitude_table

SOURCE = "ANT (Guo et al., MICRO 2022); clevercool/ANT-Quantization int/flint grids"
ANT_MAGNITUDES = {
    "int": tuple(float(v) for v in range(8)),
    "flint": (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 16.0),
}
ANT_TYPES = ("int", "flint", "pot")


def ant_type(kind: str) -> CodebookFormat:
    """One 4-bit ANT element type: ``kind`` in ANT_TYPES (nearest value, ties toward zero)."""
    if kind not in ANT_TYPES:
        raise FormatError(f"ANT type must be one of {ANT_TYPES}, got {kind!r}")
    if kind == "pot":
        table = pot_table(4, zero=True, emax=6)
    else:
        table = sign_magnitude_table(ANT_MAGNITUDES[kind])
    return CodebookFormat(table, name=f"ant_{kind}4", tie="toward_zero", source=SOURCE)


@dataclass(frozen=True)
class AntFormat:
    """Per-tensor adaptive choice among ANT 4-bit types, per-group fp16 absmax scales."""

    candidates: tuple = ANT_TYPES
    group_size: int = 128
    name: str = "ant4"
    is_block = True
    bits = 4  # element code width

    def __post_init__(self):
        object.__setattr__(self, "candidates", tuple(self.candidates))
        if not self.candidates:
            raise FormatError(f"{self.name}: need at least one candidate type")
        for c in self.candidates:
            ant_type(c)  # validates
        check_int(self.group_size, self.name, "group_size", 1)

    @property
    def types(self) -> list[CodebookFormat]:
        """The candidate element types."""
        return [ant_type(c) for c in self.candidates]

    def type_formats(self):
        """The candidates as scaled formats (``ant_<type>4_g<group_size>``)."""
        from .presets import get

        return [get(f"ant_{c}4_g{self.group_size}") for c in self.candidates]

    @property
    def type_bits(self) -> int:
        """Bits of the per-tensor type id."""
        return max(int(len(self.candidates) - 1).bit_length(), 0)

    def bits_per_element(self, block_len: int | None = None) -> float:
        return 4 + 16 / self.group_size  # 4-bit codes + an fp16 scale per group

    def storage_bits(self, shape, axis: int = -1) -> int:
        """Codes and per-group scales (as the chosen type's scaled format) + the type id."""
        return self.type_formats()[0].storage_bits(shape, axis) + self.type_bits

    def encode(self, x, axis: int = -1):
        arr = as_real_array(x, self.name).astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise FormatError(f"{self.name}: non-finite input")
        best, best_err = None, np.inf
        for fmt in self.type_formats():
            qt = fmt.encode(arr, axis=axis)
            err = float(((qt.dequantize() - arr) ** 2).sum())
            if err < best_err:  # strict: ties keep the earlier candidate
                best, best_err = qt, err
        best.extra["ant_type"] = best.format.element.name
        best.extra["sse"] = best_err
        return best

    def quantize(self, x, axis: int = -1) -> np.ndarray:
        return self.encode(x, axis).dequantize()
