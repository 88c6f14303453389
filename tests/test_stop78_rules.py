"""Stop 78's changes to the verdict rules, on the numbers of the runs that showed each:
- RSS that rose in stairs and then held still over the run's last tenth, MLX's active memory
  flat, is no leak (`held_end`; fresh271 `semaphore_shift_softprompt`: 52 -> 65 -> 70 -> 81
  -> 82.5 MB at its phase changes, the last stair inside the last fifth of its steps, then
  still).

Cost: < 1 s (records and samples in memory, no process).
"""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult, Sample

MB = 1024 * 1024
STEPS = 500


def stairs(step: float) -> float:
    """RSS in MB at a step of the phased run: stairs at its phase changes (the last inside
    the last fifth of the fitted steps, before the last tenth), then held."""
    for edge, mb in ((430, 84.0), (340, 81.0), (300, 70.0), (100, 65.0)):
        if step >= edge:
            return mb
    return 52.0


def phased(rss=stairs, active=lambda step: 0.29, every: float = 0.2) -> RawResult:
    """500 steps over 20 s, MLX's active memory at each heartbeat, RSS sampled from outside
    every `every` seconds."""
    steps = [{"kind": "step", "source": "update", "step": s, "t": s * 0.04,
              "memory": {"mx_active": int(active(s) * MB)}} for s in range(1, STEPS + 1)]
    samples = [Sample(t=i * every, rss=int(rss(i * every / 0.04) * MB), cpu_s=0.0, procs=1,
                      compiling=False) for i in range(int(20.5 / every))]
    return RawResult(records=steps, exit_code=0, watched=True, samples=samples)


def test_rss_that_rose_in_stairs_and_held_still_over_the_last_tenth_is_no_leak() -> None:
    verdict = classify(phased())
    assert verdict.label == "pass"
    assert verdict.evidence["memory_views"]["rss"]["held_end"]["looks"] >= 5


def test_the_same_stairs_judge_as_a_leak_while_mlx_memory_grows() -> None:
    assert classify(phased(active=lambda step: 0.29 + step * 0.01)).kind == "leak"


def test_rss_that_still_climbs_in_the_last_tenth_is_a_leak() -> None:
    # 2% over the last tenth: the smallest climb measured there on a kept leak was 2.08%
    climbing = phased(rss=lambda s: stairs(s) + max(0.0, s - 450) * 0.033)
    assert classify(climbing).label == "leak:rss"


def test_a_last_tenth_seen_by_too_few_samples_judges_as_before() -> None:
    assert classify(phased(every=0.6)).label == "leak:rss"  # 2 or 3 looks in 1.6 s
