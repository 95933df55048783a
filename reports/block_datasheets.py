"""The datasheets of the blocks (``sparsa verilog BLOCK`` writes ``<top>.md``).

Each function takes the block's configuration and the data of the sidecar its export wrote, and
returns the datasheet (Markdown, and data for the sidecar): the common parts from
:func:`sparsa.hw.datasheet.datasheet`, then the block's own: the format and meaning of every
payload field, the rules of a request, and its latency and throughput, which are the cycle
model's figures for the configuration (:mod:`sparsa.sim.blocks`), computed here, never written
by hand.
"""

import random
from collections.abc import Mapping, Sequence

from sparsa.config.attention_core import AttentionCoreConfig
from sparsa.config.sat import BdwpPass, Dataflow, SatArrayConfig, SoreConfig
from sparsa.config.topk import TopKConfig
from sparsa.config.weight_update import WeightUpdateConfig
from sparsa.hw.attention.layouts import score_shift_width
from sparsa.hw.datasheet import Datasheet, Field, Section, datasheet, table
from sparsa.hw.sat.sat_array import runtime_patterns
from sparsa.sim.blocks import attention_core as attention_model
from sparsa.sim.blocks import sat_array as array_model
from sparsa.sim.blocks import sore as sore_model
from sparsa.sim.blocks.topk import ROUND_OVERHEAD, TopKCycleModel
from sparsa.sim.blocks.weight_update import step_cycles

__all__ = [
    "SEED",
    "STEP_BEATS",
    "attention_core_datasheet",
    "representative_values",
    "sat_array_datasheet",
    "sore_datasheet",
    "topk_datasheet",
    "weight_update_datasheet",
]

SEED = 1
"""Seed of the values of the representative requests whose cycles depend on the values."""
STEP_BEATS = 1024
"""Beats of each pass of the representative weight-update step (fewer if max_count is less)."""
BINARY32 = "IEEE binary32 bit pattern"
_TIMING = "Latency and throughput"
_TIMING_NOTE = (
    "From the cycle model (`{model}`), which the RTL's measured cycles are checked against: "
    "cycles from the rising edge that transfers the command to the one that transfers its last "
    "answer beat, with every input valid and every output ready whenever the block wants them."
)
_LANES = "lanes from `count` on are not valid"


def representative_values(count: int, lo: int, hi: int) -> list[int]:
    """``count`` seeded (:data:`SEED`) random values from ``lo`` to ``hi``: the values of a
    representative request."""
    rng = random.Random(SEED)
    return [rng.randint(lo, hi) for _ in range(count)]


def _timing(model: str, header: Sequence[str], rows: Sequence[Sequence[object]],
            *notes: str) -> Section:
    return Section(_TIMING, (_TIMING_NOTE.format(model=model), "", *table(header, rows),
                             *(["", *notes] if notes else [])),
                   data={"columns": list(header), "rows": [list(row) for row in rows]})


def _count(width: int) -> str:
    return f"unsigned integer (0 to {(1 << width) - 1})"


def _fields(sidecar: Mapping[str, object], stream: str) -> Mapping[str, Mapping[str, object]]:
    """The top-level fields of a stream's payload, by name."""
    port = next(p for p in sidecar["ports"] if p["name"] == f"{stream}__payload")  # type: ignore
    return {f["name"]: f for f in port["layout"]["fields"]}


def topk_datasheet(config: TopKConfig, sidecar: Mapping[str, object]) -> Datasheet:
    """The datasheet of the top-k engine elaborated from ``config``."""
    P, C, cap = config.lanes, config.comparators, config.capacity
    value = (f"two's-complement INT{config.width}" if config.signed
             else f"unsigned INT{config.width}")
    count = _count(config.count_width)
    fields = {
        "cmd.n": Field(count, f"values of the request; 1 to capacity = {cap} is valid"),
        "cmd.k": Field(count, "values to keep, 0 to n"),
        "din[i]": Field(value, f"value beat x {P} + i; lanes past n in the last beat are "
                               "ignored"),
        "dout.index[i]": Field("unsigned integer", f"index (0 to n - 1) of kept value i of the "
                                                   f"beat; {_LANES}"),
        "dout.value[i]": Field(value, "the kept value at that index"),
        "dout.count": Field(f"unsigned integer (0 to {P})", "valid lanes of the beat"),
        "dout.last": Field("flag", "the response's final beat"),
        "dout.error": Field("flag", "the request broke the contract (n = 0, n > capacity or "
                                    "k > n); a single beat with count 0"),
    }
    requests = (
        f"A request is one `cmd` beat, then ceil(n / {P}) `din` beats. The answer on `dout` is "
        f"the k largest values with their indices, in index order, {P} per beat; ties at the "
        "k-th value go to the earliest index. A request with k = 0 is answered by one empty beat "
        "(count 0, `last`). A request with n = 0, n > capacity or k > n has its `din` beats "
        "consumed and dropped and is answered by one beat with `error` and `last`. The engine "
        "takes one request at a time: the next `cmd` beat is taken after the final `dout` "
        "beat.",
    )
    k = max(1, cap // 2)
    lo, hi = config.value_range
    good = TopKCycleModel(config).request(representative_values(cap, lo, hi), k)
    empty = TopKCycleModel(config).request(representative_values(cap, lo, hi), 0)
    error = TopKCycleModel(config).request([], 0)
    rows = [
        (f"n = {cap}, k = {k}, seeded random values", good.total, good.load, good.select,
         good.output, f"{cap / good.total:.2f}"),
        (f"n = {cap}, k = 0", empty.total, empty.load, empty.select, empty.output,
         f"{cap / empty.total:.2f}"),
        ("n = 0 (error)", error.total, error.load, error.select, error.output, "-"),
    ]
    timing = _timing(
        "sparsa.sim.blocks.topk", ["request", "cycles", "load", "select", "output",
                                   "values per cycle"], rows,
        f"The select phase depends on the values: each quick-select round over m candidates "
        f"takes ceil(m / {C}) + {ROUND_OVERHEAD} cycles (the request above: {good.rounds} "
        f"rounds over {good.elements} candidates, pivot {config.pivot.value} from reset).")
    return datasheet(sidecar, title="the quick-select top-k engine",
                     summary=["SpAtten's top-k engine: the k largest of n values and their "
                              "indices."],
                     fields=fields, sections=[Section("Requests", requests), timing])


def attention_core_datasheet(config: AttentionCoreConfig,
                             sidecar: Mapping[str, object]) -> Datasheet:
    """The datasheet of the attention core elaborated from ``config``."""
    att, E, D = config.attention, config.lanes, config.dim
    P, count = att.prob_bits, config.topk.count_width
    prob = f"unsigned Q1.{P}"
    lane = "two's-complement, the low b + 4 bits used (sign-extended by the core)"
    settings = ", ".join(str(b) for b in config.msb_settings)
    cmd = _fields(sidecar, "cmd")
    fields = {
        "cmd.n": Field(_count(count), f"keys of the query; 1 to max_tokens = "
                                      f"{config.max_tokens} is valid"),
        "cmd.v_keep": Field(_count(count), "V rows that local V pruning keeps, 0 to n"),
        "cmd.msb_bits": Field(_count(cmd["msb_bits"]["width"]),
                              f"b, the MSB setting of the query: {settings}"),
        "cmd.threshold": Field(f"{prob} (0 to 2^{P} = 1.0)",
                               "requant threshold: the LSB planes are fetched when the largest "
                               "probability is below it"),
        "cmd.score_shift": Field(_count(score_shift_width(config)),
                                 f"right shift from a Q x K dot product to a score word, at "
                                 f"most 2(b + 4) + log2 {D}"),
        "cmd.head": Field(_count(cmd["head"]["width"]),
                          f"the head-importance accumulator, 0 to {config.heads - 1}"),
        "cmd.clear_tokens": Field("flag", "restart the token importance from this query"),
        "cmd.clear_head": Field("flag", "restart the head's importance from this query"),
        "q[i]": Field(lane, f"element i of Q (i < {D})"),
        "k_msb[i][j]": Field("two's-complement, the low b bits used",
                             f"element j of the MSB plane of key row beat x {E} + i"),
        "lsb_req.index[i]": Field("unsigned integer", f"a key row whose LSB plane to send; "
                                                      f"{_LANES}"),
        "lsb_req.count": Field(f"unsigned integer (0 to {E})", "valid lanes"),
        "k_lsb[i][j]": Field("unsigned INT4", "element j of the LSB plane of the row of "
                                              "request lane i"),
        "v_req.index[i]": Field("unsigned integer", f"a V row kept by local V pruning, "
                                                    f"increasing; {_LANES}"),
        "v_req.count": Field(f"unsigned integer (0 to {E})", "valid lanes"),
        "v[i][j]": Field(lane, "element j of the V row of request lane i"),
        "keys.prob[i]": Field(prob, "the key's final probability"),
        "keys.importance[i]": Field(
            f"unsigned Q{att.token_importance_bits - P}.{P}, saturating",
            "the key's token importance after this query (the sum of its probabilities)"),
        "keys.count": Field(f"unsigned integer (0 to {E})", "valid lanes"),
        "keys.last": Field("flag", "the query's final `keys` beat"),
        "out.out[i]": Field(f"two's-complement INT{att.out_bits}, rounded half up, saturated",
                            f"element i of prob x V, in units of 2^(b + 5 - {att.out_bits}) V "
                            f"units"),
        "out.requant": Field("flag", "the LSB planes were fetched and the scores recomputed"),
        "out.head_importance": Field(
            f"unsigned integer ({att.head_importance_bits} bits), saturating",
            "the head's importance after this query (the sum of |out| in output units)"),
    }
    requests = (
        f"A query is one `cmd` beat, one `q` beat and ceil(n / {E}) `k_msb` beats ({E} key "
        f"rows per beat). When it requantizes, the core asks for the LSB planes on `lsb_req` "
        f"and takes one `k_lsb` beat per request beat, in order; it asks for the V rows that "
        f"local V pruning keeps on `v_req` and takes one `v` beat per request beat, in order. "
        f"It answers with ceil(n / {E}) `keys` beats and one `out` beat. A command with a "
        f"field out of range is rejected: it takes no other beat and is answered by one `out` "
        f"beat with `error` `REJECTED`, every other field zero. Up to three queries run at "
        f"once (the front, the normalize unit and the values unit, with "
        f"{config.topk_engines} local-V top-k engine(s) taking the queries in turn); the "
        f"answers and every output stream keep the commands' order.",
    )
    n, v_keep = config.max_tokens, max(1, config.max_tokens // 4)
    probs = representative_values(n, 0, (1 << P) // n * 2)
    rows = []
    runs = 8
    for requant in (False, True):
        model = attention_model.AttentionCoreCycleModel(config)
        commands = [model.command(probs, v_keep, requant) for _ in range(runs)]
        timings = attention_model.pipeline_timing(config, commands)
        alone, last = timings[0].out, timings[-1].out
        every = (last - alone) / (runs - 1)
        rows.append((f"n = {n}, v_keep = {v_keep}, {'with' if requant else 'no'} requant",
                     alone, f"{every:.1f}", f"{n / every:.2f}"))
    reject = attention_model.pipeline_timing(config, [attention_model.Command()])[0].out
    rows.append(("a rejected command", reject, "-", "-"))
    timing = _timing("sparsa.sim.blocks.attention_core",
                     ["query", "cycles alone", f"cycles each, {runs} back to back",
                      "keys per cycle, back to back"],
                     rows, "Memory answers one cycle after each request; the local-V top-k "
                     "part depends on the probabilities (seeded random values here).")
    return datasheet(sidecar, title="the SpAtten attention core",
                     summary=["SpAtten's attention core: Q x K, softmax, progressive "
                              "quantization, local V pruning, prob x V, token and head "
                              "importance, pipelined over consecutive (head, query) items."],
                     fields=fields, sections=[Section("Requests", requests), timing])


def sat_array_datasheet(config: SatArrayConfig, sidecar: Mapping[str, object]) -> Datasheet:
    """The datasheet of the SAT PE array elaborated from ``config``."""
    R, C = config.rows, config.cols
    operand = config.dtype.description
    acc = BINARY32 if config.dtype.is_float else f"two's-complement INT{config.acc_width}"
    cmd = _fields(sidecar, "cmd")
    patterns = runtime_patterns(config)
    fields = {
        "cmd.pattern": Field(_count(cmd["pattern"]["width"]),
                             "the N:M pattern, a code of the table below"),
        "cmd.length_m1": Field(_count(cmd["length_m1"]["width"]),
                               f"length - 1; OS: compressed entries per row (at most "
                               f"max_reduction = {config.max_reduction}), WS: output columns"),
        "cmd.rows_m1": Field(_count(cmd["rows_m1"]["width"]),
                             f"rows - 1 (rows 1 to {R}); OS: rows to emit, WS: weight rows"),
        "weights[i].value": Field(operand, "the compressed weight of row i (OS) or column i "
                                           "(WS)"),
        "weights[i].index": Field("unsigned integer", "its position in its group of M "
                                                      "(ignored for dense)"),
        "acts[i][j]": Field(operand, "activation j of group i"),
        "out.value[i]": Field(acc, f"the sum of column i (i < {C})"),
        "out.last": Field("flag", "the tile's final beat"),
        "out.error": Field("flag", "the command was rejected; a single beat"),
    }
    codes = table(["code", "pattern"], [(i, p or "dense") for i, p in enumerate(patterns)])
    requests = (
        "One `cmd` beat per tile. Output-stationary (OS): `length` `weights` beats (entry t of "
        "every row) and one `acts` beat per group of M activations; the answer is `rows` beats "
        "of C sums. Weight-stationary (WS): `rows` `weights` beats, then `length` `acts` "
        "beats; the answer is `length` beats. A command with an unknown pattern, entries not "
        "whole groups of N, or an OS length above max_reduction is rejected: it takes no "
        "operand beat and is answered by one beat with `error` and `last`. Answers leave in "
        "command order; with interleave the next tile's command and operands enter while the "
        "current tile drains.",
        "",
        "Pattern codes (`cmd.pattern`):",
        "",
        *codes,
    )
    T = config.max_reduction
    rows = []
    for dataflow, length, rows_ in ((Dataflow.OS, T, R), (Dataflow.WS, C, R)):
        tile = {"dataflow": dataflow, "pattern": 0, "length": length, "rows": rows_}
        alone = array_model.tile_cycles(config, **tile)
        ii = array_model.increment(config, dataflow, length, rows_, length, rows_)
        macs = R * C * length
        rows.append((f"{dataflow.name} dense, length {length}, {rows_} rows", alone, ii,
                     f"{macs / ii:.1f}"))
    timing = _timing("sparsa.sim.blocks.sat_array",
                     ["tile", "cycles alone", "cycles per tile back to back", "MACs per cycle"],
                     rows, f"A rejected command takes {array_model.REJECT_CYCLES} cycles. An "
                     "N:M tile of T entries covers T M / N of the reduction in the cycles of a "
                     "dense tile of T.")
    return datasheet(sidecar, title="the SAT PE array",
                     summary=[f"SAT's {R} x {C} PE array: dense and N:M sparse GEMM tiles, "
                              f"output- or weight-stationary, {config.dtype.value} operands."],
                     fields=fields, sections=[Section("Requests", requests), timing])


def sore_datasheet(config: SoreConfig, sidecar: Mapping[str, object]) -> Datasheet:
    """The datasheet of the SORE elaborated from ``config``."""
    M, L = config.m, config.lanes
    operand = config.dtype.description
    cmd = _fields(sidecar, "cmd")
    masks = ", ".join(f"bit {1 << p} the {p.name} copy" for p in BdwpPass)
    fields = {
        "cmd.n": Field(_count(cmd["n"]["width"]), f"N, survivors per group: 1 to {M - 1}"),
        "cmd.copies": Field(_count(cmd["copies"]["width"]), f"the copies to produce: {masks}"),
        "weights[i]": Field(operand, "column i of the row (beat r = row r of the tile)"),
        "out.lanes[i][j].value": Field(operand, "survivor j of lane i's group (zero for j >= "
                                                "N)"),
        "out.lanes[i][j].index": Field("unsigned integer", f"its index in its group, 0 to "
                                                           f"{M - 1}"),
        "out.last": Field("flag", "the command's final beat"),
        "out.error": Field("flag", "the command was rejected; a single beat, lanes zero"),
    }
    requests = (
        f"One `cmd` beat, then {M} `weights` beats (the rows of an {M} x {L} tile). Each copy "
        f"is one `out` beat (FF first): per lane its group's N largest magnitudes, in index "
        f"order, ties to the lowest index. A command with N outside 1 to {M - 1} or no copy is "
        "rejected: it takes no `weights` beat and is answered by one beat with `error` and "
        "`last`. The next tile loads while the current one is reduced.",
    )
    rows = []
    for copies in (1, 3):
        alone = sore_model.command_cycles(config, n=1, copies=copies)
        stream = sore_model.stream_cycles(config, n=1, copies=copies, count=2)
        ii = stream - sore_model.stream_cycles(config, n=1, copies=copies, count=1)
        rows.append((f"copies = {copies}", alone, ii, f"{M * L / ii:.1f}"))
    rows.append(("rejected", sore_model.REJECT_CYCLES, "-", "-"))
    timing = _timing("sparsa.sim.blocks.sore",
                     ["command", "cycles alone", "cycles per command back to back",
                      "weights per cycle"], rows)
    return datasheet(sidecar, title="the SORE",
                     summary=[f"SAT's sparse online reduction engine: N:M compressed copies "
                              f"(FF and BP) of {M} x {L} tiles of {config.dtype.value} weights."],
                     fields=fields, sections=[Section("Requests", requests), timing])


def weight_update_datasheet(config: WeightUpdateConfig, sidecar: Mapping[str, object]) -> Datasheet:
    """The datasheet of the weight-update engine elaborated from ``config``."""
    half, L = config.dtype.description, config.lanes
    status = _fields(sidecar, "status")
    fields = {
        "cmd.count": Field(_count(_fields(sidecar, "cmd")["count"]["width"]),
                           f"elements of the step, 0 to max_count = {config.max_count}"),
        "cmd.lr": Field(BINARY32, "learning rate"),
        "cmd.momentum": Field(BINARY32, "momentum"),
        "cmd.weight_decay": Field(BINARY32, "weight decay"),
        "cmd.decay": Field(BINARY32, "SR-STE decay of the pruned weights"),
        "grads[i]": Field(half, "gradient of element beat x lanes + i (check pass)"),
        "data[i].weight": Field(BINARY32, "the FP32 master weight"),
        "data[i].momentum": Field(BINARY32, "its momentum"),
        "data[i].grad": Field(half, "its gradient"),
        "data[i].mask": Field("flag", "1: kept by the N:M mask, 0: pruned"),
        "weights[i]": Field(BINARY32, "the updated weight"),
        "momentum[i]": Field(BINARY32, "the updated momentum"),
        "copies[i]": Field(half, "the updated weight, rounded to nearest even"),
        "status.skipped": Field("flag", "a gradient was Inf or NaN: the step is skipped"),
        "status.scale_log2": Field(_count(status["scale_log2"]["width"]),
                                   "log2 of the loss scale after the step"),
        "status.clean": Field(_count(status["clean"]["width"]),
                              "consecutive clean steps after the step"),
    }
    requests = (
        f"A step is one `cmd` beat, ceil(count / {L}) `grads` beats (the check pass) and one "
        "`status` beat. Unless the step is skipped or empty, ceil(count / lanes) `data` beats "
        "follow (the update pass), each answered by one beat on each of `weights`, `momentum` "
        "and `copies`. Lanes past count in the last beat are padding. The next `cmd` is taken "
        "once the step is over.",
    )
    n = min(config.max_count, config.lanes * STEP_BEATS)
    applied = step_cycles(config, count=n, skipped=False)
    skipped = step_cycles(config, count=n, skipped=True)
    rows = [(f"count = {n}, applied", applied.status, applied.period,
             f"{n / applied.period:.2f}"),
            (f"count = {n}, skipped", skipped.status, skipped.period, "-")]
    timing = _timing("sparsa.sim.blocks.weight_update",
                     ["step", "cycles to status", "cycles per step", "elements per cycle"], rows)
    return datasheet(sidecar, title="the SAT weight-update engine",
                     summary=["SAT's weight-update engine: one AMP optimizer step (SGD with "
                              "momentum, weight decay, SR-STE decay, dynamic loss scaling) on "
                              "FP32 master weights, with their half-precision copy."],
                     fields=fields, sections=[Section("Requests", requests), timing])
