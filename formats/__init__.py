"""Bit-exact number formats: integers, minifloats, block/MX formats, bipolar-INT, codebooks.

>>> import hwsim.formats as F
>>> F.get("fp8_e4m3").encode([1.0625, 464.0])     # RNE ties-to-even, OCP E4M3FN
array([56, 126], dtype=uint8)
>>> F.get("mxfp4").quantize([[6.0, 2.5, 0.25, -5.0]]).tolist()
[[6.0, 2.0, 0.0, -4.0]]
"""

from .adaptive import AntFormat, ant_type
from .base import ElementFormat, FormatError
from .bitmod import BitModFormat, bitmod_type
from .blocks import QuantizedTensor
from .codebook import CodebookFormat
from .exponent import ExponentFormat
from .integer import BipolarFormat, IntFormat, bipolar_affine, bipolar_to_int, int_to_bipolar
from .minifloat import MinifloatFormat
from .nvfp4 import NVFP4Format
from .olive import OliveFormat
from .packing import pack, packed_bytes, unpack
from .presets import apot_format, bfp_format, get, mx_format, names, nf4_format, pot_format
from .scaled import ScaledFormat

__all__ = [
    "AntFormat",
    "OliveFormat",
    "ant_type",
    "BipolarFormat",
    "BitModFormat",
    "CodebookFormat",
    "ElementFormat",
    "ExponentFormat",
    "FormatError",
    "IntFormat",
    "MinifloatFormat",
    "NVFP4Format",
    "QuantizedTensor",
    "ScaledFormat",
    "apot_format",
    "bfp_format",
    "bipolar_affine",
    "bipolar_to_int",
    "bitmod_type",
    "get",
    "int_to_bipolar",
    "mx_format",
    "names",
    "nf4_format",
    "pack",
    "packed_bytes",
    "pot_format",
    "unpack",
]
