"""Packed heartbeats (issue 10, the reader's cost): a fast loop's steps travel as `beats`
lines and come out as the very records that lines of their own would have given.

No processes but one fork: the writer, the packing and the reader's parser are fed step
records directly; the store is fed the same records as records and as blocks.
"""

from __future__ import annotations

import io
import json
import math
import os
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from mlxprobe.inside.writer import COALESCE_S, Writer
from mlxprobe.packing import LINE_LIMIT, Block, Pack, row_of, shape_of
from mlxprobe.protocol import EVAL, PROBE, STEP, UPDATE
from mlxprobe.watching.heartbeat import Watch
from mlxprobe.watching.records import (
    BUSY_BYTES,
    PAUSE_S,
    PIPE_BYTES,
    LineParser,
    RecordReader,
    pause,
    stamp,
)
from mlxprobe.watching.store import EXACT, VIEWS, RecordStore
from mlxprobe.watching.tally import Tally

numbers = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10, 10),
                    st.sampled_from([0.0, -0.0, 1.0, "nan", "inf"]))
values = st.one_of(numbers, st.none(), st.booleans(), st.text(max_size=3),
                   st.just({"unrecorded": "array"}))


@st.composite
def step_runs(draw: st.DrawFn, size: int = 40) -> list[dict]:
    """Step records of one shape, as a probe or the agent writes them (some columns
    constant, some not)."""
    metric_names = draw(st.lists(st.sampled_from(EXACT[1:] + ("params_finite", "fallback")),
                                 unique=True, max_size=4))
    source = draw(st.sampled_from([PROBE, UPDATE, EVAL, None]))
    steady = draw(st.dictionaries(st.sampled_from(["loss", *metric_names]), values))
    n = draw(st.integers(1, size))
    records = []
    for i in range(n):
        record = {"kind": STEP, "time": 1000.0 + i * 1e-4, "step": i + 1,
                  "step_s": draw(st.sampled_from([1e-4, 2e-4, 3]))}
        if source is not None:
            record["source"] = source
        record["loss"] = steady.get("loss", draw(values))
        record["metrics"] = {m: steady.get(m, draw(values)) for m in metric_names}
        record["memory"] = {"mx_active": draw(st.sampled_from([1024, 2048]))}
        records.append(record)
    return records


def packed_lines(records: list[dict]) -> bytes:
    shape = shape_of(records[0])
    pack = Pack(shape)
    lines = []
    for record in records:
        row = row_of(record, shape)
        size = len(json.dumps(row)) - 2
        if not pack.fits(size):
            lines += pack.lines()
            pack = Pack(shape)
        pack.add(row, size)
    return "".join([*lines, *pack.lines()]).encode()


def alone(records: list[dict]) -> list[dict]:
    """What lines of their own give the parent."""
    parser = LineParser()
    return parser.feed(b"".join(json.dumps(r).encode() + b"\n" for r in records))


def typed(record: dict) -> list:
    """A record's items with each value's type (1 == 1.0 == True, -0.0 == 0.0 otherwise)."""
    return sorted((k, type(v).__name__, repr(v) if not isinstance(v, dict) else typed(v))
                  for k, v in record.items())


@settings(max_examples=150, deadline=None)
@given(step_runs())
def test_packed_steps_come_out_as_their_own_lines_would(records: list[dict]) -> None:
    data = packed_lines(records)
    assert all(len(line) + 1 <= LINE_LIMIT for line in data.split(b"\n")[:-1])
    parser = LineParser()
    items = parser.feed(data)
    assert parser.malformed == 0 and all(type(item) is Block for item in items)
    got = [r for block in items for r in block.records()]
    assert [typed(r) for r in got] == [typed(r) for r in alone(records)]


@settings(max_examples=40, deadline=None)  # 100 took 19 s of a suite run
@given(step_runs(size=300), st.integers(2, 40), st.integers(1, 8))
def test_the_store_keeps_the_same_from_blocks_as_from_records(records: list[dict],
                                                              limit: int, recent: int) -> None:
    """Fed as blocks (columns, records made when read) or as records, a store with small
    limits (so that it thins) keeps the same records, tallies and counts."""
    for i, record in enumerate(records):
        record["t"] = 1.0 + i
    as_records = RecordStore.of(records, limit, recent)
    as_blocks = RecordStore(limit, recent)
    parser = LineParser()
    for block in parser.feed(packed_lines(records)):
        block.t = [1.0 + i for i in range(len(block))] if not as_blocks.count_of(STEP) else \
            [1.0 + as_blocks.count_of(STEP) + i for i in range(len(block))]
        as_blocks.extend([block])
    assert summary(as_blocks) == summary(as_records)


def summary(store: RecordStore) -> list:
    out: list = [store.sources(), store.count_of(STEP), [typed(r) for r in store.records()]]
    for name in VIEWS:
        view = store.view(name)
        out += [name, view.count, view.thinned, view.first_false, view.fallbacks,
                round(view.step_s, 6), [typed(r) for r in view.records()],
                [vars_of(view.tallies[t]) for t in EXACT]]
    return out


def vars_of(tally: Tally) -> dict:
    return {k: getattr(tally, k) for k in Tally.__slots__}


@settings(max_examples=200, deadline=None)
@given(values, st.integers(0, 50), st.lists(numbers, max_size=5))
def test_a_constant_column_tallies_as_its_copies_would(value: object, count: int,
                                                       before: list) -> None:
    fast, slow = Tally(), Tally()
    for tally in (fast, slow):
        tally.extend(list(before))
    fast.add_same(value, count)
    slow.extend([value] * count)
    assert vars_of(fast) == vars_of(slow)


def test_a_bad_line_among_good_ones_is_counted_and_the_good_ones_kept() -> None:
    records = [{"kind": STEP, "time": 1.0 + i, "step": i + 1, "loss": 1.0 / (i + 1)}
               for i in range(30)]
    good = packed_lines(records[:10])
    bad_types = packed_lines(records[10:20]).replace(b'"values": [11.0, 11,',
                                                     b'"values": [11.0, "eleven",')
    short = packed_lines(records[20:25]).replace(b', "n": 5,', b', "n": 6,')
    parser = LineParser()
    items = parser.feed(good + bad_types + short + packed_lines(records[25:]), now=100.0)
    steps = [r["step"] for block in items for r in block.records()]
    assert steps == [*range(1, 11), *range(26, 31)] and parser.malformed == 2


def test_arrival_times_follow_the_childs_clock_never_after_now() -> None:
    records = [{"kind": STEP, "time": 50.0 + 0.01 * i, "step": i + 1} for i in range(5)]
    [block] = LineParser().feed(packed_lines(records))
    stamp(block, now=10.0, wall=50.5)  # read 0.46 s after the last was written
    assert [round(t, 6) for t in block.t] == [9.5, 9.51, 9.52, 9.53, 9.54]
    stamp(block, now=10.0, wall=49.0)  # a clock that disagrees: never after now
    assert max(block.t) == 10.0 and block.t == sorted(block.t)


def test_a_lone_record_read_with_blocks_keeps_its_place_in_time() -> None:
    """Stop 88, fresh328 `bandsaw_filter_trim`: one step record sent as a line of its own,
    read in one chunk with the block after it, was stamped `now` and the block by its
    writing times, so step 1109 arrived after step 1126."""
    lone = {"kind": STEP, "time": 50.0, "step": 1}
    later = [{"kind": STEP, "time": 50.1 + 0.01 * i, "step": i + 2} for i in range(5)]
    data = json.dumps(lone).encode() + b"\n" + packed_lines(later)
    first, block = LineParser().feed(data, now=10.0, wall=50.3)
    assert round(first["t"], 6) == 9.7 and first["t"] < min(block.t)
    stale = LineParser().feed(json.dumps(lone).encode() + b"\n", now=10.0, wall=60.0)
    assert stale[0]["t"] == 10.0  # clocks that disagree: arrival time, as for a block


def test_the_watch_counts_a_blocks_beats_and_its_last_step() -> None:
    records = [{"kind": STEP, "time": 1.0 + 0.001 * i, "step": i + 1, "rank": 1}
               for i in range(200)]
    watch = Watch(started=0.0)
    parser = LineParser()
    watch.add_many(parser.feed(packed_lines(records), now=5.0, wall=1.3))
    assert watch.beat_count == 200 and watch.last_step() == 200
    assert watch.rank_pids() == {} and len(watch.intervals()) == 200


def lines_of(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_writer_packs_fast_steps_and_keeps_the_order_of_records() -> None:
    out = io.StringIO()
    writer = Writer(out)
    writer.record({"kind": "start"})
    for i in range(100):
        writer.beat({"kind": STEP, "time": time.time(), "step": i + 1})
    writer.record({"kind": "end"})
    written = lines_of(out)
    assert written[0]["kind"] == "start" and written[-1]["kind"] == "end"
    assert 1 <= len(written) - 2 < 100  # packed: several steps a line
    parser = LineParser()
    items = parser.feed(out.getvalue().encode())
    steps = [r["step"] for item in items for r in
             (item.records() if type(item) is Block else [item]) if r["kind"] == STEP]
    assert steps == list(range(1, 101))


def test_a_held_step_is_written_by_the_flusher_without_another_call() -> None:
    out = io.StringIO()
    writer = Writer(out)
    writer.beat({"kind": STEP, "time": 1.0, "step": 1})  # written at once
    writer.beat({"kind": STEP, "time": 1.0, "step": 2})  # held
    assert len(lines_of(out)) == 1
    deadline = time.monotonic() + 5.0
    while len(lines_of(out)) < 2 and time.monotonic() < deadline:
        time.sleep(COALESCE_S / 5)
    [_, packed] = lines_of(out)
    assert packed["kind"] == "beats" and packed["values"][-1] == 2


def test_a_slow_loops_steps_are_each_written_at_once() -> None:
    out = io.StringIO()
    writer = Writer(out)
    for i in range(3):
        writer.beat({"kind": STEP, "time": 1.0, "step": i + 1})
        assert lines_of(out)[-1] == {"kind": STEP, "time": 1.0, "step": i + 1}
        time.sleep(COALESCE_S * 1.5)


def test_a_forked_child_does_not_write_its_parents_held_steps_again() -> None:
    read_fd, write_fd = os.pipe()
    writer = Writer(os.fdopen(write_fd, "w", buffering=1))
    writer.beat({"kind": STEP, "time": 1.0, "step": 1})
    writer.beat({"kind": STEP, "time": 1.0, "step": 2})  # held when the fork happens
    pid = os.fork()
    if pid == 0:  # the child: whatever it holds it would write now
        writer.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    writer.flush()
    os.close(write_fd)
    data = b""
    while chunk := os.read(read_fd, 1 << 16):
        data += chunk
    os.close(read_fd)
    items = LineParser().feed(data)
    steps = [r["step"] for item in items for r in
             (item.records() if type(item) is Block else [item])]
    assert steps == [1, 2]


def test_zeros_keep_their_sign_and_types_their_kind_in_constant_columns() -> None:
    records = [{"kind": STEP, "step": i + 1, "loss": [0.0, -0.0][i % 2],
                "metrics": {"lr": 1 if i < 2 else 1.0}} for i in range(4)]
    [block] = LineParser().feed(packed_lines(records))
    got = block.records()
    assert [math.copysign(1, r["loss"]) for r in got] == [1, -1, 1, -1]
    assert [type(r["metrics"]["lr"]) for r in got] == [int, int, float, float]


def test_lines_whose_constants_differ_stay_apart_and_whole() -> None:
    """One read, lines of one shape whose constant columns differ (a memory counter that
    moved between them): blocks of their own, every record as written."""
    records = [{"kind": STEP, "time": 1.0 + i, "step": i + 1, "memory": {"mx_active": i // 10}}
               for i in range(40)]
    data = b"".join(packed_lines(records[a:a + 10]) for a in range(0, 40, 10))
    parser = LineParser()
    items = parser.feed(data, now=100.0, wall=41.0)
    assert len(items) == 4 and parser.malformed == 0
    assert [r["memory"]["mx_active"] for b in items for r in b.records()] == \
        [i // 10 for i in range(40)]


def test_a_parser_failure_loses_a_read_never_the_reader(monkeypatch) -> None:
    read_fd, write_fd = os.pipe()
    got: list = []
    reader = RecordReader(read_fd, got.extend)
    calls = []

    def feed(data: bytes, now=None, wall=None):  # noqa: ANN001, ANN202
        calls.append(data)
        if len(calls) == 1:
            raise RuntimeError("a bug in the parser")
        return [{"kind": "note", "t": now}]

    monkeypatch.setattr(reader.parser, "feed", feed)
    reader.start()
    os.write(write_fd, b"first\n")
    time.sleep(0.2)
    os.write(write_fd, b"second\n")
    os.close(write_fd)
    reader.join(timeout=5)
    assert not reader.is_alive() and reader.parser_errors == 1 and len(got) == 1


def test_the_reader_never_waits_long_enough_to_fill_half_the_pipe() -> None:
    assert pause(100, 0.01, idle_s=0.25) == 0.25  # a small read: the idle pause
    assert pause(BUSY_BYTES, 0.1, idle_s=0.0) == PAUSE_S  # a fast child, far from full
    fast = pause(4 * PIPE_BYTES, 1.0, idle_s=0.0)  # 4 MiB a second
    assert 0 < fast < PAUSE_S and fast * 4 * PIPE_BYTES <= PIPE_BYTES / 2 + 1


def test_records_held_by_the_store_are_made_once() -> None:
    records = [{"kind": STEP, "time": 1.0 + i, "step": i + 1, "loss": 1.0} for i in range(50)]
    store = RecordStore(limit=10, recent=5)
    for block in LineParser().feed(packed_lines(records), now=100.0, wall=51.0):
        store.extend([block])
    first, again = store.view("probe").records(), store.view("probe").records()
    assert [r["step"] for r in first] == [r["step"] for r in again]
    assert all(a is b for a, b in zip(first, again))


def test_a_packed_step_written_before_a_printed_one_never_moves_the_stall_clock_back() -> None:
    watch = Watch(started=0.0, output_counts=True)
    watch.add({"kind": "progress", "step": 1, "source": "output", "t": 10.0})
    records = [{"kind": STEP, "time": 50.0 + 0.1 * i, "step": i + 1} for i in range(3)]
    watch.add_many(LineParser().feed(packed_lines(records), now=10.1, wall=50.5))
    assert watch.last_beat() == 10.0 and min(watch.intervals()) >= 0.0
    assert watch.beat_count == 4


def test_a_clock_step_between_write_and_read_falls_back_to_the_arrival() -> None:
    records = [{"kind": STEP, "time": 50.0 + 0.01 * i, "step": i + 1} for i in range(3)]
    [block] = LineParser().feed(packed_lines(records))
    stamp(block, now=10.0, wall=3650.0)  # the system clock jumped an hour forward
    assert [round(t, 6) for t in block.t] == [9.98, 9.99, 10.0]
