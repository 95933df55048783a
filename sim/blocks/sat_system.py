"""Cycle model of the SAT accelerator system running a program
(:mod:`sparsa.hw.sat_system.accelerator`, programs: :mod:`sparsa.config.sat_system`).

The model follows the RTL instruction by instruction, with cycle 0 the cycle the start is
written (the ``cycles`` counter counts the cycles after it until done):

* **Fetch**: the read of the program's words starts in cycle 1; the first instruction is read
  from the instruction memory two cycles after its last row leaves the gearbox, and the
  controller then takes two cycles per instruction; an instruction enters its unit's queue in
  the second, unless the queue is full, and its unit may take it the cycle after.
* **Reads** (fetch and LOAD) go through :func:`read_rows`: the read engine takes a command the
  cycle after the previous one's last address and issues one burst address per cycle while
  fewer than ``max_reads`` bursts are in flight (across commands, :class:`ReadPort`); the
  memory's first beat of a burst comes ``read_latency`` cycles after its address, then one
  beat per cycle as the gearbox takes them; the gearbox takes a word when at most one row of
  bits is left in it and gives a row the cycle after the word that completes it. LOADs issue
  back to back, their reads in flight together: a LOAD issues the cycle after the one before it
  (the read engine and a free descriptor slot allowing), and the write side takes its
  descriptor, giving its gearbox the row count, once the LOAD before has written its last row;
  its first word is taken the cycle after. A LOAD's token goes the cycle its last row is
  written. A GENERATE issues once every LOAD before it has written its rows.
* **Writes** (STORE) go through :func:`write_rows`: the row feeder's first row is there three
  cycles after the STORE starts, the gearbox packs rows into words one per cycle, the memory
  answers each burst :data:`WRITE_RESPONSE` cycles after its last beat, and the STORE ends (and
  pushes its token) on the last answer. A STORE with a ``group`` (activation beats) reads one
  output row per cycle as well; a beat enters the gearbox with its last row.
* **SYNC** (GEMM's unit) takes its tokens once the previous GEMM's last answer beat has been
  written (the cycle after), and its tokens go at once.
* **GENERATE** (LOAD's unit) reads its dense tile through :func:`read_rows`; the SORE takes
  its command the cycle after the unit does and hands the tile to its reducer with the last
  row (at the earliest M cycles after the command), the copy's beat is there M cycles later
  (:mod:`sparsa.sim.blocks.sore`), and the unit writes one buffer row per cycle from then.
* **GEMM**: an instruction issues once its tokens are there, the previous one has issued and
  the array has taken the previous command; the array then runs the command on its exact
  timeline (:class:`sparsa.sim.blocks.sat_array.ArrayTimeline`) from the cycle its operands reach
  it: the GEMM unit offers the command once both row feeders have a run active, so the array
  never waits for a tile's first rows holding its command; that is the cycle after the issue
  when both still read the previous tile's rows, a cycle later when one had run dry (the
  activation feeder of an OS tile reads one row per N entries, so it runs dry first; a WS
  tile's weights are read before its activations). Its token to STORE goes the cycle after its last
  answer beat; its token to LOAD the cycle after its last operand was taken (an
  approximation: the feeders read one row ahead, so the RTL may give it a cycle earlier).
* The program ends once every unit is idle: the cycle after the last answer beat is written,
  the last LOAD's row, or the last STORE's answer.

**A memory that stalls** (``stall`` > 0: each handshake side of every channel, AR and AW
ready, R and B valid, W ready, idles on a cycle with that probability, as the bench's memory
does): the model takes the expected time of each handshake, 1 / (1 - ``stall``) cycles instead
of one (an expectation, so the predicted cycles are fractional until the end, where they are
rounded). It is exact with ``stall`` = 0; with stalls it is an estimate whose error the system
tests state and bound. A memory that answers later than ``read_latency`` is not modelled.
"""

from dataclasses import dataclass, field
from math import ceil

from sparsa.config.axi import AxiConfig
from sparsa.config.sat import Dataflow
from sparsa.config.sat_system import INSTRUCTION_BITS, Opcode, SatSystemConfig, Unit, decode
from sparsa.hw.sat_system.accelerator import QUEUE_DEPTH
from sparsa.models.golden.sat_system import load_bits, store_rows, unit_of
from sparsa.sim.blocks.sat_array import ArrayTimeline

__all__ = ["WRITE_RESPONSE", "ReadPort", "SystemTiming", "program_timing", "read_rows",
           "write_rows"]

WRITE_RESPONSE = 2  # cycles from a burst's last W beat to its B answer (the bench's memory)


def _handshake(stall: float) -> float:
    """Expected cycles of one handshake on a side idling with probability ``stall`` (1 when it
    never idles)."""
    if not 0 <= stall < 1:
        raise ValueError(f"stall must be a probability in [0, 1), not {stall!r}")
    return 1 if stall == 0 else 1 / (1 - stall)


@dataclass
class ReadPort:
    """What the read engine has done so far: the cycle its last address went (the next command
    is taken the cycle after) and the cycle the last beat of each burst was taken (a burst's
    address waits until fewer than ``max_reads`` bursts are in flight)."""

    last_address: float = -1
    bursts_done: list[float] = field(default_factory=list)


def read_rows(axi: AxiConfig, start: float, addr: int, words: int, rows: int, row_bits: int,
              read_latency: int, stall: float = 0.0, *, port: ReadPort | None = None,
              first_take: float | None = None) -> float:
    """The cycle the last of ``rows`` rows leaves the gearbox, for a read of ``words`` words
    from ``addr`` whose command is taken in cycle ``start`` (``stall``: the module docstring).

    ``port``: the engine's reads before this one (updated); ``first_take``: the first cycle the
    gearbox may take a word (default ``start`` + 1, a gearbox given its command with the read's).
    """
    w = axi.data_width
    beat = _handshake(stall)
    port = ReadPort() if port is None else port
    bursts = axi.bursts(addr, words)
    taken: list[float] = []  # cycle each word is taken by the gearbox
    emitted: list[float] = []  # cycle each row leaves
    address = start
    q = 0
    for k, (_, beats) in enumerate(bursts):
        address = start + beat if k == 0 else address + beat
        done = port.bursts_done
        if len(done) >= axi.max_reads:
            address = max(address, done[len(done) - axi.max_reads] + beat)
        for b in range(beats):
            present = taken[-1] + beat if taken else start + beat
            if b == 0:
                present = max(present, address + read_latency + beat - 1)
            need = ceil(q * w / row_bits) - 2  # this row must have left before the word fits
            ready = emitted[need] if need >= 0 else (start + 1 if first_take is None
                                                     else first_take)
            taken.append(max(present, ready))
            q += 1
            # rows completed by the words so far leave one per cycle after them
            while len(emitted) < rows and ceil((len(emitted) + 1) * row_bits / w) <= q:
                row_done = taken[-1] + 1
                emitted.append(max(row_done, emitted[-1] + 1) if emitted else row_done)
        done.append(taken[-1])
    port.last_address = address
    return emitted[-1]


def write_rows(axi: AxiConfig, start: float, words: int, rows: int, row_bits: int,
               addr: int, stall: float = 0.0, sources: int | None = None) -> float:
    """The cycle the memory answers the last burst of a STORE of ``rows`` rows (``words``
    words) to ``addr`` that starts in cycle ``start`` (``stall``: the module docstring).

    ``sources``: the output-buffer rows the STORE reads, when it writes fewer rows of its own
    (activation beats of ``group`` rows each: ``ceil(sources / rows)``, fewer in the last); the
    feeder gives one output row per cycle and a beat enters the gearbox with its last row.
    """
    sources = rows if sources is None else sources
    group = -(-sources // rows)
    w = axi.data_width
    beat = _handshake(stall)
    bursts = axi.bursts(addr, words)
    pushed: list[int] = []  # cycle each row enters the packer
    sent: list[int] = []  # cycle each word is taken on W
    answers: list[int] = []
    aw = start
    burst_of_word = [k for k, (_, beats) in enumerate(bursts) for _ in range(beats)]
    aw_cycles: list[int] = []
    for k in range(len(bursts)):
        aw = start + beat if k == 0 else aw + beat
        aw_cycles.append(aw)  # refined below once answers are known (max_writes)
    row = 0
    for q in range(words):
        # the rows this word needs
        while row < rows and (row * row_bits < (q + 1) * w):
            behind = min(group, sources - row * group)  # output rows of this gearbox row
            offered = start + 2 + behind if row == 0 else pushed[-1] + behind
            need = ceil(row * row_bits / w) - 2
            fits = sent[need] if need >= 0 else offered
            pushed.append(max(offered, fits))
            row += 1
        k = burst_of_word[q]
        if k >= axi.max_writes and q == sum(b for _, b in bursts[:k]):
            aw_cycles[k] = max(aw_cycles[k], answers[k - axi.max_writes] + beat)
            for j in range(k + 1, len(bursts)):
                aw_cycles[j] = max(aw_cycles[j], aw_cycles[j - 1] + beat)
        ready = max(pushed[-1] + beat, sent[-1] + beat if sent else 0, aw_cycles[k] + beat)
        sent.append(ready)
        if q == sum(b for _, b in bursts[: k + 1]) - 1:
            answer = sent[-1] + WRITE_RESPONSE + beat - 1
            answers.append(max(answer, answers[-1] + 1) if answers else answer)
    return answers[-1]


@dataclass
class SystemTiming:
    """The predicted run of a program.

    Attributes
    ----------
    cycles : int
        The ``cycles`` counter: cycles from the start to done.
    array_busy : int
        Cycles the array holds a tile (the ``array_busy`` counter).
    sore_busy : int
        Cycles the LOAD unit runs a GENERATE (the ``sore_busy`` counter).
    bytes_read, bytes_written : int
        DRAM traffic (the counters of those names).
    gemm_ends : list of int
        Cycle each GEMM's last answer beat is written, in program order.
    """

    cycles: int = 0
    array_busy: int = 0
    sore_busy: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    gemm_ends: list[int] = field(default_factory=list)


def program_timing(config: SatSystemConfig, program: list[int], *, program_addr: int,
                   read_latency: int, stall: float = 0.0) -> SystemTiming:
    """Predict the cycles of ``program`` (instructions as integers, ending with END) on the
    system ``config``, its memory answering reads ``read_latency`` cycles after their address
    and idling each handshake side with probability ``stall`` (the module docstring).

    The program must be well formed (the golden model's checks pass) and its tokens balanced;
    the model does not check them.
    """
    axi, arr = config.axi, config.array
    w = axi.data_width
    out = SystemTiming()
    n_prog = len(program)
    prog_words = ceil(n_prog * INSTRUCTION_BITS / w)
    out.bytes_read += prog_words * axi.word_bytes
    port = ReadPort()
    fetched = read_rows(axi, 1, program_addr, prog_words, n_prog, INSTRUCTION_BITS,
                        read_latency, stall, port=port)
    cycle = fetched + 2  # READ of instruction 0
    tokens: dict[str, list[int]] = {k: [] for k in ("lg", "gl", "gs", "sg")}  # avail cycles
    popped = {k: 0 for k in tokens}
    takes: dict[Unit, list[int]] = {unit: [] for unit in Unit}  # cycle each instruction left
    # its unit's queue
    load_free = store_free = 0  # the LOAD unit may issue; the STORE unit may start
    write_free = 0  # the LOAD unit's write side may take the next LOAD's descriptor
    load_pops: list[float] = []  # cycle the write side took each LOAD's descriptor
    gemm_prev = -1
    accepted_prev = -1  # cycle the array took the previous command
    # last cycle each row feeder (weights, acts) has the previous tile's run active (the
    # cycle it addresses its last row)
    feeders_busy_until = {"w": -1, "a": -1}
    timeline = ArrayTimeline(arr)
    ends = [cycle]
    busy_spans: list[tuple[int, int]] = []

    def pop(kind: str) -> int:
        avail = tokens[kind][popped[kind]]
        popped[kind] += 1
        return avail

    def gemm_tokens(issue: float, f: dict[str, int]) -> float:
        """The cycle a GEMM-unit instruction may issue once its popped tokens are there."""
        if f["pop_prev"]:
            issue = max(issue, pop("lg"))
        if f["pop_next"]:
            issue = max(issue, pop("sg"))
        return issue

    for inst in program:
        code, f = decode(inst)
        decode_cycle = cycle + 1
        if code == Opcode.END:
            ends.append(decode_cycle + 1)
            break
        queue = takes[unit_of(code)]
        if len(queue) >= QUEUE_DEPTH:  # wait for room in the unit's queue
            decode_cycle = max(decode_cycle, queue[-QUEUE_DEPTH] + 1)
        visible = decode_cycle + 1
        cycle = decode_cycle + 1  # the next READ
        if code in (Opcode.LOAD, Opcode.GENERATE):  # LOAD's unit
            # The read engine takes a command the cycle after its last address went.
            start = max(visible, load_free, port.last_address + 1)
            if f["pop_next"]:
                start = max(start, pop("gl"))
            if code == Opcode.LOAD:
                if len(load_pops) >= QUEUE_DEPTH:  # room for its descriptor
                    start = max(start, load_pops[-QUEUE_DEPTH] + 1)
                rows, bits = f["rows"], load_bits(config, f["buffer"], f["slots"])
                took = max(start + 1, write_free)  # the write side takes the descriptor
                first_take = took + 1
            else:  # GENERATE: once every LOAD before it has written its rows
                start = max(start, write_free)
                rows, bits = config.sore.m, config.sore.lanes * arr.dtype.width
                first_take = None
            words = ceil(rows * bits / w)
            last = read_rows(axi, start, f["addr"], words, rows, bits, read_latency, stall,
                             port=port, first_take=first_take)
            if code == Opcode.LOAD:
                load_pops.append(took)
                load_free, write_free = start + 1, last + 1
            else:  # the SORE's reducer, then one buffer row per cycle
                count = f["n"] if f["copy"] else f["n"] * (config.sore.lanes // rows)
                handed = max(start + 2 + rows, last + 1)  # the tile to the SORE's reducer
                last = handed + rows + count - 1
                out.sore_busy += last - start
                load_free = write_free = last + 1
            out.bytes_read += words * axi.word_bytes
            queue.append(start)
            ends.append(last + 1)
            if f["push_next"]:
                tokens["lg"].append(last + 1)
        elif code == Opcode.SYNC:  # once every earlier GEMM's last beat is in the buffer
            issue = gemm_tokens(max(visible, gemm_prev + 1, (out.gemm_ends or [0])[-1] + 1), f)
            gemm_prev = issue
            for side, kind in (("push_prev", "gl"), ("push_next", "gs")):
                if f[side]:
                    tokens[kind].append(issue + 1)
            queue.append(issue)
            ends.append(issue + 1)
        elif code == Opcode.GEMM:
            issue = gemm_tokens(max(visible, gemm_prev + 1, accepted_prev), f)
            gemm_prev = issue
            # The command goes to the array once both feeders have a run active: the cycle after
            # the issue while they still read the previous tile's rows, a cycle later when one
            # had run dry.
            ws = Dataflow(f["dataflow"]) == Dataflow.WS
            lag = 2 if min(feeders_busy_until.values()) < issue + 1 else 1
            timing = timeline.issue(dataflow=Dataflow(f["dataflow"]), pattern=f["pattern"],
                                    length=f["length"], rows=f["rows"],
                                    not_before=issue + 1 + lag)
            accepted_prev = timing.cmd_edge - 1  # the cycle the array took the command
            feed_end = timeline._feed_end
            if ws:  # the weights went into the shadows before the first activation beat
                feeders_busy_until = {"w": timeline.ws_loaded - 1, "a": feed_end - 1}
            else:  # one activation row per group of N entries
                n = 1 if f["pattern"] == 0 else arr.patterns[f["pattern"] - 1].n
                a_last = feed_end - n - (n if f["length"] > n else 0)
                feeders_busy_until = {"w": feed_end - 1, "a": a_last}
            last_beat = timing.end_edge - 1
            busy_spans.append((issue + 1, last_beat))
            out.gemm_ends.append(last_beat + 1)
            if f["push_prev"]:
                tokens["gl"].append(feed_end + 1)
            if f["push_next"]:
                tokens["gs"].append(last_beat + 2)
            queue.append(issue)
            ends.append(last_beat + 2)
        else:  # STORE: done when the memory has answered its last burst
            start = max(visible, store_free)
            if f["pop_prev"]:
                start = max(start, pop("gs"))
            rows, bits = store_rows(config, f["mode"], f["group"], f["rows"])
            words = ceil(rows * bits / w)
            store_free = write_rows(axi, start, words, rows, bits, f["addr"], stall,
                                    sources=f["rows"]) + 1
            out.bytes_written += words * axi.word_bytes
            queue.append(start)
            ends.append(store_free)
            if f["push_prev"]:
                tokens["sg"].append(store_free)
    out.cycles = round(max(ends))
    out.array_busy = round(_union(busy_spans))
    out.sore_busy = round(out.sore_busy)
    out.gemm_ends = [round(e) for e in out.gemm_ends]
    return out


def _union(spans: list[tuple[int, int]]) -> int:
    """Cycles covered by the inclusive spans."""
    total, reach = 0, -1
    for a, b in sorted(spans):
        if b > reach:
            total += b - max(a, reach + 1) + 1
            reach = b
    return total
