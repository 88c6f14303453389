"""Rule units added from the fresh halves' misses (issue 21): float32 weight matrices that
never move while their own module's bias does (`no_update.stuck_weights`), optimizer updates
with no evaluation between them paid for in one long wait (`leak.lazy_backlog`), the
compile cache named in a memory verdict's fix, and progress lines with a step counter but
no named value. Each is checked on the shape that shows it and on the correct shapes near
it."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
from probe_records import Records

from mlxprobe.inside.compiles import recording
from mlxprobe.inside.params import ParamWatch
from mlxprobe.judging.verdict import classify
from mlxprobe.watching.facts import RawResult, Sample
from mlxprobe.watching.output import ProgressParser

MB = 1024 * 1024



def watched(records: list[dict], samples: list[Sample] = ()) -> RawResult:
    return RawResult(records=records, exit_code=0, watched=True, samples=list(samples))


def rss(points: list[tuple[float, float]]) -> list[Sample]:
    return [Sample(t=t, rss=int(mb * MB), cpu_s=0.0, procs=1, compiling=False)
            for t, mb in points]


def first_look(model: nn.Module) -> tuple[Records, ParamWatch]:
    """The model evaluated, watched as trained, and looked at once after that eval."""
    mx.eval(model.parameters())
    records = Records()
    watch = ParamWatch(records)  # type: ignore[arg-type]
    watch.saw_model(model, stepped=True)
    watch.after_eval((model.parameters(),), {}, step=1)
    return records, watch


def test_a_look_names_a_float32_weight_that_stayed_while_its_own_bias_moved():
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    records, watch = first_look(model)
    layer = model.layers[0]
    layer.update({"bias": layer.bias + 1.0})  # the weight stays: a rounding's zero gradient
    model.layers[1].update({"weight": model.layers[1].weight * 2.0})  # this weight moves
    mx.eval(model.parameters())
    watch.next_at = 0.0
    watch.after_eval((model.parameters(),), {}, step=2)
    assert records.got[-1]["stuck"] == ["layers.0.weight"]


def stuck_look(step: int, stuck: list[str]) -> dict:
    record = {"kind": "params", "step": step, "updates": step, "leaves": 4, "compared": 2,
              "changed": 2, "unchanged": [], "unchanged_count": 0, "nonfinite": []}
    return {**record, "stuck": stuck} if stuck else record


def steps(n: int) -> list[dict]:
    return [{"kind": "step", "source": "update", "step": i, "t": float(i)} for i in
            range(1, n + 1)]


def test_a_weight_stuck_at_every_look_is_no_update_naming_it_and_the_rounding_fix():
    records = steps(400) + [stuck_look(100 * i, ["fc1.weight"]) for i in range(1, 5)]
    v = classify(watched(records))
    assert (v.kind, v.detail) == ("no_update", "stuck_weights")
    assert v.evidence["stuck_weights"] == ["fc1.weight"]
    assert "straight-through" in v.hint and "mx.round" in v.hint


def test_a_weight_that_was_still_at_some_looks_only_is_not_stuck():
    # a sparse input (a bag of words) leaves a sampled slice still now and then, never always
    records = steps(400) + [stuck_look(100 * i, ["fc1.weight"] if i % 2 else [])
                            for i in range(1, 6)]
    assert classify(watched(records)).kind == "pass"


def updates(times: list[float], evals: list[int], gap_at: int, gap_s: float) -> list[dict]:
    return [{"kind": "step", "source": "update", "step": i + 1, "t": t, "evals": evals[i],
             "step_s": gap_s if i == gap_at else 0.0003} for i, t in enumerate(times)]


def lazy_epoch(evals: list[int], climb_mb: float) -> RawResult:
    """detr_never_eval_state's first epochs as measured: 1,000 updates of 0.3 ms, RSS
    climbing while they run, then one update waiting 4.9 s for the backlog."""
    times = [0.5 + 0.0005 * i for i in range(1000)] + [5.5 + 0.0005 * i for i in range(1000)]
    points = [(0.1 * k, 40 + climb_mb * min(1.0, 0.1 * k / 1.0)) for k in range(80)]
    return watched(updates(times, evals, 1000, 4.9), rss(points))


def test_updates_with_no_eval_between_them_and_a_long_wait_are_a_lazy_backlog():
    v = classify(lazy_epoch([1] * 2000, climb_mb=140))
    assert (v.kind, v.detail) == ("leak", "lazy_backlog")
    assert v.evidence["gap_s"] == 4.9 and v.evidence["updates_before"] == 1000
    assert "mx.eval" in v.hint and "optimizer.state" in v.hint


def test_a_wait_on_an_update_the_recorder_left_out_is_read_from_the_times_between():
    """fresh149 quillmere_lazy_mlp: one update in four kept, each 0.1-0.4 ms, and 1.2 s
    between the kept updates 4001 and 4005, where the one left out waited for the backlog."""
    run = lazy_epoch([1] * 2000, climb_mb=140)
    kept = [r for r in run.records if r.get("kind") != "step" or r["step"] % 4 == 1]
    for record in kept:
        if record.get("kind") == "step":
            record["step_s"] = 0.0003  # the waiting update is not among the kept ones
    v = classify(watched(kept, run.samples))
    assert (v.kind, v.detail) == ("leak", "lazy_backlog")
    assert v.evidence["updates"] == 1000 and v.evidence["gap_s"] == 4.5


def test_a_loop_that_evaluates_each_step_or_keeps_memory_flat_is_no_backlog():
    # each update followed by an mx.eval: the count grows, no stretch
    assert classify(lazy_epoch(list(range(2000)), climb_mb=140)).kind == "pass"
    # .item() each step and a long validation pass: no mx.eval, but RSS stays flat
    assert classify(lazy_epoch([1] * 2000, climb_mb=3)).kind == "pass"


def test_a_memory_verdict_names_the_compile_cache_when_the_program_compiles():
    n = 400
    records = [{"kind": "step", "source": "update", "step": i, "t": 0.05 * i}
               for i in range(1, n + 1)]
    points = [(0.05 * i, 60 + 0.2 * i) for i in range(n + 1)]
    plain = classify(watched(records, rss(points)))
    compiled = classify(watched(records + [{"kind": "compile", "where": "/x/train.py:38"}],
                                rss(points)))
    assert plain.kind == compiled.kind == "leak"
    assert "mx.compile" not in plain.hint
    assert "train.py:38" in compiled.hint and "shapeless" in compiled.hint


def test_a_compile_call_is_recorded_once_per_site_outside_the_mlx_package():
    records = Records()
    compile_ = recording(records, mx.compile, skip="/nonexistent/mlx/")  # type: ignore[arg-type]
    for _ in range(3):
        step = compile_(lambda x: x * 2)
    assert step(mx.array(2.0)).item() == 4.0
    assert len(records.got) == 1 and records.got[0]["kind"] == "compile"
    assert records.got[0]["where"].startswith(__file__ + ":")


def test_a_step_counter_with_an_unnamed_rate_is_progress_a_bare_counter_is_not():
    parser = ProgressParser()
    assert parser.parse("iter   1000 |       5446 it/s")["step"] == 1000
    assert parser.parse("Step 1: loading data") is None
    assert parser.parse("Python 3.11.7") is None


def reports(losses: list[float], acc: list[float] | None = None) -> list[dict]:
    out = []
    for i, loss in enumerate(losses):
        record = {"kind": "progress", "source": "output", "step": 10 * (i + 1),
                  "t": float(i), "loss": loss}
        if acc is not None:
            record["metrics"] = {"train_acc": acc[i]}
        out.append(record)
    return out


def test_a_loss_at_its_floor_or_an_accuracy_at_its_ceiling_is_never_not_learning():
    # fresh3's correct pooling twin: 0.067 then 0.000 at every epoch, train acc 1.000
    floor = reports([0.067] + [0.0] * 11)
    assert classify(watched(floor)).kind == "pass"
    # its DPO twin: the loss printed 0.0000 from its first report, reward accuracy 1.000
    ceiling = reports([0.0] * 10, acc=[1.0] * 10)
    assert classify(watched(ceiling)).kind == "pass"


def test_a_flat_loss_or_a_loss_zero_from_the_start_with_no_ceiling_is_still_judged():
    flat = reports([1.14, 1.12, 1.13, 1.12, 1.14, 1.13, 1.12, 1.13, 1.12, 1.13, 1.12, 1.12],
                   acc=[0.52] * 12)
    assert classify(watched(flat)).label == "not_learning:trend"
    zero = reports([0.0] * 12, acc=[0.31] * 12)  # a loss that never saw the labels
    assert classify(watched(zero)).label == "not_learning:trend"


def test_an_unknown_error_s_hint_quotes_its_message_which_often_says_the_fix():
    from mlxprobe.judging import hints

    text = hints.for_error("ValueError", "[foo] Bar failed. Use stop_gradient on baz.\nmore")
    assert "Use stop_gradient on baz." in text and "more" not in text


def test_a_model_training_in_bfloat16_gets_the_precision_fix_in_its_learning_hint():
    model = nn.Linear(8, 8)
    model.set_dtype(mx.bfloat16)
    records, watch = first_look(model)
    census = records.got[-1]["census"]
    assert census[0]["trainable_dtypes"] == {"bfloat16": 72}
    flat = reports([1.14, 1.12, 1.13, 1.12, 1.14, 1.13, 1.12, 1.13, 1.12, 1.13, 1.12, 1.12])
    v = classify(watched(flat + [records.got[-1]]))
    assert v.label == "not_learning:trend" and "bfloat16" in v.hint and "float32" in v.hint
    assert "bfloat16" not in classify(watched(flat)).hint


def test_a_step_counter_beside_bare_numbers_is_a_configuration_line_not_progress():
    # mlx-lm 0.32's banner: read as step 4, it shifted every later step (the soak saw it)
    assert ProgressParser().parse("│    batch · iters   4 · 60") is None
    assert ProgressParser().parse("Step 1/3: downloading model (2.1 GB)") is None
    assert ProgressParser().parse("step 40 (0.21 s)")["step"] == 40


def test_a_curriculum_whose_loss_jumps_where_its_stage_counter_changes_is_judged_per_stage():
    # fresh4's correct_curriculum_length as printed (seen after its score): JSON lines with
    # "stage" and "mse"; sequences double at reports 7 and 13
    mse = [0.0063, 0.00033, 6e-05, 3e-05, 3e-05, 2e-05, 0.00155, 0.00046, 0.00028, 0.00019,
           0.00016, 0.00045, 0.00646, 0.00052, 0.00055, 0.0011, 0.00037, 0.00054]
    stages = [0] * 6 + [1] * 6 + [2] * 6
    records = [{**r, "metrics": {"stage": s}} for r, s in zip(reports(mse), stages)]
    assert classify(watched(records)).kind == "pass"
    # the boundary is the counter the program prints, not the jump: a last stage that starts
    # 30x higher passes with its counter and, as one curve, is a spike past 10x the first
    # window's largest loss
    harder = mse[:12] + [v * 30 for v in mse[12:]]
    records = [{**r, "metrics": {"stage": s}} for r, s in zip(reports(harder), stages)]
    assert classify(watched(records)).kind == "pass"
    assert classify(watched(reports(harder))).kind == "diverged"


def test_an_idle_hang_after_a_thread_died_names_the_thread_and_its_exception():
    from mlxprobe.judging import hints

    stderr = ("Exception in thread Thread-1 (producer):\nTraceback (most recent call last):\n"
              '  File "train.py", line 30, in producer\n'
              "ValueError: cannot reshape array of size 12 into shape (16,3)\n")
    text = hints.thread_died(stderr)
    assert text is not None and "Thread-1 (producer): ValueError: cannot reshape" in text
    assert "queue.get(timeout" in text
    assert hints.thread_died("Traceback (most recent call last):\nValueError: x\n") is None


def test_a_thread_that_died_of_a_known_error_gets_that_errors_fix():
    from mlxprobe.judging import hints

    stderr = ("Exception in thread Thread-1 (metrics_logger):\nTraceback (most recent call "
              "last):\nRuntimeError: There is no Stream(cpu, 0) in current thread.\n")
    text = hints.thread_died(stderr)
    assert text is not None and "streams are per thread" in text and "mx.eval(loss)" in text


def test_a_flat_loss_of_a_program_that_compiles_names_the_random_state():
    # fresh5's compile_random_batch_frozen: the same frozen batch every step, its NLL creeping
    # up (0.747 -> 0.811); a level with noise is not judged (`program.noisy_level`)
    flat = [0.75 + 0.005 * i + 0.002 * ((i * 7) % 5) for i in range(12)]
    records = [*reports(flat), {"kind": "compile", "where": "/x/train.py:38", "t": 0.0}]
    verdict = classify(watched(records))
    assert verdict.label == "not_learning:trend" and "mx.random.state" in verdict.hint
    assert "train.py:38" in verdict.hint
    assert "mx.random.state" not in classify(watched(reports(flat))).hint


def test_a_look_names_groups_whose_weight_matrix_is_all_zero():
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 2))
    model.layers[0].update({"weight": mx.zeros((8, 8))})
    records, watch = first_look(model)
    assert records.got[-1]["zero_groups"] == ["layers.0"]


def part_look(step: int, zero: list[str]) -> dict:
    return {"kind": "params", "step": step, "updates": step, "leaves": 4, "compared": 2,
            "changed": 1, "unchanged": ["layers.0"], "unchanged_count": 1, "nonfinite": [],
            "zero_groups": zero}


def test_a_part_that_never_trains_with_zero_weights_is_told_of_the_initialiser():
    verdict = classify(watched([part_look(s, ["layers.0"]) for s in (10, 20, 30, 40)]))
    assert verdict.label == "no_update:part" and "nn.init.constant" in verdict.hint
    assert verdict.evidence["all_zero_weights"] == ["layers.0"]
    plain = classify(watched([part_look(s, []) for s in (10, 20, 30, 40)]))
    assert "nn.init.constant" not in plain.hint


def test_a_part_that_never_trains_in_a_float16_model_names_the_update_lost_to_rounding():
    """fresh22's geglu (its ok twin): a zero-initialised float16 position table whose Adam
    updates round to 0 (measured, see hints.LOW_PRECISION_PART)."""
    census = {"model": "PatchNet", "trainable_dtypes": {"float16": 31000, "float32": 0},
              "trainable_matrices": 5, "frozen_matrices": 0, "frozen_quantized": 0}
    looks = [part_look(s, ["layers.0"]) for s in (10, 20, 30, 40)]
    looks[0]["census"] = [census]
    verdict = classify(watched(looks))
    assert verdict.label == "no_update:part" and "trains in float16" in verdict.hint
    assert verdict.hint.index("float32 master weights") < verdict.hint.index("nn.init.constant")
    # fresh35's halfprec_rmsnorm: float16's other way to stop a part, an overflow on its path
    assert "rsqrt(inf) = 0" in verdict.hint
    census["trainable_dtypes"] = {"bfloat16": 31000, "float32": 0}
    bfloat16 = classify(watched(looks)).hint
    assert "trains in bfloat16" in bfloat16 and "rsqrt(inf)" not in bfloat16
    assert "trains in float16" not in classify(watched(
        [part_look(s, ["layers.0"]) for s in (10, 20, 30, 40)])).hint


def test_a_part_that_never_trains_in_a_program_that_checkpoints_names_the_checkpoint():
    records = [part_look(s, []) for s in (10, 20, 30, 40)] + [
        {"kind": "compile", "where": "/x/train.py:35", "call": "checkpoint", "t": 0.0}]
    verdict = classify(watched(records))
    assert "mlx.nn.utils.checkpoint" in verdict.hint and "train.py:35" in verdict.hint


def test_only_the_programs_own_checkpoint_calls_are_recorded():
    import types

    calls = Records()
    core = types.SimpleNamespace(__file__=mx.__file__, compile=mx.compile,
                                 checkpoint=mx.checkpoint)
    from mlxprobe.inside.compiles import patch_compile

    patch_compile(calls, core)  # type: ignore[arg-type]
    core.checkpoint(lambda x: x * 2)
    assert [r["call"] for r in calls.got] == ["checkpoint"]


def test_a_look_before_the_models_are_all_known_does_not_hide_a_part_that_never_trains():
    early = {**part_look(1, []), "compared": 5, "changed": 5, "unchanged": [],
             "unchanged_count": 0}  # another set of groups: the encoder was not compared
    later = [{**part_look(s, []), "compared": 19, "changed": 17,
              "unchanged": ["Model:cond.net"]} for s in (8, 14, 20, 25)]
    verdict = classify(watched([early, *later]))
    assert verdict.label == "no_update:part" and verdict.evidence["looks"] == 4


def test_a_compile_made_while_a_module_is_imported_is_not_a_compile_site(tmp_path, monkeypatch):
    import importlib
    import types

    from mlxprobe.inside.compiles import patch_compile

    package = tmp_path / "fakemlx"  # stands for the mlx package: mlx.nn compiles at import
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "activations.py").write_text(
        "import builtins\nbuiltins._core.compile(lambda x: x)\n")
    calls = Records()
    core = types.SimpleNamespace(__file__=str(package / "__init__.py"), compile=mx.compile,
                                 checkpoint=mx.checkpoint)
    patch_compile(calls, core)  # type: ignore[arg-type]
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("builtins._core", core, raising=False)
    importlib.import_module("fakemlx.activations")  # the program's `import mlx.nn`
    assert calls.got == []
    core.compile(lambda x: x * 2)  # the program's own call
    assert [r["call"] for r in calls.got] == ["compile"]


def after_the_loop(climb_mb: float, report: dict) -> RawResult:
    """swallowed_cache_clear_skips_eval as measured: 1,500 updates of 0.5 ms, no mx.eval
    in the whole run (it sat behind a call that raised inside a try), RSS climbing while
    they ran, a `step 1500` line with no number, then the first valued report 6.2 s later."""
    times = [0.2 + 0.0005 * i for i in range(1500)]
    records = updates(times, [0] * 1500, -1, 0.0)
    records += [{"kind": "progress", "source": "output", "step": 1500, "t": 0.96},
                {**report, "t": 7.2}, {"kind": "exiting", "t": 7.21}]
    points = [(0.1 * k, 30 + climb_mb * min(1.0, 0.1 * k / 1.0)) for k in range(80)]
    return watched(records, rss(points))


def test_a_backlog_paid_after_the_loop_is_a_lazy_backlog_that_says_no_eval_ran():
    report = {"kind": "progress", "source": "output", "step": 1500, "metrics": {"mse": 0.1}}
    v = classify(after_the_loop(240, report))
    assert (v.kind, v.detail) == ("leak", "lazy_backlog")
    assert v.evidence["after_the_loop"] and v.evidence["never_evaluated"]
    assert v.evidence["gap_s"] == 6.25 and "try" in v.hint and "except" in v.hint


def test_a_long_wait_after_the_loop_with_flat_memory_is_no_backlog():
    report = {"kind": "progress", "source": "output", "step": 1500, "metrics": {"mse": 0.1}}
    assert classify(after_the_loop(3, report)).detail != "lazy_backlog"


def by_hand(climb_mb: float, evals: bool) -> RawResult:
    """never_eval_param_list as measured: a loop that updates a parameter list by hand (no
    optimizer), 12 `iter N | it/s` reports in 1.2 s while RSS climbs, then the final
    `.item()` computes the backlog for 6.9 s and the run ends."""
    records = [{"kind": "progress", "source": "output", "step": 1000 * (i + 1),
                "t": 0.2 + 0.1 * i} for i in range(12)]
    records += [{"kind": "progress", "source": "output", "step": 12000, "loss": 0.47,
                 "t": 8.1}, {"kind": "exiting", "t": 8.11}]
    if evals:  # an mx.eval between the reports: the loop evaluates
        records += [{"kind": "step", "source": "eval", "step": 1000 * (i + 1),
                     "t": 0.25 + 0.1 * i, "evals": i + 1} for i in range(12)]
    points = [(0.1 * k, 38 + climb_mb * min(1.0, 0.1 * k / 1.4)) for k in range(82)]
    return watched(sorted(records, key=lambda r: r["t"]), rss(points))


def test_a_loop_by_hand_that_never_evaluates_while_memory_climbs_is_unevaluated():
    v = classify(by_hand(700, evals=False))
    assert (v.kind, v.detail) == ("leak", "unevaluated")
    assert v.evidence["growth_mb"] >= 600


def test_a_loop_by_hand_that_evaluates_or_keeps_memory_flat_is_not_unevaluated():
    assert classify(by_hand(700, evals=True)).detail != "unevaluated"
    assert classify(by_hand(3, evals=False)).detail != "unevaluated"


def test_an_idle_optimizer_quotes_the_error_the_program_printed_and_went_on_from():
    """fresh23's GRPO: `nn.value_and_grad(..., has_aux=True)` raised at every step inside an
    `except Exception` that printed it and returned a zero loss."""
    line = "TypeError: value_and_grad() got an unexpected keyword argument 'has_aux'"
    tail = "\n".join(["Training step failed", "Traceback (most recent call last):",
                      '  File "/x/grpo.py", line 80, in step', line] * 3)
    records = [{"kind": "optimizer", "name": "Adam", "t": 0.0},
               *reports([0.0] * 12)]
    raw = RawResult(records=records, exit_code=0, watched=True, stderr_tail=tail)
    verdict = classify(raw)
    assert verdict.label == "no_update:optimizer_idle"
    assert f"`{line}` (3x" in verdict.hint and "`has_aux=` is JAX's" in verdict.hint
    quiet = classify(watched(records))
    assert quiet.label == "no_update:optimizer_idle" and "printed" not in quiet.hint


def frozen_look(step: int) -> dict:
    return {"kind": "params", "step": step, "updates": step, "leaves": 4, "compared": 2,
            "changed": 0, "unchanged": ["fc1", "fc2"], "unchanged_count": 2, "nonfinite": []}


def test_a_compiled_program_whose_parameters_never_move_names_the_optimizer_state():
    """fresh29's compiled_warmup_schedule_frozen: `inputs=[model.state]` only, a warm-up from
    0 traced once, no parameter moved in 400 steps."""
    looks = [frozen_look(s) for s in (10, 20, 30, 40)]
    compiled = classify(watched(looks + [{"kind": "compile", "where": "/x/train.py:62"}]))
    assert compiled.label == "no_update:params"
    assert compiled.hint.startswith("the program compiles (train.py:62)")
    assert "optimizer.state" in compiled.hint
    assert not classify(watched(looks)).hint.startswith("the program compiles")


def test_a_part_whose_every_vector_stood_still_while_matrices_moved_names_a_matrix_only_step():
    """fresh139 `pyranometer_offset_muon`: a Muon step returns every non-matrix parameter
    unchanged (mlx-optimizers 4ec812d routes them to an alternate Adam)."""
    looks = [{**part_look(s, []), "vectors": [0, 4], "matrices": [2, 2]} for s in (10, 20, 30)]
    verdict = classify(watched(looks))
    assert verdict.label == "no_update:part" and "alternate optimizer (Adam)" in verdict.hint
    moved = [{**look, "vectors": [1, 4]} for look in looks]  # a bias moved once: not matrices only
    assert "alternate optimizer" not in classify(watched(moved)).hint


def test_a_look_counts_the_vectors_and_matrices_that_moved():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 1))
    records, watch = first_look(model)
    model.update({"layers": [{"weight": model.layers[0].weight + 1}, {}]})
    mx.eval(model.parameters())
    watch.next_at = 0.0
    watch.after_eval((model.parameters(),), {}, step=2)
    assert (records.got[-1]["vectors"], records.got[-1]["matrices"]) == ([0, 2], [1, 2])
