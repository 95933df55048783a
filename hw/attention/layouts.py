"""Payload layouts of the attention core's streams, and the base of its blocks.

The five layouts of the core's own ports (:func:`cmd_layout`, :func:`q_layout`,
:func:`request_layout`, :func:`keys_layout`, :func:`out_layout`; the row streams' are in
:mod:`sparsa.hw.attention.bit_converter`) and those of the streams between its blocks, each a
function of the :class:`~sparsa.config.attention_core.AttentionCoreConfig`. :class:`CoreBlock`
is the base of every block elaborated from that configuration.
"""

from amaranth import signed
from amaranth.lib import data

from sparsa.config.attention_core import (
    AttentionCoreConfig,
    CommandStatus,
    RejectReason,
    check_core_config,
)
from sparsa.hw.common.component import ConfigComponent

__all__ = [
    "SCORE_BANKS",
    "CoreBlock",
    "cmd_layout",
    "decoded_layout",
    "keys_layout",
    "out_layout",
    "prob_rows_layout",
    "q_layout",
    "queued_layout",
    "request_layout",
    "row_tag_layout",
    "score_shift_width",
    "scored_layout",
    "settings_layout",
]


SCORE_BANKS = 2
"""Banks of the score buffer: the front writes and sums one query's scores while the normalize
unit reads the previous query's."""


class CoreBlock(ConfigComponent):
    """Base of the attention core's blocks, elaborated from the core's configuration.

    Parameters
    ----------
    config : AttentionCoreConfig
        Checked first (``TypeError`` for anything else); every signature follows from it.
    """

    _check_config = staticmethod(check_core_config)

    @property
    def config(self) -> AttentionCoreConfig:
        """The configuration the block is elaborated from."""
        return self._config


def score_shift_width(config: AttentionCoreConfig) -> int:
    """Bits of the run-time score shift: enough for the widest setting's 2T + log2(D)."""
    return config.attention.qk_acc_width.bit_length()


def _head_width(config: AttentionCoreConfig) -> int:
    return max(1, (config.heads - 1).bit_length())


def cmd_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """One beat per query. Every field can hold out-of-range values (which are rejected)."""
    count = config.topk.count_width
    return data.StructLayout(
        {
            "n": count,
            "v_keep": count,
            "msb_bits": 4,
            "threshold": config.attention.prob_width,
            "score_shift": score_shift_width(config),
            "head": _head_width(config),
            "clear_tokens": 1,
            "clear_head": 1,
        }
    )


def q_layout(config: AttentionCoreConfig) -> data.ArrayLayout:
    """The query: D lanes of T = ``attention.total_bits`` bits (the setting's low bits used)."""
    return data.ArrayLayout(signed(config.attention.total_bits), config.dim)


def request_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """A read request: E row indices, the first ``count`` of them valid."""
    return data.StructLayout(
        {
            "index": data.ArrayLayout(config.topk.index_width, config.lanes),
            "count": range(config.lanes + 1),
        }
    )


def keys_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """E keys' probabilities (when ``emit_probs``) and updated token importance."""
    att = config.attention
    fields: dict[str, object] = {}
    if config.emit_probs:
        fields["prob"] = data.ArrayLayout(att.prob_width, config.lanes)
    fields.update(
        {
            "importance": data.ArrayLayout(att.token_importance_bits, config.lanes),
            "count": range(config.lanes + 1),
            "last": 1,
        }
    )
    return data.StructLayout(fields)


def out_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """The answer to one command."""
    att = config.attention
    return data.StructLayout(
        {
            "out": data.ArrayLayout(signed(att.out_bits), config.dim),
            "requant": 1,
            "head_importance": att.head_importance_bits,
            "error": CommandStatus,
        }
    )


def settings_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """What the core keeps of a command while it runs the query, and what follows from it.

    The command's n, v_keep, MSB setting b, threshold, score shift, head and clear bits; beats =
    ceil(n / E); ``sign`` = 2**(T - 1) and ``mask`` = 2**T - 1 with T = b + 4, for the sign
    extension of the Q and V lanes; ``out_shift`` = P + b + 5 - out_bits, the shift of the
    prob x V sums to the output.
    """
    att = config.attention
    return data.StructLayout(
        {
            "n": config.topk.count_width,
            "v_keep": config.topk.count_width,
            "beats": range(config.rows + 1),
            "msb_bits": 4,
            "sign": att.total_bits,
            "mask": att.total_bits,
            "threshold": att.prob_width,
            "shift": score_shift_width(config),
            "head": _head_width(config),
            "clear_tokens": 1,
            "clear_head": 1,
            "out_shift": range(att.prob_bits + att.total_bits + 2),
        }
    )


def decoded_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """A checked command: its settings and the reason it is rejected
    (:class:`~sparsa.config.attention_core.RejectReason`, ``NONE`` when it is run)."""
    return data.StructLayout({"settings": settings_layout(config), "reject": RejectReason})


def scored_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """A command the front hands to the normalize unit: rejected, or its scores in ``bank``
    of the score buffer with the sum of their softmax terms and whether they were recomputed."""
    return data.StructLayout(
        {
            "reject": 1,
            "bank": range(SCORE_BANKS),
            "requant": 1,
            "total": config.attention.exp_sum_width,
        }
    )


def queued_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """A command the normalize unit hands to the values unit: rejected, or its settings, the
    top-k engine that selects its V rows and whether it was recomputed."""
    return data.StructLayout(
        {
            "reject": 1,
            "settings": settings_layout(config),
            "engine": range(config.topk_engines),
            "requant": 1,
        }
    )


def row_tag_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """What travels with a row of the score buffer through the exp unit and the divider: its
    index and its valid lanes."""
    return data.StructLayout({"row": range(config.rows + 1), "count": range(config.lanes + 1)})


def prob_rows_layout(config: AttentionCoreConfig) -> data.StructLayout:
    """E probabilities and how many of them are valid (a top-k answer waiting for its V rows)."""
    return data.StructLayout(
        {
            "probs": data.ArrayLayout(config.attention.prob_width, config.lanes),
            "count": range(config.lanes + 1),
        }
    )
