"""Re-export of :mod:`hw.stream_sim` for the tests (kept until every test imports it)."""

from hw.stream_sim import Trace, drive

__all__ = ["Trace", "drive"]
