"""hwsim: bit-exact hardware simulation and co-design for low-bit quantized NN accelerators."""

__version__ = "0.1.0"
