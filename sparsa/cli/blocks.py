"""The hardware blocks of ``sparsa verilog BLOCK`` and ``sparsa verify BLOCK``.

One table, :data:`BLOCKS`, says for each block its name (the command line's word), its Verilog
name (file, top module and sidecar), its component, and its configuration flags. Both commands
add a block's flags and build its configuration from that one entry; the flags' defaults are
the block's default configuration in :data:`sparsa.config.presets.BLOCK_DEFAULTS`.
"""

import argparse
import functools
import importlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from sparsa.cli.options import fail, integer
from sparsa.config.formats import NumberFormat
from sparsa.config.presets import BLOCK_DEFAULTS, SYSTEM_DEFAULTS
from sparsa.config.sat import NMPattern
from sparsa.config.topk import PivotMode

__all__ = ["BLOCKS", "SYSTEMS", "Block", "Flag", "add_block_commands"]


@dataclass(frozen=True)
class Flag:
    """One configuration flag: the field it sets and how the command line spells it.

    Parameters
    ----------
    field : str
        The configuration field; ``outer.inner`` for a field of a nested configuration
        (``attention.dim``). Its last part names the option (``--dim``).
    help : str
        The help text, without the default (added from the block's default configuration).
    metavar : str, optional
        Placeholder of the value, for an integer or a list.
    kind : str
        ``"integer"``; ``"choice"`` (an :class:`~enum.Enum` field, given by its values);
        ``"switch"`` (``--NAME`` and ``--no-NAME``); ``"off"`` (``--no-NAME`` sets the field to
        False); ``"patterns"`` (comma-separated N:M patterns).
    enum : Enum subclass, optional
        The field's type, for a ``"choice"``.
    alternate : str, optional
        The option to use instead in a command that already has the flag's own option
        (``sparsa verify`` has its own ``--seed``).
    """

    field: str
    help: str
    metavar: str | None = None
    kind: str = "integer"
    enum: type[Enum] | None = None
    alternate: str | None = None

    @property
    def dest(self) -> str:
        """Where argparse puts the value (apart from the command's own options' names)."""
        return f"config.{self.field}"

    @property
    def option(self) -> str:
        """The flag's own option, e.g. ``--max-tokens`` or ``--no-interleave``."""
        name = self.field.rpartition(".")[2].replace("_", "-")
        return f"--no-{name}" if self.kind == "off" else f"--{name}"

    def add(self, parser: argparse.ArgumentParser, default: Any, reserved: Collection[str]) -> None:
        """Add the flag to ``parser``, its default taken from the field's ``default`` value."""
        option = self.alternate if self.option in reserved else self.option
        if option is None:
            raise ValueError(f"{self.option} is taken and {self.field} has no alternate")
        shown = f"{self.help} (default: %(default)s)"
        if self.kind == "integer":
            kwargs = {"type": integer, "default": default, "metavar": self.metavar}
        elif self.kind == "choice":
            kwargs = {"choices": [m.value for m in self.enum], "default": default.value}
        elif self.kind == "patterns":
            kwargs = {"default": ",".join(str(p) for p in default), "metavar": self.metavar}
        elif self.kind == "switch":
            kwargs = {"action": argparse.BooleanOptionalAction, "default": default}
        else:  # "off": a switch whose option turns the field off, shown without a default
            kwargs, shown = {"action": "store_true", "default": not default}, self.help
        parser.add_argument(option, dest=self.dest, help=shown, **kwargs)

    def value(self, given: Any) -> Any:
        """The field's value for the command line's ``given`` value.

        Raises
        ------
        ValueError
            If ``given`` is not a value of the field (a malformed N:M pattern).
        """
        if self.kind == "choice":
            return self.enum(given)
        if self.kind == "patterns":
            return tuple(NMPattern.parse(p) for p in given.split(","))
        if self.kind == "off":
            return not given
        return given


@dataclass(frozen=True)
class Block:
    """A hardware block as the command line knows it.

    Parameters
    ----------
    name : str
        The command line's word, also the block's key in
        :data:`~sparsa.config.presets.BLOCK_DEFAULTS` and in ``sparsa.sim.rtl.verify.BLOCKS``.
    top : str
        The Verilog file, top module, sidecar and datasheet name (``top.v``, ``top.json``,
        ``top.vlt``, ``top.md``).
    component : str
        ``module:Class`` of the Amaranth component, which takes the configuration.
    title : str
        The block in a sentence, e.g. ``"the top-k engine"``.
    help : str
        One line for the command's list of blocks.
    note : str
        What the Verilog command's description adds about the block.
    flags : tuple of Flag
        The configuration flags, in the order of the help.
    datasheet : str
        ``module:function`` of its datasheet: a function of the configuration and the sidecar's
        data that returns a :class:`sparsa.hw.datasheet.Datasheet`.
    """

    name: str
    top: str
    component: str
    title: str
    help: str
    note: str
    flags: tuple[Flag, ...]
    datasheet: str

    @property
    def defaults(self) -> Any:
        """The default configuration (the flags' defaults)."""
        return {**BLOCK_DEFAULTS, **SYSTEM_DEFAULTS}[self.name]

    def add_flags(self, parser: argparse.ArgumentParser, *,
                  reserved: Collection[str] = ()) -> None:
        """Add the configuration flags to ``parser``; a flag whose option is ``reserved`` (the
        command's own) takes its alternate option."""
        for flag in self.flags:
            flag.add(parser, _field(self.defaults, flag.field), reserved)

    def config(self, args: argparse.Namespace) -> Any:
        """The configuration the flags in ``args`` ask for.

        Raises
        ------
        ValueError
            If the block's configuration rejects a value (the message names it).
        """
        return _replaced(self.defaults, {flag.field: flag.value(getattr(args, flag.dest))
                                         for flag in self.flags})

    def build(self, config: Any) -> Any:
        """The block's Amaranth component for ``config`` (imported only now: Amaranth is slow
        to import, and ``--help`` and usage errors should stay quick).

        Raises
        ------
        ValueError
            If the component rejects ``config``.
        """
        return _imported(self.component)(config)

    def datasheet_of(self, config: Any) -> Callable[[Mapping[str, object]], Any]:
        """The block's datasheet for ``config``, a function of the sidecar's data (for
        :func:`sparsa.hw.export.export_verilog`; imported only now, as :meth:`build`)."""
        return functools.partial(_imported(self.datasheet), config)


def _replaced(config: Any, changes: Mapping[str, Any]) -> Any:
    """``config`` with ``changes`` (dotted field paths to values), nested configurations
    replaced first."""
    fields: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for path, value in changes.items():
        outer, _, rest = path.partition(".")
        if rest:
            nested.setdefault(outer, {})[rest] = value
        else:
            fields[outer] = value
    for outer, inner in nested.items():
        fields[outer] = _replaced(getattr(config, outer), inner)
    return replace(config, **fields)


def _imported(spec: str) -> Any:
    """The object ``module:name`` names."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def add_block_commands(
    blocks: argparse._SubParsersAction,
    run: Callable[[Block, Any, argparse.Namespace], int],
    *,
    describe: Callable[[Block], str],
    options: Callable[[argparse.ArgumentParser, Block], None],
    reserved: Collection[str] = (),
    table: dict[str, "Block"] | None = None,
) -> None:
    """Add one subcommand per block of ``table`` (:data:`BLOCKS` by default) to ``blocks``.

    Each has the block's configuration flags, then the command's own ``options``; it builds
    the configuration (exit status 2, one line, if the block rejects it) and returns
    ``run(block, config, args)``.

    Parameters
    ----------
    blocks : argparse subparsers
        Where the subcommands go.
    run : callable
        The command, given the block, its configuration and the parsed arguments.
    describe : callable
        The description of a block's subcommand.
    options : callable
        Adds the command's own options to a block's subcommand.
    reserved : collection of str
        The command's own options (see :meth:`Block.add_flags`).
    table : dict of str to Block, optional
        The blocks to add (:data:`SYSTEMS` for the system tops).
    """
    for block in (BLOCKS if table is None else table).values():
        parser = blocks.add_parser(block.name, help=block.help, description=describe(block))
        block.add_flags(parser, reserved=reserved)
        options(parser, block)
        parser.set_defaults(handler=functools.partial(_configured, block, run))


def _configured(block: Block, run: Callable[[Block, Any, argparse.Namespace], int],
                args: argparse.Namespace) -> int:
    try:
        config = block.config(args)
    except ValueError as error:
        return fail(str(error))
    return run(block, config, args)


def _field(config: Any, path: str) -> Any:
    for name in path.split("."):
        config = getattr(config, name)
    return config


# Each block: name, Verilog name, component, title, help, note, its flags, then its datasheet.
_TOPK = Block(
    "topk", "topk", "sparsa.hw.topk.topk:TopKEngine", "the top-k engine",
    "the quick-select top-k engine", "", (
        Flag("lanes", "values per cycle on din and dout, a power of two", "P"),
        Flag("comparators", "comparators per comparator array, a power of two", "C"),
        Flag("capacity", "largest n of a request", "N"),
        Flag("width", "bits per value", "W"),
        Flag("signed", "two's-complement signed values", kind="switch"),
        Flag("pivot", "pivot choice of the quick-select rounds", kind="choice", enum=PivotMode),
        Flag("seed", "reset state of the pivot LFSR", "S", alternate="--lfsr-seed"),
    ), datasheet="sparsa.reports.block_datasheets:topk_datasheet")
_SAT_ARRAY = Block(
    "sat-array", "sat_array", "sparsa.hw.sat.sat_array:SatArray", "the SAT PE array",
    "the SAT PE array (dense and N:M GEMMs, OS and WS dataflows)", "", (
        Flag("rows", "PE rows", "R"),
        Flag("cols", "PE columns", "C"),
        Flag("patterns", "N:M patterns besides dense", "N:M[,N:M...]", kind="patterns"),
        Flag("dtype", "operand format", kind="choice", enum=NumberFormat),
        Flag("max_reduction", "longest dense reduction of a tile; sizes the accumulators", "K"),
        Flag("interleave", "take a command only after the previous answer has left (no shadow "
             "accumulators and weights in use; for the interleave ablation)", kind="off"),
        Flag("add_latency", "register stages of each PE's FP32 adder, 1 to 4 (fp16 and bf16; "
             "int8 and int16 take 1)", "L"),
    ), datasheet="sparsa.reports.block_datasheets:sat_array_datasheet")
_SORE = Block(
    "sore", "sore", "sparsa.hw.sat.sore:Sore", "the SORE",
    "SAT's sparse online reduction engine (the hardware N:M weight generator)",
    " N is chosen per command, 1 to M - 1.", (
        Flag("lanes", "groups reduced in parallel, a multiple of M", "L"),
        Flag("m", "group size: 2, 4, 8 or 16", "M"),
        Flag("dtype", "weight format", kind="choice", enum=NumberFormat),
    ), datasheet="sparsa.reports.block_datasheets:sore_datasheet")
_ATTENTION_CORE = Block(
    "attention-core", "attention_core", "sparsa.hw.attention.attention_core:AttentionCore",
    "the SpAtten attention core",
    "SpAtten's attention core (Q x K, softmax, requant decision, local V top-k, prob x V, "
    "importance)",
    " The MSB setting of each query (4 up to --msb-bits) and its threshold, V keep count and "
    "score shift are run-time command fields.", (
        Flag("attention.dim", "head dimension: 32, 64 or 128", "D"),
        Flag("multipliers", "multipliers of each array (Q x K, prob x V), D times a power of "
             "two", "M"),
        Flag("attention.msb_bits", "widest MSB setting (4, 6, 8, 10 or 12; LSBs are 4 bits)",
             "B"),
        Flag("attention.max_tokens", "most keys of one query", "N"),
        Flag("comparators", "comparators per array of each local-V top-k engine", "C"),
        Flag("topk_engines", "local-V top-k engines, taking the queries in turn (1 to 8)", "T"),
        Flag("heads", "head-importance accumulators", "H"),
    ), datasheet="sparsa.reports.block_datasheets:attention_core_datasheet")

_WEIGHT_UPDATE = Block(
    "weight-update", "weight_update", "sparsa.hw.sat.weight_update:WeightUpdate",
    "the SAT weight-update engine",
    "SAT's weight-update engine (AMP SGD with momentum, weight decay and SR-STE decay on FP32 "
    "master weights, dynamic loss scaling)",
    " The element count and the hyper-parameters (learning rate, momentum, weight decay, SR-STE "
    "decay) are run-time command fields.", (
        Flag("lanes", "elements per beat, 1 to 64", "L"),
        Flag("dtype", "format of the gradients and of the weights' half copy (fp16 or bf16)",
             kind="choice", enum=NumberFormat),
        Flag("init_scale_log2", "log2 of the loss scale after reset", "K"),
        Flag("min_scale_log2", "log2 of the smallest loss scale", "K"),
        Flag("max_scale_log2", "log2 of the largest loss scale (at most 126)", "K"),
        Flag("growth_interval", "consecutive clean steps after which the scale doubles", "N"),
        Flag("max_count", "most elements of one step (sizes the command's count field)", "N"),
        Flag("multiplier_stages", "register stages of each FP32 multiplier, 1 to 3", "S"),
        Flag("adder_stages", "register stages of each FP32 adder, 1 to 4", "S"),
    ), datasheet="sparsa.reports.block_datasheets:weight_update_datasheet")

BLOCKS: dict[str, Block] = {
    b.name: b for b in (_TOPK, _SAT_ARRAY, _SORE, _ATTENTION_CORE, _WEIGHT_UPDATE)
}
"""Every block, by its name."""

_SAT_ACCELERATOR = Block(
    "sat-accelerator", "sat_accelerator", "sparsa.hw.sat_system.accelerator:SatAccelerator",
    "the SAT accelerator",
    "the SAT accelerator system: PE array, buffers, controller, AXI4 master, AXI4-Lite registers",
    " Its datasheet adds the register map, the program format and the faults.", (
        Flag("array.rows", "PE rows", "R"),
        Flag("array.cols", "PE columns", "C"),
        Flag("array.patterns", "N:M patterns besides dense", "N:M[,N:M...]", kind="patterns"),
        Flag("array.dtype", "operand format", kind="choice", enum=NumberFormat),
        Flag("array.max_reduction", "longest dense reduction of a tile", "K"),
        Flag("out_width", "bits of an output-buffer entry (32 for the float formats)", "W"),
        Flag("a_rows", "rows of the weight buffer", "N"),
        Flag("b_rows", "rows of the activation buffer", "N"),
        Flag("out_rows", "rows of the output buffer", "N"),
        Flag("program_depth", "instructions the controller holds", "N"),
        Flag("axi.data_width", "AXI4 data bits (a power of two, 32 to 1024)", "BITS"),
        Flag("axi.addr_width", "AXI4 address bits", "BITS"),
        Flag("axi.max_burst", "most beats of a burst (a power of two)", "BEATS"),
        Flag("axi.max_reads", "read bursts in flight", "N"),
        Flag("axi.max_writes", "write bursts awaiting their response", "N"),
        Flag("dram_bytes", "bytes of DRAM the accelerator may address", "BYTES"),
        Flag("sore_lanes", "lanes of the SORE in the datapath (GENERATE), 0 for none", "L"),
        Flag("sore_m", "group size M of that SORE", "M"),
    ), datasheet="sparsa.hw.sat_system.datasheet:datasheet")

_SPATTEN_ACCELERATOR = Block(
    "spatten-accelerator", "spatten_accelerator",
    "sparsa.hw.spatten_system.accelerator:SpattenAccelerator",
    "the SpAtten accelerator",
    "the SpAtten accelerator system: attention core, row fetcher on four AXI4 read ports, "
    "cascade token and head pruning, AXI4-Lite registers",
    " Its datasheet adds the register map, the layer descriptor and the faults.", (
        Flag("core.attention.dim", "head dimension", "D"),
        Flag("core.multipliers", "multipliers of each core array, D times a power of two", "M"),
        Flag("core.attention.max_tokens", "most tokens of a run", "N"),
        Flag("core.comparators", "comparators per array of every top-k engine", "C"),
        Flag("core.topk_engines", "local-V top-k engines of the core (1 to 8)", "T"),
        Flag("core.heads", "most heads of a run", "H", alternate="--max-heads"),
        Flag("axi.data_width", "AXI4 data bits of every port (64 to 512)", "BITS"),
        Flag("axi.max_reads", "row reads in flight per read port", "N"),
        Flag("head_queue", "commands issued ahead of their answers", "N"),
    ), datasheet="sparsa.hw.spatten_system.datasheet:datasheet")

SYSTEMS: dict[str, Block] = {b.name: b for b in (_SAT_ACCELERATOR, _SPATTEN_ACCELERATOR)}
"""The system tops (``sparsa verilog`` only; they are checked end to end, not case by case)."""
