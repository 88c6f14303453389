"""Stop 80's changes to the verdict rules, on the numbers of the runs that showed each:
- a last stage that trains vectors alone over a model whose weight matrices an earlier look
  saw train, in a run that reports no training loss, is a deliberate stage when an error
  measure it reports after that look fell by half (fresh282 `indigo_vat_vera_vectors`,
  correct: VeRA vectors on a frozen MLP, `batch`/`test` columns and a closing `test MSE:
  unadapted 0.17456 -> adapted 0.00633`); one that stays flat is still `frozen_weights`.

Cost: < 1 s (records in memory, no process).
"""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

BASE = {"model": "Regressor", "trainable_matrices": 3, "trainable_values": 4850,
        "frozen_matrices": 0, "frozen_quantized": 0, "trainable_dtypes": {"float32": 4850},
        "hidden": {}, "adapters": {"count": 0, "trainable": 0, "frozen_names": []}}
VECTORS = {**BASE, "trainable_matrices": 0, "trainable_values": 177, "frozen_matrices": 3,
           "trainable_dtypes": {"float32": 177},
           "frozen_names": ["layers.0.base.weight", "layers.1.base.weight",
                            "layers.2.base.weight"]}


def vera(before: float, after: float) -> RawResult:
    """The base's look, a baseline reading of the adapted task, the vectors' look, then
    twelve reports of `test` (no loss named) and a closing `test_mse` reading."""
    looks = [{"kind": "params", "updates": 1, "look": 1, "t": 0.0, "census": [BASE]},
             {"kind": "params", "updates": 2, "look": 2, "t": 9.0, "census": [VECTORS]}]
    opening = [{"kind": "progress", "source": "output", "step": 1, "t": 8.5,
                "metrics": {"test_mse": before}}]
    columns = [{"kind": "progress", "source": "output", "step": 50 * i, "t": 9.0 + i,
                "metrics": {"learning_rate": 1e-2, "test": before}} for i in range(12)]
    closing = [{"kind": "progress", "source": "output", "step": 600, "t": 22.0,
                "metrics": {"test_mse": after}}]
    return RawResult(records=looks + opening + columns + closing, exit_code=0, watched=True)


def test_an_error_measure_that_fell_by_half_marks_a_deliberate_vector_stage() -> None:
    assert classify(vera(0.17456, 0.00633)).label == "pass"


def test_one_that_stayed_flat_is_still_frozen_weights() -> None:
    verdict = classify(vera(0.17456, 0.16))
    assert verdict.label == "no_update:frozen_weights"
    assert "layers.2.base" in verdict.hint
