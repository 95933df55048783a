"""Small register structures that recur in pipelines and their control.

:func:`delay_line` is the chain of registers that delays a value by a number of cycles, as the
valid bit and the tag of a fixed-latency pipeline travel next to its data; with an enable, the
whole chain holds when it is low (a pipeline stalled as one). :func:`beat_counter` counts the
cycles an event happens on since the last restart (beats taken, rows written, requests sent).
"""

from amaranth import Module, Signal, Value

from sparsa.config.checks import is_int

__all__ = ["beat_counter", "delay_line"]


def delay_line(
    m: Module, value: Value, stages: int, *, en: Value | None = None, name: str
) -> list[Signal]:
    """Return ``stages`` registers, the first loading ``value`` and each next one the one
    before, on every cycle (or on every cycle ``en`` is high when given).

    The registers are named ``<name>1`` to ``<name><stages>`` and have the width and
    signedness of ``value``.
    """
    if not is_int(stages) or stages < 1:
        raise ValueError(f"stages must be a positive integer, not {stages!r}")
    value = Value.cast(value)
    chain, source = [], value
    for stage in range(1, stages + 1):
        register = Signal(value.shape(), name=f"{name}{stage}")
        if en is None:
            m.d.sync += register.eq(source)
        else:
            with m.If(en):
                m.d.sync += register.eq(source)
        chain.append(register)
        source = register
    return chain


def beat_counter(m: Module, event: Value, *, restart: Value, limit: int, name: str) -> Signal:
    """Return a register of ``range(limit + 1)`` that adds one on every cycle ``event`` is high
    and goes to zero on every cycle ``restart`` is (which wins); it starts at zero."""
    if not is_int(limit) or limit < 1:
        raise ValueError(f"limit must be a positive integer, not {limit!r}")
    count = Signal(range(limit + 1), name=name)
    with m.If(event):
        m.d.sync += count.eq(count + 1)
    with m.If(restart):
        m.d.sync += count.eq(0)
    return count
