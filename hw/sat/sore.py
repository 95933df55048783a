"""SAT's sparse online reduction engine (SORE): the hardware N:M weight generator.

The SORE turns one dense weight tile into N:M compressed weights, grouped along the reduction
(the FF copy) or along the output channels (the BP copy), or both from the same tile. It has L
lanes (``config.lanes``), each an insertion-style top-N unit (:class:`TopNLane`), fed by a data
provider that holds the tile.

Tile and groups. A command's tile is M rows x L columns of W-bit weights (M output
channels x L reduction positions, M = ``config.m``); it arrives as M ``weights`` beats, beat i
carrying row i. Every direction yields exactly L groups of M weights, one per lane:

* **FF** (groups along the reduction): row i holds L / M groups of M consecutive reduction
  positions; group g of row i goes to lane i * (L / M) + g (so L must be a multiple of M).
* **BP** (groups along the output channels): group l is column l, the M output channels at
  reduction position l; it goes to lane l.

Reduction. A lane takes its group's M values one per cycle, in index order, and keeps the best N so
far in arrival (= index) order: a value enters while fewer than N are held, or when its magnitude is
strictly greater than the smallest magnitude held; it then evicts the held entry of smallest
magnitude, the one with the highest index among equal ones, which is removed while the new entry is
appended at the end. So ties go to the lowest index, the survivors are always in increasing index
order (no final sort) and a group always yields exactly N entries, which is
:func:`sparsa.models.golden.sat.sore_tile` (built on :func:`sparsa.models.golden.sat.nm_generate`).
Magnitudes. An integer weight (INT8, INT16) is two's complement and its magnitude is taken as
an unsigned W-bit number, which holds |-2^(W-1)| = 2^(W-1) (W + 1 bits as a signed number). A
floating-point weight (FP16, BF16) travels as its 16-bit pattern, and its magnitude is the
pattern with the sign bit masked, compared as an unsigned 15-bit number: IEEE orders the
magnitudes of finite numbers and infinities like these integers, so +0 and -0 tie (the lower
index wins, as for any tie) and subnormals rank below every normal number. A NaN's pattern is
above Inf's, so a NaN weight counts as the largest magnitude and survives (NaNs order by their
payloads): pruning never hides a NaN from the training step that follows.

Commands. One ``cmd`` beat carries N (1 to M - 1) and ``copies``, a mask of the copies to
produce, one bit per :class:`sparsa.config.sat.BdwpPass`: bit ``1 << BdwpPass.FF`` the FF copy,
bit ``1 << BdwpPass.BP`` the BP copy (1 = FF, 2 = BP, 3 = both, FF first). Each copy is one
``out`` beat: per lane M - 1 entries (value, index) of which the first N are the survivors and
the others are zero, the copy's ``direction`` (the pass it serves, ``BdwpPass.FF`` or
``BdwpPass.BP``), and ``last`` on the command's final beat. A command with N outside 1..M - 1 or no
copy is rejected: it consumes no ``weights`` beat and is answered by one beat with ``error`` and
``last`` set (lanes zero).

Micro-architecture (engineering choices, :mod:`sparsa.sim.blocks.sore` counts their cycles):

* The tile is double-buffered in two register banks. A loader (a command register and a row
  counter) accepts a command, then its M rows at one per cycle into the bank it owns; the
  reducer (the one FSM: IDLE, REDUCE, ERROR) reduces the other bank. The loaded tile (or a
  rejected command) is handed to the reducer at the edge where the reducer finishes its
  previous command, at the earliest with the tile's last row (the cycle after the command for a
  rejected one); the loader then takes the next command in the same cycle and swaps banks.
  Loading the next tile thus overlaps the reduction of the current one: back to back, a
  command occupies the reducer for M cycles per copy (L groups per M cycles per copy) and the
  loader for M cycles.
* A copy is M reduction steps (one value per lane per step, one global step enable). The last
  step registers the lanes' survivors straight into the output register (``adv = ~out.valid |
  out.ready``); only that step waits for it, so the next copy starts while a beat waits.
* A lane holds its survivors in slots 0 to N - 1 of M - 1 registers. It compares every pair of
  held magnitudes (M - 1 choose 2 comparators) to find the entry to evict, and the new magnitude
  with each held one; an entering value shifts the slots from the evicted one up down by one and
  is written to slot N - 1. While fewer than N are held, slot 0 (still empty) is the one evicted.
* A rejected command is handed to the reducer like a tile, which registers its error beat in one
  step, so answers stay in command order.

Streams follow the :mod:`amaranth.lib.stream` rules: a transfer happens on a cycle where both
valid and ready are high; ``out.valid`` never waits for ``out.ready`` and, once high, stays high
with a stable payload until the transfer. No valid depends on a ready; ``cmd.ready`` depends in
the same cycle on ``weights.valid`` (the last row of the loading tile) and on ``out.ready``
(the reducer finishing), ``weights.ready`` on neither. Any input may stall and the output may be
back-pressured at any time.
"""

from amaranth import Array, Cat, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sparsa.config.sat import BdwpPass, SoreConfig
from sparsa.hw.common.number_formats import operand_shape

__all__ = [
    "Sore",
    "TopNLane",
    "cmd_layout",
    "entry_layout",
    "out_layout",
    "weights_layout",
]

def entry_layout(config: SoreConfig) -> data.StructLayout:
    """One compressed weight: its value and its index (0 to M - 1) inside its group."""
    return data.StructLayout({
        "value": operand_shape(config.dtype),
        "index": unsigned(config.m.bit_length() - 1),
    })


def cmd_layout(config: SoreConfig) -> data.StructLayout:
    """One beat per command: N (wide enough to hold M, which is rejected) and the ``copies``
    mask (bit ``1 << p`` asks for the copy of :class:`sparsa.config.sat.BdwpPass` p)."""
    return data.StructLayout({"n": unsigned(config.m.bit_length()), "copies": len(BdwpPass)})


def weights_layout(config: SoreConfig) -> data.ArrayLayout:
    """One row of the dense tile: L weights (beat i of a command is row i)."""
    return data.ArrayLayout(operand_shape(config.dtype), config.lanes)


def out_layout(config: SoreConfig) -> data.StructLayout:
    """One copy: per lane M - 1 entries (the first N valid, the others zero), the copy's
    direction (:class:`sparsa.config.sat.BdwpPass`), the end-of-command flag and the
    rejected-command flag."""
    return data.StructLayout({
        "lanes": data.ArrayLayout(data.ArrayLayout(entry_layout(config), config.m - 1),
                                  config.lanes),
        "direction": BdwpPass,
        "last": 1,
        "error": 1,
    })


class TopNLane(wiring.Component):
    """One SORE lane: an insertion-style top-N unit over groups of M values.

    Each cycle with ``en`` set takes ``value`` as the entry of in-group index ``index``; a group
    is presented in index order 0 to M - 1 and index 0 starts a new group. ``kept`` is the
    survivors including this cycle's value (what the lane registers at the clock edge): after
    index M - 1 it is the group's top N by magnitude, ties going to the lowest index, in
    increasing index order, followed by zeros (see the module docstring for the rule).

    Parameters
    ----------
    config : SoreConfig

    Members
    -------
    en : In(1)
        Take ``value`` this cycle.
    value : In(operand_shape(dtype))
    index : In(unsigned(log2(M)))
        Index of ``value`` inside its group.
    n : In(unsigned(bits of M))
        N, from 1 to M - 1; constant over a group.
    kept : Out(data.ArrayLayout(entry_layout(config), M - 1))
        The first N entries are the survivors, the others zero.
    """

    def __init__(self, config: SoreConfig) -> None:
        if not isinstance(config, SoreConfig):
            raise TypeError(f"config must be a SoreConfig, not {type(config).__name__}")
        self._config = config
        entry = entry_layout(config)
        super().__init__({
            "en": In(1),
            "value": In(entry.members["value"]),
            "index": In(entry.members["index"]),
            "n": In(cmd_layout(config).members["n"]),
            "kept": Out(data.ArrayLayout(entry, config.m - 1)),
        })

    @property
    def config(self) -> SoreConfig:
        return self._config

    def _magnitude(self, value: Value) -> Value:
        """The unsigned magnitude the lane compares (see the module docstring)."""
        if self._config.dtype.is_float:
            return value[:-1]
        return abs(value)  # W unsigned bits hold |-2^(W-1)|

    def elaborate(self, platform: object) -> Module:
        m = Module()
        K = self._config.m - 1
        held = Signal(self.kept.shape(), name="held")
        magnitude = self._magnitude
        mag = [Signal(len(magnitude(self.value)), name=f"mag_{s}") for s in range(K)]
        new_mag = Signal(len(mag[0]))
        m.d.comb += new_mag.eq(magnitude(self.value))
        for s in range(K):
            m.d.comb += mag[s].eq(magnitude(held[s].value))
        in_stack = [self.n > s for s in range(K)]
        filling = self.index < self.n  # fewer than N held: the value enters, nothing is evicted
        # The entry to evict: the smallest magnitude, the highest index (slot) among equal ones.
        evict = [Signal(name=f"evict_{s}") for s in range(K)]
        for s in range(K):
            later = [~in_stack[t] | (mag[s] < mag[t]) for t in range(s + 1, K)]
            earlier = [mag[s] <= mag[t] for t in range(s)]
            smallest = Cat(in_stack[s], *later, *earlier).all()
            m.d.comb += evict[s].eq(Mux(filling, int(s == 0), smallest))
        enter = Signal()
        beaten = Cat(*(evict[s] & (new_mag > mag[s]) for s in range(K))).any()
        m.d.comb += enter.eq(filling | beaten)
        # Entering: the evicted slot and the ones above it shift down, the new entry goes to N - 1.
        for s in range(K):
            with m.If(self.n <= s):
                m.d.comb += self.kept[s].eq(0)
            with m.Elif(enter & (self.n == s + 1)):
                m.d.comb += [self.kept[s].value.eq(self.value), self.kept[s].index.eq(self.index)]
            if s + 1 < K:  # slot K - 1 is never below N - 1
                with m.Elif(enter & Cat(*evict[: s + 1]).any()):
                    m.d.comb += self.kept[s].eq(held[s + 1])
            with m.Else():
                m.d.comb += self.kept[s].eq(held[s])
        with m.If(self.en):
            m.d.sync += held.eq(self.kept)
        return m


class Sore(wiring.Component):
    """SAT's sparse online reduction engine (see the module docstring for the tile, the lane
    mapping, the reduction rule and the stream contract).

    Parameters
    ----------
    config : SoreConfig

    Members
    -------
    cmd : In(stream.Signature(cmd_layout(config)))
        One beat per command: N and the copies mask.
    weights : In(stream.Signature(weights_layout(config)))
        M beats per accepted command, beat i = row i of the tile; none for a rejected one.
    out : Out(stream.Signature(out_layout(config)))
        One beat per copy (FF first), or one error beat; ``last`` on the command's final beat.
    """

    def __init__(self, config: SoreConfig) -> None:
        if not isinstance(config, SoreConfig):
            raise TypeError(f"config must be a SoreConfig, not {type(config).__name__}")
        self._config = config
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(config))),
            "weights": In(stream.Signature(weights_layout(config))),
            "out": Out(stream.Signature(out_layout(config))),
        })

    @property
    def config(self) -> SoreConfig:
        return self._config

    @property
    def number_formats(self) -> dict[str, str]:
        """The format of the values each stream carries (for the Verilog sidecar)."""
        return {"weights": self._config.dtype.value, "out": self._config.dtype.value}

    def elaborate(self, platform: object) -> Module:
        cfg = self._config
        m = Module()
        M, L = cfg.m, cfg.lanes
        per_row = L // M  # FF groups per tile row
        req = self.cmd.payload

        # ---- loader: the command register, its rows, the bank it writes -----------------------
        ld_valid = Signal()
        ld_err = Signal()
        ld_n = Signal.like(req.n)
        ld_copies = Signal.like(req.copies)
        rows = Signal(range(M + 1))
        wb = Signal()  # bank the loader writes; the reducer reads the other one
        bank = [[Signal(weights_layout(cfg), name=f"tile{b}_row{r}") for r in range(M)]
                for b in range(2)]
        w_fire = Signal()
        done = Signal()  # the loader's command is ready for the reducer after this edge
        free = Signal()  # the reducer can take a command at this edge
        handoff = Signal()
        m.d.comb += [
            self.weights.ready.eq(ld_valid & ~ld_err & (rows != M)),
            w_fire.eq(self.weights.valid & self.weights.ready),
            done.eq(ld_valid & (ld_err | (rows == M) | ((rows == M - 1) & w_fire))),
            handoff.eq(done & free),
            self.cmd.ready.eq(~ld_valid | handoff),
        ]
        for b in range(2):
            for r in range(M):
                with m.If(w_fire & (wb == b) & (rows == r)):
                    m.d.sync += bank[b][r].eq(self.weights.payload)
        with m.If(w_fire):
            m.d.sync += rows.eq(rows + 1)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.sync += [
                ld_valid.eq(1),
                ld_err.eq((req.n == 0) | (req.n >= M) | (req.copies == 0)),
                ld_n.eq(req.n),
                ld_copies.eq(req.copies),
                rows.eq(0),
            ]
        with m.Elif(handoff):
            m.d.sync += ld_valid.eq(0)

        # ---- reducer registers, taken over at the handoff ---------------------------------------
        rd_n = Signal.like(ld_n)
        rb = Signal()  # bank the reducer reads
        direction = Signal(BdwpPass)
        pending = Signal()  # the BP copy follows the FF one
        j = Signal(range(M))  # in-group index fed this step
        with m.If(handoff):
            m.d.sync += [
                rd_n.eq(ld_n),
                rb.eq(wb),
                wb.eq(~wb),
                j.eq(0),
                direction.eq(Mux(ld_copies[BdwpPass.FF], BdwpPass.FF, BdwpPass.BP)),
                pending.eq(ld_copies[BdwpPass.FF] & ld_copies[BdwpPass.BP]),
            ]

        # ---- data provider and lanes ------------------------------------------------------------
        step = Signal()
        lanes = []
        for lane in range(L):
            row, group = divmod(lane, per_row)
            bp = Array(bank[b][r][lane] for b in range(2) for r in range(M))[Cat(j, rb)]
            ff = Array(bank[b][row][group * M + c] for b in range(2) for c in range(M))[Cat(j, rb)]
            unit = TopNLane(cfg)
            m.submodules[f"lane{lane}"] = unit
            m.d.comb += [
                unit.en.eq(step),
                unit.value.eq(Mux(direction == BdwpPass.BP, bp, ff)),
                unit.index.eq(j),
                unit.n.eq(rd_n),
            ]
            lanes.append(unit)

        # ---- output register ------------------------------------------------------------------
        adv = Signal()
        m.d.comb += adv.eq(~self.out.valid | self.out.ready)
        with m.If(self.out.valid & self.out.ready):
            m.d.sync += self.out.valid.eq(0)

        def emit(results, copy, last, error=0):
            m.d.sync += [
                self.out.valid.eq(1),
                self.out.payload.direction.eq(copy),
                self.out.payload.last.eq(last),
                self.out.payload.error.eq(error),
            ]
            for lane in range(L):
                m.d.sync += self.out.payload.lanes[lane].eq(results[lane])

        # ---- reducer control ------------------------------------------------------------------
        with m.FSM(name="reducer"):

            def release():
                """The reducer is free after this edge: take the loader's command if ready."""
                m.d.comb += free.eq(1)
                with m.If(handoff & ld_err):
                    m.next = "ERROR"
                with m.Elif(handoff):
                    m.next = "REDUCE"
                with m.Else():
                    m.next = "IDLE"

            with m.State("IDLE"):
                release()

            with m.State("REDUCE"):
                m.d.comb += step.eq((j != M - 1) | adv)
                with m.If(step):
                    m.d.sync += j.eq(j + 1)
                    with m.If(j == M - 1):
                        emit([unit.kept for unit in lanes], direction, last=~pending)
                        with m.If(pending):
                            m.d.sync += [direction.eq(BdwpPass.BP), pending.eq(0)]
                        with m.Else():
                            release()

            with m.State("ERROR"), m.If(adv):
                emit([0] * L, BdwpPass.FF, last=1, error=1)
                release()
        return m
