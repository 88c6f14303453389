"""The rule units added from the old held-out half's misses (issue 21): parameters that
stopped moving (`judging.stalled`), a model whose weight matrices are all frozen
(`judging.params.frozen_weights`), a loop that reports progress without evaluating while
memory climbs (`judging.unevaluated`); and the looks' movement and census (`inside.params`).
Each is checked on the case that shows it and on the shapes of correct runs near it."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from mlxprobe.inside.params import ParamWatch, census
from mlxprobe.judging import hints
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult, Sample

MB = 1024 * 1024


def watched(records: list[dict], samples: list[Sample] = ()) -> RawResult:
    return RawResult(records=records, exit_code=0, watched=True, samples=list(samples))


def look(step: int, move: float | None, unchanged: list[str] = ()) -> dict:  # step = updates
    record = {"kind": "params", "step": step, "updates": step, "look": step, "leaves": 4,
              "compared": 2,
              "changed": 2 - len(unchanged), "unchanged": list(unchanged),
              "unchanged_count": len(unchanged), "nonfinite": []}
    return record if move is None else {**record, "move_median": move}


def steps(n: int) -> list[dict]:
    return [{"kind": "step", "source": "update", "step": i, "t": float(i)} for i in
            range(1, n + 1)]


def flat_loss(n: int, every: int = 25) -> list[dict]:
    """A loss that never falls (mlp_lr_too_high: dead units, accuracy ~0.11)."""
    return [{"kind": "progress", "source": "output", "step": s, "t": float(s),
             "loss": 2.302 + 0.001 * (s % 3)} for s in range(every, n + 1, every)]


def test_parameters_that_stop_moving_for_most_of_the_run_are_stalled():
    # mlp_lr_too_high as measured: a big first move, then ~3e-7 per look of ~70 steps
    records = steps(500) + flat_loss(500) + [look(1, None), look(84, 113.0)] + [
        look(84 + 75 * i, 3e-7, ["layers.0"]) for i in range(1, 6)]
    v = classify(watched(records))
    assert (v.kind, v.detail) == ("not_learning", "stalled")
    assert v.evidence["since_update"] == 84 and v.evidence["unchanged_throughout"] == ["layers.0"]
    assert "learning rate" in v.hint and "lower" in v.hint


def test_a_stall_under_an_adaptive_optimizer_names_gradient_scaling_that_cancels():
    """fresh27 backbone_lr_ratio_gradscale_adam: backbone gradients x 0.01 under Adam."""
    records = steps(500) + flat_loss(500) + [look(1, None), look(84, 113.0)] + [
        look(84 + 75 * i, 3e-7) for i in range(1, 6)]
    adam = {"kind": "optimizer", "name": "Adam", "t": 0.0}
    assert "under Adam" in classify(watched([adam, *records])).hint
    assert "under" not in classify(watched([{**adam, "name": "SGD"}, *records])).hint


def test_a_run_that_keeps_moving_or_stalls_only_at_its_end_is_not_stalled():
    moving = steps(500) + [look(100 * i, 1e-4) for i in range(1, 6)]  # mlp's fixed twin
    assert classify(watched(moving)).kind == "pass"
    late = steps(500) + [look(100 * i, 1e-4) for i in range(1, 4)] + [
        look(400, 1e-8), look(450, 1e-8), look(500, 1e-8)]  # the last 20% of the run
    assert classify(watched(late)).kind == "pass"


def test_a_fit_moving_at_float32_resolution_at_its_optimum_is_not_stalled():
    """fresh31 hawkes_fibonacci_mle: a full-batch MLE at its optimum moved 1.0e-7 to
    1.1e-7 per update (no loss read); a dead network moves far less."""
    records = steps(1600) + [look(1, None), look(200, 1e-3)] + [
        look(200 + 45 * i, 45 * 1.05e-7) for i in range(1, 31)]
    assert classify(watched(records)).kind == "pass"


def test_a_stall_with_no_loss_read_is_not_judged():
    """fresh31 hawkes_fibonacci_mle again: 5.1e-8 per update in one run (its log lines,
    `F[  89]  nll/event +0.42338`, give no loss): without the loss a fit at its optimum
    and dead units look the same; with a flat loss beside it, the same looks are a stall."""
    looks = [look(1, None), look(200, 1e-3)] + [look(200 + 45 * i, 45 * 5.1e-8)
                                                for i in range(1, 31)]
    assert classify(watched(steps(1600) + looks)).kind == "pass"
    assert classify(watched(steps(1600) + flat_loss(1600, 100) + looks)).label == \
        "not_learning:stalled"


def test_a_run_that_learned_and_converged_is_never_stalled():
    losses = [{"kind": "progress", "source": "output", "step": s, "t": float(s),
               "loss": 2.0 * 0.9 ** (s / 10)} for s in range(10, 501, 10)]
    records = steps(500) + losses + [look(1, None)] + [look(50 * i, 1e-9)
                                                       for i in range(1, 11)]
    assert classify(watched(records)).kind == "pass"


def test_a_fit_whose_loss_fell_by_half_before_it_held_is_no_stall():
    """fresh58 homography_cauchy_outliers: a robust fit's loss 3.86 -> 1.599 by its second
    report, then 1.59675 to the end while its parameters moved 4.3e-8 per update: the trend's
    first tenth had fallen already, the fall from the first report had not; dead units that
    fell a quarter (a15_deep_relu_no_warmup, 2.77 -> 2.075) are still a stall."""
    def held(first: float, level: float) -> list[dict]:
        return [{"kind": "progress", "source": "output", "step": s, "t": float(s),
                 "loss": first if s == 1 else level} for s in [1, *range(200, 2001, 200)]]
    looks = [look(1, None), look(480, 1e-3)] + [look(480 + 34 * i, 34 * 4.3e-8)
                                                for i in range(1, 45)]
    assert classify(watched(steps(2000) + held(3.858, 1.5967) + looks)).kind == "pass"
    assert classify(watched(steps(2000) + held(2.767, 2.075) + looks)).label == \
        "not_learning:stalled"


def test_a_stall_with_fewer_than_three_losses_read_is_not_judged():
    """fresh58 homography_cauchy_outliers before its `;` table was read: one closing line was
    its whole loss, and one value is no trend."""
    looks = [look(1, None), look(200, 1e-3)] + [look(200 + 45 * i, 45 * 5.1e-8)
                                                for i in range(1, 31)]
    one = [{"kind": "progress", "source": "output", "step": 1600, "t": 1600.0, "loss": 1.176}]
    assert classify(watched(steps(1600) + one + looks)).kind == "pass"


def census_look(matrices: int, frozen: int, quantized: int) -> dict:
    found = {"model": "Sequential", "trainable_matrices": matrices, "trainable_values": 320,
             "frozen_matrices": frozen, "frozen_quantized": quantized}
    return {**look(1, None), "compared": 0, "census": [found]}


def test_a_model_whose_weight_matrices_are_all_frozen_is_no_update():
    v = classify(watched(steps(400) + [census_look(0, 9, 3)]))
    assert v.label == "no_update:frozen_weights" and "quantize" in v.hint
    plain = classify(watched(steps(400) + [census_look(0, 4, 0)]))
    assert plain.label == "no_update:frozen_weights" and "unfreeze" in plain.hint
    qlora = classify(watched(steps(400) + [census_look(8, 12, 4)]))  # adapters train
    assert qlora.kind == "pass"


def test_census_reads_shapes_only_and_counts_quantized_frozen_matrices():
    model = nn.Sequential(nn.Linear(64, 32), nn.Linear(32, 8))
    assert census(model)["trainable_matrices"] == 2
    nn.quantize(model, group_size=32, bits=4)
    found = census(model)
    assert found["trainable_matrices"] == 0 and found["trainable_values"] == 40
    assert found["frozen_quantized"] == 2 and found["frozen_matrices"] == 6


def test_a_look_measures_the_relative_movement_of_float32_parameters():
    class Sink:
        got: list[dict] = []

        def emit(self, kind: str, **fields: object) -> None:
            self.got.append(fields)

    model = nn.Linear(8, 8)
    mx.eval(model.parameters())
    watch = ParamWatch(Sink())  # type: ignore[arg-type]
    watch.saw_model(model)
    watch.after_eval((model.parameters(),), {}, step=1)
    model.update({"weight": model.weight * 1.01, "bias": model.bias * 1.01})
    mx.eval(model.parameters())
    watch.next_at = 0.0
    watch.after_eval((model.parameters(),), {}, step=2)
    assert "census" in Sink.got[0] and "move_median" not in Sink.got[0]
    assert abs(Sink.got[1]["move_median"] - 0.01) < 1e-4


def reports(n: int, start: float = 10.0) -> list[dict]:
    return [{"kind": "progress", "source": "output", "step": 1, "t": start + 0.2 * i,
             "metrics": {"accumulated": 512.0 * (i + 1)}} for i in range(n)]


def samples(mb_at: callable, until: float = 16.0) -> list[Sample]:
    return [Sample(t=0.05 * i, rss=int(mb_at(0.05 * i) * MB), cpu_s=0.0, procs=1,
                   compiling=False) for i in range(int(until / 0.05))]


def climbing(t: float) -> float:
    return 30.0 + max(0.0, min(t, 12.0) - 10.0) * 80.0  # +160 MB while the reports come


def test_reports_without_evaluations_while_memory_climbs_are_an_unevaluated_leak():
    # grad_accum_lazy_leak as measured: 8 reports, RSS 32 -> 190 MB, then a long evaluation
    records = [{"kind": "optimizer", "name": "SGD", "t": 9.0}, *reports(8),
               {"kind": "eval_open", "since": 12.0, "where": "train.py:46", "t": 12.6},
               {"kind": "step", "source": "update", "step": 1, "t": 14.0}]
    v = classify(watched(records, samples(climbing)))
    assert v.label == "leak:unevaluated" and "mx.eval" in v.hint
    assert v.evidence["reports"] == 8 and v.evidence["growth_mb"] > 100


def sawtooth(t: float) -> float:
    return 30.0 + max(0.0, min(t, 12.0) - 10.0) * 80.0 if t < 12.3 else 40.0  # freed


def test_a_quick_evaluation_that_frees_what_the_reports_piled_up_is_that_leak_too():
    # fresh36 lazy_grad_accumulation on a quiet machine: no evaluation open 0.5 s, but RSS
    # falls back after the update that ended the stretch
    records = [{"kind": "optimizer", "name": "AdamW", "t": 9.0}, *reports(8),
               {"kind": "step", "source": "update", "step": 1, "t": 12.2}]
    v = classify(watched(records, samples(sawtooth)))
    assert v.label == "leak:unevaluated" and v.evidence["released_mb"] > 100
    assert "released" in v.reason
    kept = classify(watched(records, samples(climbing)))  # nothing freed, nothing open
    assert kept.detail != "unevaluated"


def test_a_first_report_read_before_the_previous_release_does_not_hide_the_climb():
    def lagging(t: float) -> float:  # the previous backlog's 400 MB still held at 10.0
        return 430.0 if t <= 10.05 else climbing(t)
    records = [{"kind": "optimizer", "name": "AdamW", "t": 9.0}, *reports(8),
               {"kind": "eval_open", "since": 12.0, "where": "train.py:46", "t": 12.6},
               {"kind": "step", "source": "update", "step": 1, "t": 14.0}]
    v = classify(watched(records, samples(lagging)))
    assert v.label == "leak:unevaluated" and v.evidence["rss_mb_base"] < 100


def test_evaluations_between_reports_or_flat_memory_or_set_up_are_not_that_leak():
    evaluated = [{"kind": "optimizer", "name": "SGD", "t": 9.0}]
    for i, report in enumerate(reports(8)):  # the fixed twin evaluates every micro-step
        evaluated += [report, {"kind": "step", "source": "eval", "step": i + 1,
                               "t": report["t"] + 0.1}]
    # (memory that climbs over 5+ s is still the time rule's to judge: not this one's)
    assert classify(watched(evaluated, samples(climbing))).detail != "unevaluated"
    flat = [{"kind": "optimizer", "name": "SGD", "t": 9.0}, *reports(8),
            {"kind": "eval_open", "since": 12.0, "where": "train.py:46", "t": 12.6},
            {"kind": "step", "source": "update", "step": 1, "t": 14.0}]  # the run stepped
    assert classify(watched(flat, samples(lambda t: 30.0))).kind == "pass"
    set_up = [*reports(8), {"kind": "optimizer", "name": "SGD", "t": 13.0},  # loading data
              {"kind": "eval_open", "since": 13.5, "where": "train.py:46", "t": 14.1}]
    assert classify(watched(set_up, samples(climbing))).detail != "unevaluated"


def curve(values: list[float], restart_at: int | None = None) -> list[dict]:
    return [{"kind": "progress", "source": "output", "step": i + 1, "t": float(i), "loss": v,
             **({"restart": True} if i == restart_at else {})} for i, v in enumerate(values)]


PRETRAIN = [0.023, 0.01, 0.008, 0.006, 0.005, 0.004, 0.003, 0.003, 0.002, 0.002]
FINETUNE = [1.898, 0.9, 0.56, 0.3, 0.157, 0.12, 0.092, 0.07, 0.054, 0.045, 0.039]


def test_a_second_loss_curve_after_the_counter_restarts_is_judged_on_its_own():
    # load_weights_missing_head_ok: pre-train, then fine-tune with `Iter` starting again
    v = classify(watched(curve(PRETRAIN + FINETUNE, restart_at=len(PRETRAIN))))
    assert v.kind == "pass" and "last loss curve (from report 11)" in v.reason
    one_curve = classify(watched(curve(PRETRAIN + FINETUNE)))  # no restart: one curve
    assert one_curve.kind == "diverged"


def test_a_counter_restart_on_a_report_without_a_loss_starts_the_new_curve():
    # lora_scale_alpha_raw_ok: the LoRA stage opens with `{'Step': 0, 'Val loss': ...}`
    records = curve(PRETRAIN + FINETUNE)
    validation = {"kind": "progress", "source": "output", "step": 0, "restart": True,
                  "t": len(PRETRAIN) - 0.5, "metrics": {"val_loss": 1.17}}
    v = classify(watched([*records[:len(PRETRAIN)], validation, *records[len(PRETRAIN):]]))
    assert v.kind == "pass" and "last loss curve (from report 11)" in v.reason


def test_an_epoch_counter_restart_without_a_jump_is_no_new_phase():
    rising = [1.0 + 0.3 * i for i in range(20)]  # a loss that climbs through epochs
    v = classify(watched(curve(rising, restart_at=10)))
    assert v.label == "diverged:exploding"


def test_the_output_parser_marks_a_counter_that_went_back():
    from mlxprobe.watching.output import ProgressParser

    parser = ProgressParser()
    got = [parser.parse(f"[{phase}] Iter {i}: Train loss 0.5") for phase, i in
           (("pretrain", 50), ("pretrain", 100), ("finetune", 50), ("finetune", 100))]
    assert [r.get("restart", False) for r in got] == [False, False, True, False]
    assert [r["step"] for r in got] == [50, 100, 150, 200]


def test_looks_during_a_validation_pass_are_no_evidence_of_a_stall():
    # 300 updates that move, then a long final validation (evaluations, no update): its
    # looks compare unchanged parameters but no optimizer update happened between them
    train = [look(60 * i, 1e-4) for i in range(1, 6)]
    validation = [{**look(300, 0.0), "step": 300 + 200 * i} for i in range(1, 6)]
    assert classify(watched(steps(1300) + train + validation)).kind == "pass"


def test_a_small_noisy_loss_that_doubles_at_an_epoch_boundary_is_no_new_phase():
    from mlxprobe.judging import phases

    noisy = [0.6, 0.3, 0.1, 0.05, 0.03, 0.02, 0.015, 0.04, 0.02, 0.03]  # cosine_decay_steps_ok
    raw = watched(curve(noisy, restart_at=7))
    assert phases.last_start(raw, noisy) == 0


def test_a_restart_above_a_fallen_curve_s_opening_is_a_new_phase_without_a_jump():
    from mlxprobe.judging import phases

    # adapter_reload_default_scale_ok: base train_ce 1.004 -> 0.899, the adapter stage's
    # epoch counter back at 5 with train_ce 1.041 (1.16x, no 2x jump)
    base, adapt = [1.004, 0.972, 0.948, 0.921, 0.899], [1.041, 1.022, 1.011, 1.002, 0.999]
    assert phases.last_start(watched(curve(base + adapt, restart_at=5)), base + adapt) == 5
    assert classify(watched(curve(base + adapt, restart_at=5))).kind == "pass"
    flat = [0.70, 0.68, 0.71, 0.69, 0.70, 0.72, 0.69, 0.70, 0.71, 0.70]  # never fell 5%
    assert phases.last_start(watched(curve(flat, restart_at=5)), flat) == 0


def test_a_set_up_phase_with_progress_lines_before_regular_training_is_not_that_leak():
    # the optimizer built first, then a data set tokenized with progress lines (memory
    # grows for good), a long first step, then regular training: a report per step
    records = [{"kind": "optimizer", "name": "AdamW", "t": 9.0}, *reports(8),
               {"kind": "eval_open", "since": 12.0, "where": "train.py:46", "t": 12.6},
               {"kind": "step", "source": "update", "step": 1, "t": 13.0}]
    for i in range(2, 12):
        records += [{"kind": "step", "source": "update", "step": i, "t": 13.0 + 0.2 * i},
                    {"kind": "progress", "source": "output", "step": i, "loss": 1.0,
                     "t": 13.1 + 0.2 * i}]
    assert classify(watched(records, samples(climbing))).detail != "unevaluated"


def test_a_gan_whose_losses_settle_at_their_equilibrium_is_not_judged_for_learning():
    # correct_gan_two_optimizers (fresh half): d_loss rises to ~ln 4 as both players learn
    lines = [{"kind": "progress", "source": "output", "step": 100 * i, "t": float(i),
              "loss": 1.31 + 0.004 * i, "loss_name": "d_loss"} for i in range(1, 21)]
    assert classify(watched(lines)).kind == "pass"
    plain = [{**r, "loss_name": "loss"} for r in lines]
    assert classify(watched(plain)).label == "not_learning:trend"


def test_a_validation_metric_nan_beside_a_finite_training_loss_is_an_empty_evaluation():
    lines = [{"kind": "progress", "source": "output", "step": 10 * i, "t": float(i),
              "loss": 1.0 - 0.02 * i, "metrics": {"val_loss": float("nan")}}
             for i in range(1, 12)]
    v = classify(watched(lines))
    assert v.label == "diverged:non_finite_metric" and v.hint == hints.NAN_HELD_OUT
    both = [{**r, "loss": float("nan")} for r in lines]  # training itself diverged
    assert classify(watched(both)).hint != hints.NAN_HELD_OUT


def first_look(step: int) -> dict:
    return {"kind": "params", "step": step, "updates": step, "look": 1, "leaves": 4,
            "compared": 0, "changed": 0, "unchanged": [], "unchanged_count": 0, "nonfinite": []}


def test_a_run_too_short_for_three_looks_is_judged_on_its_updates():
    """fresh18 grpo_stale_logprobs_no_grad: 0.5 s, one comparison across 271 updates in
    which no group moved; the same single comparison over 50 updates is not judged."""
    frozen = steps(300) + [first_look(2), look(273, None, ["a", "b"])]
    v = classify(watched(frozen))
    assert v.label == "no_update:params" and v.evidence["updates"] == 271
    assert "in 1 look from step 2 to 273" in v.reason
    short = steps(60) + [first_look(2), look(52, None, ["a", "b"])]
    assert classify(watched(short)).label != "no_update:params"
    moved = steps(300) + [first_look(2), look(273, None)]
    assert classify(watched(moved)).label != "no_update:params"


def test_a_negative_likelihood_that_fell_before_it_held_is_no_stall():
    """fresh62 omori_aftershock_bulletin: a converged MLE whose NLL per event went -1.084 ->
    -2.059 before its parameters stopped moving (a fall of 90% of its first value's
    magnitude); one that fell by a tenth of it is still a stall."""
    def held(first: float, level: float) -> list[dict]:
        return [{"kind": "progress", "source": "output", "step": s, "t": float(s),
                 "loss": first if s == 1 else level} for s in [1, *range(200, 2001, 200)]]
    looks = [look(1, None), look(480, 1e-3)] + [look(480 + 34 * i, 34 * 1.7e-8)
                                                for i in range(1, 45)]
    assert classify(watched(steps(2000) + held(-1.084, -2.059) + looks)).kind == "pass"
    assert classify(watched(steps(2000) + held(-1.084, -1.19) + looks)).label == \
        "not_learning:stalled"


def test_a_stall_after_another_printed_quantity_moved_and_held_is_a_converged_fit():
    """fresh63 lee_carter_cargo_log: a likelihood with a large constant, -7.762 -> -7.808,
    while its `deviance/cell` fell 191.8 -> 0.844 and held; a counter that keeps growing, or
    an R² that moved from -0.006 to 0 (adam_no_bias_correction's dead fit), is no such
    evidence."""
    def series(name: str, values: list[float]) -> list[dict]:
        return [{"kind": "progress", "source": "output", "step": 100 * (i + 1),
                 "t": float(i + 1), "loss": -7.80 - 0.001 * (i == 0), "loss_name": "loss",
                 "metrics": {name: v}} for i, v in enumerate(values)]
    looks = [look(1, None), look(480, 1e-3)] + [look(480 + 34 * i, 34 * 1.7e-8)
                                                for i in range(1, 45)]
    deviance = [191.8, 32.3, 0.864] + [0.844] * 9
    assert classify(watched(steps(2000) + series("deviance/cell", deviance) + looks)
                    ).kind == "pass"
    counter = [float(10 * (i + 1)) for i in range(12)]
    assert classify(watched(steps(2000) + series("tokens_seen", counter) + looks)).label == \
        "not_learning:stalled"
    r2 = [-0.006, -0.001] + [0.0] * 10
    assert classify(watched(steps(2000) + series("r2", r2) + looks)).label == \
        "not_learning:stalled"


def test_a_restart_above_every_report_of_a_flat_noisy_curve_is_a_new_phase():
    from mlxprobe.judging import phases

    # fresh188 haulrope_splice_wirecount: a curriculum stage over young ropes (train_nll flat
    # and noisy), then the whole fleet with `it` back at 1 and a harder NLL
    young = [1.1405, 0.9933, 0.9989, 1.0068, 1.0939, 1.0037, 1.0158, 0.984, 1.0754]
    fleet = [1.4596, 1.4807, 1.3773, 1.5579, 1.4669, 1.4576, 1.4795]
    raw = watched(curve(young + fleet, restart_at=len(young)))
    assert phases.last_start(raw, young + fleet) == len(young)
    assert classify(raw).kind == "pass"
    one_curve = watched(curve(young + fleet))  # no restart marked: one curve
    assert phases.last_start(one_curve, young + fleet) == 0
