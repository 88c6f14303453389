"""`not_learning.rate_unapplied`: a printed learning-rate schedule that never reaches the
optimizer (fresh146 `shiftlog_gpt_lrsched`, gpt2-mlx c5c309a: AdamW groups built with
constant rates 1e-4 and 1e-3 while the log printed a warm-up and cosine 3e-4 -> 3e-3 ->
3e-4); the shapes that stay quiet (a schedule built in, a rate the program sets, a printed
rate that meets a built constant, a rate printed flat); and the child's `rate` records from
real `mlx.optimizers` objects (the Python value handed in, never an array)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

SCHEDULE = [3e-4, 3e-3, 2.87e-3, 2.49e-3, 1.95e-3, 1.35e-3, 8.08e-4, 4.34e-4, 3.01e-4]
LOSSES = [3.35, 2.80, 2.51, 2.36, 2.19, 2.02, 1.92, 1.89, 1.83]


def run(rates: list[float], built: list[dict]) -> RawResult:
    records = [{"kind": "progress", "source": "output", "step": 10 * i, "t": float(i),
                "loss": loss, "metrics": {"learning_rate": rate}}
               for i, (loss, rate) in enumerate(zip(LOSSES, rates))]
    records += [{"kind": "rate", "t": 0.0, **r} for r in built]
    return RawResult(records=records, exit_code=0, watched=True)


CONSTANTS = [{"optimizer": "AdamW", "schedule": False, "value": 1e-4},
             {"optimizer": "AdamW", "schedule": False, "value": 1e-3}]


def test_a_printed_schedule_beside_constant_optimizers_is_an_unapplied_rate() -> None:
    verdict = classify(run(SCHEDULE, CONSTANTS))
    assert verdict.label == "not_learning:rate_unapplied"
    assert verdict.evidence["built_constants"] == [1e-4, 1e-3]
    assert "learning_rate=lr_schedule" in verdict.hint


@pytest.mark.parametrize("built", [
    [{"optimizer": "AdamW", "schedule": True, "value": None}],  # the schedule is in it
    [*CONSTANTS, {"optimizer": "AdamW", "set": True, "value": 3e-4}],  # the program sets it
    [{"optimizer": "AdamW", "schedule": False, "value": None}],  # an array: not read
    [],  # no optimizer's rate seen (a hand-written update)
])
def test_a_rate_that_may_reach_the_optimizer_is_left_alone(built: list[dict]) -> None:
    assert classify(run(SCHEDULE, built)).detail != "rate_unapplied"


def test_a_printed_rate_that_meets_a_built_constant_is_left_alone() -> None:
    # optimizer.state["learning_rate"] written by hand starts from the constant it was built with
    assert classify(run(SCHEDULE, [{"optimizer": "Adam", "schedule": False,
                                    "value": 3e-3}])).detail != "rate_unapplied"


def test_a_flat_printed_rate_is_left_alone() -> None:
    assert classify(run([5e-4] * 9, CONSTANTS)).detail != "rate_unapplied"


@pytest.fixture
def recorded() -> Iterator[list[dict]]:
    """The rate hooks on the real `mlx.optimizers`, recording into a list; undone after."""
    optim = pytest.importorskip("mlx.optimizers")
    from mlxprobe.inside import rates
    base = optim.Optimizer
    saved = base.__dict__["_maybe_schedule"], base.__dict__["learning_rate"]
    found: list[dict] = []

    class Probe:
        def emit(self, kind: str, **fields: object) -> None:
            found.append({"kind": kind, **fields})

    rates.patch_rates(Probe(), optim)  # type: ignore[arg-type]
    yield found
    base._maybe_schedule, base.learning_rate = saved


def test_the_child_records_constants_schedules_and_settings(recorded: list[dict]) -> None:
    import mlx.core as mx
    import mlx.optimizers as optim
    constant = optim.AdamW(learning_rate=1e-3)
    optim.SGD(learning_rate=optim.cosine_decay(0.1, 100))
    constant.learning_rate = 5e-4
    assert recorded == [
        {"kind": "rate", "optimizer": "AdamW", "schedule": False, "value": 1e-3},
        {"kind": "rate", "optimizer": "SGD", "schedule": True, "value": None},
        {"kind": "rate", "optimizer": "AdamW", "set": True, "value": 5e-4}]
    assert constant.learning_rate.item() == pytest.approx(5e-4)  # the setter still sets
    constant.learning_rate = mx.array(1e-4)  # an array is recorded unread
    assert recorded[-1]["value"] is None


def test_a_sweep_past_what_the_child_records_is_left_alone() -> None:
    # twenty constant optimizers recorded, more may have been built unseen
    many = [{"optimizer": "Adam", "schedule": False, "value": 1e-6 * (k + 1)} for k in range(20)]
    assert classify(run(SCHEDULE, many)).detail != "rate_unapplied"


def test_watch_tells_a_printed_schedule_the_optimizer_never_got(tmp_path) -> None:
    """End to end, with real MLX: the child records the rate each optimizer was built with."""
    pytest.importorskip("mlx.core")
    from watching import python, watch
    _, broken = watch(tmp_path, *python("printed_schedule.py"))
    assert (broken["verdict"], broken["detail"]) == ("not_learning", "rate_unapplied"), \
        broken["reason"]
    assert broken["evidence"]["built_constants"] == [1e-3]
    _, fixed = watch(tmp_path, *python("printed_schedule.py", "--fixed"))
    assert fixed["verdict"] == "pass", fixed["reason"]
