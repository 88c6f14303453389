"""`watching/loops`: an endless loop is told from a long pass by stacks that cycle among
lines already seen, with flat memory and no I/O, for LOOP_S, or by memory that grows by a
quarter of the machine in a silent stall of LOOP_S with no I/O; and the hang verdict says so."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult, Stall
from mlxprobe.watching.loops import (
    GROWN_SHARE,
    IO_MOVING,
    LOOP_S,
    QUIET_S,
    RSS_FLAT,
    LoopWatch,
    allocating,
)

GIB = 1 << 30

A, B, C = ("iterate_batches:34",), ("iterate_batches:35",), ("iterate_batches:36",)


def confirmations(watch: LoopWatch, stacks: list[set], step_s: float = 10.0, rss: int = 0,
                  io: int = 0, grow: int = 0) -> list[bool]:
    return [watch.endless(1.0, seen, i * step_s, rss + i * grow, io + i * grow)
            for i, seen in enumerate(stacks)]


def test_a_cycle_among_three_lines_for_loop_s_is_endless() -> None:
    n = int(LOOP_S / 10) + 1
    found = confirmations(LoopWatch(), [{A, B}, {B, C}, {C, A}] * (n // 3 + 1))
    assert not any(found[: int(LOOP_S / 10)]) and found[-1]


def test_new_lines_memory_or_io_keep_a_long_pass_moving() -> None:
    n = int(LOOP_S / 10) + 5
    fresh = [{(f"validate:{i}",)} for i in range(n)]
    assert not any(confirmations(LoopWatch(), fresh))
    cycle = [{A, B}, {B, C}] * n
    assert not any(confirmations(LoopWatch(), cycle, grow=RSS_FLAT // 10))
    assert not any(confirmations(LoopWatch(), cycle, grow=IO_MOVING // 10))


def test_a_beat_restarts_the_watch() -> None:
    watch = LoopWatch()
    for i in range(int((LOOP_S + QUIET_S) / 10)):
        assert not watch.endless(float(i % 2), {A}, i * 10.0, 0, 0)  # it beat at each look


def test_the_hang_verdict_names_the_endless_loop() -> None:
    raw = RawResult(records=[], exit_code=None, watched=True)
    raw.stall = Stall(phase="step", stalled_s=400.0, deadline_s=5.0, last_step=1,
                      cpu_fraction=1.0, runnable_fraction=1.0, compile_s=0.0)
    raw.looping = {"looping_s": 310.0, "distinct_stacks": 3, "loop_s": LOOP_S,
                   "quiet_s": QUIET_S, "rss_flat_mb": 4}
    verdict = classify(raw)
    assert verdict.label == "hang:cpu_busy" and "endless loop" in verdict.reason
    assert "batch_size" in verdict.hint and verdict.evidence["looping"]["distinct_stacks"] == 3


def climb(seconds: float, per_s: int, start: int = GIB // 4, every: float = 5.0) -> list:
    return [(t * every, start + int(t * every * per_s)) for t in range(int(seconds / every) + 1)]


def test_a_silent_stall_that_grows_a_quarter_of_the_memory_allocates_without_end() -> None:
    memory = 24 * GIB
    found = allocating(climb(LOOP_S, 32 << 20), io_moved=0, memory=memory)  # fresh20's rate
    assert found is not None and found["rss_mb_per_s"] == 32.0
    assert found["rss_grown_mb"] >= GROWN_SHARE * memory / 2**20 and found["memory_left_s"] > 0


def test_a_short_stall_io_little_growth_or_a_fall_is_not_an_allocating_loop() -> None:
    memory = 24 * GIB
    assert allocating(climb(LOOP_S / 2, 80 << 20), 0, memory) is None  # too short
    assert allocating(climb(LOOP_S, 32 << 20), IO_MOVING, memory) is None  # it reads: a load
    assert allocating(climb(LOOP_S, 4 << 20), 0, memory) is None  # 1.2 GB of 24: a pass
    peak = climb(LOOP_S, 32 << 20)
    assert allocating(peak + peak[::-1], 0, memory) is None  # up then down: not rising


def test_the_hang_verdict_names_the_allocating_loop() -> None:
    raw = RawResult(records=[], exit_code=None, watched=True)
    raw.stall = Stall(phase="startup", stalled_s=300.0, deadline_s=300.0, last_step=0,
                      cpu_fraction=1.0, runnable_fraction=1.0, compile_s=0.0)
    found = allocating(climb(LOOP_S, 32 << 20), io_moved=0, memory=24 * GIB)
    raw.looping = {**found, "distinct_stacks": 4}
    verdict = classify(raw)
    assert verdict.label == "hang:cpu_busy" and "allocates without end" in verdict.reason
    assert "32.0 MB/s" in verdict.reason and "never removed" in verdict.hint
