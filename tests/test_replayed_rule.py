"""`judging.replayed`: a loss curve printed again, value for value, by new training (a resume
that loaded nothing and started from scratch), and the runs it must leave alone: a history
printed again at the end with no update between, a plateau printed with few digits, a
curve that only looks alike."""

from __future__ import annotations

import pytest

from mlxprobe.judging.replayed import significant
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

SESSION = [0.6913, 0.1455, 0.1056, 0.0921]


def run(losses: list[float], updates: list[int], tail: str = "") -> RawResult:
    """An update record per optimizer step, and a loss report after `updates[i]` steps."""
    records = [{"kind": "step", "source": "update", "step": n, "t": n * 0.01}
               for n in range(1, max(updates) + 1)]
    for i, (loss, done) in enumerate(zip(losses, updates)):
        records.append({"kind": "progress", "source": "output", "step": i + 1,
                        "t": done * 0.01 + 0.001, "loss": loss})
    records.sort(key=lambda r: r["t"])
    return RawResult(records=records, exit_code=0, watched=True, stdout_tail=tail)


def test_a_session_that_replays_the_last_one_is_wrong_result():
    v = classify(run(SESSION * 3, [50 * (i + 1) for i in range(12)]))
    assert v.label == "wrong_result:replayed"
    assert v.evidence["values"] == SESSION[:3] and v.evidence["again_after"] == 250
    assert "checkpoint" in v.hint and "resume" in v.hint


def printed(labels: list[str]) -> str:
    return "".join(f"[{label}] step {10 * k} loss {loss}\n"
                   for label in labels for k, loss in enumerate(SESSION))


def test_two_labelled_arms_trained_from_one_state_are_a_comparison_not_a_replay():
    # fresh261 hullscan_harbor_agem: `[sequential] ...` then `[agem] ...`, the same first curve
    updates = [50 * (i + 1) for i in range(8)]
    arms = run(SESSION * 2, updates, printed(["sequential", "agem"]))
    assert arms.stdout_tail and classify(arms).label != "wrong_result:replayed"
    sessions = run(SESSION * 2, updates, printed(["train", "train"]))
    assert classify(sessions).label == "wrong_result:replayed"


@pytest.mark.parametrize("losses, updates", [
    (SESSION + SESSION, [50, 100, 150, 200, 200, 200, 200, 200]),  # printed again at the end
    ([0.9, 0.5] + [0.0002, 0.0002, 0.0001] * 2, [10 * (i + 1) for i in range(8)]),  # few digits
    ([0.9, 0.5] + [0.0235, 0.0255, 0.0255] * 2, [10 * (i + 1) for i in range(8)]),  # a plateau
    (SESSION + [0.6913, 0.1455, 0.1057, 0.09], [50 * (i + 1) for i in range(8)]),
    # a metric of two levels (fresh57 lifting_wavelet_sparsity's float32 round-off error)
    ([4.77e-07, 2.38e-07, 2.38e-07, 2.38e-07, 4.77e-07, 4.77e-07, 2.38e-07, 4.77e-07,
      2.38e-07, 2.38e-07], [250 * (i + 1) for i in range(10)]),
])
def test_a_reprint_a_plateau_or_a_near_copy_is_not_judged(losses, updates):
    assert classify(run(losses, updates)).label != "wrong_result:replayed"


def test_significant_digits_of_a_printed_value():
    assert [significant(v) for v in (0.1056, 0.0002, 4e-06, 1234.0, 12.5)] == [4, 1, 1, 4, 3]
