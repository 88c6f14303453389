"""`judging/degraded.py`: two readings after the last update that print one reference (a
most-frequent class's accuracy, a baseline) with two values are two data sets, not the
trained model evaluated again and worse (stop 97: fresh387 `ferry_manifest_stablelm_stages`,
correct, one closing line per held-out set)."""

from __future__ import annotations

from mlxprobe import metric_names
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def closing_lines(references: tuple[float, float]) -> RawResult:
    """240 updates with four training reports, then two closing lines after the last update:
    `foot val rel-nats -1.4173 | next-mark acc 0.545 vs most-frequent 0.162`, then the deck
    set's `... acc 0.183 vs most-frequent 0.111`."""
    looks = [{"kind": "step", "source": "update", "step": i + 1, "t": i * 0.01}
             for i in range(240)]
    training = [{"kind": "progress", "source": "output", "step": 60 * (i + 1),
                 "t": 0.6 * (i + 1), "loss": 1.0 - 0.2 * i} for i in range(4)]
    rows = [{"kind": "progress", "source": "output", "step": 240, "t": 10.0 + i,
             "metrics": {"val_rel_nats": nats, "acc": acc, "most_frequent": ref}}
            for i, (nats, acc, ref) in enumerate(zip((-1.4173, -0.3438), (0.545, 0.183),
                                                     references))]
    return RawResult(records=looks + training + rows, exit_code=0, watched=True)


def test_most_frequent_is_a_reference() -> None:
    assert metric_names.reference("most_frequent")
    assert metric_names.reference("baseline_mse") and not metric_names.reference("val_acc")


def test_two_readings_beside_two_values_of_one_reference_are_two_data_sets() -> None:
    assert classify(closing_lines((0.162, 0.111))).label == "pass"


def test_the_same_reference_twice_is_the_same_evaluation_degraded() -> None:
    assert classify(closing_lines((0.162, 0.162))).label == "wrong_result:degraded"
