"""Cycle model of SAT's PE array (:class:`hw.sat_array.SatArray`).

With operands valid whenever the array wants them and the output always ready, a tile takes,
from the clock edge that transfers its command to the one that transfers its last output beat:

* output-stationary: T + R + C - 1 + R' cycles, for T compressed entries per row (T = K for a
  dense tile, K N / M for an N:M one) and R' accumulator rows emitted: T + R + C - 2 steps until
  the last PE takes its last entry, one cycle to register each of the R' output rows, and the
  transfer of the last one;
* weight-stationary: R' + B + R + C cycles, for R' weight rows loaded (R' compressed entries per
  output row) and B output columns streamed: R' load cycles, then B + R + C - 1 steps until the
  de-skewed sums of the last column are registered, and its transfer;
* a rejected command (unknown pattern, entries not whole groups of N, or an OS length above
  ``max_reduction``): 2 cycles (the error beat is registered, then transferred).
"""

from hw.sat_array import OS, WS, runtime_patterns
from hw.sat_config import SatArrayConfig

__all__ = ["REJECT_CYCLES", "sequence_cycles", "tile_cycles"]

REJECT_CYCLES = 2


def tile_cycles(
    config: SatArrayConfig, *, dataflow: int, pattern: int, length: int, rows: int
) -> int:
    """Cycles of one tile command, exactly as the RTL takes them (see the module docstring).

    Parameters
    ----------
    config : SatArrayConfig
    dataflow : int
        :data:`hw.sat_array.OS` or :data:`hw.sat_array.WS`.
    pattern : int
        Index into :func:`hw.sat_array.runtime_patterns` (0 is dense).
    length : int
        OS: compressed entries per row (T); WS: output columns (B). At least 1.
    rows : int
        OS: accumulator rows emitted; WS: weight rows loaded. 1 to R.
    """
    R, C = config.rows, config.cols
    patterns = runtime_patterns(config)
    if dataflow not in (OS, WS):
        raise ValueError(f"dataflow must be OS ({OS}) or WS ({WS}), not {dataflow!r}")
    if not 1 <= length <= 1 << config.max_reduction.bit_length():
        raise ValueError(f"length must be from 1 to {1 << config.max_reduction.bit_length()}, "
                         f"not {length!r}")
    if not 1 <= rows <= R:
        raise ValueError(f"rows must be from 1 to {R}, not {rows!r}")
    if not 0 <= pattern < len(patterns):
        return REJECT_CYCLES  # the RTL rejects unknown pattern codes
    p = patterns[pattern]
    n = 1 if p is None else p.n
    if dataflow == OS and length > config.max_reduction:
        return REJECT_CYCLES  # more products than the accumulators hold
    if (rows if dataflow == WS else length) % n:
        return REJECT_CYCLES
    if dataflow == OS:
        return length + R + C - 1 + rows
    return rows + length + R + C


def sequence_cycles(config: SatArrayConfig, tiles: list[dict[str, int]]) -> int:
    """Cycles of tile commands run back to back, from the edge that transfers the first command
    to the one that transfers the last output beat: each tile's :func:`tile_cycles`, plus one
    cycle between tiles (the array is idle for a cycle before it takes the next command).

    ``tiles`` holds keyword arguments of :func:`tile_cycles` (dataflow, pattern, length, rows).
    """
    if not tiles:
        raise ValueError("a sequence needs at least one tile")
    return sum(tile_cycles(config, **t) for t in tiles) + len(tiles) - 1
