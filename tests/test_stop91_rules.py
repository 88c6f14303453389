"""Stop 91's verdict changes, each on the shape of the run it was measured on.

- a metric non-finite from its first report names a log of a negative value (a determinant)
  among its causes (fresh349 `mistral_fen_coupling`: a flow's log(det) of mixing matrices that
  start as a permutation, det -1, NaN at every report while the weights train);
- an optimizer never stepped names a check that skips every batch as unusable (fresh344
  `quarry_lantern_dflash`: one long-prompt sample per bucket left no window to train on).
"""

from __future__ import annotations

from test_stop90_rules import never_stepped

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult

FLOW = ("data: train (6000, 3), test (2000, 3)\n"
        + "".join(f"step {s:4d}  train nll/dim nan\n" for s in (1, 50, 100, 150, 200))
        + "test nll/dim: nan (gaussian baseline 0.6328)\n")


def nan_from_the_start() -> RawResult:
    records = [{"kind": "start", "t": 0.0, "source": "bootstrap"},
               {"kind": "optimizer", "name": "Adam", "t": 0.5}]
    records += [{"kind": "step", "source": "update", "step": s, "t": 0.9 + s / 100, "step_s": 0.01}
                for s in range(1, 201)]
    records += [{"kind": "params", "step": s, "updates": s - 1, "look": 1, "leaves": 36,
                 "compared": 36, "changed": 36, "unchanged": [], "nonfinite": [],
                 "t": 0.95 + s / 100} for s in (2, 50, 100, 150, 200)]
    records += [{"kind": "progress", "source": "output", "step": s, "t": 1.0 + s / 100,
                 "metrics": {"train nll/dim": "nan"}} for s in (1, 50, 100, 150, 200)]
    return RawResult(records=records, exit_code=0, watched=True, stdout_tail=FLOW)


def test_a_metric_nan_from_its_first_report_names_a_log_of_a_negative_determinant() -> None:
    verdict = classify(nan_from_the_start())
    assert verdict.kind == "diverged", verdict.reason
    assert "mx.linalg.slogdet(w)[1]" in verdict.hint
    assert "log of a negative is NaN while its gradient 1/x stays finite" in verdict.hint


def test_an_idle_optimizer_names_a_check_that_skips_every_batch() -> None:
    verdict = classify(never_stepped())
    assert verdict.label == "no_update:optimizer_idle", verdict.reason
    assert "filter samples one by one before batching" in verdict.hint


def r2_run(values: list[float]) -> RawResult:
    records = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    records += [{"kind": "progress", "source": "output", "step": i + 1, "t": 1.0 + i,
                 "metrics": {"loss": 10.0 - 0.001 * i, "r2": v}} for i, v in enumerate(values)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_an_r2_at_zero_at_every_report_is_a_mean_predictor() -> None:
    verdict = classify(r2_run([-0.001, 0.001, 0.0, -0.0, 0.0, -0.001, 0.0, 0.001]))
    assert verdict.label == "not_learning:at_mean", verdict.reason
    assert verdict.evidence["reports"] == 8 and verdict.evidence["at_mean"] == 0.01
    assert "summed over the batch" in verdict.hint


def test_an_r2_that_rises_past_the_margin_is_not_a_mean_predictor() -> None:
    assert classify(r2_run([0.0, 0.004, 0.008, 0.02, 0.2, 0.5, 0.8, 0.9])).label \
        != "not_learning:at_mean"


def test_few_r2_reports_at_zero_are_not_judged() -> None:
    assert classify(r2_run([0.0, 0.001, 0.0, 0.0, 0.0])).label != "not_learning:at_mean"


def loaded(*loads: dict, losses: int = 12) -> RawResult:
    records = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    records += [{"kind": "weights", "t": 0.5 + i / 100, **load} for i, load in enumerate(loads)]
    records += [{"kind": "progress", "source": "output", "step": 50 * (i + 1), "t": 1.0 + i,
                 "metrics": {"loss": 2.7 - 0.08 * i}} for i in range(losses)]
    return RawResult(records=records, exit_code=0, watched=True)


NOTHING = {"model": "BertQA", "strict": False, "given": 33, "matched": 0, "unmatched": 33,
           "unmatched_names": ["pooler.weight"], "parameters": 33, "without_weight": 33,
           "without_weight_names": ["model.embeddings.norm.bias"]}


def test_a_non_strict_load_that_matched_nothing_is_a_wrong_result() -> None:
    verdict = classify(loaded(NOTHING))
    assert verdict.label == "wrong_result:weights_unloaded", verdict.reason
    assert "matched 0 of the 33 weights" in verdict.reason
    assert "strip or add the prefix" in verdict.hint
    assert verdict.evidence["unmatched_names"] == ["pooler.weight"]


def test_a_later_load_into_that_model_that_matched_clears_it() -> None:
    assert classify(loaded(NOTHING, {**NOTHING, "matched": 31, "unmatched": 2})).label \
        != "wrong_result:weights_unloaded"


def test_a_partial_non_strict_load_is_left_alone() -> None:
    assert classify(loaded({**NOTHING, "matched": 6, "unmatched": 0, "given": 6})).label \
        != "wrong_result:weights_unloaded"


KEY_TRACE = """Traceback (most recent call last):
  File "/w/sweep.py", line 209, in <module>
    main()
  File "/w/sweep.py", line 155, in train
    self.state.val_loss = val_metrics["loss"]
                          ~~~~~~~~~~~^^^^^^^^
KeyError: 'loss'
"""


def test_a_string_key_missing_from_the_programs_own_dict_names_prefixed_results() -> None:
    raw = RawResult(records=[{"kind": "start", "t": 0.0, "source": "bootstrap"}], exit_code=1,
                    watched=True, stderr_tail=KEY_TRACE)
    verdict = classify(raw)
    assert verdict.label == "crash:KeyError", verdict.reason
    assert verdict.hint.startswith("the key 'loss' is read on the raising line (sweep.py:155")
    assert "prefixed (`eval_loss`" in verdict.hint


def evaluated_after(line: dict) -> RawResult:
    records = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    records += [{"kind": "step", "source": "update", "step": s, "t": s / 100}
                for s in range(1, 301)]
    records += [{"kind": "progress", "source": "output", "step": e, "t": e + 0.5,
                 "loss": 0.8 - 0.01 * e, "metrics": {"val_acc": 60.0 + e}} for e in (1, 2)]
    records.append({"kind": "progress", "source": "output", "step": 3, "t": 4.0,
                    "metrics": line})
    return RawResult(records=records, exit_code=0, watched=True)


def test_three_labelled_variants_on_one_line_are_a_per_class_breakdown() -> None:
    verdict = classify(evaluated_after({"val_recall:open": 56.5, "val_recall:false_set": 81.3,
                                        "val_recall:seized": 37.1}))
    assert verdict.label != "wrong_result:degraded", verdict.reason


def test_two_labelled_variants_on_one_line_are_still_two_models() -> None:
    verdict = classify(evaluated_after({"val_mse:adapters": 0.01096, "val_mse:fused": 0.63773}))
    assert verdict.label == "wrong_result:degraded", verdict.reason


ADAPTER_TRACE = """Traceback (most recent call last):
  File "/w/fuse.py", line 221, in <module>
    model.update(tree_unflatten(adapters))
  File "/v/mlx/nn/layers/base.py", line 380, in update
    apply(self, parameters)
ValueError: Module does not have parameter named "lora_a".
"""


def test_lora_weights_for_an_unwrapped_layer_name_the_modules_to_wrap() -> None:
    raw = RawResult(records=[{"kind": "start", "t": 0.0, "source": "bootstrap"}], exit_code=1,
                    watched=True, stderr_tail=ADAPTER_TRACE)
    verdict = classify(raw)
    assert verdict.label == "crash:ValueError", verdict.reason
    assert "gate_proj, up_proj and down_proj" in verdict.hint
    assert "LoRALinear.from_linear" in verdict.hint


def flushed_after(after_s: float) -> RawResult:
    """24 updates over 0.06 s, then 13 reports of the same shape `after_s` later in all."""
    records = [{"kind": "start", "t": 0.0, "source": "bootstrap"}]
    records += [{"kind": "step", "source": "update", "step": i, "t": 0.0025 * i}
                for i in range(1, 25)]
    records += [{"kind": "progress", "source": "output", "step": i, "t": 0.0025 * i + 0.001,
                 "loss": 1.0 - 0.01 * i} for i in range(1, 13)]
    records += [{"kind": "progress", "source": "output", "step": 12, "t": 0.06 + after_s * (
        i + 1) / 13, "loss": 0.88} for i in range(13)]
    return RawResult(records=records, exit_code=0, watched=True)


def test_reports_flushed_a_moment_after_the_last_update_are_not_a_halted_loop() -> None:
    assert classify(flushed_after(0.1)).label != "no_update:updates_ended"


def test_reports_going_on_for_seconds_after_the_last_update_are_still_a_halted_loop() -> None:
    verdict = classify(flushed_after(3.0))
    assert verdict.label == "no_update:updates_ended", verdict.reason
