"""The components the RTL tests build, each with its cocotb module and cycle model.

Every block now runs on the RTL harness (:mod:`sparsa.sim.rtl.blocks`), which names its own
Verilator target; nothing is left here.
"""

__all__: list[str] = []
