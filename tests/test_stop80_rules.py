"""Stop 80's changes to the verdict rules, on the numbers of the runs that showed each:
- a last stage that trains vectors alone over a model whose weight matrices an earlier look
  saw train, in a run that reports no training loss, is a deliberate stage when an error
  measure it reports after that look fell by half (fresh282 `indigo_vat_vera_vectors`,
  correct: VeRA vectors on a frozen MLP, `batch`/`test` columns and a closing `test MSE:
  unadapted 0.17456 -> adapted 0.00633`); one that stays flat is still `frozen_weights`.
- two readings after training that print different sample counts are two subsets, not the
  model degraded (fresh283 `quire_distmult_scriptorium`, correct: MRR per relation, `n= 131
  mrr 0.472` then `n= 29 mrr 0.136`); the same count twice still is.
- None handed to a library that reads an attribute of it names the names its raising line
  reads and the user's call (fresh283 `tern_ledger_sft`, Soup 3a549d3: `optimizer=None` into
  mlx-lm's `train`, "'NoneType' object has no attribute 'state'").
- a loss that fell to half its first over a short run (6 reports) beside an accuracy at 0 at
  every report is `not_learning:opposed`, and a detector's score (hit@0.5) adds the boxes'
  units to the fix (fresh284 `crosswalk_beacon_priors`, mlx-models 9a42db7: 49.4 -> 7.56,
  hit@0.5 0.000 at 7 reports); a loss that did not halve stays unjudged by it.

Cost: < 1 s (records in memory, no process).
"""

from __future__ import annotations

from mlxprobe.judging import hints
from mlxprobe.judging.program import raised
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


def relation_table(sizes: tuple[float, float, float]) -> RawResult:
    """600 updates with four training reports, then a per-relation table of three rows
    after the last update: `written_at n= 28 mrr 0.724 hits@1 60.7` and so on."""
    looks = [{"kind": "step", "source": "update", "step": i + 1, "t": i * 0.01}
             for i in range(600)]
    training = [{"kind": "progress", "source": "output", "step": 150 * (i + 1),
                 "t": 1.5 * (i + 1), "metrics": {"logistic": 0.79, "test_mrr": 0.40 + 0.01 * i}}
                for i in range(4)]
    rows = [{"kind": "progress", "source": "output", "step": 600, "t": 10.0 + i,
             "metrics": {"n": n, "mrr": mrr, "hits@1": hits}}
            for i, (n, mrr, hits) in enumerate(zip(sizes, (0.724, 0.472, 0.136),
                                                   (60.7, 6.9, 3.4)))]
    return RawResult(records=looks + training + rows, exit_code=0, watched=True)


def test_two_rows_that_print_different_sample_counts_are_two_subsets() -> None:
    """fresh283 `quire_distmult_scriptorium` (correct): MRR per relation, n = 28, 131, 29."""
    assert classify(relation_table((28.0, 131.0, 29.0))).label == "pass"


def test_the_same_count_twice_is_the_same_evaluation_degraded() -> None:
    assert classify(relation_table((188.0, 188.0, 188.0))).label == "wrong_result:degraded"


SITE = "/venv/lib/python3.11/site-packages/mlx_lm/tuner/trainer.py"
TRAIN_NONE = f"""Traceback (most recent call last):
  File "/work/sft.py", line 88, in train
    train(
  File "{SITE}", line 245, in train
    state = [model.state, optimizer.state, mx.random.state]
             ^^^^^^^^^^^^^^^
AttributeError: 'NoneType' object has no attribute 'state'
"""


def test_none_handed_to_a_library_names_what_it_reads_and_the_call() -> None:
    error = raised(TRAIN_NONE)
    assert error is not None
    hint = hints.for_error(*error, TRAIN_NONE)
    assert hint.startswith("`model` or `optimizer` reached `mlx_lm.tuner.trainer.train` as None")
    assert "sft.py:88" in hint and "`optimizer=optimizer`" in hint


def test_none_read_in_the_users_own_line_keeps_the_plain_hint() -> None:
    text = TRAIN_NONE.replace(f'File "{SITE}"', 'File "/work/helpers.py"')
    error = raised(text)
    assert error is not None and "reached" not in hints.for_error(*error, text)


def detector(losses: list[float]) -> RawResult:
    """Epoch lines `loss L ... | val mIoU 0.000 hit@0.5 0.000`, then a closing line."""
    reports = [{"kind": "progress", "source": "output", "step": 4 * i, "t": 1.0 + i,
                "loss": loss, "metrics": {"val_miou": 0.0, "hit@0.5": 0.0}}
               for i, loss in enumerate(losses)]
    reports.append({"kind": "progress", "source": "output", "step": 4 * len(losses),
                    "t": 2.0 + len(losses), "metrics": {"hit@0.5": 0.0}})
    return RawResult(records=reports, exit_code=0, watched=True)


def test_a_short_run_whose_loss_halved_beside_a_zero_hit_rate_is_opposed() -> None:
    verdict = classify(detector([49.40, 10.85, 9.17, 8.07, 8.55, 7.56]))
    assert verdict.label == "not_learning:opposed"
    assert "`H, W, C = img.shape`" in verdict.hint and "resized image" in verdict.hint


def test_a_loss_that_did_not_halve_is_left_to_the_other_rules() -> None:
    assert classify(detector([9.40, 8.85, 8.17, 8.07, 7.95, 7.56])).label == "pass"
