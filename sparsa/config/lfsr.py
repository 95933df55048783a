"""The 16-bit Galois LFSR behind the top-k engine's pseudo-random pivot.

The polynomial is the maximal-length x^16 + x^14 + x^13 + x^11 + 1 (period 65535). The RTL
(:mod:`sparsa.hw.topk.topk`) and the cycle model (:mod:`sparsa.sim.blocks.topk`) both step it
through :func:`lfsr_next`'s constants, so the two cannot drift apart.
"""

LFSR_WIDTH = 16
LFSR_TAPS = 0xB400  # Galois feedback mask of x^16 + x^14 + x^13 + x^11 + 1


def lfsr_next(state: int) -> int:
    """Return the state after one step of the Galois LFSR.

    Parameters
    ----------
    state : int
        Current state, 1 to 65535 (zero is the lock-up state and is not allowed).
    """
    if not 0 < state < 1 << LFSR_WIDTH:
        raise ValueError(f"LFSR state must be in 1..{(1 << LFSR_WIDTH) - 1}, not {state!r}")
    lsb = state & 1
    state >>= 1
    return state ^ LFSR_TAPS if lsb else state


def lfsr_pick(state: int, size: int) -> int:
    """Map an LFSR state to a position in ``range(size)``: ``(state * size) >> 16``."""
    return (state * size) >> LFSR_WIDTH
