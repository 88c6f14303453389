"""Rule units on a training loop that stops training while the program goes on
(`judging.ended`, `judging.halted`) and on a model evaluated at the end that is not the one
that trained (`judging.reverted`): each on the run shape that shows it and on the correct
shapes near it."""

from __future__ import annotations

from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult
from mlxprobe.watching.output import ProgressParser


def watched(records: list[dict]) -> RawResult:
    return RawResult(records=records, exit_code=0, watched=True)


def update(t: float) -> dict:
    return {"kind": "step", "source": "update", "step": int(t * 100), "t": t}


def report(t: float, step: int, loss: float | None = None, metrics_only: bool = False,
           **metrics) -> dict:
    record = {"kind": "progress", "source": "output", "step": step, "t": t,
              "metrics": metrics}
    return record if loss is None or metrics_only else {**record, "loss": loss}


def schedule(zeros: int, reports: int = 24) -> list[dict]:
    rates = [1e-3 * (1 - i / (reports - zeros)) for i in range(reports - zeros)] + [0.0] * zeros
    return [report(float(i), 50 * (i + 1), 0.66 - 0.005 * min(i, reports - zeros),
                   learning_rate=r) for i, r in enumerate(rates)]


def test_a_schedule_at_zero_for_the_last_quarter_of_the_run_is_no_update():
    v = classify(watched(schedule(zeros=12)))
    assert v.label == "no_update:lr_ended"
    assert v.evidence["zero_reports"] == 12 and "twice" in v.hint


def test_a_schedule_that_reaches_zero_on_its_last_reports_is_not_judged():
    assert classify(watched(schedule(zeros=2))).kind == "pass"  # a decay that ends on time
    assert classify(watched(schedule(zeros=5, reports=40))).kind == "pass"  # < 6 reports


def chunks(updating: int, total: int = 20) -> list[dict]:
    """An RL run in chunks of 24 updates and a report each; `updating` chunks update
    (fresh40 ppo_chunked_learn_resume: 48 updates, then 19 chunks with none)."""
    records: list[dict] = []
    for chunk in range(total):
        if chunk < updating:
            records += [update(chunk + 0.03 * i) for i in range(1, 25)]
        records.append(report(chunk + 0.95, 4096 * min(chunk + 1, updating),
                              expected_reward=0.47, chunk=float(chunk)))
    return records


def test_updates_that_end_while_the_loop_goes_on_reporting_are_no_update():
    v = classify(watched(chunks(updating=2)))
    assert v.label == "no_update:updates_ended"
    assert (v.evidence["updates"], v.evidence["reports_after"]) == (48, 19)
    assert "reset_num_timesteps" in v.hint


def test_a_run_that_updates_to_the_end_or_evaluates_apart_after_it_is_not_judged():
    assert classify(watched(chunks(updating=20))).kind == "pass"
    trained = [update(i * 0.01) for i in range(1, 200)] + [report(2.0, 200, 0.3, acc=0.9)]
    evaluation = [report(3.0 + i, 200, test_bleu=0.3) for i in range(8)]  # its own measures
    assert classify(watched(trained + evaluation)).kind == "pass"
    compiled = [{"kind": "compile", "where": "train.py:9", "t": 0.0}, *chunks(updating=2)]
    assert classify(watched(compiled)).kind == "pass"  # a compiled step counts no updates


def test_a_closing_summary_after_early_stopping_is_not_updates_ended():
    """fresh253 earmold_feedback_triage (correct): early stopping, then the last epoch's
    report, four summary lines each of its own shape and a long Monte-Carlo dropout pass,
    51% of the time; the same five lines in one shape are the loop going on."""
    trained = [update(i * 0.01) for i in range(1, 120)]
    trained += [report(0.1 * i, i, 1.0 / i, val_nll=0.5, val_acc=0.8) for i in range(1, 12)]
    summary = [report(1.25, 11, 0.6, val_nll=0.54, val_acc=0.8),
               report(1.3, 11, val_nll=0.54, val_acc=0.805),
               report(1.31, 11, val_nll=0.52, logged=0.52, val_acc=0.787),
               report(1.32, 11, test_nll=0.61, acc=0.761, test_acc=0.5),
               report(2.6, 11, test_nll=0.61, acc=0.76)]
    assert classify(watched(trained + summary)).kind == "pass"
    going_on = [report(1.25 + 0.3 * i, 11, 0.6, val_nll=0.54, val_acc=0.8) for i in range(5)]
    assert classify(watched(trained + going_on)).label == "no_update:updates_ended"


def reload(final_acc: float) -> list[dict]:
    """Pre-training, a LoRA stage, then an evaluation in memory and one after a reload."""
    records = [update(i * 0.001) for i in range(1, 1501)]
    records += [report(2.0, 1, acc=1.0), report(2.1, 2, acc=0.575)]
    records += [update(3 + i * 0.001) for i in range(1, 2001)]
    records += [report(3 + i * 0.25, 250 * i, 0.5 / i, train_acc=0.8 + 0.02 * i)
                for i in range(1, 9)]
    return records + [report(6.0, 2000, acc=0.84), report(6.1, 2000, 6.27, acc=final_acc)]


def test_a_metric_back_to_its_value_before_training_after_a_reload_is_wrong_result():
    v = classify(watched(reload(final_acc=0.575)))
    assert v.label == "wrong_result:reverted"
    assert (v.evidence["metric"], v.evidence["trained"]) == ("acc", 0.84)
    assert "load" in v.hint and "adapter" in v.hint


def test_a_reload_that_keeps_the_trained_value_or_a_metric_that_wobbles_is_not_judged():
    assert classify(watched(reload(final_acc=0.84))).kind == "pass"
    wobble = [update(i * 0.01) for i in range(1, 301)]
    wobble += [report(i * 0.3, 30 * i, 1.0 - 0.01 * i, train_acc=[68, 73, 68][i % 3])
               for i in range(1, 11)]  # updates between every two reports
    assert classify(watched(wobble)).kind == "pass"


def printed(*lines: str) -> RawResult:
    records = [report(float(i), i, 1.0 / i) for i in range(1, 12)]
    return RawResult(records=records, exit_code=0, watched=True,
                     stdout_tail="\n".join(["step 11 loss 0.09", *lines]) + "\n")


def test_a_check_the_program_prints_as_failed_is_wrong_result_quoting_it():
    # fresh41 specialist_lora_blend: a LoRA blend fused by blending the factors separately
    v = classify(printed("fused vs on-the-fly blend: max|diff| 5.6428", "blend check: MISMATCH"))
    assert v.label == "wrong_result:check_printed"
    assert "`blend check: MISMATCH`" in v.reason and "product" in v.hint


def test_a_failure_word_without_a_check_or_a_check_without_one_is_not_read():
    for line in ("Training step failed: missing 1 required positional argument",
                 "eval check: centipawn MAE=247.4 (predict-0 baseline 852.8)",
                 "blend check: OK", "sanity check passed: 0 failed of 12"):
        assert classify(printed(line)).kind == "pass", line


def test_a_native_library_assertion_is_not_the_programs_check():
    # CI, stop 51: libzmq asserted while a Jupyter kernel shut down after a correct notebook
    for line in ("Assertion failed: pfd.revents & POLLIN (src/signaler.cpp:238)",
                 "python3: src/pool.c:88: grow: Assertion `n > 0' failed.",
                 "Assertion failed: (x), function f, file alloc.c, line 12."):
        assert classify(printed(line)).kind == "pass", line
    assert classify(printed("assertion failed: fused != adapters")).kind == "wrong_result"


def restored(test_ce: float, line_shape: str = "same", test_acc: float = 0.176) -> list[dict]:
    """Base training and an adapter stage, then the adapter evaluated live and restored."""
    records = [update(i * 0.001) for i in range(1, 1001)]
    records += [report(0.2 * i, 5 * i, 1.0 - 0.02 * i, train_acc=0.6 + 0.01 * i)
                for i in range(1, 6)]
    records += [update(2 + i * 0.001) for i in range(1, 1001)]
    records += [report(2 + 0.2 * i, 5 * i, 1.04 - 0.01 * i, train_acc=0.59 + 0.005 * i)
                for i in range(1, 6)]
    records[-5]["restart"] = True  # the epoch counter starts again: a new phase (1.04 after
    # a curve that fell 1.0 -> 0.9, above all its opening reports: `judging.phases`)
    live = {"test_ce": 1.08, "test_acc": 0.585}
    if line_shape == "same":
        return records + [report(4.0, 50, **live), report(4.1, 50, test_ce=test_ce,
                                                          test_acc=test_acc, seconds=2.7)]
    return records + [report(4.0, 50, train_ce=0.07, train_acc=0.96),
                      report(4.1, 50, train_ce=test_ce, acc=0.84)]


def test_the_same_metric_far_worse_with_no_update_between_is_wrong_result_degraded():
    v = classify(watched(restored(test_ce=115.7)))
    assert v.label == "wrong_result:degraded"
    assert (v.evidence["metric"], v.evidence["before"], v.evidence["after"]) == (
        "test_ce", 1.08, 115.7)
    assert "scale" in v.hint and "config" in v.hint  # settings that are not weights


def test_a_small_change_or_a_differently_shaped_second_line_is_not_degraded():
    assert classify(watched(restored(1.2, test_acc=0.57))).kind == "pass"  # 1.1x: new data
    # a training line and then a test line under one name: two evaluations, 10x apart
    assert classify(watched(restored(test_ce=0.75, line_shape="other"))).kind == "pass"


def test_a_per_class_table_after_training_is_no_re_evaluation():
    """fresh66 yahtzee_deepsets_tcpdump: `acc 1.000` for eight classes after the last update,
    then `acc 0.000` for the class with one test example: a breakdown, not the model read
    again (the broken runs of this rule read their metric 2 or 3 times after it)."""
    records = restored(test_ce=1.0)[:-2]
    records += [report(4.0 + 0.01 * i, 50, test_acc=1.0) for i in range(8)]
    records += [report(4.2, 50, test_acc=0.0)]
    assert classify(watched(records)).label != "wrong_result:degraded"


def test_a_subset_read_again_as_the_trained_model_read_it_is_no_re_evaluation():
    """fresh176 hummed_incipit_nce_stages (correct): the training table's last row reads
    `mrr 0.364` (the harder query style) at the last update; then the final summary prints
    `studio mrr 0.768` and `pub-singers mrr 0.364`: the last reading is the trained model's
    own, the one before it another subset."""
    records = restored(test_ce=1.0)[:-2]
    records += [report(4.0, 50, mrr=0.364), report(4.1, 50, mrr=0.768),
                report(4.2, 50, mrr=0.364)]
    assert classify(watched(records)).label != "wrong_result:degraded"
    records[-1] = report(4.2, 50, mrr=0.301)  # a new, far worse reading: the rule stands
    assert classify(watched(records)).label == "wrong_result:degraded"


def test_a_variant_of_the_metric_far_worse_after_training_is_wrong_result_degraded():
    """fresh204 lora_fuse_armpose: `val_mse adapters=0.01096  fused=0.63773`, the fuse adding
    the transpose of the learned update; its fixed twin's fused model reads 0.01096."""
    records = restored(test_ce=1.0)[:-2]
    records += [report(4.0, 50, test_ce=1.08)]
    line = ProgressParser().parse("test_ce adapters=1.08  fused={}  (base policy 4.7)")
    assert line is not None
    fused = [{**line, "t": 4.1, "metrics": {**line["metrics"], "test_ce:fused": v}}
             for v in (62.6, 1.08)]
    v = classify(watched(records + [fused[0]]))
    assert v.label == "wrong_result:degraded" and "lora_b.weight @ lora_a.weight" in v.hint
    assert classify(watched(records + [fused[1]])).kind == "pass"


def test_a_record_stamped_late_does_not_move_the_update_count_of_the_reports_after_it():
    records = restored(test_ce=115.7)
    late = next(r for r in records if r.get("t") == 2.5)  # an update of the second stage
    late["t"] = 4.05  # read between the two final reports
    assert classify(watched(records)).label == "wrong_result:degraded"


def topk(before: float, during: float) -> list[dict]:
    """An evaluation before training, then 12 epochs of 100 updates, each reporting its
    training loss and acc@1; a chance level printed after training, as the output reader
    reads it: a line named by its first word `chance` is a reference, no progress."""
    records = [report(0.5, 0, metrics_only=True, **{"acc@1": before})]
    for epoch in range(1, 13):
        records += [update(epoch + i * 0.001) for i in range(1, 101)]
        records.append(report(epoch + 0.5, epoch, 0.72 - 0.02 * epoch, **{"acc@1": during}))
    chance = ProgressParser().parse("chance level: acc@1=0.100")
    return records + ([] if chance is None else [{**chance, "t": 13.0}])


def test_an_accuracy_perfect_before_training_and_ever_after_is_wrong_result():
    v = classify(watched(topk(before=1.0, during=1.0)))
    assert v.label == "wrong_result:untrained_ceiling" and v.evidence["metric"] == "acc@1"
    assert "isin" in v.hint and "row by row" in v.hint


def test_an_accuracy_that_rises_to_perfect_or_starts_at_chance_is_not_judged():
    assert classify(watched(topk(before=0.1, during=1.0))).kind == "pass"
    assert classify(watched(topk(before=1.0, during=0.9))).kind == "pass"


def converged_early(start_err: float) -> list[dict]:
    """A measurement error printed before training, then 12 reports of a deconvolution
    whose data term sits at its noise floor from the first one (fresh45
    deblur_signal_heavyball)."""
    records = [{"kind": "progress", "source": "output", "step": 0, "t": 0.1,
                "loss": start_err, "loss_name": "rel_err", "metrics": {}}]
    for i in range(1, 13):
        records.append({"kind": "progress", "source": "output", "step": 500 * i,
                        "t": 0.1 + i, "loss": 0.0273, "loss_name": "data_rmse",
                        "metrics": {"obj": 2.2839, "rel_err": 0.0687 if i == 1 else 0.067}})
    return records


def test_a_loss_flat_from_its_first_report_after_an_early_fall_is_not_judged():
    assert classify(watched(converged_early(start_err=0.1349))).kind == "pass"
    assert classify(watched(converged_early(start_err=0.07))).label == "not_learning:trend"


def test_a_run_that_goes_on_updating_by_hand_after_its_optimizer_is_not_judged():
    """fresh84 cork_taint_frozen_backbone (correct): Adam in its first stage, then a
    hand-written momentum SGD through `model.update` on a new head: no optimizer update is
    counted, and the parameter looks see the head change."""
    looks = [{"kind": "params", "t": chunk + 0.5, "step": 4096 * chunk, "compared": 1,
              "changed": 1, "unchanged": []} for chunk in range(3, 20, 4)]  # the new head
    assert classify(watched(chunks(updating=2) + looks)).kind == "pass"
    still = [{**look, "changed": 0, "unchanged": ["head"]} for look in looks]
    assert classify(watched(chunks(updating=2) + still)).kind == "no_update"


def test_a_failure_status_in_capitals_as_a_lines_whole_value_is_wrong_result():
    # fresh133 kiln_gru_parity (mlx PR 3252): a ported GRU checked against a NumPy reference
    for line in ("export: MISMATCH", "gap to reference 1.3e-01 (MISMATCH)", "[FAIL]"):
        assert classify(printed(line)).label == "wrong_result:check_printed", line
    for line in ("export: OK", "status: failed", "--- FAIL: TestGradients (0.00s)",
                 "download: FAILED to reach the hub, using synthetic data"):
        assert classify(printed(line)).kind == "pass", line


def test_two_columns_of_one_line_are_two_data_sets_not_the_model_read_again():
    """fresh252 loom_shuttle_layout_port (correct): `[B] val acc 1.000 | mill-A val acc after
    re-fit 0.733` reads the re-fitted model on two mills in one line; the same two numbers
    in two lines are the model evaluated again, far worse."""
    records = restored(test_ce=1.0)[:-2]
    line = {**report(4.1, 50, test_acc=1.0)}
    line["metrics"] = {**line["metrics"], "test_acc:re_fit": 0.733}
    assert classify(watched(records + [line])).label != "wrong_result:degraded"
    apart = [report(4.1, 50, test_acc=1.0), report(4.2, 50, test_acc=0.733)]
    assert classify(watched(records + apart)).label == "wrong_result:degraded"
