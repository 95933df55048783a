"""The attention core's bit-width converter: K MSB and LSB planes to full-precision keys.

An MSB lane is ``attention.msb_bits`` wide; with the run-time MSB setting b it holds a b-bit
signed value in its low b bits. The converter sign-extends those bits and appends the 4-bit LSB
plane: key = msb * 16 + lsb (:func:`sparsa.models.golden.attention.reassemble`); with the LSB plane at
zero it is :func:`sparsa.models.golden.attention.msb_only`. Combinational.

The layouts of the row streams (E rows of D lanes per beat) are defined here too.
"""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from sparsa.config.attention import LSB_BITS
from sparsa.config.attention_core import AttentionCoreConfig, check_core_config
from sparsa.hw.common.fixed_point import sign_extend

__all__ = ["BitConverter", "full_rows_layout", "lsb_rows_layout", "msb_rows_layout"]


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


class BitConverter(wiring.Component):
    """MSB and LSB planes of E key rows to full-precision keys (see the module docstring).

    The lanes are separate ports rather than one wide array payload, as in every sub-block of
    the core, so that a simulator handles each lane as a machine word.

    Parameters
    ----------
    config : AttentionCoreConfig

    Members
    -------
    msb : In(signed(attention.msb_bits)).array(E, D)
        Lane d of key row r is ``msb[r][d]``.
    lsb : In(unsigned(4)).array(E, D)
    lsb_valid : In(1)
        Whether ``lsb`` holds the LSB plane; when low the LSBs are taken as zero.
    msb_bits : In(4)
        The run-time MSB setting b (one of ``config.msb_settings``).
    full : Out(signed(attention.total_bits)).array(E, D)
    """

    def __init__(self, config: AttentionCoreConfig) -> None:
        check_core_config(config)
        self._config = config
        E, D = config.lanes, config.dim
        super().__init__(
            {
                "msb": In(signed(config.attention.msb_bits)).array(E, D),
                "lsb": In(LSB_BITS).array(E, D),
                "lsb_valid": In(1),
                "msb_bits": In(4),
                "full": Out(signed(config.attention.total_bits)).array(E, D),
            }
        )

    @property
    def config(self) -> AttentionCoreConfig:
        return self._config

    def elaborate(self, platform: object) -> Module:
        m = Module()
        lane = self._config.attention.msb_bits
        sign = Signal(lane)
        mask = Signal(lane)
        m.d.comb += [sign.eq((1 << self.msb_bits) >> 1), mask.eq((1 << self.msb_bits) - 1)]
        for r in range(self._config.lanes):
            for d in range(self._config.dim):
                high = sign_extend(self.msb[r][d], sign, mask)
                low = Mux(self.lsb_valid, self.lsb[r][d], 0)
                m.d.comb += self.full[r][d].eq((high << LSB_BITS) | low)
        return m
