"""`watching/loops`: an endless loop is told from a long pass by stacks that cycle among
lines already seen, with flat memory and no I/O, for LOOP_S; and the hang verdict says so."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult, Stall
from mlxprobe.watching.loops import IO_MOVING, LOOP_S, QUIET_S, RSS_FLAT, LoopWatch

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
