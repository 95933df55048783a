"""SAT's PE array: dense and N:M sparse GEMM tiles, output- or weight-stationary.

The array has R x C processing elements, each with one W x W multiplier, an M:1 multiplexer that
picks the activation a compressed weight's index points at inside an M-wide activation group, and
an accumulator of ``config.acc_width`` bits (:mod:`models.sat_golden` states the formats). Dense
mode is the 1:1 pattern: every weight is one dense position and its index is ignored. In N:M mode
a weight entry is (value, index); each row consumes one entry per cycle and a group of M
activations per N cycles, so a tile covers M / N times the reduction length of a dense one in the
same cycles.

A flexible interconnect runs two dataflows, chosen per tile by the command:

* **Output-stationary (OS)**: PE (r, c) accumulates Y[r][c] = sum_t A[r][t] * B[.][c]. The
  compressed weights of row r enter at the left (beat t of ``weights`` carries entry t of every
  row, lane r) and move right; the activation groups of column c enter at the top (beat g of
  ``acts`` carries group g of every column, lane c) and move down; both are skewed by one cycle
  per row or column. After T + R + C - 2 steps (T entries per row) the R' requested rows of
  accumulators leave on ``out``, one row of C values per beat.
* **Weight-stationary (WS)**: PE (r, c) holds entry r of output row c (loaded from R' ``weights``
  beats, beat r carrying lane c for column c). For every output column j, one ``acts`` beat brings
  the activation groups (lane g = group g, row r reads lane r // N); they move right along the
  rows while partial sums move down the columns, and the de-skewed column sums leave as one beat
  of C values per j: Y[c][j] = sum_r A[c][r] * B[.][j].

A command with an unknown pattern, whose entry count (OS length, WS rows) is not a multiple of
N, or whose OS length exceeds ``max_reduction`` (the accumulators' bound), is rejected: it
consumes no operand beat and is answered by one beat with ``error`` set. Every answer ends with
a beat that has ``last`` set. Inputs may stall and the output may be back-pressured at any
time: the whole array then holds (one global step enable).
:mod:`sim.sat_array` predicts the cycles exactly.
"""

from amaranth import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.sat_config import NMPattern, SatArrayConfig

__all__ = [
    "OS",
    "WS",
    "SatArray",
    "acts_layout",
    "cmd_layout",
    "out_layout",
    "runtime_patterns",
    "weights_layout",
]

OS, WS = 0, 1  # values of the command's dataflow field


def runtime_patterns(config: SatArrayConfig) -> tuple[NMPattern | None, ...]:
    """Patterns selectable by the command's ``pattern`` field: 0 is dense, then the config's."""
    return (None, *config.patterns)


def _lanes(config: SatArrayConfig) -> int:
    return max(config.rows, config.cols)


def _index_width(config: SatArrayConfig) -> int:
    return config.max_m.bit_length() - 1


def cmd_layout(config: SatArrayConfig) -> data.StructLayout:
    """One beat per tile: dataflow (OS = 0, WS = 1), pattern (index into
    :func:`runtime_patterns`), ``length`` - 1 (OS: entries per row; WS: output columns) and
    ``rows`` - 1 (OS: accumulator rows to emit; WS: weight rows to load)."""
    return data.StructLayout({
        "dataflow": 1,
        "pattern": range(len(runtime_patterns(config))),
        "length_m1": config.max_reduction.bit_length(),
        "rows_m1": range(config.rows),
    })


def weights_layout(config: SatArrayConfig) -> data.ArrayLayout:
    """max(R, C) compressed weight entries (value, in-group index)."""
    entry = data.StructLayout({
        "value": signed(config.dtype.width),
        "index": unsigned(_index_width(config)),
    })
    return data.ArrayLayout(entry, _lanes(config))


def acts_layout(config: SatArrayConfig) -> data.ArrayLayout:
    """max(R, C) activation groups of max(M) values (lanes past the pattern's M are ignored)."""
    group = data.ArrayLayout(signed(config.dtype.width), config.max_m)
    return data.ArrayLayout(group, _lanes(config))


def out_layout(config: SatArrayConfig) -> data.StructLayout:
    """C accumulator values, the end-of-tile flag and the rejected-command flag."""
    return data.StructLayout({
        "value": data.ArrayLayout(signed(config.acc_width), config.cols),
        "last": 1,
        "error": 1,
    })


class SatArray(wiring.Component):
    """SAT's PE array (see the module docstring for the dataflows and the stream contract).

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
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(config))),
            "weights": In(stream.Signature(weights_layout(config))),
            "acts": In(stream.Signature(acts_layout(config))),
            "out": Out(stream.Signature(out_layout(config))),
        })

    @property
    def config(self) -> SatArrayConfig:
        return self._config

    def elaborate(self, platform: object) -> Module:
        cfg = self._config
        m = Module()
        R, C, W, A, MM = cfg.rows, cfg.cols, cfg.dtype.width, cfg.acc_width, cfg.max_m
        patterns = runtime_patterns(cfg)
        entry_layout = weights_layout(cfg).elem_shape
        group_layout = acts_layout(cfg).elem_shape
        length_w = cfg.max_reduction.bit_length()
        depth = R + C - 1  # WS: steps from an activation beat entering to its sums leaving

        # ---- command registers and per-pattern constants ----------------------------------------
        dataflow = Signal()
        pattern = Signal(range(len(patterns)))
        length = Signal(length_w + 1)
        rows = Signal(range(R + 1))
        n_of = Signal(range(MM))  # N of the pattern (1 when dense)
        mask = Signal(_index_width(cfg))  # M - 1 of the pattern (0 when dense)
        req = self.cmd.payload
        with m.Switch(pattern):
            for i, p in enumerate(patterns):
                with m.Case(i):
                    m.d.comb += [n_of.eq(1 if p is None else p.n),
                                 mask.eq(0 if p is None else p.m - 1)]

        # ---- the grid --------------------------------------------------------------------------
        step = Signal()  # the whole array advances this cycle
        clear = Signal()  # start of a tile: zero the weights and accumulators
        w = [[Signal(entry_layout, name=f"w_{r}_{c}") for c in range(C)] for r in range(R)]
        a = [[Signal(group_layout, name=f"a_{r}_{c}") for c in range(C)] for r in range(R)]
        acc = [[Signal(signed(A), name=f"acc_{r}_{c}") for c in range(C)] for r in range(R)]
        edge_w = [Signal(entry_layout, name=f"edge_w_{r}") for r in range(R)]  # OS, left
        edge_a_col = [Signal(group_layout, name=f"edge_a_col_{c}") for c in range(C)]  # OS, top
        edge_a_row = [Signal(group_layout, name=f"edge_a_row_{r}") for r in range(R)]  # WS, left
        load_row = Signal(range(R))
        load_en = Signal()
        is_ws = dataflow == WS
        for r in range(R):
            for c in range(C):
                w_in = edge_w[r] if c == 0 else w[r][c - 1]
                a_os = edge_a_col[c] if r == 0 else a[r - 1][c]
                a_ws = edge_a_row[r] if c == 0 else a[r][c - 1]
                a_in = Signal(group_layout, name=f"a_in_{r}_{c}")
                weight = Signal(entry_layout, name=f"w_use_{r}_{c}")
                m.d.comb += [
                    a_in.eq(Mux(is_ws, a_ws, a_os)),
                    weight.eq(Mux(is_ws, w[r][c], w_in)),
                ]
                picked = Array(a_in[i] for i in range(MM))[weight.index & mask]
                product = Signal(signed(2 * W), name=f"prod_{r}_{c}")
                m.d.comb += product.eq(weight.value * picked)
                base = Mux(is_ws, acc[r - 1][c] if r else 0, acc[r][c])
                with m.If(clear):
                    m.d.sync += [w[r][c].eq(0), acc[r][c].eq(0)]
                with m.Elif(load_en & (load_row == r)):
                    m.d.sync += w[r][c].eq(self.weights.payload[c])
                with m.Elif(step):
                    m.d.sync += [a[r][c].eq(a_in), acc[r][c].eq(base + product)]
                    with m.If(~is_ws):
                        m.d.sync += w[r][c].eq(w_in)

        # ---- edge delay lines (skew) -----------------------------------------------------------
        def delay_line(value, length_, name):
            """``value`` delayed by ``length_`` steps."""
            out = value
            for i in range(length_):
                reg = Signal.like(value, name=f"{name}_d{i}")
                with m.If(step):
                    m.d.sync += reg.eq(out)
                out = reg
            return out

        s = Signal(length_w + 2)  # step counter within the tile
        feeding = s < length  # OS: an entry is fed this step; WS: an activation beat is fed
        group_pos = Signal(range(MM))  # OS: position of this step's entry inside its group
        hold = Signal(acts_layout(cfg))  # OS: the activation groups of the current group
        acts_now = Signal(acts_layout(cfg))
        m.d.comb += acts_now.eq(Mux(group_pos == 0, self.acts.payload, hold))
        for r in range(R):
            fed = Signal(entry_layout, name=f"w_fed_{r}")
            m.d.comb += fed.eq(Mux(feeding & ~is_ws, self.weights.payload[r], 0))
            m.d.comb += edge_w[r].eq(delay_line(fed, r, f"skew_w{r}"))
        for c in range(C):
            fed = Signal(group_layout, name=f"a_fed_col_{c}")
            m.d.comb += fed.eq(acts_now[c])
            m.d.comb += edge_a_col[c].eq(delay_line(fed, c, f"skew_a_col{c}"))
        for r in range(R):
            fed = Signal(group_layout, name=f"a_fed_row_{r}")
            with m.Switch(pattern):
                for i, p in enumerate(patterns):
                    with m.Case(i):
                        m.d.comb += fed.eq(self.acts.payload[r // (1 if p is None else p.n)])
            m.d.comb += edge_a_row[r].eq(delay_line(fed, r, f"skew_a_row{r}"))
        # WS: column c's sums leave row R - 1 at step j + R + c; delay them to step j + R + C - 1.
        ws_sums = [delay_line(acc[R - 1][c], C - 1 - c, f"deskew{c}") for c in range(C)]

        # ---- output register -------------------------------------------------------------------
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

        # ---- control ---------------------------------------------------------------------------
        out_row = Signal(range(R))
        os_steps = length + R + C - 2  # OS: the last PE takes the last entry at step T+R+C-3
        with m.FSM(name="control"):
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    req_len = req.length_m1 + 1
                    req_rows = req.rows_m1 + 1
                    count = Mux(req.dataflow == WS, req_rows, req_len)
                    m.d.sync += [
                        dataflow.eq(req.dataflow),
                        pattern.eq(req.pattern),
                        length.eq(req_len),
                        rows.eq(req_rows),
                        s.eq(0),
                        group_pos.eq(0),
                        load_row.eq(0),
                        out_row.eq(0),
                    ]
                    # Unknown pattern, or an entry count that is not whole groups of N.
                    bad = Signal()
                    m.d.comb += bad.eq(1)
                    with m.Switch(req.pattern):
                        for i, p in enumerate(patterns):
                            with m.Case(i):
                                n_req = 1 if p is None else p.n
                                m.d.comb += bad.eq(count % n_req != 0 if n_req > 1 else 0)
                    with m.If((req.dataflow == OS) & (req_len > cfg.max_reduction)):
                        m.d.comb += bad.eq(1)
                    with m.If(bad):
                        m.next = "ERROR"
                    with m.Else():
                        m.d.comb += clear.eq(1)
                        with m.If(req.dataflow == WS):
                            m.next = "WS_LOAD"
                        with m.Else():
                            m.next = "OS_RUN"

            with m.State("ERROR"), m.If(adv):
                emit([0] * C, last=1, error=1)
                m.next = "WAIT"

            with m.State("OS_RUN"):
                need_a = feeding & (group_pos == 0)
                m.d.comb += step.eq((~feeding | self.weights.valid) & (~need_a | self.acts.valid))
                m.d.comb += [
                    self.weights.ready.eq(step & feeding),
                    self.acts.ready.eq(step & need_a),
                ]
                with m.If(step):
                    m.d.sync += s.eq(s + 1)
                    with m.If(need_a):
                        m.d.sync += hold.eq(self.acts.payload)
                    m.d.sync += group_pos.eq(Mux(group_pos + 1 == n_of, 0, group_pos + 1))
                    with m.If(s + 1 == os_steps):
                        m.next = "OS_DRAIN"

            with m.State("OS_DRAIN"), m.If(adv):
                emit([Array(acc[r][c] for r in range(R))[out_row] for c in range(C)],
                     last=out_row + 1 == rows)
                m.d.sync += out_row.eq(out_row + 1)
                with m.If(out_row + 1 == rows):
                    m.next = "WAIT"

            with m.State("WS_LOAD"):
                m.d.comb += [self.weights.ready.eq(1), load_en.eq(self.weights.valid)]
                with m.If(self.weights.valid):
                    m.d.sync += load_row.eq(load_row + 1)
                    with m.If(load_row + 1 == rows):
                        m.next = "WS_RUN"

            with m.State("WS_RUN"):
                leaving = (s >= depth) & (s < length + depth)
                m.d.comb += step.eq((~feeding | self.acts.valid) & (~leaving | adv))
                m.d.comb += self.acts.ready.eq(step & feeding)
                with m.If(step):
                    m.d.sync += s.eq(s + 1)
                    with m.If(leaving):
                        emit(ws_sums, last=s + 1 == length + depth)
                        with m.If(s + 1 == length + depth):
                            m.next = "WAIT"

            with m.State("WAIT"), m.If(self.out.valid & self.out.ready):
                m.next = "IDLE"
        return m
