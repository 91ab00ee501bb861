"""Generated accelerator tile: systolic array + SRAM buffers + loop-nest controller + DMA port.

`tile_design(acc, layer, mapping="scalesim") -> Design` builds, from the same `Accelerator`
and GEMM layer `hwsim.simulate` uses, one Verilog module that runs the layer's fold loop
nest (the simulator's fixed `os` order: outer row folds i < ceil(M/R), inner column folds
j < ceil(N/C); `hwsim.accel.memory.plan_gemm`):

* **array**: the output-stationary `systolic` wrapper (rtl/emit_array.py) of the PE kind;
  row r / column c operands are skewed by r / c cycles in registers (SCALE-Sim's skew);
* **buffers** (behavioural RAM, registered read: SRAM read latency `SRAM_READ_LATENCY`
  cycle): `act` holds one R x K activation block as K words of R elements (one bank per
  array row), `weight` holds the whole K x N weight matrix when it fits the buffer's usable
  bytes (`BufferConfig.tile_bytes`, as the simulator decides) or one K x C block, `out` holds
  the R x C result block;
* **controller**: per fold: load the act block (j == 0), load the weight block (every fold,
  or only in the first row fold when the whole matrix fits), stream K chunks (each held the
  PE's cycles per chunk), drain R + C - 1 cycles, capture the R x C results into `out`,
  write the block back by DMA;
* **DMA port**: `dma_req/dma_wr/dma_op/dma_blk` out, `dma_ack` in; the DRAM is the cocotb
  model (`hwsim.rtl.tile_bench`): one channel, a transfer of B bytes takes
  max(ceil(B / bandwidth), words) + latency cycles, words moving over `fill_*` (one array-edge
  vector per cycle into act/weight) or `drain_*` (one result row per cycle).

Counters (32-bit outputs): `n_cycles` (start to finish), `n_array` (cycles the array works:
first operand in to last result, R + C - 2 + K * CPC per fold, the simulator's fold time),
`n_rd_act` / `n_rd_w` (elements the array read from SRAM), `n_wr_out` (elements written into
`out`). Units: widths in bits, counts in elements or cycles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .emit_array import gen_systolic, split_ports
from .emit_base import Design, V, _header, cw, module_name

#: registered SRAM read: address in cycle t, data in cycle t + 1 (behavioural RAM)
SRAM_READ_LATENCY = 1
#: PE kinds whose cells take one `a` (row side) and one `w` (column side) code per chunk
TILE_KINDS = ("int_mac", "bitserial", "shiftadd")
CNT = 32  # counter width (bits)


@dataclass(frozen=True)
class TileSpec:
    """Everything the generated tile and its bench need (sizes in elements, bits, cycles)."""

    pe: str
    pe_params: tuple  # sorted (name, value) pairs
    dataflow: str
    rows: int
    cols: int
    m: int
    n: int
    k: int
    cpc: int  # PE cycles per chunk (lanes = 1: per element)
    a_bits: int  # act code bits on the array port
    w_bits: int  # weight code bits
    acc_bits: int
    act_bytes: float  # storage bytes per element (the simulator's accounting)
    weight_bytes: float
    out_bytes: float
    weight_whole: bool  # the whole K x N weight matrix stays resident
    dram_bw: float | None  # bytes/cycle (None: port-bound, one word per cycle)
    dram_latency: int  # cycles added to every transfer

    @property
    def fr(self) -> int:
        return -(-self.m // self.rows)

    @property
    def fc(self) -> int:
        return -(-self.n // self.cols)

    @property
    def folds(self) -> int:
        return self.fr * self.fc

    @property
    def fold_cycles(self) -> int:
        """Array cycles of one OS fold: R + C - 2 + K * CPC (SCALE-Sim's formula)."""
        return self.rows + self.cols - 2 + self.k * self.cpc

    def rows_valid(self, i: int) -> int:
        return min(self.rows, self.m - i * self.rows)

    def cols_valid(self, j: int) -> int:
        return min(self.cols, self.n - j * self.cols)

    def transfer_cycles(self, nbytes: float, words: int) -> int:
        """DRAM model: channel time of one transfer (cycles), latency included."""
        bw = 0 if self.dram_bw is None else math.ceil(nbytes / self.dram_bw)
        return max(bw, words) + self.dram_latency


def tile_spec(acc, layer, mapping="scalesim") -> TileSpec:
    """The tile parameters of `layer` (a GEMM `hwsim.workloads.Layer`) on `acc`, or a
    ValueError naming what the tile does not cover."""
    import hwsim.pe as pe

    if mapping != "scalesim":
        raise ValueError(
            f"tile: mapping {mapping!r} not generated; the tile runs the simulator's fixed "
            "fold order (mapping='scalesim')"
        )
    if getattr(layer, "kind", None) != "gemm" or getattr(layer, "conv", None) is not None:
        raise ValueError(f"tile: layer {getattr(layer, 'name', layer)!r} is not a plain GEMM")
    if layer.batch != 1:
        raise ValueError(f"tile: batch must be 1, got {layer.batch}")
    if acc.array != "systolic" or acc.dataflow != "os":
        raise ValueError(
            f"tile: only the output-stationary systolic array is generated (the array wrapper "
            f"is OS); this accelerator is a {acc.array} array with dataflow {acc.dataflow!r}"
        )
    if acc.pe not in TILE_KINDS:
        raise ValueError(f"tile: PE {acc.pe!r} not supported; use one of {TILE_KINDS}")
    params = dict(acc.pe_params)
    unit = pe.get(acc.pe, **params)
    if getattr(unit.cfg, "lanes", 1) != 1:
        raise ValueError(
            f"tile: PE lanes must be 1 (one element per chunk), got {unit.cfg.lanes}: "
            "set pe_params lanes = 1"
        )
    from hwsim.accel.pe_adapter import PETiming

    timing = PETiming(acc.pe, acc.pe_params)
    m, n, k = layer.m, layer.n, layer.k
    cpc = timing.dot_cycles(k) // k
    if cpc * k != timing.dot_cycles(k) or timing.dot_cycles(1) != cpc:
        raise ValueError(f"tile: PE {acc.pe!r} does not take a fixed number of cycles per chunk")
    byte = {o: acc.bits(o) / 8 for o in ("act", "weight", "out")}
    R, C = acc.rows, acc.cols
    need = R * k * byte["act"]
    if need > acc.buffer("act").tile_bytes:
        raise ValueError(
            f"tile: one {R} x {k} act block ({math.ceil(need)} bytes) does not fit the act "
            f"buffer's {acc.buffer('act').tile_bytes} usable bytes (streaming blocks that do "
            "not fit is not generated)"
        )
    whole = k * n * byte["weight"] <= acc.buffer("weight").tile_bytes
    for op, nbytes in (("weight", k * C * byte["weight"]), ("out", R * C * byte["out"])):
        if nbytes > acc.buffer(op).tile_bytes:
            raise ValueError(
                f"tile: one {op} block ({math.ceil(nbytes)} bytes) does not fit the {op} "
                f"buffer's {acc.buffer(op).tile_bytes} usable bytes"
            )
    if acc.dram.channels != 1:
        raise ValueError("tile: one DRAM channel is modelled")
    return TileSpec(
        pe=acc.pe,
        pe_params=tuple(sorted(params.items())),
        dataflow=acc.dataflow,
        rows=R,
        cols=C,
        m=m,
        n=n,
        k=k,
        cpc=cpc,
        a_bits=unit.a_op.bits,
        w_bits=unit.w_op.bits,
        acc_bits=unit.cfg.acc_bits,
        act_bytes=byte["act"],
        weight_bytes=byte["weight"],
        out_bytes=byte["out"],
        weight_whole=whole,
        dram_bw=acc.dram.bandwidth_bytes_per_cycle,
        dram_latency=acc.dram.latency_cycles,
    )


def tile_design(acc, layer, mapping="scalesim") -> Design:
    """Verilog of the tile running `layer` on `acc` (module docstring); `Design.info["spec"]`
    is the `TileSpec`."""
    from .emit import generate

    s = tile_spec(acc, layer, mapping)
    cell = generate(s.pe, **dict(s.pe_params))
    row, col, _ = split_ports(cell)
    if [p.name for p in row] != ["a"] or [p.name for p in col] != ["w"]:
        raise ValueError(f"tile: PE {s.pe!r} has ports {row} / {col}, expected a / w")
    arr = gen_systolic(s.pe, s.rows, s.cols, cell)
    outs = split_ports(cell)[2]
    return Design("tile", *_emit(s, arr, outs), info=dict(spec=s, array=arr.top))


def _buffer_sizes(s: TileSpec) -> dict:
    """Widths and depths of the buffers (bits, words) and the address width."""
    WD = s.k * s.fc if s.weight_whole else s.k
    return dict(
        WD=WD,
        AW=cw(max(s.k, WD)),
        FW=max(s.rows * s.a_bits, s.cols * s.w_bits),
    )


def buffers_design(s: TileSpec) -> Design:
    """The tile's three SRAM buffers (behavioural RAM) as one module: act (K words of R
    codes) and weight (K or K x ceil(N/C) words of C codes) written by the fill port and read
    with one cycle of latency (registered outputs a_q / w_q, read enable `rd`); out (R words
    of C accumulators) written all at once by `cap`, read combinationally by the DMA drain."""
    R, C, K, AB, WB, A = s.rows, s.cols, s.k, s.a_bits, s.w_bits, s.acc_bits
    z = _buffer_sizes(s)
    WD, AW, FW = z["WD"], z["AW"], z["FW"]
    params = dict(rows=R, cols=C, k=K, a_bits=AB, w_bits=WB, acc_bits=A, weight_words=WD)
    top = module_name("tile_buffers", params)
    v = V()
    _header(
        v,
        top,
        f"tile buffers {params}: act {K}x{R * AB} b, weight {WD}x{C * WB} b, out {R}x{C * A} b",
        [
            "input  wire clk",
            "input  wire fill_we",
            "input  wire fill_op",
            f"input  wire [{AW - 1}:0] fill_addr",
            f"input  wire [{FW - 1}:0] fill_data",
            "input  wire rd",
            f"input  wire [{AW - 1}:0] a_addr",
            f"input  wire [{AW - 1}:0] w_addr",
            f"output reg  [{R * AB - 1}:0] a_q",
            f"output reg  [{C * WB - 1}:0] w_q",
            "input  wire cap",
            f"input  wire [{R * C * A - 1}:0] cap_data",
            f"input  wire [{cw(R) - 1}:0] drain_row",
            f"output wire [{C * A - 1}:0] drain_data",
        ],
    )
    v(f"    reg [{R * AB - 1}:0] amem [0:{K - 1}];")
    v(f"    reg [{C * WB - 1}:0] wmem [0:{WD - 1}];")
    v(f"    reg [{C * A - 1}:0] omem [0:{R - 1}];")
    v("    always @(posedge clk) begin")
    KA = cw(K)  # act words need fewer address bits than weight words when FC > 1
    fa, ra = (
        ("fill_addr", "a_addr") if KA == AW else (f"fill_addr[{KA - 1}:0]", f"a_addr[{KA - 1}:0]")
    )
    v(f"        if (fill_we && !fill_op) amem[{fa}] <= fill_data[{R * AB - 1}:0];")
    v(f"        if (fill_we && fill_op) wmem[fill_addr] <= fill_data[{C * WB - 1}:0];")
    v(
        "        if (rd) begin",
        f"            a_q <= amem[{ra}];",
        "            w_q <= wmem[w_addr];",
    )
    v("        end")
    v("        if (cap) begin")
    for r in range(R):
        v(f"            omem[{r}] <= cap_data[{(r + 1) * C * A - 1}:{r * C * A}];")
    v("        end", "    end")
    v("    assign drain_data = omem[drain_row];")
    if KA < AW:
        v.drop(f"    wire unused_a_addr = ^a_addr[{AW - 1}:{KA}];")
    v("endmodule", "`default_nettype wire")
    return Design("tile_buffers", top, v.text(), params, dict(z))


def _emit(s: TileSpec, arr: Design, outs) -> tuple[str, str, dict]:
    R, C, K, AB, WB, A = s.rows, s.cols, s.k, s.a_bits, s.w_bits, s.acc_bits
    FR, FC, CPC = s.fr, s.fc, s.cpc
    WD = K * FC if s.weight_whole else K  # weight words
    params = dict(
        pe=s.pe, **dict(s.pe_params), rows=R, cols=C, m=s.m, n=s.n, k=K, whole=s.weight_whole
    )
    top = module_name("tile", params)
    FW = max(R * AB, C * WB)
    AW = cw(max(K, WD))
    KW, CC = cw(K + 1), cw(CPC)
    IW, JW = cw(FR), cw(FC)
    TW = cw(R + C + 1)
    BW = 16
    v = V()
    v("/* verilator lint_off DECLFILENAME */")
    v(arr.verilog.replace("/* verilator lint_off DECLFILENAME */\n", ""))
    bufs = buffers_design(s)
    v(bufs.verilog)
    _header(
        v,
        top,
        f"tile {params}: {R}x{C} OS array, act/weight/out SRAM, fold controller, DMA port",
        [
            "input  wire clk",
            "input  wire rst",
            "input  wire start",
            "output reg  busy",
            "output reg  fin",
            "output reg  dma_req",
            "output reg  dma_wr",
            "output reg  [1:0] dma_op",
            f"output reg  [{BW - 1}:0] dma_blk",
            "input  wire dma_ack",
            "input  wire fill_we",
            "input  wire fill_op",
            f"input  wire [{AW - 1}:0] fill_addr",
            f"input  wire [{FW - 1}:0] fill_data",
            f"input  wire [{cw(R) - 1}:0] drain_row",
            f"output wire [{C * A - 1}:0] drain_data",
            f"output reg  [{CNT - 1}:0] n_cycles",
            f"output reg  [{CNT - 1}:0] n_array",
            f"output reg  [{CNT - 1}:0] n_rd_act",
            f"output reg  [{CNT - 1}:0] n_rd_w",
            f"output reg  [{CNT - 1}:0] n_wr_out",
        ],
    )
    # ---- controller state
    v("    localparam [2:0] S_IDLE = 3'd0, S_LDA = 3'd1, S_LDW = 3'd2, S_RUN = 3'd3,")
    v("                     S_DRAIN = 3'd4, S_CAP = 3'd5, S_ST = 3'd6;")
    v("    reg [2:0] st;")
    v(f"    reg [{IW - 1}:0] fi;", f"    reg [{JW - 1}:0] fj;")
    v(f"    reg [{KW - 1}:0] kk;", f"    reg [{CC - 1}:0] cc;", f"    reg [{TW - 1}:0] dr;")
    v(f"    wire last_i = (fi == {IW}'d{FR - 1});", f"    wire last_j = (fj == {JW}'d{FC - 1});")
    rv_last, cv_last = s.rows_valid(FR - 1), s.cols_valid(FC - 1)
    v(f"    wire [{CNT - 1}:0] rv = last_i ? {CNT}'d{rv_last} : {CNT}'d{R};")
    v(f"    wire [{CNT - 1}:0] cv = last_j ? {CNT}'d{cv_last} : {CNT}'d{C};")
    need_w = "1'b1" if not s.weight_whole else f"(fi == {IW}'d0)"
    v(f"    wire need_w = {need_w};  // MUT:need_w")
    v(f"    wire need_a = (fj == {JW}'d0);")
    wbase = f"{{{{{AW - JW}{{1'b0}}}}, fj}} * {AW}'d{K}" if s.weight_whole else f"{AW}'d0"
    if FC == 1:  # one column fold: fj is always 0 (and K may not fit AW bits)
        wbase = f"{AW}'d0"
    elif s.weight_whole and AW <= JW:
        wbase = f"fj[{AW - 1}:0] * {AW}'d{K}"
    kaddr = f"kk[{AW - 1}:0]" if AW <= KW else f"{{{{{AW - KW}{{1'b0}}}}, kk}}"
    v(f"    wire [{AW - 1}:0] a_addr = {kaddr};  // MUT:a_addr")
    v(f"    wire [{AW - 1}:0] w_addr = {wbase} + {kaddr};")
    v("    wire issue = (st == S_RUN);")
    v(f"    wire rd = issue && (cc == {CC}'d0);")
    # ---- SRAM read port (registered) + step control, one cycle later
    v(f"    wire [{R * AB - 1}:0] a_q;", f"    wire [{C * WB - 1}:0] w_q;")
    v("    wire cap = (st == S_CAP);")
    caps = ", ".join(f"acc_{r}_{c}" for r in reversed(range(R)) for c in reversed(range(C)))
    v(f"    {bufs.top} buffers (")
    v("        .clk(clk), .fill_we(fill_we), .fill_op(fill_op), .fill_addr(fill_addr),")
    v("        .fill_data(fill_data), .rd(rd), .a_addr(a_addr), .w_addr(w_addr), .a_q(a_q),")
    v(f"        .w_q(w_q), .cap(cap), .cap_data({{{caps}}}), .drain_row(drain_row),")
    v("        .drain_data(drain_data)", "    );")
    v("    reg s_en, s_start, s_last;")
    v("    always @(posedge clk) begin")
    v("        if (rst) begin", "            s_en <= 1'b0; s_start <= 1'b0; s_last <= 1'b0;")
    v("        end else begin")
    v("            s_en <= issue;")
    v(f"            s_start <= issue && (kk == {KW}'d0) && (cc == {CC}'d0);")
    v(f"            s_last <= issue && (kk == {KW}'d{K - 1});")
    v("        end", "    end")
    # ---- skew: row r delayed r cycles, column c delayed c cycles
    HB = 3 + AB
    for r in range(R):
        v(
            f"    wire [{HB - 1}:0] hs_{r}_0 = "
            f"{{a_q[{r * AB + AB - 1}:{r * AB}], s_last, s_start, s_en}};"
        )
        for d in range(1, r + 1):
            v(f"    reg [{HB - 1}:0] hs_{r}_{d};", "    always @(posedge clk)")
            v(f"        if (rst) hs_{r}_{d} <= {HB}'d0; else hs_{r}_{d} <= hs_{r}_{d - 1};")
    for c in range(C):
        v(f"    wire [{WB - 1}:0] ws_{c}_0 = w_q[{c * WB + WB - 1}:{c * WB}];")
        for d in range(1, c + 1):
            v(f"    reg [{WB - 1}:0] ws_{c}_{d};", "    always @(posedge clk)")
            v(f"        if (rst) ws_{c}_{d} <= {WB}'d0; else ws_{c}_{d} <= ws_{c}_{d - 1};")
    en = ", ".join(f"hs_{r}_{r}[0]" for r in reversed(range(R)))
    sta = ", ".join(f"hs_{r}_{r}[1]" for r in reversed(range(R)))
    las = ", ".join(f"hs_{r}_{r}[2]" for r in reversed(range(R)))
    a_in = ", ".join(f"hs_{r}_{r}[{HB - 1}:3]" for r in reversed(range(R)))
    w_in = ", ".join(f"ws_{c}_{c}" for c in reversed(range(C)))
    for r in range(R):
        for c in range(C):
            for p in outs:
                rng = f"[{p.width - 1}:0] " if p.width > 1 else ""
                v(f"    wire {rng}{p.name}_{r}_{c};")
    conns = ["clk(clk)", "rst(rst)", f"en_in({{{en}}})", f"start_in({{{sta}}})"]
    conns += [f"last_in({{{las}}})", f"a_in({{{a_in}}})", f"w_in({{{w_in}}})"]
    conns += [
        f"{p.name}_{r}_{c}({p.name}_{r}_{c})" for r in range(R) for c in range(C) for p in outs
    ]
    v(f"    {arr.top} array (")
    v(",\n".join(f"        .{x}" for x in conns), "    );")
    v("    /* verilator lint_off UNUSEDSIGNAL */")
    used = {"acc"}
    for p in outs:
        if p.name not in used:
            bits = ", ".join(f"{p.name}_{r}_{c}" for r in range(R) for c in range(C))
            v(f"    wire unused_{p.name} = ^{{{bits}}};")
    v("    /* verilator lint_on UNUSEDSIGNAL */")
    # ---- controller
    v("    always @(posedge clk) begin")
    v("        if (rst) begin")
    v("            st <= S_IDLE; busy <= 1'b0; fin <= 1'b0; dma_req <= 1'b0; dma_wr <= 1'b0;")
    v(f"            dma_op <= 2'd0; dma_blk <= {BW}'d0; fi <= {IW}'d0; fj <= {JW}'d0;")
    v(f"            kk <= {KW}'d0; cc <= {CC}'d0; dr <= {TW}'d0;")
    v(f"            n_cycles <= {CNT}'d0; n_array <= {CNT}'d0; n_rd_act <= {CNT}'d0;")
    v(f"            n_rd_w <= {CNT}'d0; n_wr_out <= {CNT}'d0;")
    v("        end else begin")
    v("            if (busy) n_cycles <= n_cycles + 1;")
    v(f"            if ((st == S_RUN && (kk != {KW}'d0 || cc != {CC}'d0)) || st == S_DRAIN)")
    v("                n_array <= n_array + 1;")
    v("            if (rd) begin")
    v("                n_rd_act <= n_rd_act + rv;", "                n_rd_w <= n_rd_w + cv;")
    v("            end")
    v("            case (st)")
    v("            S_IDLE: if (start) begin")
    v("                busy <= 1'b1; fin <= 1'b0; st <= S_LDA;")
    v(f"                fi <= {IW}'d0; fj <= {JW}'d0; n_cycles <= {CNT}'d0; n_array <= {CNT}'d0;")
    v(f"                n_rd_act <= {CNT}'d0; n_rd_w <= {CNT}'d0; n_wr_out <= {CNT}'d0;")
    v("            end")
    blk_i = f"{{{{{BW - IW}{{1'b0}}}}, fi}}"
    blk_j = f"{{{{{BW - JW}{{1'b0}}}}, fj}}"
    for state, need, op, blk, nxt in (
        ("S_LDA", "need_a", "2'd0", blk_i, "S_LDW"),
        ("S_LDW", "need_w", "2'd1", blk_j, "S_RUN"),
    ):
        v(f"            {state}: if (!{need}) st <= {nxt};")
        v("            else if (dma_ack) begin")
        v(f"                dma_req <= 1'b0; st <= {nxt};")
        v("            end else if (!dma_req) begin")
        v(f"                dma_req <= 1'b1; dma_wr <= 1'b0; dma_op <= {op}; dma_blk <= {blk};")
        v("            end")
    v("            S_RUN: begin")
    v(f"                if (cc == {CC}'d{CPC - 1}) begin")
    v(f"                    cc <= {CC}'d0;")
    v(f"                    if (kk == {KW}'d{K - 1}) begin")
    v(f"                        kk <= {KW}'d0; st <= S_DRAIN; dr <= {TW}'d0;")
    v(f"                    end else kk <= kk + {KW}'d1;")
    v(f"                end else cc <= cc + {CC}'d1;")
    v("            end")
    v(f"            S_DRAIN: if (dr == {TW}'d{R + C - 2}) st <= S_CAP;  // MUT:drain")
    v(f"                     else dr <= dr + {TW}'d1;")
    v("            S_CAP: begin")  # the buffers module captures every acc this cycle
    v("                n_wr_out <= n_wr_out + rv * cv;", "                st <= S_ST;")
    v("            end")
    v("            S_ST: if (dma_ack) begin")
    v("                dma_req <= 1'b0;")
    v(f"                if (last_j) begin fj <= {JW}'d0; fi <= fi + {IW}'d1; end")
    v(f"                else fj <= fj + {JW}'d1;")
    v("                if (last_i && last_j) begin st <= S_IDLE; busy <= 1'b0; fin <= 1'b1; end")
    v("                else st <= S_LDA;")
    v("            end else if (!dma_req) begin")
    v("                dma_req <= 1'b1; dma_wr <= 1'b1; dma_op <= 2'd2;")
    v(f"                dma_blk <= {blk_i} * {BW}'d{FC} + {blk_j};  // MUT:spill")
    v("            end")
    v("            default: st <= S_IDLE;")
    v("            endcase")
    v("        end", "    end", "endmodule", "`default_nettype wire")
    return top, v.text(), params
