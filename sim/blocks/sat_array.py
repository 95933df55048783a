"""Cycle model of SAT's PE array (:class:`sparsa.hw.sat.sat_array.SatArray`), with and without
interleave.

With operands valid whenever the array wants them and the output always ready, the array
advances every cycle. Cycles count rising clock edges; a tile's cycles run from the edge that
transfers its command to the one that transfers its last output beat.

A tile alone (:func:`tile_cycles`):

* output-stationary: T + 1 + C + R' + L - 1 + E cycles, for T compressed entries per row
  (T = K for a dense tile, K N / M for an N:M one), R' rows emitted, L = ``add_latency`` and E
  the combine tree's latency (:func:`os_drain`; L - 1 + E = 0 for L = 1): the entries enter in
  T cycles, row r is read from the shadows 1 + C + L - 1 + r cycles after the last one entered
  (1: the array's edge registers) and registered on ``out`` E cycles later, and the last row is
  transferred one cycle after it is registered;
* weight-stationary: R' + B + 1 + R L + C cycles, for R' weight rows loaded and B output
  columns: R' load cycles, B activation beats, 1 + R L + C - 1 cycles until the de-skewed sums
  of the last one are registered, and their transfer;
* a rejected command (unknown pattern, entries not whole groups of N, or an OS length above
  ``max_reduction``): 2 cycles (the error beat is registered, then transferred).

Tiles back to back (:class:`ArrayTimeline`, :func:`sequence_timeline`,
:func:`sequence_cycles`): without interleave (``config.interleave`` False) each command is
transferred one cycle after the previous answer's last beat. With interleave the array takes the
next command as soon as its command stage is free, and the rules of :mod:`sparsa.hw.sat.sat_array`
decide when each tile enters; :class:`ArrayTimeline` follows them tile by tile in O(1) per tile.
Inside a run of tiles of one dataflow the distance between consecutive tiles depends on the two
tiles only (:func:`increment`), which is what lets :mod:`sparsa.dataflow.sat_schedule` sum the tiles
of a GEMM in closed form and :meth:`ArrayTimeline.issue_run` place a whole GEMM at once.
"""

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sparsa.config.sat import Dataflow, SatArrayConfig
from sparsa.hw.sat.sat_array import distances
from sparsa.models.golden.sat import is_rejected

__all__ = [
    "REJECT_CYCLES",
    "ArrayTimeline",
    "TileTiming",
    "increment",
    "is_rejected",
    "os_drain",
    "sequence_cycles",
    "sequence_timeline",
    "tile_cycles",
    "ws_depth",
]

REJECT_CYCLES = 2
_NEVER = -(1 << 62)  # a cycle before anything


def ws_depth(config: SatArrayConfig) -> int:
    """WS: cycles from an activation beat entering the array to its sums being registered on
    ``out``: 1 + R L + C - 1 (the edge registers, then L = ``add_latency`` steps per row)."""
    return distances(config).ws_depth


def os_drain(config: SatArrayConfig) -> int:
    """OS: the cycles a tile's drain takes besides its C columns and its rows, 1 + L - 1 + E:
    the edge registers, the last lane sums reaching the shadows L - 1 cycles after the last
    entry (L = ``add_latency``), and the tree that combines the L lanes at the output,
    E = ceil(log2(L)) L - 1 cycles (L - 1 + E = 0 when L = 1)."""
    gaps = distances(config)
    return gaps.os_read - config.cols + gaps.os_combine


def tile_cycles(
    config: SatArrayConfig, *, dataflow: Dataflow, pattern: int, length: int, rows: int
) -> int:
    """Cycles of one tile command on an idle array (see the module docstring); the arguments
    are those of :func:`is_rejected`."""
    if is_rejected(config, dataflow=dataflow, pattern=pattern, length=length, rows=rows):
        return REJECT_CYCLES
    if dataflow == Dataflow.OS:
        return length + config.cols + rows + os_drain(config)
    return rows + length + ws_depth(config) + 1


def increment(
    config: SatArrayConfig,
    dataflow: Dataflow,
    prev_length: int,
    prev_rows: int,
    length: int,
    rows: int,
) -> int:
    """Cycles between two consecutive accepted tiles of one dataflow in a sequence.

    The distance is between the cycles in which their last entries (OS) or their first
    activation beats (WS) enter the array; it depends on these two tiles only.

    Parameters
    ----------
    config : SatArrayConfig
    dataflow : Dataflow
        The dataflow of both tiles.
    prev_length, prev_rows, length, rows : int
        ``length`` and ``rows`` (as for :func:`tile_cycles`) of the previous tile and of this
        one; the tiles are not checked (closed forms make them valid by construction).
    """
    C, L = config.cols, config.add_latency
    if dataflow == Dataflow.OS:
        if config.interleave:  # shadows and output rows of the previous tile
            return max(length, distances(config).os_spacing, prev_rows)
        return C + prev_rows + os_drain(config) + 1 + length
    if config.interleave:  # the previous tile's beats, or loading behind its swap wave
        return max(prev_length, distances(config).edge + C + (rows - 1) * L + 1)
    return prev_length + ws_depth(config) + 2 + rows


@dataclass(frozen=True)
class TileTiming:
    """Rising edges of one command's transfers, counted in its timeline (see
    :class:`ArrayTimeline`): the command and the answer's last beat."""

    cmd_edge: int
    end_edge: int

    @property
    def cycles(self) -> int:
        """Edges from the command to the answer's last beat."""
        return self.end_edge - self.cmd_edge


class ArrayTimeline:
    """Commands issued to the array back to back, as the RTL takes them.

    Edges count from edge 0, the first at which the first command may be transferred. Internally
    cycle t is the one that ends with edge t + 1 (a transfer "in cycle t" happens at edge t + 1).

    Parameters
    ----------
    config : SatArrayConfig
        Its ``interleave`` decides whether tiles overlap.

    Attributes
    ----------
    ws_loaded : int
        Cycle in which the last WS tile issued loaded its last weight row.
    """

    def __init__(self, config: SatArrayConfig) -> None:
        if not isinstance(config, SatArrayConfig):
            raise TypeError(f"config must be a SatArrayConfig, not {type(config).__name__}")
        self.config = config
        self._started = False
        self._acc = _NEVER  # cycle of the last command's transfer
        self._stage_until = _NEVER  # last cycle the command stage is held (by the last command)
        self._feed_end = _NEVER  # cycle of the last entry or beat of the last accepted tile
        self._feed_os = False  # whether that tile is OS
        self._out_end = _NEVER  # cycle in which the last answer's last beat is registered
        self._os_bound = _NEVER  # earliest cycle for the next OS tile's last entry
        self._os_first = _NEVER  # earliest cycle for the next OS tile's first entry
        self._ws_first = _NEVER  # earliest cycle for the next WS tile's first beat
        self._ws_free = _NEVER  # earliest cycle the next WS tile may load its first weight row
        self.ws_loaded = _NEVER  # cycle the last WS tile loaded its last weight row

    def copy(self) -> "ArrayTimeline":
        """An independent copy (to try a command without issuing it)."""
        return copy.copy(self)

    @property
    def end_edge(self) -> int:
        """Edge of the last answer's last beat (0 before any command)."""
        return self._out_end + 2 if self._started else 0

    def _accept(self, not_before: int | None) -> int:
        if not self._started:
            acc = -1
        elif self.config.interleave:
            acc = max(self._acc + 1, self._stage_until + 1)
        else:
            acc = max(self._acc + 1, self._out_end + 2)
        if not_before is not None:
            acc = max(acc, not_before - 1)
        self._started = True
        self._acc = acc
        return acc

    def issue(
        self,
        *,
        dataflow: Dataflow,
        pattern: int,
        length: int,
        rows: int,
        not_before: int | None = None,
    ) -> TileTiming:
        """Issue one command; return its timing.

        Parameters
        ----------
        dataflow, pattern, length, rows
            As for :func:`tile_cycles`.
        not_before : int, optional
            Earliest edge for the command's transfer (the command is not offered before it).
        """
        rejected = is_rejected(
            self.config, dataflow=dataflow, pattern=pattern, length=length, rows=rows
        )
        acc = self._accept(not_before)
        if rejected:  # it waits in the command stage until every earlier answer has left
            emit = max(acc + 1, self._out_end + 1)
            self._stage_until = self._out_end = emit
            return TileTiming(acc + 1, emit + 2)
        if dataflow == Dataflow.OS:
            if self._feed_end <= acc:  # straight into the feed stage
                moved, self._stage_until = acc, _NEVER
            else:  # in the command stage until the feed stage is free
                moved = self._stage_until = self._feed_end
            # its last entry
            end = max(moved + length, self._os_bound, self._os_first + length - 1)
            self._after_os(end, rows)
        else:
            behind_os = self._feed_end + 1 if self._feed_os else _NEVER
            load = max(acc + 1, self._ws_free, behind_os)  # first weight row
            # row r loads one cycle after row r - 1, and once the previous tile's first beat
            # has swapped row r (L cycles per row)
            loaded = max(load + rows - 1, self._ws_free + (rows - 1) * self.config.add_latency)
            moved = self._stage_until = max(loaded, self._feed_end)
            self.ws_loaded = loaded
            first = max(moved + 1, self._ws_first)  # its first activation beat
            end = first + length - 1
            self._after_ws(first, end)
        return TileTiming(acc + 1, self._out_end + 2)

    def _after_os(self, end: int, rows: int) -> None:
        """Record an OS tile of ``rows`` rows whose last entry enters in cycle ``end``."""
        gaps = distances(self.config)
        self._os_bound = max(self._os_bound, end + max(gaps.os_spacing, rows))
        self._ws_first = end + 1 + max(gaps.ws_gap + rows, 0)
        self._out_end = end + self.config.cols + os_drain(self.config) + rows - 1
        self._feed_os = True
        self._feed_end = end

    def _after_ws(self, first: int, end: int) -> None:
        """Record a WS tile whose first and last activation beats enter in cycles ``first`` and
        ``end``."""
        gaps = distances(self.config)
        self._ws_free = first + gaps.edge + self.config.cols
        self._os_bound = max(self._os_bound, end + gaps.os_after_ws)
        self._os_first = end + 1 + gaps.os_gap
        self._out_end = end + ws_depth(self.config)
        self._feed_os = False
        self._feed_end = end

    def issue_run(
        self,
        first: Mapping[str, int],
        last: Mapping[str, int],
        *,
        span: int,
        tiles: int,
        not_before: int | None = None,
    ) -> int:
        """Issue a run of ``tiles`` accepted tiles of one dataflow at once; return the edge of
        its last answer's last beat.

        Every answer that follows leaves exactly when it would after the run's tiles issued one
        by one; only the transfer edge of the next command (:attr:`TileTiming.cmd_edge`) may be
        later than it would be (the run does not track when its own commands are taken).

        Parameters
        ----------
        first, last : mapping
            The run's first and last tiles (keyword arguments of :func:`tile_cycles`).
        span : int
            Sum of :func:`increment` over the run's consecutive tiles.
        tiles : int
            How many tiles the run has.
        not_before : int, optional
            Earliest edge for the first command's transfer.
        """
        if tiles < 1:
            raise ValueError(f"a run has at least one tile, not {tiles!r}")
        if first["dataflow"] != last["dataflow"]:
            raise ValueError(
                f"a run holds tiles of one dataflow, not {dict(first)} and {dict(last)}"
            )
        if tiles == 1 and (dict(first) != dict(last) or span != 0):
            raise ValueError("a run of one tile has the same first and last tile and span 0")
        self.issue(**first, not_before=not_before)
        if tiles == 1:
            return self.end_edge
        if is_rejected(self.config, **last):
            raise ValueError(f"a run holds accepted tiles only, not {dict(last)}")
        rows, length = last["rows"], last["length"]
        if first["dataflow"] == Dataflow.OS:
            end = self._feed_end + span
            self._after_os(end, rows)
            self._acc, self._stage_until = end - 1, _NEVER  # the next command: by then
        else:
            start = self._feed_end - first["length"] + 1 + span
            self._after_ws(start, start + length - 1)
            self._acc, self._stage_until = start - 1, start - 1
        return self.end_edge


def sequence_timeline(
    config: SatArrayConfig, tiles: Sequence[Mapping[str, int]]
) -> list[TileTiming]:
    """The timing of every command of ``tiles`` (keyword arguments of :func:`tile_cycles`) run
    back to back, the first command's transfer at edge 0."""
    timeline = ArrayTimeline(config)
    return [timeline.issue(**t) for t in tiles]


def sequence_cycles(config: SatArrayConfig, tiles: Sequence[Mapping[str, int]]) -> int:
    """Cycles of tile commands run back to back, from the edge that transfers the first command
    to the one that transfers the last output beat (see :func:`sequence_timeline`)."""
    if not tiles:
        raise ValueError("a sequence needs at least one tile")
    return sequence_timeline(config, tiles)[-1].end_edge
