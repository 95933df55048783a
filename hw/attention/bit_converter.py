"""The attention core's bit-width converter: K MSB and LSB planes to full-precision keys.

An MSB lane is ``attention.msb_bits`` wide; with the run-time MSB setting b it holds a b-bit
signed value in its low b bits. The converter sign-extends those bits and appends the 4-bit LSB
plane: key = msb * 16 + lsb (:func:`sparsa.models.golden.attention.reassemble`); with the LSB
plane at zero (a beat of the MSB plane alone) it is
:func:`sparsa.models.golden.attention.msb_only`. Combinational.

The layouts of the row streams (E rows of D lanes per beat) are defined here too.
"""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from sparsa.config.attention import LSB_BITS
from sparsa.config.attention_core import AttentionCoreConfig, KeyPlanes
from sparsa.hw.attention.layouts import CoreBlock
from sparsa.hw.common.fixed_point import sign_extend

__all__ = [
    "BitConverter",
    "full_rows_layout",
    "key_planes_layout",
    "key_rows_layout",
    "lsb_rows_layout",
    "msb_rows_layout",
]


def msb_rows_layout(config: AttentionCoreConfig) -> data.ArrayLayout:
    """E rows of D signed MSB lanes of ``attention.msb_bits`` bits (the setting's low bits used)."""
    lane = signed(config.attention.msb_bits)
    return data.ArrayLayout(data.ArrayLayout(lane, config.dim), config.lanes)


def lsb_rows_layout(config: AttentionCoreConfig) -> data.ArrayLayout:
    """E rows of D unsigned 4-bit LSB lanes."""
    return data.ArrayLayout(data.ArrayLayout(LSB_BITS, config.dim), config.lanes)


def full_rows_layout(config: AttentionCoreConfig) -> data.ArrayLayout:
    """E rows of D signed lanes of T = ``attention.total_bits`` bits."""
    element = signed(config.attention.total_bits)
    return data.ArrayLayout(data.ArrayLayout(element, config.dim), config.lanes)


def key_planes_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """A beat of E key rows as planes: MSB and LSB rows, the valid rows and which planes hold
    the key (:class:`~sparsa.config.attention_core.KeyPlanes`; the LSB rows are ignored for
    ``MSB``)."""
    return data.StructLayout(
        {
            "msb": msb_rows_layout(config),
            "lsb": lsb_rows_layout(config),
            "count": range(config.lanes + 1),
            "planes": KeyPlanes,
        }
    )


def key_rows_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """A beat of E full-precision key rows and the number of valid rows."""
    return data.StructLayout({"keys": full_rows_layout(config), "count": range(config.lanes + 1)})


class BitConverter(CoreBlock):
    """MSB and LSB planes of E key rows to full-precision keys (see the module docstring).

    A stream stage without back-pressure: every beat of ``i_stream`` is on ``o_stream`` in the
    same cycle, with its count.

    Parameters
    ----------
    config : AttentionCoreConfig

    Members
    -------
    i_stream : In(stream.Signature(key_planes_layout(config), always_ready=True))
    msb_bits : In(4)
        The run-time MSB setting b (one of ``config.msb_settings``).
    o_stream : Out(stream.Signature(key_rows_layout(config), always_ready=True))
    """

    def _members(self) -> dict:
        cfg = self.config
        return {
            "i_stream": In(stream.Signature(key_planes_layout(cfg), always_ready=True)),
            "msb_bits": In(4),
            "o_stream": Out(stream.Signature(key_rows_layout(cfg), always_ready=True)),
        }

    def elaborate(self, platform: object) -> Module:
        m = Module()
        beat, out = self.i_stream.payload, self.o_stream.payload
        lane = self.config.attention.msb_bits
        sign = Signal(lane)
        mask = Signal(lane)
        m.d.comb += [
            sign.eq((1 << self.msb_bits) >> 1),
            mask.eq((1 << self.msb_bits) - 1),
            self.o_stream.valid.eq(self.i_stream.valid),
            out.count.eq(beat.count),
        ]
        with_lsb = beat.planes == KeyPlanes.FULL
        for r in range(self.config.lanes):
            for d in range(self.config.dim):
                high = sign_extend(beat.msb[r][d], sign, mask)
                low = Mux(with_lsb, beat.lsb[r][d], 0)
                m.d.comb += out.keys[r][d].eq((high << LSB_BITS) | low)
        return m
