"""`judging/ramp.py`: a busy stall after evaluated steps whose RSS climbed after the last step
is a `leak:lazy_graph` that names the unreported loop's lazy sum and its line; one whose RSS
did not climb, or climbed within the steps (the per-step backlog's own fix), stays a hang
with its fix."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult, Sample, Stall

MB = 1024 * 1024
STACKS = """Main thread 0x00007f1c9e088b80 (most recent call first):
  File "/usr/lib/python3.11/site-packages/mlxprobe/inside/beats.py", line 108 in evaluate
  File "/home/u/train.py", line 59 in eval_val
  File "/home/u/train.py", line 79 in main
"""


def run(after_mb: float, per_step_mb: float = 0.0) -> RawResult:
    steps = [{"kind": "step", "step": i, "t": 0.01 * i, "step_s": 0.01} for i in range(1, 101)]
    samples = [Sample(t=0.01 * i, rss=int((44 + per_step_mb * i) * MB), cpu_s=0.01 * i,
                      procs=1, compiling=False, runnable=1, device=None) for i in range(1, 101)]
    samples += [Sample(t=1.0 + 0.1 * k, rss=int((44 + 100 * per_step_mb + after_mb) * MB),
                       cpu_s=1.0 + 0.1 * k, procs=1, compiling=False, runnable=1, device=None)
                for k in range(1, 60)]
    stall = Stall(phase="step", deadline_s=5.0, stalled_s=5.2, cpu_fraction=1.05,
                  runnable_fraction=1.0, compile_s=0.0, last_step=100, waited_s=0.02)
    return RawResult(records=steps, samples=samples, stall=stall, python_stacks=STACKS,
                     watched=True)


def test_memory_that_climbs_after_the_last_step_names_the_lazy_sum_and_its_line():
    verdict = classify(run(after_mb=237.0))
    assert verdict.label == "leak:lazy_graph"
    assert verdict.evidence["after_last_step"]["rss_mb_peak_after"] == 281.0
    assert "train.py:59" in verdict.hint and "mx.eval(total_loss)" in verdict.hint


def test_no_climb_or_a_climb_within_the_steps_keeps_its_fix():
    flat = classify(run(after_mb=10.0))
    assert "after_last_step" not in flat.evidence and flat.label == "hang:cpu_busy"
    lazy = classify(run(after_mb=237.0, per_step_mb=0.3))
    assert "after_last_step" not in lazy.evidence and "lazy graph" in lazy.hint
