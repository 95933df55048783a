# amaranth: UnusedElaboratable=no
"""amaranth.sim tests of the attention core's command decoder: reject reasons and settings."""

import random

import pytest
from amaranth.sim import Simulator

from sparsa.config.attention import AttentionConfig
from sparsa.config.attention_core import AttentionCoreConfig, RejectReason
from sparsa.hw.attention.control import CommandDecoder
from sparsa.hw.attention.layouts import cmd_layout

CONFIGS = {
    "d32-e2-h3": AttentionCoreConfig(
        attention=AttentionConfig(dim=32, msb_bits=8, prob_bits=10, max_tokens=20),
        multipliers=64,
        comparators=2,
        heads=3,
    ),
    "d32-e4-h4": AttentionCoreConfig(
        attention=AttentionConfig(dim=32, msb_bits=6, max_tokens=33),
        multipliers=128,
        heads=4,
    ),
}


def expected_reason(config: AttentionCoreConfig, cmd: dict) -> RejectReason:
    """The first check of :class:`RejectReason`'s order that ``cmd`` fails."""
    if not 1 <= cmd["n"] <= config.max_tokens:
        return RejectReason.TOKENS
    if cmd["msb_bits"] not in config.msb_settings:
        return RejectReason.MSB_BITS
    if cmd["score_shift"] > config.qk_acc_width(cmd["msb_bits"]):
        return RejectReason.SCORE_SHIFT
    if cmd["threshold"] > 1 << config.attention.prob_bits:
        return RejectReason.THRESHOLD
    if cmd["v_keep"] > cmd["n"]:
        return RejectReason.V_KEEP
    if cmd["head"] >= config.heads:
        return RejectReason.HEAD
    return RejectReason.NONE


@pytest.mark.parametrize("name", list(CONFIGS))
def test_decoder_gives_the_first_reject_reason_and_the_settings(name):
    config = CONFIGS[name]
    seed = len(name)
    rng = random.Random(seed)
    dut = CommandDecoder(config)
    cmd_port = dut.i_stream.payload
    att, E = config.attention, config.lanes

    def field_max(field: str) -> int:
        return (1 << cmd_layout(config)[field].width) - 1

    async def bench(ctx):
        seen = set()
        ctx.set(dut.o_stream.ready, 1)
        for case in range(400):
            b = rng.choice(config.msb_settings)
            n = rng.randint(1, config.max_tokens)
            cmd = {
                "n": n,
                "v_keep": rng.randint(0, n),
                "msb_bits": b,
                "threshold": rng.randint(0, 1 << att.prob_bits),
                "score_shift": rng.randint(0, config.qk_acc_width(b)),
                "head": rng.randrange(config.heads),
                "clear_tokens": rng.getrandbits(1),
                "clear_head": rng.getrandbits(1),
            }
            # Break one check (the earlier ones hold), or draw every field at random.
            kind = case % 8
            if kind == 1:
                cmd["n"] = rng.choice([0, rng.randint(config.max_tokens + 1, field_max("n"))])
            elif kind == 2:
                cmd["msb_bits"] = rng.choice([x for x in range(16) if x not in config.msb_settings])
            elif kind == 3 and config.qk_acc_width(b) < field_max("score_shift"):
                cmd["score_shift"] = rng.randint(
                    config.qk_acc_width(b) + 1, field_max("score_shift")
                )
            elif kind == 4:
                cmd["threshold"] = rng.randint((1 << att.prob_bits) + 1, field_max("threshold"))
            elif kind == 5 and n < field_max("v_keep"):
                cmd["v_keep"] = rng.randint(n + 1, field_max("v_keep"))
            elif kind == 6 and config.heads <= field_max("head"):
                cmd["head"] = rng.randint(config.heads, field_max("head"))
            elif kind == 7:
                cmd.update(
                    {
                        field: rng.randint(0, field_max(field))
                        for field in ("n", "v_keep", "msb_bits", "threshold", "score_shift")
                    }
                )
            for field, value in cmd.items():
                ctx.set(cmd_port[field], value)
            ctx.set(dut.i_stream.valid, case % 2)
            out = dut.o_stream.payload
            want = expected_reason(config, cmd)
            seen.add(want)
            msg = f"seed={seed} case={case} cmd={cmd}"
            assert ctx.get(out.reject) == want, msg
            assert ctx.get(dut.o_stream.valid) == case % 2 and ctx.get(dut.i_stream.ready), msg
            if want != RejectReason.NONE:
                continue
            b, n = cmd["msb_bits"], cmd["n"]
            settings = out.settings
            assert ctx.get(settings.beats) == -(-n // E), msg
            assert ctx.get(settings.sign) == 1 << (b + 3), msg
            assert ctx.get(settings.mask) == (1 << (b + 4)) - 1, msg
            assert ctx.get(settings.out_shift) == att.prob_bits + b + 5 - att.out_bits, msg
            for field in ("n", "v_keep", "msb_bits", "threshold", "head", "clear_tokens",
                          "clear_head"):
                assert ctx.get(settings[field]) == cmd[field], msg
            assert ctx.get(settings.shift) == cmd["score_shift"], msg
        expected = set(RejectReason) - ({RejectReason.HEAD} if config.heads == 4 else set())
        assert seen == expected, f"seed={seed}: reasons met {sorted(seen)}"

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


def test_decoder_rejects_a_non_config():
    with pytest.raises(TypeError, match="config must be an AttentionCoreConfig, not dict"):
        CommandDecoder({"dim": 64})
