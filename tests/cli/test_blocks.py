"""Tests of the blocks table of the command line (:mod:`sparsa.cli.blocks`)."""

import pytest

from sparsa.cli.blocks import BLOCKS
from sparsa.cli.main import build_parser
from sparsa.cli.trace import MODELS
from sparsa.config.presets import BLOCK_DEFAULTS
from sparsa.models.algorithms.transformer import TRANSFORMERS


def options(argv: list[str]) -> set[str]:
    """The options of the subcommand ``argv``."""
    parser = build_parser()
    for word in argv:
        parser = next(a for a in parser._actions if a.dest in ("command", "block")).choices[word]
    return {option for action in parser._actions for option in action.option_strings}


def test_one_name_per_block() -> None:
    assert list(BLOCKS) == ["topk", "sat-array", "sore", "attention-core", "weight-update"]
    assert set(BLOCKS) == set(BLOCK_DEFAULTS)
    assert [b.top for b in BLOCKS.values()] == ["topk", "sat_array", "sore", "attention_core",
                                                "weight_update"]
    assert [b.component.rpartition(":")[2] for b in BLOCKS.values()] == [
        "TopKEngine", "SatArray", "Sore", "AttentionCore", "WeightUpdate"]


@pytest.mark.parametrize("block", list(BLOCKS))
def test_verilog_and_verify_take_the_same_config_flags(block: str) -> None:
    verilog = options(["verilog", block]) - {"-h", "--help", "--out"}
    verify = options(["verify", block]) - {"-h", "--help", "--cases", "--seed", "--backend",
                                           "--jobs", "--no-stalls", "--json", "--replay",
                                           "--replay-out", "--preset"}
    renamed = {"--lfsr-seed": "--seed"}  # verify's own --seed is the plan's
    assert {renamed.get(option, option) for option in verify} == verilog


@pytest.mark.parametrize("block", list(BLOCKS))
def test_the_flags_defaults_are_the_preset(block: str) -> None:
    args = build_parser().parse_args(["verilog", block, "--out", "unused"])
    assert BLOCKS[block].config(args) == BLOCK_DEFAULTS[block]


def test_the_model_run_takes_every_transformer() -> None:
    assert sorted(MODELS) == sorted(TRANSFORMERS)
