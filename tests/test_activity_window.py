"""What each process of a tree is said to be doing when the tree hangs asleep (stop 59):
described over the tree's sleep once it has slept IDLE_VIEW_S or more, not over the last
RECENT_S seconds, so a worker that spent its first seconds starting (a `spawn` child
importing under load) and then slept is `waiting`, as it is now. The CI flake this mends:
`test_startup_idle` with an idle deadline of 3 s, shorter than RECENT_S (10 s), once read a
late-started worker as busy. No processes are started here.

Cost: < 0.1 s.
"""

from __future__ import annotations

from mlxprobe.watching import activity
from mlxprobe.watching.activity import Activity, ProcLook, describe


def looks(busy_s: int, asleep_s: int, pid: int = 7) -> list[tuple[ProcLook, tuple[str, ...]]]:
    """One look a second: `busy_s` seconds using a core, then `asleep_s` asleep."""
    history, cpu = [], 0.0
    for t in range(busy_s + asleep_s + 1):
        cpu += 1.0 if 0 < t <= busy_s else 0.0
        look = ProcLook(float(t), pid, 1, "python", cpu, 50 << 20, None, "S")
        before = history[-1][0] if history else None
        history.append((look, tuple(activity.worked(before, look))))
    return history


def test_a_process_that_worked_then_slept_is_waiting_over_its_sleep() -> None:
    history = looks(busy_s=5, asleep_s=3)
    assert describe(history, now=8.0)["doing"] == "busy"  # over its whole recent past
    over_sleep = describe(history, now=8.0, since=5.0)
    assert over_sleep["doing"] == "waiting" and over_sleep["cores"] == 0.0
    assert over_sleep["asleep_s"] == 3.0  # since its last work, from all its looks


def test_the_tree_is_described_over_its_sleep_only_once_it_has_slept() -> None:
    tree = Activity(started=0.0)
    tree._recent = {7: list(looks(busy_s=5, asleep_s=3))}  # noqa: SLF001 - looks given
    tree._alive = {7}  # noqa: SLF001
    tree.last_active = 5.0
    assert [p["doing"] for p in tree.processes(now=8.0)] == ["waiting"]
    tree.last_active = 7.5  # asleep 0.5 s: too short a sleep to say; the recent past counts
    assert [p["doing"] for p in tree.processes(now=8.0)] == ["busy"]


def test_one_stray_tick_in_a_look_taken_at_once_is_not_work() -> None:
    """The look an interruption takes at once may come 50 ms after the last one: one clock
    tick (10 ms) there is no work (a full `pytest -n 2` run read a sleeping tree as "still
    starting up" from it); 50 ms of CPU in those 50 ms still is."""
    before = ProcLook(10.0, 7, 1, "python", 1.00, 50 << 20, None, "S")
    tick = ProcLook(10.05, 7, 1, "python", 1.01, 50 << 20, None, "S")
    busy = ProcLook(10.05, 7, 1, "python", 1.05, 50 << 20, None, "S")
    assert activity.worked(before, tick) == []
    assert activity.worked(before, busy) == ["cpu"]
