"""The one cocotb test module: runs a chunk of any block's plan on the Verilog in Verilator.

:mod:`sparsa.sim.rtl.verify` launches the simulator with this module and these environment
variables: ``SPARSA_RTL_BLOCK`` (the block's name), ``SPARSA_RTL_CONFIG`` (its configuration,
:func:`sparsa.sim.rtl.configs.config_to_json`), ``SPARSA_RTL_SEED``, ``SPARSA_RTL_BATCHES``
(a JSON file of the batches to run, in :meth:`Block.batch_to_json` form) and
``SPARSA_RTL_SUMMARY`` (where the :class:`~sparsa.sim.rtl.harness.Scoreboard` goes, as JSON).
The batches run through the same :func:`~sparsa.sim.rtl.harness.run_plan` as on amaranth.sim.
"""

import json
import os
from pathlib import Path
from typing import Any

import cocotb

from sparsa.files import write_atomically
from sparsa.sim.rtl.backends import CocotbBackend
from sparsa.sim.rtl.configs import config_from_json
from sparsa.sim.rtl.harness import run_plan

__all__ = ["ENV_PREFIX", "run_chunk"]

ENV_PREFIX = "SPARSA_RTL_"


@cocotb.test()
async def run_chunk(dut: Any) -> None:
    """Reset the block, run the batches, write the scoreboard."""
    from sparsa.sim.rtl.blocks import BLOCKS

    env = {k.removeprefix(ENV_PREFIX): v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    block = BLOCKS[env["BLOCK"]]
    config = config_from_json(env["CONFIG"])
    plan = json.loads(Path(env["BATCHES"]).read_text())
    batches = [block.batch_from_json(config, b) for b in plan]
    backend = CocotbBackend(dut)
    await backend.reset()
    scoreboard = await run_plan(block, config, backend, batches, seed=int(env["SEED"]))
    write_atomically({Path(env["SUMMARY"]): json.dumps(scoreboard.as_json())})
