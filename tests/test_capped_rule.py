"""`not_learning.decay_capped` (judging/capped.py) on records: the largest weight held at
1 / weight_decay under AdamW while the loss stopped falling, and the runs beside it that are
not that: no decay, a weight that started near the cap, a weight short of it, a loss still
falling, a decay too large for a cap to mean anything.

Cost: < 0.5 s (no MLX, no process).
"""

from __future__ import annotations

import struct

from mlxprobe.inside.params import LookTally
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult


def optimizer(name: str = "AdamW", decay: float = 0.01) -> dict:
    return {"kind": "optimizer", "name": name, "t": 0.0,
            "settings": {"weight_decay": decay, "betas": [0.9, 0.999]}}


def looks(peaks: list[float]) -> list[dict]:
    return [{"kind": "params", "step": 100 * i, "updates": 100 * i, "look": i + 1,
             "leaves": 2, "compared": 2, "changed": 2, "unchanged": [], "unchanged_count": 0,
             "nonfinite": [], "move_median": 1e-3, "peak_abs": p, "peak_group": "bias"}
            for i, p in enumerate(peaks)]


def losses(values: list[float]) -> list[dict]:
    return [{"kind": "progress", "source": "output", "step": 100 * (i + 1),
             "t": float(i + 1), "loss": v} for i, v in enumerate(values)]


def steps(n: int) -> list[dict]:
    return [{"kind": "step", "source": "update", "step": i, "t": i / 100} for i in
            range(1, n + 1)]


# fresh59 thermistor_cal_adamw_decay as measured: the bias overshot to 114, settled at ~99;
# train RMSE 143.8 -> 64.7 -> back up to ~70.3 and flat
THERMISTOR_PEAKS = [2.13, 114.5, 104.6, 101.2, 100.2, 99.1, 99.3, 99.2, 99.07]
THERMISTOR_LOSS = [143.8, 64.7, 67.9, 68.8, 69.6, 69.9, 70.1, 70.2, 70.4, 70.3, 70.3]


def run(records: list[dict]) -> RawResult:
    return RawResult(records=steps(1000) + records, exit_code=0, watched=True)


def test_a_weight_held_at_one_over_the_decay_while_the_loss_stopped_is_capped():
    v = classify(run([optimizer(), *looks(THERMISTOR_PEAKS), *losses(THERMISTOR_LOSS)]))
    assert v.label == "not_learning:decay_capped"
    assert "|w| = 99.07" in v.reason and "1 / weight_decay = 100" in v.reason
    assert "weight_decay=0.0" in v.hint and "Standardise the targets" in v.hint


def test_runs_that_are_not_held_by_the_decay_are_not_capped():
    records = [*looks(THERMISTOR_PEAKS), *losses(THERMISTOR_LOSS)]
    assert classify(run([optimizer("Adam"), *records])).detail != "decay_capped"
    assert classify(run([optimizer(decay=0.0), *records])).detail != "decay_capped"
    assert classify(run([optimizer(decay=0.5), *looks([0.2, 1.9, 1.95, 1.96, 1.96]),
                         *losses(THERMISTOR_LOSS)])).detail != "decay_capped"  # cap 2
    near_start = [60.0, *THERMISTOR_PEAKS[1:]]  # a weight that began near the cap
    assert classify(run([optimizer(), *looks(near_start), *losses(THERMISTOR_LOSS)])
                    ).detail != "decay_capped"
    short = [2.0, 40.0, 60.0, 70.0, 80.0, 85.0]  # still short of the cap: growing
    assert classify(run([optimizer(), *looks(short), *losses(THERMISTOR_LOSS)])
                    ).detail != "decay_capped"
    falling = [143.8 * 0.8 ** i for i in range(11)]
    assert classify(run([optimizer(), *looks(THERMISTOR_PEAKS), *losses(falling)])
                    ).detail != "decay_capped"


def test_a_look_records_the_largest_float32_magnitude_and_its_group():
    class Leaf:
        dtype, ndim = "mlx.core.float32", 1

    tally = LookTally()
    tally.add("layers.0.bias", Leaf(), (None, struct.pack("3f", 0.5, -99.25, 3.0), None), True)
    tally.add("layers.1.weight", Leaf(), (None, struct.pack("2f", 7.0, -8.0), None), True)
    record = tally.record(seen=2, looks=1)
    assert record["peak_abs"] == 99.25 and record["peak_group"] == "layers.0"
