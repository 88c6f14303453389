"""The rule units on general evidence (issue 21): metrics of any name (`judging.metrics`),
parameter looks (`judging.params`), the shape of memory (`judging.memory_shape`), the
trajectory-chosen fix for a divergence, and the rules that fired listed in the evidence."""

from __future__ import annotations

from mlxprobe.judging import hints, memory_shape
from mlxprobe.judging.verdict import classify, rulebook
from mlxprobe.watching.facts import RawResult


def watched(records: list[dict]) -> RawResult:
    return RawResult(records=records, exit_code=0, watched=True)


def line(step: int, **metrics) -> dict:
    return {"kind": "progress", "source": "output", "step": step, "t": float(step),
            "metrics": metrics}


def look(step: int, compared: int, unchanged: list[str], nonfinite: list[str] = ()) -> dict:
    return {"kind": "params", "step": step, "look": step, "leaves": 2 * compared,
            "compared": compared, "changed": compared - len(unchanged),
            "unchanged": unchanged, "unchanged_count": len(unchanged),
            "nonfinite": list(nonfinite), "cost_us": 120.0}


def test_a_metric_of_any_name_that_stays_nan_is_diverged_and_named():
    records = [line(i, stress=0.8 - 0.01 * i) for i in range(1, 4)]
    records += [line(i, stress="nan") for i in range(4, 12)]
    v = classify(watched(records))
    assert (v.kind, v.detail) == ("diverged", "non_finite_metric")
    assert v.evidence["metric"] == "stress" and v.evidence["first_step"] == 4
    assert v.hint == hints.NAN_SUDDEN  # finite and falling before: an undefined op
    assert v.evidence["rules"][0] == {"rule": "diverged.metric", "signal": "metrics",
                                      "verdict": "diverged:non_finite_metric"}


def test_one_transient_inf_among_finite_reports_is_not_a_divergence():
    records = [line(i, grad_norm=1.0) for i in range(1, 20)]
    records[5] = line(6, grad_norm="inf")
    assert classify(watched(records)).kind == "pass"


def test_a_rate_that_is_inf_is_never_a_divergence():
    records = [line(i, **{"tokens/sec": "inf"}) for i in range(1, 20)]
    assert classify(watched(records)).kind == "pass"


def test_a_value_that_grew_then_went_nan_gets_the_learning_rate_fix():
    assert hints.for_non_finite([1.0, 3.0, 50.0]) == hints.NAN_GROWTH
    assert hints.for_non_finite([1.0, 0.9, 0.8]) == hints.NAN_SUDDEN


def test_a_group_that_never_changes_while_others_do_is_no_update_naming_it():
    records = [look(10 * i, 3, ["enc"]) for i in range(1, 5)]
    v = classify(watched(records))
    assert (v.kind, v.detail) == ("no_update", "part")
    assert v.evidence["never_changed"] == ["enc"] and "enc" in v.hint


def test_a_run_too_short_for_three_looks_names_a_part_still_over_100_updates():
    """Two comparisons that together span >= 100 optimizer updates from the first look, the
    other groups moving at each: the part is named, as `no_update.params` judges a short
    run (fresh13 b13_moe_router_stop_gradient: 0.8 s, looks at steps 2, 385 and 777)."""
    def at(step: int, updates: int, unchanged: list[str], compared: int = 5) -> dict:
        return {**look(step, compared, unchanged), "updates": updates}

    short = [at(2, 1, [], compared=0), at(385, 384, ["gate"]), at(777, 776, ["gate"])]
    v = classify(watched(short))
    assert v.label == "no_update:part" and v.evidence["never_changed"] == ["gate"]
    assert v.evidence["updates"] == 775 and v.evidence["min_updates"] == 100
    few = [at(2, 1, [], compared=0), at(40, 39, ["gate"]), at(80, 79, ["gate"])]
    assert classify(watched(few)).kind == "pass"  # 78 updates: not judged
    moved = [at(2, 1, [], compared=0), at(385, 384, ["gate"]), at(777, 776, [])]
    assert classify(watched(moved)).kind == "pass"  # the gate moved at the second look


def test_a_final_evaluation_in_other_units_is_not_a_point_of_the_loss():
    """fresh40 nnue_cp_scale_ok: 11 reports of `train_loss` 0.086 -> 0.00072, then `eval
    check: centipawn MAE=247.4` (a loss-like name, no position) read as a loss spike."""
    def loss(step: int, value: float, name: str) -> dict:
        return {"kind": "progress", "source": "output", "step": step, "t": float(step),
                "loss": value, "loss_name": name}

    run = [loss(i, 0.086 * 0.6 ** i, "train_loss") for i in range(11)]
    v = classify(watched([*run, loss(11, 247.4, "mae")]))
    assert v.kind == "pass" and v.evidence["loss_values"] == 11 and "0.0005" in v.reason
    second = [loss(20 + i, 2.0 - 0.1 * i, "ft_loss") for i in range(5)]  # a curve of its own
    assert len(RawResult(records=[*run, *second], exit_code=0, watched=True).learning) == 16


def test_nothing_changing_at_all_is_no_update_params():
    v = classify(watched([look(10 * i, 2, ["a", "b"]) for i in range(1, 5)]))
    assert (v.kind, v.detail) == ("no_update", "params")


def test_a_group_frozen_for_a_while_then_trained_is_not_no_update():
    records = [look(10, 2, ["enc"]), look(20, 2, ["enc"]), look(30, 2, []), look(40, 2, [])]
    assert classify(watched(records)).kind == "pass"


def test_too_few_looks_or_steps_are_not_judged():
    assert classify(watched([look(10, 2, ["a", "b"]), look(20, 2, ["a", "b"])])).kind == "pass"
    few_steps = [look(10 + i, 2, ["a", "b"]) for i in range(4)]
    assert classify(watched(few_steps)).kind == "pass"


def test_non_finite_parameters_are_diverged_not_frozen():
    records = [look(10 * i, 2, ["a", "b"], nonfinite=["a", "b"]) for i in range(1, 5)]
    v = classify(watched(records))
    assert (v.kind, v.detail) == ("diverged", "non_finite_params")


def test_every_rule_states_its_signal_threshold_and_source():
    for rule in rulebook():
        assert rule.signal in ("metrics", "params", "memory", "stacks", "errors", "exit",
                               "records"), rule.name
        assert rule.threshold and rule.source, rule.name


def test_memory_shapes():
    climb = [(float(i), 50.0 + i) for i in range(100)]
    assert memory_shape.describe(climb)["shape"] == "climb"
    growing = [(float(i), 50.0 + (i % 10) * 10 + i * 0.5) for i in range(100)]
    found = memory_shape.describe(growing)
    assert found["shape"] == "saw-tooth, peaks growing" and found["teeth"] == 7
    bounded = [(float(i), 50.0 + (i % 10) * 10) for i in range(100)]
    assert memory_shape.describe(bounded)["shape"] == "saw-tooth, flat peaks"
    assert memory_shape.describe([(float(i), 50.0 + (i % 3)) for i in range(100)])["shape"] \
        == "flat"
    assert memory_shape.describe(climb[:5]) is None


def test_memory_climbing_over_time_in_a_run_with_few_steps_is_a_leak():
    from mlxprobe.watching.facts import Sample

    mb = 1024 * 1024
    samples = [Sample(t=i * 0.1, rss=int((100 + 0.5 * i) * mb), cpu_s=0.0, procs=1,
                      compiling=False) for i in range(200)]
    raw = RawResult(records=[line(1, loss=1.0)], exit_code=0, watched=True, samples=samples)
    v = classify(raw)
    assert (v.kind, v.detail) == ("leak", "rss_over_time")
    flat = [Sample(t=i * 0.1, rss=int((100 + (i % 3)) * mb), cpu_s=0.0, procs=1,
                   compiling=False) for i in range(200)]
    assert classify(RawResult(records=[line(1, loss=1.0)], exit_code=0, watched=True,
                              samples=flat)).kind == "pass"


def test_memory_that_climbs_only_before_the_first_update_is_start_up_not_a_leak():
    # a short run under load whose imports and model load outlast a fifth of it: RSS climbs
    # until training begins at 80% of the run, then too little of it is left to judge
    from mlxprobe.watching.facts import Sample

    mb = 1024 * 1024
    samples = [Sample(t=i * 0.1, rss=int((31 + 0.5 * min(i, 170)) * mb), cpu_s=0.0, procs=1,
                      compiling=False) for i in range(200)]
    update = {"kind": "step", "source": "update", "step": 1, "t": 16.05}
    raw = RawResult(records=[update, line(1, loss=1.0)], exit_code=0, watched=True,
                    samples=samples)
    assert classify(raw).detail != "rss_over_time"
    early = {**update, "t": 1.0}  # training began early: the same climb is the leak
    raw = RawResult(records=[early, line(1, loss=1.0)], exit_code=0, watched=True,
                    samples=samples)
    assert classify(raw).detail == "rss_over_time"


def test_memory_that_climbs_beside_a_part_that_never_moves_is_the_leak():
    """A part that never moves may be fixed on purpose (a backbone a hand-written update
    skips); memory that climbs ends the run whatever was meant: the leak decides and the
    part is listed among the rules that fired (fresh39 frozen_gradbuf_leak)."""
    from mlxprobe.watching.facts import Sample

    mb = 1024 * 1024
    samples = [Sample(t=i * 0.1, rss=int((100 + 0.5 * i) * mb), cpu_s=0.0, procs=1,
                      compiling=False) for i in range(200)]
    looks = [look(10 * i, 3, ["backbone"]) for i in range(1, 5)]
    v = classify(RawResult(records=looks, exit_code=0, watched=True, samples=samples))
    assert v.kind == "leak"
    assert {"rule": "no_update.part", "signal": "params", "verdict": "no_update:part"} in \
        v.evidence["rules"]
    assert classify(watched(looks)).label == "no_update:part"  # memory flat: the part decides


def test_memory_that_climbs_only_while_a_compiler_runs_is_not_a_leak():
    """g++ in the tree and each kernel MLX loads add RSS while it compiles (a cold compile
    child climbed 17 MB over 26 s of g++ at a load average of 20): judged after it."""
    from mlxprobe.watching.facts import Sample

    mb = 1024 * 1024
    samples = [Sample(t=i * 0.1, rss=int((100 + 0.5 * min(i, 260)) * mb), cpu_s=0.0,
                      procs=2 if i < 260 else 1, compiling=i < 260) for i in range(300)]
    raw = RawResult(records=[line(1, loss=1.0)], exit_code=0, watched=True, samples=samples)
    assert classify(raw).kind == "pass"


def test_a_run_that_ends_in_its_warm_up_and_learns_little_is_not_learning():
    """The learning rate rose at every report to the end while the loss fell 2% (the dev
    corpus' warm-up counted in samples); a run that learns during its warm-up, a constant
    small rate, and a decaying schedule are never flagged."""
    def run(rates, losses):  # as the output parser makes them from `lr=.. ppl=..` lines
        return RawResult(records=[{**line(i + 1, learning_rate=r), "loss": p,
                                   "loss_name": "ppl"}
                                  for i, (r, p) in enumerate(zip(rates, losses))],
                         exit_code=0, watched=True)

    rising = [1.2e-6 * (i + 1) for i in range(13)]
    slow = [11.25 - 0.02 * i for i in range(13)]
    v = classify(run(rising, slow))
    assert v.label == "not_learning:lr_warmup" and "warm-up" in v.hint
    assert classify(run(rising, [11.0 * 0.9 ** i for i in range(13)])).kind == "pass"
    assert classify(run([1e-5] * 13, slow)).kind == "pass"
    assert classify(run(list(reversed(rising)), slow)).kind == "pass"


def test_memory_that_climbs_as_processes_join_the_tree_is_not_a_leak():
    """A launcher's ranks start one by one under load, each adding its imports to the
    tree's RSS: judged only once the tree's processes stopped changing."""
    from mlxprobe.watching.facts import Sample

    mb = 1024 * 1024
    samples = [Sample(t=i * 0.1, rss=int((100 + 0.4 * min(i, 250)) * mb), cpu_s=0.0,
                      procs=1 + i // 50 if i < 250 else 6, compiling=False)
               for i in range(290)]
    raw = RawResult(records=[line(1, loss=1.0)], exit_code=0, watched=True, samples=samples)
    assert classify(raw).kind == "pass"


def _progress(losses, **metrics):
    return RawResult(records=[{**line(i + 1, **{k: v[i] for k, v in metrics.items()}),
                               "loss": x} for i, x in enumerate(losses)],
                     exit_code=0, watched=True)


def test_a_surrogate_loss_that_crosses_zero_is_never_judged_for_learning():
    """A policy-gradient loss (held-out corpus: noisy around 0, both signs) is not a
    quantity that must fall: a relative change against a first value near 0 means nothing."""
    pg = [-0.3956, -0.0007, -0.0021, 0.0032, -0.0008, -0.0215, 0.0006, 0.0004, 0.002,
          -0.001, 0.003, 0.0041]
    assert classify(_progress(pg)).kind == "pass"


def test_a_rising_reward_is_learning_whatever_the_loss_does():
    flat = [1.0 + 0.01 * (i % 3) for i in range(14)]
    rising = [0.2 + 0.05 * i for i in range(14)]
    assert classify(_progress(flat, reward=rising)).kind == "pass"
    assert classify(_progress(flat, reward=[0.1] * 14)).label == "not_learning:trend"


def test_a_reward_that_rose_before_its_second_report_and_held_is_learning():
    """fresh23's GRPO twin: the reward, a mean over 60 steps, 0.588 then 0.860-0.867; a flat
    GRPO loss. A noisy reward whose first report is merely low is not enough."""
    flat = [0.025 + 0.001 * (i % 3) for i in range(20)]
    held = [0.588] + [0.860 + 0.002 * (i % 4) for i in range(19)]
    passed = classify(_progress(flat, reward=held))
    assert passed.kind == "pass" and "`reward` rose (0.588 -> 0.863" in passed.reason
    noisy = [0.30] + [(0.33, 0.35, 0.32, 0.34, 0.36)[i % 5] for i in range(19)]
    assert classify(_progress(flat, reward=noisy)).label == "not_learning:trend"
    dipped = [0.588] + [0.860] * 14 + [0.55] + [0.860] * 4  # a last third that fell below
    assert classify(_progress(flat, reward=dipped)).label == "not_learning:trend"


def test_a_learning_rate_that_becomes_nan_names_the_schedule():
    """a10_warmup_equals_iters_nan_lr: warm-up as long as the run, a cosine decay of 0 steps:
    the learning rate and then the validation loss are NaN."""
    records = [line(50, learning_rate=1e-3, val_loss=0.4),
               line(100, learning_rate="nan", val_loss="nan")]
    v = classify(watched(records))
    assert (v.kind, v.detail) == ("diverged", "non_finite_metric")
    assert v.hint == hints.NAN_SCHEDULE and "warm-up" in v.hint


def test_a_loss_nan_under_an_optimizer_stepped_with_eps_zero_names_eps():
    """b10_adam_eps_zero: AdamW(eps=0.0), an embedding row whose gradient is 0: 0/0."""
    settings = {"bias_correction": False, "betas": [0.9, 0.999], "eps": 0.0}
    records = [{"kind": "optimizer", "name": "AdamW", "settings": settings, "t": 0.0}]
    records += [{"kind": "progress", "source": "output", "step": 50 * i, "t": float(i),
                 "loss": "nan", "metrics": {"nll": "nan"}, "loss_name": "nll"}
                for i in range(1, 13)]
    records += [{"kind": "step", "source": "update", "step": 50 * i, "t": i - 0.5}
                for i in range(1, 13)]
    records.sort(key=lambda r: r["t"])
    v = classify(watched(records))
    assert (v.kind, v.detail) == ("diverged", "non_finite") and v.hint == hints.NAN_EPS_ZERO
    records[0]["settings"] = {**settings, "eps": 1e-8}
    assert classify(watched(records)).hint != hints.NAN_EPS_ZERO


def _stepped(rss_mb) -> RawResult:
    """650 step heartbeats 20 ms apart, RSS sampled every 100 ms from `rss_mb(step)`."""
    from mlxprobe.watching.facts import Sample

    records = [{"kind": "step", "step": s, "t": 0.02 * s, "source": "update"}
               for s in range(1, 651)]
    samples = [Sample(t=0.1 * i, rss=int(rss_mb(max(1, 5 * i)) * 1024 * 1024), cpu_s=0.0,
                      procs=1, compiling=False) for i in range(131)]
    return RawResult(records=records, exit_code=0, watched=True, samples=samples)


def test_memory_that_grew_in_stages_and_held_for_the_last_fifth_is_a_cap_not_a_leak():
    """fresh74 bracket_depth_curriculum (correct): sequences of 6, 12, 24, then 40 tokens;
    RSS rose in a step at each stage and held flat for the last quarter of the run. A leak
    whose steps go on to the end (fresh17 trainer_step_never_evaluated: +49 MB every 50
    steps) is still one."""
    def curriculum(step: int) -> float:  # as measured: MB from each stage's first step on
        return next(mb for start, mb in ((500, 57.0), (450, 51.0), (350, 43.0), (300, 39.5),
                                         (150, 35.9), (0, 30.0)) if step >= start)

    assert classify(_stepped(curriculum)).kind == "pass"
    assert classify(_stepped(lambda step: 30.0 + 9.0 * (step // 50))).kind == "leak"
