"""hwsim: bit-exact hardware simulation and co-design for low-bit quantized NN accelerators."""

__version__ = "0.1.0"

from hwsim import workloads  # noqa: E402, F401
from hwsim.simulate import simulate  # noqa: E402, F401
