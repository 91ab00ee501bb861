"""Generated accelerator tile: systolic array + SRAM buffers + loop-nest controller + DMA port.

`tile_design(acc, layer, mapping="scalesim") -> Design` builds, from the same `Accelerator`,
GEMM layer and mapping `hwsim.simulate` uses, one Verilog module that runs the layer as a
sequence of DRAM *steps* (`hwsim.rtl.tile_mapping`):

* mapping "scalesim": the simulator's fixed `os` fold order (`hwsim.accel.memory.plan_gemm`),
  one fold per step: outer row folds i < ceil(M/R), inner column folds j < ceil(N/C);
* a loop nest ("optimal", a `LoopNest` or a pinned {"tiles", "order"} spec): one step per
  iteration of the nest's DRAM loops over M, N and K tiles (any order), each step computing
  an SRAM tile of Mt x Nt outputs over one K tile as ceil(Mt/R) x ceil(Nt/C) folds, row
  folds outer (the nest's SRAM-level order).

Parts:

* **array**: the output-stationary `systolic` wrapper (rtl/emit_array.py) of the PE kind;
  row r / column c operands are skewed by r / c cycles in registers (SCALE-Sim's skew);
* **buffers** (behavioural RAM, registered read: SRAM read latency `SRAM_READ_LATENCY`
  cycle): `act` holds one Mt x K tile as K words of R elements per row fold (one bank per
  array row), `weight` one K x Nt tile as K words of C elements per column fold (scalesim:
  the whole K x N matrix when it fits the buffer's usable bytes, `BufferConfig.tile_bytes`,
  as the simulator decides), `out` the Mt x Nt results as R words of C accumulators per fold;
* **controller**: per step: load the act tile unless the buffer already holds it (a tag
  register per buffer: the tile index it holds), load the weight tile likewise (scalesim,
  resident matrix: each column block in the first row fold), then per fold stream K chunks
  (each held the PE's cycles per chunk), drain R + C - 1 cycles and capture the R x C
  results into `out`; after the step's last fold write the out tile back by DMA;
* **DMA port**: `dma_req/dma_wr/dma_op/dma_blk` out, `dma_ack` in; the DRAM is the cocotb
  model (`hwsim.rtl.tile_bench`): one channel, a transfer of B bytes takes
  max(ceil(B / bandwidth), words) + latency cycles, words moving over `fill_*` (one array-edge
  vector per cycle into act/weight) or `drain_*` (one result row per cycle).

Counters (32-bit outputs): `n_cycles` (start to finish), `n_array` (cycles the array works:
first operand in to last result, R + C - 2 + K * CPC per fold, the simulator's fold time),
`n_rd_act` / `n_rd_w` (elements the array read from SRAM), `n_wr_out` (elements written into
`out` by captures), `n_rd_out` (psum "sram"/"dram" only: stored partial sums read by resuming
captures). Units: widths in bits, counts in elements or cycles.

Nests that split K (`TileSpec.psum`, `hwsim.rtl.tile_mapping`): "pe" keeps partial sums in
the PE accumulators (no `start` after K tile 0, capture in the last K tile only); "sram" adds
the stored partial sum in the capture path (`cap_add`, one accumulator-width adder per PE);
"dram" also writes each step's partial sums to DRAM at the accumulator width (DMA op 3) and
reads them back before the next K tile of that output tile (state S_LDP, DMA read op 2 into
`out`). Final outputs are written once (op 2).
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
    """Everything the generated tile and its bench need (sizes in elements, bits, cycles).

    The layer runs as DRAM *steps* (`steps`: M tile, N tile, act loaded, weight loaded), each
    one SRAM tile of `mt` x `nt` outputs computed in row-fold-outer order of R x C folds.
    With mapping "scalesim" every step is one fold (`mt` = R, `nt` = C)."""

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
    weight_whole: bool  # scalesim: the whole K x N weight matrix stays resident
    dram_bw: float | None  # bytes/cycle (None: port-bound, one word per cycle)
    dram_latency: int  # cycles added to every transfer
    mapping: str = "scalesim"  # or the loop nest's summary (`nest_summary`)
    mt: int = 0  # SRAM tile extent along M (elements; 0: the array rows)
    nt: int = 0  # SRAM tile extent along N (elements; 0: the array columns)
    kt: int = 0  # SRAM tile extent along K (elements; 0: all of K)
    order: tuple = ("M", "N")  # DRAM loops over M/N/K tiles (more than one trip), outer first
    psum: str = "none"  # where partial sums wait between K tiles (`tile_mapping.PSUM_MODES`)
    #: ((M tile, N tile, K tile, load act, load weight, read partial sums, store kind), ...)
    #: in execution order (`tile_mapping.TileSchedule`)
    steps: tuple = ()

    @property
    def n_outer(self) -> bool:
        """The DRAM loop over N tiles is outside the one over M tiles."""
        return [d for d in self.order if d != "K"] == ["N", "M"]

    @property
    def ktile(self) -> int:
        """SRAM tile extent along K (elements)."""
        return self.kt or self.k

    @property
    def tiles_k(self) -> int:
        return -(-self.k // self.ktile)

    def tile_k(self, tk: int) -> int:
        """Chunks (elements of K) of K tile tk (the last one may be ragged)."""
        return min(self.ktile, self.k - tk * self.ktile)

    @property
    def psum_bytes(self) -> float:
        """Bytes of one partial sum (the accumulator width)."""
        return self.acc_bits / 8

    @property
    def out_sram_bytes(self) -> float:
        """Bytes per element the out buffer's accesses count (the simulator's
        `out_sram_bits`): the accumulator width when partial sums meet in the buffer."""
        return self.psum_bytes if self.psum in ("sram", "dram") else self.out_bytes

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

    @property
    def frt(self) -> int:
        """Row folds per SRAM tile."""
        return -(-self.mt // self.rows)

    @property
    def fct(self) -> int:
        """Column folds per SRAM tile."""
        return -(-self.nt // self.cols)

    @property
    def tiles_m(self) -> int:
        return -(-self.m // self.mt)

    @property
    def tiles_n(self) -> int:
        return -(-self.n // self.nt)

    def rows_valid(self, i: int) -> int:
        """Valid rows of global row fold i."""
        return min(self.rows, self.m - i * self.rows)

    def cols_valid(self, j: int) -> int:
        """Valid columns of global column fold j."""
        return min(self.cols, self.n - j * self.cols)

    def tile_m(self, ti: int) -> int:
        """Rows (elements of M) of M tile ti (the last one may be ragged)."""
        return min(self.mt, self.m - ti * self.mt)

    def tile_n(self, tj: int) -> int:
        return min(self.nt, self.n - tj * self.nt)

    def tile_row_folds(self, ti: int) -> range:
        """Global row folds of M tile ti."""
        return range(ti * self.frt, min(self.fr, (ti + 1) * self.frt))

    def tile_col_folds(self, tj: int) -> range:
        return range(tj * self.fct, min(self.fc, (tj + 1) * self.fct))

    @property
    def act_words(self) -> int:
        """act buffer depth: K-tile words of R codes per row fold of a tile."""
        return self.ktile * self.frt

    @property
    def weight_words(self) -> int:
        """weight buffer depth: K-tile words of C codes per column fold held."""
        return self.ktile * (self.fc if self.weight_whole else self.fct)

    @property
    def out_words(self) -> int:
        """out buffer depth: R words of C accumulators per fold of a tile."""
        return self.rows * self.frt * self.fct

    def transfer_cycles(self, nbytes: float, words: int) -> int:
        """DRAM model: channel time of one transfer (cycles), latency included."""
        bw = 0 if self.dram_bw is None else math.ceil(nbytes / self.dram_bw)
        return max(bw, words) + self.dram_latency


#: largest counter/address value the controller's 16-bit step and fold registers hold
MAX_INDEX = 1 << 15


def tile_spec(acc, layer, mapping="scalesim", *, objective: str = "latency") -> TileSpec:
    """The tile parameters of `layer` (a GEMM `hwsim.workloads.Layer`) on `acc` running
    `mapping` ("scalesim", "optimal", a `LoopNest`, a pinned {"tiles", "order"} spec or
    {layer name: spec}; `hwsim.rtl.tile_mapping`; `objective`: the mapper's, for "optimal"),
    or a ValueError naming what the tile does not cover."""
    import hwsim.pe as pe

    from .tile_mapping import nest_schedule, resolve_nest, scalesim_schedule

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
    if acc.preload_overlap:
        raise ValueError("tile: preload_overlap is not generated (the OS array has no preload)")
    params = dict(acc.pe_params)
    unit = pe.get(acc.pe, **params)
    saturates = getattr(unit.cfg, "overflow", "wrap") == "saturate"
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
    if acc.dram.channels != 1:
        raise ValueError("tile: one DRAM channel is modelled")
    nest = resolve_nest(acc, layer, mapping, timing, objective)
    whole = False
    if nest is None:
        need = R * k * byte["act"]
        if need > acc.buffer("act").tile_bytes:
            raise ValueError(
                f"tile: one {R} x {k} act block ({math.ceil(need)} bytes) does not fit the act "
                f"buffer's {acc.buffer('act').tile_bytes} usable bytes (streaming blocks that "
                "do not fit is not generated)"
            )
        whole = k * n * byte["weight"] <= acc.buffer("weight").tile_bytes
        for op, nbytes in (("weight", k * C * byte["weight"]), ("out", R * C * byte["out"])):
            if nbytes > acc.buffer(op).tile_bytes:
                raise ValueError(
                    f"tile: one {op} block ({math.ceil(nbytes)} bytes) does not fit the {op} "
                    f"buffer's {acc.buffer(op).tile_bytes} usable bytes"
                )
        sched = scalesim_schedule(R, C, -(-m // R), -(-n // C), whole)
    else:
        sched = nest_schedule(acc, nest, timing.acc_bits, saturates)
    s = TileSpec(
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
        mapping=sched.mapping,
        mt=sched.mt,
        nt=sched.nt,
        kt=sched.kt if sched.kt < k else 0,
        order=sched.order,
        psum=sched.psum,
        steps=sched.steps,
    )
    _check_walk(s)
    return s


def _check_walk(s: TileSpec) -> None:
    """The controller walks M, N and K tiles as an odometer in `order` (outer first), reloads
    an act / weight tile when its (M, K) / (N, K) tile index changes, and moves partial sums
    by the rule of its `psum` mode; the schedule (the simulator's per-step traffic) must be
    exactly that, and every index must fit 16 bits."""
    import itertools

    from .tile_mapping import NO_STORE, STORE_FINAL, STORE_PARTIAL

    if s.mt % s.rows and s.mt < s.m or s.nt % s.cols and s.nt < s.n:
        raise ValueError(
            f"tile: SRAM tile M{s.mt} N{s.nt} is not a multiple of the {s.rows} x {s.cols} "
            "array (nor the whole dimension)"
        )
    count = {"M": s.tiles_m, "N": s.tiles_n, "K": s.tiles_k}
    if any(count[d] > 1 and d not in s.order for d in count):
        raise ValueError(f"tile: the DRAM loop order {s.order} misses a split dimension")
    walk = []
    for ix in itertools.product(*(range(count[d]) for d in s.order)):
        at = dict(zip(s.order, ix, strict=True))
        walk.append((at.get("M", 0), at.get("N", 0), at.get("K", 0)))
    if [st[:3] for st in s.steps] != walk:
        raise ValueError(f"tile: the mapping's DRAM steps are not a nested M/N/K tile walk "
                         f"({s.mapping})")  # fmt: skip
    last_k = s.tiles_k - 1
    for n, (ti, tj, tk, la, lw, lp, store) in enumerate(s.steps):
        prev = s.steps[n - 1] if n else None
        want_a = prev is None or (prev[0], prev[2]) != (ti, tk)
        want_w = prev is None or (prev[1], prev[2]) != (tj, tk)
        if s.weight_whole:
            want_w = ti == 0
        if s.psum in ("none", "dram"):
            want_p, want_st = s.psum == "dram" and tk > 0, STORE_FINAL
        else:
            want_p, want_st = False, NO_STORE
        if tk == last_k:
            want_st = STORE_FINAL
        elif want_st == STORE_FINAL:
            want_st = STORE_PARTIAL
        if (la, lw, lp, store) != (want_a, want_w, want_p, want_st):
            raise ValueError(
                f"tile: step {n} of {s.mapping} moves (act {la}, weight {lw}, partial-sum read "
                f"{lp}, store {store}); the {s.psum!r} controller would move ({want_a}, "
                f"{want_w}, {want_p}, {want_st})"
            )
    big = max(s.k + 1, s.act_words, s.weight_words, s.out_words, s.tiles_m * s.tiles_n,
              s.tiles_m * s.tiles_k, s.tiles_n * s.tiles_k, s.fr, s.fc)  # fmt: skip
    if big >= MAX_INDEX:
        raise ValueError(f"tile: a buffer depth or loop count ({big}) exceeds {MAX_INDEX - 1}")


def tile_design(acc, layer, mapping="scalesim", *, objective: str = "latency") -> Design:
    """Verilog of the tile running `layer` on `acc` (module docstring); `Design.info["spec"]`
    is the `TileSpec`."""
    from .emit import generate

    s = tile_spec(acc, layer, mapping, objective=objective)
    cell = generate(s.pe, **dict(s.pe_params))
    row, col, _ = split_ports(cell)
    if [p.name for p in row] != ["a"] or [p.name for p in col] != ["w"]:
        raise ValueError(f"tile: PE {s.pe!r} has ports {row} / {col}, expected a / w")
    arr = gen_systolic(s.pe, s.rows, s.cols, cell)
    outs = split_ports(cell)[2]
    return Design("tile", *_emit(s, arr, outs), info=dict(spec=s, array=arr.top))


def _buffer_sizes(s: TileSpec) -> dict:
    """Widths and depths of the buffers (bits, words) and the address widths."""
    dram = s.psum == "dram"  # partial sums are filled into `out` by the DMA
    return dict(
        WD=s.weight_words,
        AW=cw(max(s.act_words, s.weight_words, s.out_words if dram else 1)),
        OW=cw(s.out_words),
        FW=max(s.rows * s.a_bits, s.cols * s.w_bits, s.cols * s.acc_bits if dram else 1),
        FO=2 if dram else 1,  # fill_op bits: 0 act, 1 weight (, 2 out)
    )


def buffers_design(s: TileSpec) -> Design:
    """The tile's three SRAM buffers (behavioural RAM) as one module: act (K words of R codes
    per row fold of the SRAM tile) and weight (K words of C codes per column fold held)
    written by the fill port and read with one cycle of latency (registered outputs a_q /
    w_q, read enable `rd`); out (R words of C accumulators per fold of the tile) written a
    fold at a time by `cap` at `cap_addr`, read combinationally by the DMA drain. With partial
    sums in the buffer (psum "sram"/"dram") the capture adds the stored partial sum when
    `cap_add` (an accumulator-width adder per PE, wrapping as the PE's accumulator does), and
    (psum "dram") the fill port with fill_op 2 writes partial sums read back from DRAM."""
    R, C, AB, WB, A = s.rows, s.cols, s.a_bits, s.w_bits, s.acc_bits
    z = _buffer_sizes(s)
    WD, AW, OW, FW, FO = z["WD"], z["AW"], z["OW"], z["FW"], z["FO"]
    AD, OD = s.act_words, s.out_words
    add = s.psum in ("sram", "dram")
    params = dict(rows=R, cols=C, k=s.k, a_bits=AB, w_bits=WB, acc_bits=A, act_words=AD,
                  weight_words=WD, out_words=OD, psum=s.psum)  # fmt: skip
    top = module_name("tile_buffers", params)
    v = V()
    _header(
        v,
        top,
        f"tile buffers {params}: act {AD}x{R * AB} b, weight {WD}x{C * WB} b, out {OD}x{C * A} b",
        [
            "input  wire clk",
            "input  wire fill_we",
            "input  wire fill_op" if FO == 1 else f"input  wire [{FO - 1}:0] fill_op",
            f"input  wire [{AW - 1}:0] fill_addr",
            f"input  wire [{FW - 1}:0] fill_data",
            "input  wire rd",
            f"input  wire [{AW - 1}:0] a_addr",
            f"input  wire [{AW - 1}:0] w_addr",
            f"output reg  [{R * AB - 1}:0] a_q",
            f"output reg  [{C * WB - 1}:0] w_q",
            "input  wire cap",
            *(["input  wire cap_add"] if add else []),
            f"input  wire [{OW - 1}:0] cap_addr",
            f"input  wire [{R * C * A - 1}:0] cap_data",
            f"input  wire [{OW - 1}:0] drain_row",
            f"output wire [{C * A - 1}:0] drain_data",
        ],
    )
    v(f"    reg [{R * AB - 1}:0] amem [0:{AD - 1}];")
    v(f"    reg [{C * WB - 1}:0] wmem [0:{WD - 1}];")
    v(f"    reg [{C * A - 1}:0] omem [0:{OD - 1}];")
    v("    always @(posedge clk) begin")
    KA, KW = cw(AD), cw(WD)  # the shallower buffer needs fewer address bits

    def low(sig: str, w: int) -> str:
        return sig if w == AW else f"{sig}[{w - 1}:0]"

    is_a, is_w = ("!fill_op", "fill_op") if FO == 1 else ("fill_op == 2'd0", "fill_op == 2'd1")
    v(f"        if (fill_we && {is_a}) amem[{low('fill_addr', KA)}] <= "
      f"fill_data[{R * AB - 1}:0];")  # fmt: skip
    v(f"        if (fill_we && {is_w}) wmem[{low('fill_addr', KW)}] <= "
      f"fill_data[{C * WB - 1}:0];")  # fmt: skip
    if FO == 2:  # partial sums read back from DRAM
        v(f"        if (fill_we && fill_op == 2'd2) omem[{low('fill_addr', OW)}] <= "
          f"fill_data[{C * A - 1}:0];")  # fmt: skip
    v(
        "        if (rd) begin",
        f"            a_q <= amem[{low('a_addr', KA)}];",
        f"            w_q <= wmem[{low('w_addr', KW)}];",
    )
    v("        end")
    v("        if (cap) begin")
    one = OD == R  # one fold per tile (scalesim): fixed rows, no capture address
    for r in range(R):
        at = str(r) if one else ("cap_addr" if r == 0 else f"cap_addr + {OW}'d{r}")
        new = f"cap_data[{(r + 1) * C * A - 1}:{r * C * A}]"
        if add:  # resume: each of the C accumulators adds its stored partial sum
            for c in range(C):
                hi, lo = (r * C + c + 1) * A - 1, (r * C + c) * A
                old = f"omem[{at}][{(c + 1) * A - 1}:{c * A}]"
                v(f"            {old} <= cap_data[{hi}:{lo}] + "
                  f"(cap_add ? {old} : {A}'d0);  // MUT:resume")  # fmt: skip
        else:
            v(f"            omem[{at}] <= {new};")
    v("        end", "    end")
    v("    assign drain_data = omem[drain_row];")
    if one:
        v.drop("    wire unused_cap_addr = ^cap_addr;")
    if KA < AW:
        v.drop(f"    wire unused_a_addr = ^a_addr[{AW - 1}:{KA}];")
    if KW < AW:
        v.drop(f"    wire unused_w_addr = ^w_addr[{AW - 1}:{KW}];")
    v("endmodule", "`default_nettype wire")
    return Design("tile_buffers", top, v.text(), params, dict(z))


def _c16(v: int) -> str:
    """A 16-bit constant (the controller's step, fold and address arithmetic width)."""
    return f"16'd{v}"


def _advance(order: tuple) -> str:
    """Verilog advancing the DRAM step odometer over `order` (outer first): the innermost
    loop counts, wrapping to 0 and carrying outwards."""
    reg = {"M": "ti", "N": "tj", "K": "tk"}
    last = {"M": "last_ti", "N": "last_tj", "K": "last_tk"}
    code = ""
    for d in order:  # outer to inner: each inner loop carries into the code built so far
        code = (f"if ({last[d]}) begin {reg[d]} <= 16'd0; {code} end "
                f"else {reg[d]} <= {reg[d]} + 16'd1;")  # fmt: skip
    return code


def _emit(s: TileSpec, arr: Design, outs) -> tuple[str, str, dict]:
    R, C, K, AB, WB, A = s.rows, s.cols, s.k, s.a_bits, s.w_bits, s.acc_bits
    FR, FC, CPC = s.fr, s.fc, s.cpc
    FRT, FCT, TI, TJ, TK, KT = s.frt, s.fct, s.tiles_m, s.tiles_n, s.tiles_k, s.ktile
    ks, P = TK > 1, s.psum  # K split at DRAM; where partial sums wait
    params = dict(pe=s.pe, **dict(s.pe_params), rows=R, cols=C, m=s.m, n=s.n, k=K,
                  whole=s.weight_whole, mt=s.mt, nt=s.nt, n_outer=s.n_outer)  # fmt: skip
    if ks:
        params.update(kt=KT, order="".join(s.order), psum=P)
    top = module_name("tile", params)
    z = _buffer_sizes(s)
    FW, AW, OW, FO = z["FW"], z["AW"], z["OW"], z["FO"]
    KW, CC = cw(K + 1), cw(CPC)
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
        f"tile {params}: {R}x{C} OS array, act/weight/out SRAM, loop-nest controller, DMA port",
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
            "input  wire fill_op" if FO == 1 else f"input  wire [{FO - 1}:0] fill_op",
            f"input  wire [{AW - 1}:0] fill_addr",
            f"input  wire [{FW - 1}:0] fill_data",
            f"input  wire [{OW - 1}:0] drain_row",
            f"output wire [{C * A - 1}:0] drain_data",
            f"output reg  [{CNT - 1}:0] n_cycles",
            f"output reg  [{CNT - 1}:0] n_array",
            f"output reg  [{CNT - 1}:0] n_rd_act",
            f"output reg  [{CNT - 1}:0] n_rd_w",
            f"output reg  [{CNT - 1}:0] n_wr_out",
            # reads of stored partial sums by resuming captures (only when they meet in `out`)
            *([f"output reg  [{CNT - 1}:0] n_rd_out"] if P in ("sram", "dram") else []),
        ],
    )
    # ---- controller state: DRAM step (ti, tj) = (M tile, N tile), fold (li, lj) inside it
    v("    localparam [2:0] S_IDLE = 3'd0, S_LDA = 3'd1, S_LDW = 3'd2, S_RUN = 3'd3,")
    v("                     S_DRAIN = 3'd4, S_CAP = 3'd5, S_ST = 3'd6"
      + (", S_LDP = 3'd7;" if P == "dram" else ";"))  # fmt: skip
    v("    reg [2:0] st;")
    v("    reg [15:0] ti, tj, li, lj;  // M tile, N tile, row fold and column fold in the tile")
    if ks:
        v("    reg [15:0] tk;  // K tile")
        v("    reg [15:0] ak_tag, wk_tag;  // K tile of the act / weight tile held")
        v(f"    wire last_tk = (tk == {_c16(TK - 1)});")
        v(f"    wire first_tk = (tk == {_c16(0)});")
    v(f"    reg [{KW - 1}:0] kk;", f"    reg [{CC - 1}:0] cc;", f"    reg [{TW - 1}:0] dr;")
    v("    /* verilator lint_off UNUSEDSIGNAL */")  # resident weights use no weight tag
    v("    reg a_ok, w_ok;  // an act / weight tile is in its buffer, tagged a_tag / w_tag")
    v("    reg [15:0] a_tag, w_tag;")
    v("    /* verilator lint_on UNUSEDSIGNAL */")
    v(f"    wire [15:0] fi = ti * {_c16(FRT)} + li;  // global row fold")
    v(f"    wire [15:0] fj = tj * {_c16(FCT)} + lj;  // global column fold")
    v(f"    wire last_i = (fi == {_c16(FR - 1)});", f"    wire last_j = (fj == {_c16(FC - 1)});")
    v(f"    wire last_li = last_i || (li == {_c16(FRT - 1)});")
    v(f"    wire last_lj = last_j || (lj == {_c16(FCT - 1)});")
    v(f"    wire last_ti = (ti == {_c16(TI - 1)});", f"    wire last_tj = (tj == {_c16(TJ - 1)});")
    rv_last, cv_last = s.rows_valid(FR - 1), s.cols_valid(FC - 1)
    v(f"    wire [{CNT - 1}:0] rv = last_i ? {CNT}'d{rv_last} : {CNT}'d{R};")
    v(f"    wire [{CNT - 1}:0] cv = last_j ? {CNT}'d{cv_last} : {CNT}'d{C};")
    # a tile is (re)loaded when the buffer does not hold the one this step uses
    kx = " || (ak_tag != tk)" if ks else ""
    v(f"    wire need_a = !a_ok || (a_tag != ti){kx};  // MUT:need_a")
    if s.weight_whole:  # scalesim, resident weights: each column block once, in row fold 0
        v(f"    wire need_w = (ti == {_c16(0)});  // MUT:need_w")
    else:
        kx = " || (wk_tag != tk)" if ks else ""
        v(f"    wire need_w = !w_ok || (w_tag != tj){kx};  // MUT:need_w")
    if P == "dram":  # partial sums of this output tile come back from DRAM after K tile 0
        v("    wire need_p = !first_tk;  // MUT:need_p")
    # the last chunk of this step's K tile (a ragged last K tile is shorter)
    kend = f"{KW}'d{K - 1}"
    if ks:
        v(f"    wire [{KW - 1}:0] kend = last_tk ? {KW}'d{s.tile_k(TK - 1) - 1} : {KW}'d{KT - 1};")
        kend = "kend"
    k16 = "kk" if KW == 16 else f"{{{16 - KW}'d0, kk}}"
    wsel = "fj" if s.weight_whole else "lj"
    v("    /* verilator lint_off UNUSEDSIGNAL */")
    v(f"    wire [15:0] a_lin = li * {_c16(KT)} + {k16};")
    v(f"    wire [15:0] w_lin = {wsel} * {_c16(KT)} + {k16};")
    v(f"    wire [15:0] o_lin = (li * {_c16(FCT)} + lj) * {_c16(R)};")
    v("    /* verilator lint_on UNUSEDSIGNAL */")
    v(f"    wire [{AW - 1}:0] a_addr = a_lin[{AW - 1}:0];  // MUT:a_addr")
    v(f"    wire [{AW - 1}:0] w_addr = w_lin[{AW - 1}:0];")
    v(f"    wire [{OW - 1}:0] cap_addr = o_lin[{OW - 1}:0];")
    v("    wire issue = (st == S_RUN);")
    v(f"    wire rd = issue && (cc == {CC}'d0);")
    # ---- SRAM read port (registered) + step control, one cycle later
    v(f"    wire [{R * AB - 1}:0] a_q;", f"    wire [{C * WB - 1}:0] w_q;")
    # the capture writes `out` every fold, except while the PEs keep the partial sums
    v("    wire cap = (st == S_CAP)" + (" && last_tk;" if P == "pe" else ";"))
    if P in ("sram", "dram"):
        v("    wire cap_add = !first_tk;  // resume from the stored partial sums")
    caps = ", ".join(f"acc_{r}_{c}" for r in reversed(range(R)) for c in reversed(range(C)))
    v(f"    {bufs.top} buffers (")
    v("        .clk(clk), .fill_we(fill_we), .fill_op(fill_op), .fill_addr(fill_addr),")
    v("        .fill_data(fill_data), .rd(rd), .a_addr(a_addr), .w_addr(w_addr), .a_q(a_q),")
    v(
        "        .w_q(w_q), .cap(cap), .cap_addr(cap_addr),"
        + (" .cap_add(cap_add)," if P in ("sram", "dram") else "")
    )
    v(f"        .cap_data({{{caps}}}), .drain_row(drain_row),")
    v("        .drain_data(drain_data)", "    );")
    v("    reg s_en, s_start, s_last;")
    v("    always @(posedge clk) begin")
    v("        if (rst) begin", "            s_en <= 1'b0; s_start <= 1'b0; s_last <= 1'b0;")
    v("        end else begin")
    v("            s_en <= issue;")
    keep = " && first_tk" if P == "pe" else ""  # "pe": the array resumes its accumulators
    v(f"            s_start <= issue && (kk == {KW}'d0) && (cc == {CC}'d0){keep};  // MUT:start")
    v(f"            s_last <= issue && (kk == {kend});")
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
    z16 = _c16(0)
    v("    always @(posedge clk) begin")
    v("        if (rst) begin")
    v("            st <= S_IDLE; busy <= 1'b0; fin <= 1'b0; dma_req <= 1'b0; dma_wr <= 1'b0;")
    v(f"            dma_op <= 2'd0; dma_blk <= {BW}'d0; ti <= {z16}; tj <= {z16};")
    v(f"            li <= {z16}; lj <= {z16}; a_ok <= 1'b0; w_ok <= 1'b0;")
    v(f"            a_tag <= {z16}; w_tag <= {z16};")
    if ks:
        v(f"            tk <= {z16}; ak_tag <= {z16}; wk_tag <= {z16};")
    v(f"            kk <= {KW}'d0; cc <= {CC}'d0; dr <= {TW}'d0;")
    v(f"            n_cycles <= {CNT}'d0; n_array <= {CNT}'d0; n_rd_act <= {CNT}'d0;")
    rd0 = f" n_rd_out <= {CNT}'d0;" if P in ("sram", "dram") else ""
    v(f"            n_rd_w <= {CNT}'d0; n_wr_out <= {CNT}'d0;{rd0}")
    v("        end else begin")
    v("            if (busy) n_cycles <= n_cycles + 1;")
    v(f"            if ((st == S_RUN && (kk != {KW}'d0 || cc != {CC}'d0)) || st == S_DRAIN)")
    v("                n_array <= n_array + 1;")
    v("            if (rd) begin")
    v("                n_rd_act <= n_rd_act + rv;", "                n_rd_w <= n_rd_w + cv;")
    v("            end")
    v("            case (st)")
    v("            S_IDLE: if (start) begin")
    v("                busy <= 1'b1; fin <= 1'b0; st <= S_LDA; a_ok <= 1'b0; w_ok <= 1'b0;")
    v(f"                ti <= {z16}; tj <= {z16}; li <= {z16}; lj <= {z16};")
    if ks:
        v(f"                tk <= {z16};")
    v(f"                n_cycles <= {CNT}'d0; n_array <= {CNT}'d0;{rd0}")
    v(f"                n_rd_act <= {CNT}'d0; n_rd_w <= {CNT}'d0; n_wr_out <= {CNT}'d0;")
    v("            end")
    loads = [
        ("S_LDA", "need_a", "2'd0", f"ti * {_c16(TK)} + tk" if ks else "ti", "S_LDW",
         "a_ok <= 1'b1; a_tag <= ti;" + (" ak_tag <= tk;" if ks else "")),
        ("S_LDW", "need_w", "2'd1", f"tj * {_c16(TK)} + tk" if ks else "tj",
         "S_LDP" if P == "dram" else "S_RUN",
         "w_ok <= 1'b1; w_tag <= tj;" + (" wk_tag <= tk;" if ks else "")),
    ]  # fmt: skip
    if P == "dram":  # partial sums back from DRAM: one out row per word through the fill port
        loads.append(("S_LDP", "need_p", "2'd2", f"ti * {_c16(TJ)} + tj", "S_RUN", ""))
    for state, need, op, blk, nxt, tag in loads:
        v(f"            {state}: if (!{need}) st <= {nxt};")
        v("            else if (dma_ack) begin")
        v(f"                dma_req <= 1'b0; st <= {nxt}; {tag}")
        v("            end else if (!dma_req) begin")
        v(f"                dma_req <= 1'b1; dma_wr <= 1'b0; dma_op <= {op}; dma_blk <= {blk};")
        v("            end")
    v("            S_RUN: begin")
    v(f"                if (cc == {CC}'d{CPC - 1}) begin")
    v(f"                    cc <= {CC}'d0;")
    v(f"                    if (kk == {kend}) begin")
    v(f"                        kk <= {KW}'d0; st <= S_DRAIN; dr <= {TW}'d0;")
    v(f"                    end else kk <= kk + {KW}'d1;")
    v(f"                end else cc <= cc + {CC}'d1;")
    v("            end")
    v(f"            S_DRAIN: if (dr == {TW}'d{R + C - 2}) st <= S_CAP;  // MUT:drain")
    v(f"                     else dr <= dr + {TW}'d1;")
    v("            S_CAP: begin")  # the buffers module captures every acc this cycle
    v("                if (cap) n_wr_out <= n_wr_out + rv * cv;" if P == "pe" else
      "                n_wr_out <= n_wr_out + rv * cv;")  # fmt: skip
    if P in ("sram", "dram"):
        v("                if (cap_add) n_rd_out <= n_rd_out + rv * cv;")
    v("                if (!last_lj) begin lj <= lj + 16'd1; st <= S_RUN; end")
    v(f"                else if (!last_li) begin lj <= {z16}; li <= li + 16'd1; st <= S_RUN; end")
    v(f"                else begin lj <= {z16}; li <= {z16}; st <= S_ST; end  // MUT:fold")
    v("            end")
    adv = _advance(s.order if s.order else ("M", "N"))
    done = "last_ti && last_tj" + (" && last_tk" if ks else "")
    if P in ("pe", "sram"):  # the output tile stays on chip until its last K tile
        v(f"            S_ST: if (!last_tk) begin st <= S_LDA; {adv} end")
        v("            else if (dma_ack) begin")
    else:
        v("            S_ST: if (dma_ack) begin")
    v("                dma_req <= 1'b0;")
    v(f"                if ({done}) begin st <= S_IDLE; busy <= 1'b0; fin <= 1'b1; end")
    v(f"                else begin st <= S_LDA; {adv} end  // MUT:step")
    v("            end else if (!dma_req) begin")
    # final outputs (op 2, output format) or partial sums (op 3, accumulator width)
    kind = "(last_tk ? 2'd2 : 2'd3)" if P == "dram" else "2'd2"
    v(f"                dma_req <= 1'b1; dma_wr <= 1'b1; dma_op <= {kind};  // MUT:store")
    v(f"                dma_blk <= ti * {_c16(TJ)} + tj;  // MUT:spill")
    v("            end")
    v("            default: st <= S_IDLE;")
    v("            endcase")
    v("        end", "    end", "endmodule", "`default_nettype wire")
    return top, v.text(), params
