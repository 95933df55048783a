"""SAT's PE array: dense and N:M sparse GEMM tiles, output- or weight-stationary, interleaved.

The array has R x C processing elements, each with one W x W multiplier, an M:1 multiplexer that
picks the activation a compressed weight's index points at inside an M-wide activation group, and an
accumulator of ``config.acc_width`` bits (:mod:`sparsa.models.golden.sat` states the formats). Dense
mode is the 1:1 pattern: every weight is one dense position and its index is ignored. In N:M mode a
weight entry is (value, index); each row consumes one entry per cycle and a group of M activations
per N cycles, so a tile covers M / N times the reduction length of a dense one in the same cycles.

Floating point (FP16, BF16 operands): a PE multiplies into FP32
(:func:`sparsa.hw.common.floats.float_product`; Yosys maps the significand product to one
DSP48E2) and adds the product to an FP32 partial sum with an adder of L =
``config.add_latency`` register stages (:func:`~sparsa.hw.common.floats.fp32_sum`, the stages of
:class:`~sparsa.hw.common.floats.Fp32Adder`, whose last register is the PE's accumulator; round
to nearest even, subnormals kept, NaN canonical). With L = 1 the multiply-add takes one cycle
and the schedule is the integer array's. The product is not registered: it enters the adder's
first stage (:class:`~sparsa.hw.common.floats.Fp32Adder`'s stage split). With L > 1 the array
still takes one MAC per PE per cycle:

* OS: a PE keeps L independent partial sums in its adder's pipeline. Entry t of a T-entry tile
  goes to lane (t - T) mod L (the last L entries are lanes 0 to L - 1 in order); each of the
  first L entries starts its lane from +0, every later one adds to the sum its lane's previous
  entry leaves the adder with, exactly L steps later. In the L steps from the tile's last entry
  on, the final lane sums leave the adder and shift into the PE's L shadows (a lane without
  entries, when T < L, gets +0). At the array's output one tree per column, shared by the rows
  as they drain, combines a row's L lanes pairwise in lane order (l0 + l1, then with l2 + l3,
  an odd last lane moving up a level delayed), with ceil(log2 L) levels of L-stage adders:
  E = ceil(log2 L) L - 1 more steps to ``out``, whose register is the tree's last stage.
* WS: a partial sum takes L steps per row, so row r's activations and tags enter with a skew
  of r L (the OS tags keep a skew of r, on a line of their own) and a beat's column sums leave
  1 + R L + C - 1 steps after it entered. The chain adds in row order from +0, whatever L.

:func:`sparsa.models.golden.sat.compressed_matmul` follows both orders bit for bit (its
``lanes``).

A flexible interconnect runs two dataflows, chosen per tile by the command. Both move their data
as a diagonal wavefront: what enters the array at step f (its transfer on ``weights`` or
``acts``) is registered at the array's edge at step f + 1 and reaches PE (r, c) at step
f + 1 + r + c. The edge registers cut every path from the input streams (their valid and
payload, the feed stage's hazard counters) to the PEs' multiply-add; they add one step to every
answer's latency and nothing to the distances between tiles.

* **Output-stationary (OS)**: PE (r, c) accumulates Y[r][c] = sum_t A[r][t] * B[.][c]. The
  compressed weights of row r enter at the left (beat t of ``weights`` carries entry t of every
  row, lane r) and move right; the activation groups of column c enter at the top (beat g of
  ``acts`` carries group g of every column, lane c) and move down. On a tile's first entry a PE
  restarts its accumulator from zero; on its last entry it hands the finished sum to its shadow
  register (L > 1: its lanes, as above). Row r of the R' requested rows is read from the
  shadows at the step 1 + C + L - 1 + r after the tile's last entry entered and leaves on ``out``
  (one row of C values per beat) E steps later (E = 0 when L = 1).
* **Weight-stationary (WS)**: PE (r, c) holds entry r of output row c. The R' ``weights`` beats
  of a tile (beat r carrying lane c for column c) load the shadow weights; the tile's first
  activation beat swaps them in, PE by PE as it passes. For every output column j, one ``acts``
  beat brings the activation groups (lane g = group g, row r reads lane r // N; rows past R' get
  zero activations and swap in zero weights, so they add exact zeros whatever the shadows
  held); they move right along the rows while partial sums move down the columns,
  and the de-skewed column sums leave as one beat of C values per j, 1 + R L + C - 1 steps after
  the beat entered: Y[c][j] = sum_r A[c][r] * B[.][j].

A tag (dataflow, first, last; with L > 1 also whether an OS entry is among its tile's first
and its last L) enters with each step's data and travels along the rows with it,
so every PE switches tile and dataflow exactly when a tile's wavefront reaches it; the pattern
acts only at the edges (index masks, the activation group hold, the activation lane of each row).
Steps without a tile to feed carry zero weights.

**Interleave mapping** (``config.interleave``). The input side has two stages: a command stage,
which holds the next command (a WS command loads its weights into the shadows there), and a
feed stage, which feeds the current tile. A command is accepted whenever the command stage is
empty; an OS command goes straight to the feed stage when that is free. So the next tile's
command and operands enter while the current tile's wavefront drains and its results leave.
Consecutive tiles of any dataflow and pattern overlap, under these rules (in steps; the cycle
model :mod:`sparsa.sim.blocks.sat_array` follows them exactly):

* OS after OS: the tile's last entry enters at least max(C + L - 1, R'') steps after the
  previous tile's last entry (R'' its rows), so that its shadows are not overwritten before
  they are read and its rows leave after the previous ones; tiles of T >= max(C + L - 1, R'')
  entries run back to back;
* OS after WS: the tile's last entry enters at least max((R - 1) L - E + 1, 1) steps after the
  WS tile's last beat (its rows leave after the WS tile's columns; R when L = 1), and its first
  entry at least (R - 1)(L - 1) + 1 steps after it (its tags, one row per step, stay behind the
  WS tile's, L steps per row);
* WS after WS: the tile's weights load while the previous tile streams, row r once the
  previous tile's first beat has swapped row r (C + r L steps after that beat entered); it
  starts once loaded and once the previous tile has fed its last beat;
* WS after OS: its weights follow the OS tile's entries on ``weights``, so they load after the
  OS tile's last entry, then it starts, and its first beat enters at least L + E + R'' - R L
  steps after the OS tile's last entry (its columns leave after the OS tile's rows; this binds
  on few rows only, never when L = 1);
* a rejected command waits until every earlier tile has answered; its error beat follows.

With ``interleave=False`` the same datapath takes a command only once the previous answer's last
beat has been transferred (one cycle later), as the non-overlapped array does.

A command with an unknown pattern, whose entry count (OS length, WS rows) is not a multiple of
N, or whose OS length exceeds ``max_reduction`` (the accumulators' bound), is rejected: it
consumes no operand beat and is answered by one beat with ``error`` set. Every answer ends with
a beat that has ``last`` set; answers leave in command order. Inputs may stall and the output
may be back-pressured at any time: the whole array then holds (one global step enable); the
command stage may load weights meanwhile.
"""

from typing import NamedTuple

from amaranth import Array, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sparsa.config.sat import Dataflow, NMPattern, SatArrayConfig
from sparsa.hw.common.floats import float_product, fp32_sum
from sparsa.hw.common.number_formats import accumulator_shape, operand_shape

__all__ = [
    "Distances",
    "SatArray",
    "acts_layout",
    "cmd_layout",
    "distances",
    "out_layout",
    "runtime_patterns",
    "weights_layout",
]

def runtime_patterns(config: SatArrayConfig) -> tuple[NMPattern | None, ...]:
    """Patterns selectable by the command's ``pattern`` field: 0 is dense, then the config's."""
    return (None, *config.patterns)


class Distances(NamedTuple):
    """The array's fixed distances, in steps (the module docstring; L = ``add_latency``, E the
    combine tree's latency). The RTL is built with them and the cycle model
    :mod:`sparsa.sim.blocks.sat_array` computes with them.

    Attributes
    ----------
    edge : int
        From a transfer on ``weights`` or ``acts`` to the data's registration at the array's
        edge, 1: the edge registers keep the input streams' valid, ready and payload paths
        out of the PEs' multiply-add.
    ws_depth : int
        WS: from an activation beat's transfer to its sums being registered on ``out``,
        1 + R L + C - 1.
    os_spacing : int
        OS: from a tile's last entry to its row 0 being read from the shadows, counted from
        the same point of both (the shadows' hazard), C + L - 1.
    os_read : int
        OS: from a tile's last entry's transfer to its row 0 being read from the shadows,
        1 + C + L - 1.
    os_combine : int
        OS: from a row's read to its combined sums being registered on ``out``, E =
        ceil(log2(L)) L - 1 (0 when L = 1).
    os_after_ws : int
        From a WS tile's last beat to the next OS tile's last entry, at least:
        max((R - 1) L - E + 1, 1).
    os_gap : int
        Idle steps from a WS tile's last beat to the next OS tile's first entry:
        (R - 1)(L - 1).
    ws_gap : int
        Idle steps from an OS tile's last entry to the next WS tile's first beat, less the OS
        tile's rows (at least none): L + E - 1 - R L.
    """

    edge: int
    ws_depth: int
    os_spacing: int
    os_read: int
    os_combine: int
    os_after_ws: int
    os_gap: int
    ws_gap: int


def distances(config: SatArrayConfig) -> Distances:
    """The :class:`Distances` of ``config``."""
    R, C, L = config.rows, config.cols, config.add_latency
    combine = max((L - 1).bit_length() * L - 1, 0)  # ceil(log2 L) levels of L-stage adders
    edge = 1
    return Distances(
        edge=edge,
        ws_depth=edge + R * L + C - 1,
        os_spacing=C + L - 1,
        os_read=edge + C + L - 1,
        os_combine=combine,
        os_after_ws=max((R - 1) * L - combine + 1, 1),
        os_gap=(R - 1) * (L - 1),
        ws_gap=L + combine - 1 - R * L,
    )


def _lanes(config: SatArrayConfig) -> int:
    return max(config.rows, config.cols)


def _index_width(config: SatArrayConfig) -> int:
    return config.max_m.bit_length() - 1


def cmd_layout(config: SatArrayConfig) -> data.StructLayout:
    """One beat per tile: :class:`sparsa.config.sat.Dataflow`, pattern (index into
    :func:`runtime_patterns`), ``length`` - 1 (OS: entries per row; WS: output columns) and
    ``rows`` - 1 (OS: accumulator rows to emit; WS: weight rows to load)."""
    return data.StructLayout(
        {
            "dataflow": Dataflow,
            "pattern": range(len(runtime_patterns(config))),
            "length_m1": config.max_reduction.bit_length(),
            "rows_m1": range(config.rows),
        }
    )


def weights_layout(config: SatArrayConfig) -> data.ArrayLayout:
    """max(R, C) compressed weight entries (value, in-group index)."""
    entry = data.StructLayout(
        {
            "value": operand_shape(config.dtype),
            "index": unsigned(_index_width(config)),
        }
    )
    return data.ArrayLayout(entry, _lanes(config))


def acts_layout(config: SatArrayConfig) -> data.ArrayLayout:
    """max(R, C) activation groups of max(M) values (lanes past the pattern's M are ignored)."""
    group = data.ArrayLayout(operand_shape(config.dtype), config.max_m)
    return data.ArrayLayout(group, _lanes(config))


def out_layout(config: SatArrayConfig) -> data.StructLayout:
    """C accumulator values, the end-of-tile flag and the rejected-command flag."""
    return data.StructLayout(
        {
            "value": data.ArrayLayout(accumulator_shape(config.dtype, config.acc_width),
                                      config.cols),
            "last": 1,
            "error": 1,
        }
    )


class SatArray(wiring.Component):
    """SAT's PE array (see the module docstring for the dataflows, interleaving and the stream
    contract).

    Parameters
    ----------
    config : SatArrayConfig

    Members
    -------
    cmd : In(stream.Signature(cmd_layout(config)))
    weights : In(stream.Signature(weights_layout(config)))
    acts : In(stream.Signature(acts_layout(config)))
    out : Out(stream.Signature(out_layout(config)))
    """

    def __init__(self, config: SatArrayConfig) -> None:
        if not isinstance(config, SatArrayConfig):
            raise TypeError(f"config must be a SatArrayConfig, not {type(config).__name__}")
        self._config = config
        super().__init__(
            {
                "cmd": In(stream.Signature(cmd_layout(config))),
                "weights": In(stream.Signature(weights_layout(config))),
                "acts": In(stream.Signature(acts_layout(config))),
                "out": Out(stream.Signature(out_layout(config))),
            }
        )

    @property
    def config(self) -> SatArrayConfig:
        return self._config

    @property
    def number_formats(self) -> dict[str, str]:
        """The format of the values each stream carries (for the Verilog sidecar): the
        operands', and the accumulators' (``int<acc_width>`` or ``fp32``)."""
        operands = self._config.dtype.value
        accumulators = "fp32" if self._config.dtype.is_float else f"int{self._config.acc_width}"
        return {"weights": operands, "acts": operands, "out": accumulators}

    def elaborate(self, platform: object) -> Module:
        cfg = self._config
        m = Module()
        R, C, MM, L = cfg.rows, cfg.cols, cfg.max_m, cfg.add_latency
        A = accumulator_shape(cfg.dtype, cfg.acc_width)
        patterns = runtime_patterns(cfg)
        entry_layout = weights_layout(cfg).elem_shape
        group_layout = acts_layout(cfg).elem_shape
        length_w = cfg.max_reduction.bit_length()
        gaps = distances(cfg)
        depth, os_read, os_combine = gaps.ws_depth, gaps.os_read, gaps.os_combine
        edge = gaps.edge
        tile_layout = data.StructLayout(
            {
                "ws": 1,
                "pattern": range(len(patterns)),
                "length": length_w + 1,
                "rows": range(R + 1),
            }
        )
        # live: the row holds one of the tile's entries (WS rows past R' swap in zero weights).
        # With L > 1, OS: head, one of the tile's first L entries (its lane starts from +0);
        # tail, one of its last L (its lane's final sum goes to the shadows).
        tag_fields = {"ws": 1, "first": 1, "last": 1, "live": 1}
        if L > 1:
            tag_fields |= {"head": 1, "tail": 1}
        tag_layout = data.StructLayout(tag_fields)
        step = Signal()  # the whole array advances this cycle

        def delay_line(value, length_, name):
            """``value`` delayed by ``length_`` steps, and the line's registers."""
            out, regs = value, []
            for i in range(length_):
                reg = Signal.like(value, name=f"{name}_d{i}")
                with m.If(step):
                    m.d.sync += reg.eq(out)
                out = reg
                regs.append(reg)
            return out, regs

        def decode(pattern, name, field):
            """A field of a pattern code: ``"n"`` (N, 1 when dense) or ``"mask"`` (M - 1, the
            in-group index mask, 0 when dense)."""
            if field == "n":
                values = [1 if p is None else p.n for p in patterns]
            else:
                values = [0 if p is None else p.m - 1 for p in patterns]
            value = Signal(range(max(values) + 1), name=f"{name}_{field}")
            with m.Switch(pattern):
                for i, v in enumerate(values):
                    with m.Case(i):
                        m.d.comb += value.eq(v)
            return value

        # ---- input stages: the command stage (l_*) and the feed stage (f_*) -------------------
        l_valid, l_bad = Signal(), Signal()
        l_tile = Signal(tile_layout)
        loaded = Signal(range(R + 1))  # WS: weight rows loaded into the shadows
        f_valid = Signal()
        f_tile = Signal(tile_layout)
        s = Signal(length_w + 1)  # entries (OS) or activation beats (WS) fed
        group_pos = Signal(range(MM))  # OS: position of this step's entry inside its group
        hold = Signal(acts_layout(cfg))  # OS: the activation groups of the current group
        f_n, f_mask = decode(f_tile.pattern, "f", "n"), decode(f_tile.pattern, "f", "mask")
        l_mask = decode(l_tile.pattern, "l", "mask")
        # The hazard distances (module docstring): OS after OS, os_spacing (besides the rows).
        os_after_ws, os_gap, ws_gap = gaps.os_after_ws, gaps.os_gap, gaps.ws_gap
        os_spacing = gaps.os_spacing
        os_wait = Signal(range(max(R, os_spacing, os_after_ws) + 1))  # until an OS last entry
        os_hold = Signal(range(os_gap + 1))  # steps until an OS tile's first entry may enter
        ws_hold = Signal(range(max(ws_gap + R, 0) + 1))  # until a WS tile's first beat may
        swap_wait = Signal(range(depth))  # steps until the last WS swap has passed
        wsh_full = Signal()  # the shadows hold a loaded WS tile that has not started

        can_start = Mux(
            f_tile.ws, ws_hold == 0, (os_wait < f_tile.length) & (os_hold == 0)
        )
        feeding = Signal()
        f_last = Signal()
        need_w, need_a = Signal(), Signal()
        m.d.comb += [
            feeding.eq(f_valid & ((s != 0) | can_start)),
            f_last.eq(feeding & (s + 1 == f_tile.length)),
            need_w.eq(feeding & ~f_tile.ws),
            need_a.eq(feeding & (f_tile.ws | (group_pos == 0))),
        ]

        # ---- what enters the array this step ---------------------------------------------------
        fed_tag = Signal(tag_layout)
        m.d.comb += [
            fed_tag.ws.eq(feeding & f_tile.ws),
            fed_tag.first.eq(feeding & (s == 0)),
            fed_tag.last.eq(f_last),
        ]
        if L > 1:
            m.d.comb += [
                fed_tag.head.eq(feeding & ~f_tile.ws & (s < L)),
                fed_tag.tail.eq(feeding & ~f_tile.ws & (s + L >= f_tile.length)),
            ]
        edge_tag = []
        for r in range(R):
            row_tag = Signal(tag_layout, name=f"tag_fed_{r}")
            m.d.comb += [row_tag.eq(fed_tag), row_tag.live.eq(~f_tile.ws | (r < f_tile.rows))]
            if L == 1:
                edge_tag.append(delay_line(row_tag, edge + r, f"skew_tag{r}")[0])
                continue
            # A WS tag takes L steps per row, an OS tag one: two lines, which the hazard rules
            # keep from delivering a tag to the same row in the same step.
            os_tag = Signal(tag_layout, name=f"os_tag_fed_{r}")
            ws_tag = Signal(tag_layout, name=f"ws_tag_fed_{r}")
            m.d.comb += [
                os_tag.eq(Mux(fed_tag.ws, 0, row_tag)),
                os_tag.live.eq(0),
                ws_tag.eq(Mux(fed_tag.ws, row_tag, 0)),
            ]
            os_edge = delay_line(os_tag, edge + r, f"skew_os_tag{r}")[0]
            ws_edge = delay_line(ws_tag, edge + r * L, f"skew_ws_tag{r}")[0]
            joined = Signal(tag_layout, name=f"tag_edge_{r}")
            m.d.comb += joined.eq(os_edge.as_value() | ws_edge.as_value())
            edge_tag.append(joined)
        edge_w = []
        for r in range(R):
            fed = Signal(entry_layout, name=f"w_fed_{r}")
            with m.If(need_w):
                m.d.comb += [
                    fed.value.eq(self.weights.payload[r].value),
                    fed.index.eq(self.weights.payload[r].index & f_mask),
                ]
            edge_w.append(delay_line(fed, edge + r, f"skew_w{r}")[0])
        acts_now = Signal(acts_layout(cfg))
        m.d.comb += acts_now.eq(Mux(group_pos == 0, self.acts.payload, hold))
        edge_a_col = []
        for c in range(C):
            fed = Signal(group_layout, name=f"a_fed_col_{c}")
            m.d.comb += fed.eq(acts_now[c])
            edge_a_col.append(delay_line(fed, edge + c, f"skew_a_col{c}")[0])
        edge_a_row = []
        for r in range(R):
            fed = Signal(group_layout, name=f"a_fed_row_{r}")
            with m.If(r < f_tile.rows), m.Switch(f_tile.pattern):
                for i, p in enumerate(patterns):
                    with m.Case(i):
                        m.d.comb += fed.eq(self.acts.payload[r // (1 if p is None else p.n)])
            edge_a_row.append(delay_line(fed, edge + r * L, f"skew_a_row{r}")[0])

        # ---- the grid --------------------------------------------------------------------------
        load_en = Signal()
        w = [[Signal(entry_layout, name=f"w_{r}_{c}") for c in range(C)] for r in range(R)]
        wsh = [[Signal(entry_layout, name=f"wsh_{r}_{c}") for c in range(C)] for r in range(R)]
        a = [[Signal(group_layout, name=f"a_{r}_{c}") for c in range(C)] for r in range(R)]
        acc = [[Signal(A, name=f"acc_{r}_{c}") for c in range(C)] for r in range(R)]
        # OS: the shadows, the final sums of the tile's L lanes (lane j in sh[r][c][L - 1 - j]).
        sh = [
            [[Signal(A, name=f"sh_{r}_{c}" + (f"_{k}" if L > 1 else "")) for k in range(L)]
             for c in range(C)]
            for r in range(R)
        ]
        tag = [[Signal(tag_layout, name=f"tag_{r}_{c}") for c in range(C)] for r in range(R)]
        for r in range(R):
            for c in range(C):
                tag_in = edge_tag[r] if c == 0 else tag[r][c - 1]
                w_in = edge_w[r] if c == 0 else w[r][c - 1]
                a_os = edge_a_col[c] if r == 0 else a[r - 1][c]
                a_ws = edge_a_row[r] if c == 0 else a[r][c - 1]
                ws, first = tag_in.ws, tag_in.first
                a_in = Signal(group_layout, name=f"a_in_{r}_{c}")
                weight = Signal(entry_layout, name=f"w_use_{r}_{c}")
                m.d.comb += [
                    a_in.eq(Mux(ws, a_ws, a_os)),
                    weight.eq(Mux(ws, Mux(first, Mux(tag_in.live, wsh[r][c], 0), w[r][c]), w_in)),
                ]
                picked = Array(a_in[i] for i in range(MM))[weight.index]
                total = Signal(A, name=f"sum_{r}_{c}")
                head = tag_in.head if L > 1 else first  # OS: the lane starts from zero
                base = Mux(ws, acc[r - 1][c] if r else 0, Mux(head, 0, acc[r][c]))
                if cfg.dtype.is_float:  # FP32 accumulation (hw.common.floats' contract)
                    product = float_product(m, weight.value, picked, cfg.dtype)
                    flags = Cat(tag_in.tail, first) if L > 1 else None
                    adder_sum, done = fp32_sum(m, base, product, stages=L, enable=step, flags=flags)
                    m.d.comb += total.eq(adder_sum)  # of L - 1 steps ago; acc is the last stage
                else:
                    m.d.comb += total.eq(base + weight.value * picked)
                with m.If(step):
                    m.d.sync += [tag[r][c].eq(tag_in), a[r][c].eq(a_in), acc[r][c].eq(total)]
                    with m.If(~ws | first):
                        m.d.sync += w[r][c].eq(weight)
                    if L == 1:
                        with m.If(~ws & tag_in.last):
                            m.d.sync += sh[r][c][0].eq(total)
                if L > 1:
                    # In the L steps from the tile's last entry on, the sums of its last L
                    # entries leave the adder: shift them into the shadows (a lane without
                    # entries, when T < L, gets +0; entry 0 clears the lanes before it).
                    end = Signal(name=f"end_{r}_{c}")
                    m.d.comb += end.eq(~ws & tag_in.last)
                    window = Cat(end, *delay_line(end, L - 1, f"end_{r}_{c}")[1]).any()
                    tail, fresh = done[0], done[1]
                    with m.If(step & window):
                        m.d.sync += sh[r][c][0].eq(Mux(tail, total, 0))
                        for k in range(1, L):
                            m.d.sync += sh[r][c][k].eq(Mux(tail & fresh, 0, sh[r][c][k - 1]))
                with m.If(load_en & (loaded == r)):
                    m.d.sync += [
                        wsh[r][c].value.eq(self.weights.payload[c].value),
                        wsh[r][c].index.eq(self.weights.payload[c].index & l_mask),
                    ]
        # WS: column c's sums leave row R - 1 at step j + R + c; delay them to step j + R + C - 1.
        ws_sums = [delay_line(acc[R - 1][c], C - 1 - c, f"deskew{c}")[0] for c in range(C)]

        # ---- output: WS columns and OS rows, scheduled by tokens that travel with the tiles ----
        ws_token = Signal(data.StructLayout({"valid": 1, "last": 1}))
        m.d.comb += [ws_token.valid.eq(feeding & f_tile.ws), ws_token.last.eq(f_last)]
        ws_out, ws_regs = delay_line(ws_token, depth, "ws_token")
        os_token = Signal(data.StructLayout({"valid": 1, "rows": range(R + 1)}))
        m.d.comb += [os_token.valid.eq(f_last & ~f_tile.ws), os_token.rows.eq(f_tile.rows)]
        os_out, os_regs = delay_line(os_token, os_read, "os_token")
        draining = Signal()  # OS: rows after the first one are being read
        out_row = Signal(range(R))
        drain_rows = Signal(range(R + 1))
        row = Mux(draining, out_row, 0)
        os_read_tag = Signal(data.StructLayout({"valid": 1, "last": 1}))
        m.d.comb += [
            os_read_tag.valid.eq(os_out.valid | draining),
            os_read_tag.last.eq(row + 1 == Mux(draining, drain_rows, os_out.rows)),
        ]
        os_emit, emit_regs = delay_line(os_read_tag, os_combine, "os_emit")

        def combine(values, name):
            """The pairwise tree of ``values`` (the lanes, in order: the module docstring) of
            L-stage adders advancing with ``step``; its last register is ``out``'s."""
            level = 0
            while len(values) > 1:
                level += 1
                sums = []
                for i in range(0, len(values) - 1, 2):
                    total, _ = fp32_sum(m, values[i], values[i + 1], stages=L, enable=step)
                    if len(values) > 2:  # not the last level
                        reg = Signal(A, name=f"{name}_l{level}_{i // 2}")
                        with m.If(step):
                            m.d.sync += reg.eq(total)
                        total = reg
                    sums.append(total)
                if len(values) % 2:
                    sums.append(delay_line(values[-1], L, f"{name}_l{level}_odd")[0])
                values = sums
            return values[0]

        os_sums = [
            combine([Array(sh[r][c][L - 1 - j] for r in range(R))[row] for j in range(L)],
                    f"combine{c}")
            for c in range(C)
        ]
        emit_due = ws_out.valid | os_emit.valid
        busy = Signal()  # a tile is being fed or has results still to leave
        lines = [*ws_regs, *os_regs, *emit_regs]
        m.d.comb += busy.eq(f_valid | draining | Cat(r.valid for r in lines).any())

        adv = Signal()
        m.d.comb += adv.eq(~self.out.valid | self.out.ready)
        with m.If(self.out.valid & self.out.ready):
            m.d.sync += self.out.valid.eq(0)

        def emit(values, last, error=0):
            m.d.sync += [
                self.out.valid.eq(1),
                self.out.payload.last.eq(last),
                self.out.payload.error.eq(error),
            ]
            for c in range(C):
                m.d.sync += self.out.payload.value[c].eq(values[c])

        m.d.comb += step.eq(
            (~need_w | self.weights.valid) & (~need_a | self.acts.valid) & (~emit_due | adv)
        )
        with m.If(step):
            with m.If(ws_out.valid):
                emit(ws_sums, last=ws_out.last)
            with m.If(os_emit.valid):
                emit(os_sums, last=os_emit.last)
            with m.If(os_out.valid & (os_out.rows != 1)):
                m.d.sync += [draining.eq(1), out_row.eq(1), drain_rows.eq(os_out.rows)]
            with m.If(draining):
                m.d.sync += out_row.eq(out_row + 1)
                with m.If(out_row + 1 == drain_rows):
                    m.d.sync += draining.eq(0)

        # ---- feeding ---------------------------------------------------------------------------
        m.d.comb += [self.weights.ready.eq(step & need_w), self.acts.ready.eq(step & need_a)]
        with m.If(step & feeding):
            m.d.sync += [s.eq(s + 1), group_pos.eq(Mux(group_pos + 1 == f_n, 0, group_pos + 1))]
            with m.If(need_a & ~f_tile.ws):
                m.d.sync += hold.eq(self.acts.payload)
        with m.If(step):  # the hazard counters (see the module docstring)
            limit = Mux(
                f_tile.ws, os_after_ws, Mux(f_tile.rows > os_spacing, f_tile.rows, os_spacing)
            )
            with m.If(f_last):
                m.d.sync += os_wait.eq(Mux(os_wait > limit, os_wait, limit) - 1)
            with m.Elif(os_wait != 0):
                m.d.sync += os_wait.eq(os_wait - 1)
            with m.If(f_last & f_tile.ws):
                m.d.sync += os_hold.eq(os_gap)
            with m.Elif(os_hold != 0):
                m.d.sync += os_hold.eq(os_hold - 1)
            with m.If(f_last & ~f_tile.ws):
                m.d.sync += ws_hold.eq(Mux(f_tile.rows > -ws_gap, f_tile.rows + ws_gap, 0))
            with m.Elif(ws_hold != 0):
                m.d.sync += ws_hold.eq(ws_hold - 1)
            with m.If(feeding & f_tile.ws & (s == 0)):
                m.d.sync += [swap_wait.eq(depth - L), wsh_full.eq(0)]
            with m.Elif(swap_wait != 0):
                m.d.sync += swap_wait.eq(swap_wait - 1)

        # ---- loading the shadow weights (command stage) ----------------------------------------
        load_ok = Signal()
        m.d.comb += [
            load_ok.eq(
                l_valid
                & ~l_bad
                & l_tile.ws
                & (loaded < l_tile.rows)
                & ~wsh_full
                & (swap_wait + loaded * L <= (R - 1) * L)
                & ~(f_valid & ~f_tile.ws)
            ),
            load_en.eq(load_ok & self.weights.valid),
        ]
        with m.If(load_ok):
            m.d.comb += self.weights.ready.eq(1)
        with m.If(load_en):
            m.d.sync += loaded.eq(loaded + 1)
            with m.If(loaded + 1 == l_tile.rows):
                m.d.sync += wsh_full.eq(1)

        # ---- commands --------------------------------------------------------------------------
        req = self.cmd.payload
        req_len, req_rows = req.length_m1 + 1, req.rows_m1 + 1
        bad = Signal()  # unknown pattern, entries not whole groups of N, or too long for OS
        m.d.comb += bad.eq(1)
        with m.Switch(req.pattern):
            for i, p in enumerate(patterns):
                with m.Case(i):
                    n_req = 1 if p is None else p.n
                    count = Mux(req.dataflow == Dataflow.WS, req_rows, req_len)
                    m.d.comb += bad.eq(count % n_req != 0 if n_req > 1 else 0)
        with m.If((req.dataflow == Dataflow.OS) & (req_len > cfg.max_reduction)):
            m.d.comb += bad.eq(1)
        new_tile = Signal(tile_layout)
        m.d.comb += [
            new_tile.ws.eq(req.dataflow == Dataflow.WS),
            new_tile.pattern.eq(req.pattern),
            new_tile.length.eq(req_len),
            new_tile.rows.eq(req_rows),
        ]

        if cfg.interleave:
            m.d.comb += self.cmd.ready.eq(~l_valid)
        else:
            m.d.comb += self.cmd.ready.eq(~l_valid & ~busy & ~self.out.valid)
        fire = self.cmd.valid & self.cmd.ready
        f_free = ~f_valid | (f_last & step)  # the feed stage can take a tile for the next cycle
        l_ready = (
            l_valid
            & ~l_bad
            & (~l_tile.ws | (loaded == l_tile.rows) | (load_en & (loaded + 1 == l_tile.rows)))
        )
        bypass = fire & ~bad & (req.dataflow == Dataflow.OS) & f_free
        with m.If(f_last & step):
            m.d.sync += f_valid.eq(0)
        with m.If((f_free & l_ready) | bypass):
            m.d.sync += [
                f_valid.eq(1),
                f_tile.eq(Mux(bypass, new_tile, l_tile)),
                s.eq(0),
                group_pos.eq(0),
            ]
        with m.If(f_free & l_ready):
            m.d.sync += l_valid.eq(0)
        with m.If(l_valid & l_bad & ~busy & adv):
            emit([0] * C, last=1, error=1)
            m.d.sync += l_valid.eq(0)
        with m.If(fire & ~bypass):
            m.d.sync += [l_valid.eq(1), l_bad.eq(bad), l_tile.eq(new_tile), loaded.eq(0)]
        return m
