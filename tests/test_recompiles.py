"""`watching/recompiles`: a loop that compiles most of the time for minutes while its steps
come is held (a Python constant handed to a compiled step, fresh7's
compile_scalar_warmup_stall); a cold start, a few bucket shapes, a compile share that
fades as shapes are cached, a loop stuck inside one compile are not; and the hang verdict
that names it."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.protocol import COMPILE
from mlxprobe.watching.facts import RawResult, Stall
from mlxprobe.watching.recompiles import MIN_STEPS, WARM_STEPS, WINDOW_S, WINDOWS, RecompileWatch

TICK = 0.5


def fed(share_at, steps_per_s: float, seconds: float, start_beats: int = 0) -> RecompileWatch:
    """A watch fed one look per TICK: compiling in `share_at(t)` of the ticks near t."""
    watch, owed = RecompileWatch(), 0.0
    for i in range(int(seconds / TICK)):
        t = i * TICK
        owed += share_at(t)
        compiling = owed >= 1.0
        owed -= 1.0 if compiling else 0.0
        watch.look(t, compiling, start_beats + int(t * steps_per_s))
    return watch


def test_a_loop_that_compiles_at_every_step_is_held() -> None:
    watch = fed(lambda t: 0.8, 0.8, WINDOW_S * (WINDOWS + 1) + 60)
    assert watch.held()
    shares = [w["share"] for w in watch.evidence()["windows"]]
    assert len(shares) == WINDOWS and all(0.7 <= s <= 0.9 for s in shares)


def test_a_cold_start_and_a_few_bucket_shapes_are_not_held() -> None:
    watch = fed(lambda t: 1.0 if t < 90 else (0.5 if t % 120 < 5 else 0.0), 5.0, 600)
    assert not watch.held()


def test_a_share_that_fades_as_shapes_are_cached_is_not_held() -> None:
    watch = fed(lambda t: max(0.0, 0.95 - t / 400), 1.0, WINDOW_S * (WINDOWS + 2))
    assert not watch.held()


def test_a_loop_stuck_in_one_compile_is_left_to_the_deadlines() -> None:
    watch = fed(lambda t: 1.0, 0.0, 600, start_beats=WARM_STEPS)  # no step comes
    assert not watch.held() and MIN_STEPS > 0


def test_the_warm_up_steps_are_never_judged() -> None:
    watch = fed(lambda t: 1.0, (WARM_STEPS - 1) / 600, 600)
    assert watch.done == [] and not watch.held()


def test_the_hang_verdict_names_a_new_trace_at_every_step() -> None:
    raw = RawResult(records=[{"kind": COMPILE, "where": "/x/train.py:33", "call": "compile",
                              "t": 0.0}], exit_code=None, watched=True)
    raw.stall = Stall(phase="recompiling", stalled_s=0.4, deadline_s=180.0, last_step=180,
                      cpu_fraction=1.0, runnable_fraction=1.0, compile_s=0.3)
    raw.recompiling = fed(lambda t: 0.8, 0.8, 300).evidence()
    verdict = classify(raw)
    assert verdict.label == "hang:recompiling"
    assert "mx.array" in verdict.hint and "train.py:33" in verdict.hint
    assert "compiles anew at every step" in verdict.reason
