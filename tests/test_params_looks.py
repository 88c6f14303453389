"""Parameter looks inside a watched program (`inside/params.py`): only what the program's
own eval evaluated is read, and a real MLX run with a part that never trains gets
`no_update:part` naming it while its fixed twin passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import pytest
from probe_records import Records

from mlxprobe.inside.params import ParamWatch, census, read_sample, stride_for

PROGRAM = Path(__file__).parent / "programs" / "frozen_part.py"



def test_only_the_arrays_the_eval_evaluated_are_read():
    model = nn.Linear(4, 4)
    mx.eval(model.parameters())
    sink = Records()
    watch = ParamWatch(sink)  # type: ignore[arg-type]
    watch.saw_model(model)
    watch.after_eval((model.parameters(),), {}, step=1)
    model.weight = model.weight * 2  # lazy: never passed to an eval below
    watch.next_at = 0.0
    watch.after_eval((model.bias,), {}, step=2)
    assert [r["leaves"] for r in sink.got] == [2, 1]
    assert sink.got[1]["compared"] == 1 and sink.got[1]["unchanged"] == ["bias"]


def test_a_sample_sees_non_finite_values_in_every_float_dtype():
    for dtype in (mx.float32, mx.float16, mx.bfloat16):
        values = mx.array([1.0] + [float("nan")] * 127).astype(dtype)  # a diverged tensor
        mx.eval(values)
        assert read_sample(values)[1] is False, dtype
        fine = mx.ones((128,), dtype=dtype)
        mx.eval(fine)
        assert read_sample(fine)[1] is True, dtype


def test_a_matrix_sample_spreads_over_its_columns():
    for rows, cols in ((64, 64), (64, 128), (256, 512), (5, 6), (64, 1)):
        stride = stride_for(rows * cols, (rows, cols))
        picked = range(0, rows * cols, stride)
        assert len({i % cols for i in picked}) >= min(cols, 32), (rows, cols, stride)
    assert stride_for(4096, (4096,)) == 128  # a vector has no columns


def test_a_square_matrix_sample_leaves_its_diagonal():
    for side in (36, 20, 50, 64):
        stride = stride_for(side * side, (side, side))
        picked = list(range(0, side * side, stride))
        diagonal = [i for i in picked if i // side == i % side]
        assert len(diagonal) <= 2, (side, stride)  # its corners; fresh358: stride 37 read 36


class BagOfWords(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(20_000, 32)
        self.out = nn.Linear(32, 2)


@pytest.mark.parametrize("table_sample, unchanged", [(1024, []), (32, ["emb"])])
def test_a_lookup_table_whose_data_uses_few_rows_is_seen_to_change(monkeypatch, table_sample,
                                                                    unchanged):
    """fresh6 `correct_sparse_vocab_rows`: 400 of 20,000 embedding rows train; 32 sampled
    values missed all of them (a false `no_update:part`), a table's 1024 do not."""
    monkeypatch.setattr("mlxprobe.inside.params.SAMPLE_TABLE", table_sample)
    model = BagOfWords()
    mx.eval(model.parameters())
    sink = Records()
    watch = ParamWatch(sink)  # type: ignore[arg-type]
    watch.saw_model(model, stepped=True)
    watch.after_eval((model.parameters(),), {}, step=1, updates=1)
    rows = mx.array(sorted(__import__("random").Random(0).sample(range(20_000), 400)))
    model.emb.weight = model.emb.weight.at[rows].add(0.01)
    model.out.weight = model.out.weight + 0.01
    mx.eval(model.parameters())
    watch.next_at = 0.0
    watch.after_eval((model.parameters(),), {}, step=2, updates=2)
    assert sink.got[1]["compared"] == 2 and sink.got[1]["unchanged"] == unchanged


def test_a_dead_units_column_is_not_the_whole_sample():
    weight = mx.zeros((64, 64))
    moved = weight + mx.concatenate([mx.zeros((64, 1)), mx.ones((64, 63))], axis=1)
    mx.eval(weight, moved)  # column 0 (a dead ReLU's weights) stays, the rest moved
    assert read_sample(weight)[0] != read_sample(moved)[0]


@pytest.mark.parametrize("variant, label", [("broken", "no_update:part"), ("fixed", "pass")])
def test_a_part_that_never_trains_is_named(tmp_path, variant, label):
    report = tmp_path / "r.json"
    subprocess.run([sys.executable, "-m", "mlxprobe.cli", "watch", "--no-status", "--json",
                    str(report), "--", sys.executable, str(PROGRAM), variant],
                   capture_output=True, timeout=300, check=False)
    import json

    run = json.loads(report.read_text())["runs"][0]
    got = run["verdict"] + (f":{run['detail']}" if run.get("detail") else "")
    assert got == label, run["reason"]
    if variant == "broken":
        assert run["evidence"]["never_changed"] == ["enc"]
        assert "meant to stay fixed" in run["hint"] and ".freeze()" in run["hint"]


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.out = nn.Linear(4, 4)


def test_a_model_only_copied_into_is_not_looked_at_once_an_optimizer_steps_another():
    """a11_unfreeze_keys_mismatch_ok (fresh11): a teacher of the same class, filled once by
    `teacher.update(model.parameters())`, was looked at beside the trained model, under the
    same `Tiny:` prefix, so the teacher's still weight read as stuck beside the model's
    moving bias."""
    model, teacher = Tiny(), Tiny()
    mx.eval(model.parameters(), teacher.parameters())
    sink = Records()
    watch = ParamWatch(sink)  # type: ignore[arg-type]
    watch.saw_model(teacher)  # Module.update by hand
    watch.saw_model(model, stepped=True)  # an optimizer's update
    watch.after_eval((model.parameters(), teacher.parameters()), {}, step=1, updates=1)
    assert sink.got[0]["leaves"] == 2  # the model's weight and bias, not the teacher's


def test_the_census_after_the_first_update_counts_a_model_frozen_after_its_first_eval():
    model = Tiny()
    mx.eval(model.parameters())
    sink = Records()
    watch = ParamWatch(sink)  # type: ignore[arg-type]
    watch.saw_model(model, stepped=True)
    watch.after_eval((model.parameters(),), {}, step=1, updates=0)
    model.freeze()
    model.out.unfreeze(keys=["bias"])
    watch.next_at = 0.0
    watch.after_eval((model.parameters(),), {}, step=2, updates=1)
    first, second = (r["census"][0] for r in sink.got)
    assert first["trainable_matrices"] == 1 and second["trainable_matrices"] == 0
    assert second["frozen_matrices"] == 1


class Adapted(nn.Module):
    """A base layer with LoRA factors, named as mlx-lm's `LoRALinear` names them."""

    def __init__(self, base: nn.Linear):
        super().__init__()
        self.base = base
        self.lora_a = mx.zeros((4, 2))
        self.lora_b = mx.zeros((2, 4))


def _watched(model: nn.Module) -> tuple[Records, ParamWatch]:
    mx.eval(model.parameters())
    sink = Records()
    watch = ParamWatch(sink)  # type: ignore[arg-type]
    watch.saw_model(model, stepped=True)
    return sink, watch


def _looked(watch: ParamWatch, model: nn.Module, step: int, updates: int) -> None:
    watch.next_at = 0.0
    watch.after_eval((model.parameters(),), {}, step=step, updates=updates)


def test_a_second_stage_gets_its_census_once_an_update_ran_on_its_new_trainables():
    """b13_lora_freeze_after_attach (fresh13): the base trains, then adapters are attached
    and `model.freeze()` freezes them too; the census taken in the first stage knew none."""
    model = Tiny()
    sink, watch = _watched(model)
    _looked(watch, model, 1, 0)
    _looked(watch, model, 2, 1)
    model.out = Adapted(model.out)
    model.freeze()
    mx.eval(model.parameters())
    _looked(watch, model, 3, 5)  # the set changed here: no update has run on it yet
    assert [bool(r.get("census")) for r in sink.got] == [True, True]
    _looked(watch, model, 4, 6)
    assert [bool(r.get("census")) for r in sink.got] == [True, True, True]
    adapters = sink.got[-1]["census"][0]["adapters"]
    assert adapters == {"count": 2, "trainable": 0,
                        "frozen_names": ["out.lora_a", "out.lora_b"]}


def test_a_model_frozen_after_its_last_update_keeps_the_census_it_trained_under():
    model = Tiny()
    sink, watch = _watched(model)
    _looked(watch, model, 1, 1)
    model.freeze()  # for evaluation: no optimizer update follows
    _looked(watch, model, 2, 1)
    _looked(watch, model, 3, 1)
    assert [bool(r.get("census")) for r in sink.got] == [True]


class Private(nn.Module):
    def __init__(self):
        super().__init__()
        self._layers = [nn.Linear(4, 8), nn.Linear(8, 3)]
        self._inv_freq = mx.ones((5,))  # a private buffer: not a module's weight
        self.temperature = mx.array(1.0)


def test_modules_under_private_attributes_are_counted_and_private_buffers_are_not():
    """a13_underscore_layers_constant (fresh13), mlx issue 141: `self._layers` is left out
    of parameters(), so its layers never train."""
    found = census(Private())
    assert found["hidden"] == {"_layers": 4 * 8 + 8 + 8 * 3 + 3}
    assert found["trainable_values"] == 1 and census(Tiny())["hidden"] == {}


class Tupled(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = (nn.Linear(4, 4), nn.Linear(4, 4))
        self.head = nn.Linear(4, 1)


def test_modules_kept_in_a_tuple_are_counted_as_hidden():
    """a14_tuple_blocks_skipped (fresh14): parameters() walks dicts and lists only."""
    found = census(Tupled())
    assert found["hidden"] == {"blocks": 2 * (16 + 4)} and found["trainable_values"] == 5


def test_a_stage_change_gets_its_census_before_the_next_look_is_due():
    """b15_frozen_head_reassigned (fresh15): the second stage's steps were fast, no look came
    after the one that saw the freeze; the census follows at its first update anyway."""
    model = Tiny()
    sink, watch = _watched(model)
    _looked(watch, model, 1, 0)
    _looked(watch, model, 2, 1)
    model.freeze()
    _looked(watch, model, 3, 5)
    watch.after_eval((model.parameters(),), {}, step=4, updates=6)  # within LOOK_EVERY_S
    assert sink.got[-1]["census"][0]["trainable_matrices"] == 0
    assert sink.got[-1]["census"][0]["frozen_names"] == ["out.weight"]


def test_a_freeze_noted_between_looks_gets_the_census_after_the_next_update():
    """`Module.freeze`/`unfreeze` are noted (inside/beats.patch_module_freezing): no look
    needs to see the new trainable set before its census."""
    model = Tiny()
    sink, watch = _watched(model)
    _looked(watch, model, 1, 1)
    model.freeze()
    watch.trainables_changed(updates=1)
    watch.after_eval((model.parameters(),), {}, step=2, updates=1)  # no update yet
    assert len(sink.got) == 1
    watch.after_eval((model.parameters(),), {}, step=3, updates=2)
    assert sink.got[-1]["census"][0]["frozen_names"] == ["out.weight"]


def _stepped_teacher() -> tuple[Records, ParamWatch, nn.Module, nn.Module]:
    """A teacher stepped once and looked at, and a second model not yet seen."""
    teacher, other = Tiny(), nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2))
    mx.eval(teacher.parameters(), other.parameters())
    sink = Records()
    watch = ParamWatch(sink)  # type: ignore[arg-type]
    watch.saw_model(teacher, stepped=True)
    watch.after_eval((teacher.parameters(),), {}, step=1, updates=1)
    return sink, watch, teacher, other


def test_the_model_stepped_last_is_the_one_the_census_judges():
    """fresh2 `correct_distillation`: a teacher trained, then frozen; the student, seen first
    updating itself (`nn.value_and_grad` calls its `update`), then stepped. The census led
    with the frozen teacher: a false `no_update:frozen_weights`. The two models' shapes
    differ: comparing them (a weakref's `==`) would raise inside the program."""
    sink, watch, teacher, student = _stepped_teacher()
    watch.saw_model(student)
    teacher.freeze()
    watch.trainables_changed(1)
    watch.saw_model(student, stepped=True)
    watch.next_at = 0.0
    watch.after_eval((student.parameters(),), {}, step=2, updates=2)
    lead = sink.got[-1]["census"][0]
    assert (lead["model"], lead["trainable_matrices"]) == ("Sequential", 2)


def test_a_model_updating_itself_is_censused_once_the_stepped_one_is_frozen_whole():
    """fresh300 `orchard_graft_cider_moe_ok`: a teacher stepped by AdamW, then frozen; its
    quantized copy's scales fitted by `q_model.update(params)` inside the loss and
    `apply_gradients` on a dict (mlx-lm's DWQ loop). The census read the frozen teacher: a
    false `no_update:frozen_weights`."""
    sink, watch, teacher, student = _stepped_teacher()
    teacher.freeze()
    watch.trainables_changed(1)
    watch.saw_model(student)  # `student.update(params)`: no optimizer steps a module
    watch.next_at = 0.0
    watch.after_eval((student.parameters(),), {}, step=2, updates=2)
    lead = sink.got[-1]["census"][0]
    assert (lead["model"], lead["trainable_matrices"]) == ("Sequential", 2)


def test_a_stepped_model_that_still_trains_keeps_the_census_over_one_updated_by_hand():
    sink, watch, teacher, other = _stepped_teacher()
    watch.saw_model(other)  # a hand update between steps (an EMA copy, a probe)
    watch.next_at = 0.0
    watch.after_eval((teacher.parameters(), other.parameters()), {}, step=2, updates=1)
    assert sink.got[-1]["leaves"] == 2 and sink.got[0]["census"][0]["model"] == "Tiny"


def test_a_model_trained_in_an_earlier_stage_is_not_compared_while_another_trains():
    """fresh43 `adapter_resume_name_ok`: session 1's model, still alive, was looked at
    beside session 2's, and its still leaves read as a part that never trained."""
    first, second = Tiny(), Tiny()
    mx.eval(first.parameters(), second.parameters())
    sink = Records()
    watch = ParamWatch(sink)  # type: ignore[arg-type]
    watch.saw_model(first, stepped=True)
    watch.after_eval((first.parameters(),), {}, step=1, updates=1)
    assert sink.got[-1]["leaves"] == 2
    watch.saw_model(second, stepped=True)  # the second stage: only `second` steps now
    watch.next_at = 0.0
    watch.after_eval((first.parameters(), second.parameters()), {}, step=2, updates=2)
    assert sink.got[-1]["leaves"] == 2  # second's weight and bias, not first's too
    watch.next_at = 0.0  # a look with no update since the last (a validation pass):
    watch.after_eval((first.parameters(), second.parameters()), {}, step=3, updates=2)
    assert sink.got[-1]["leaves"] == 4  # every model an optimizer stepped, as before


class Filtered(nn.Module):
    def __init__(self):
        super().__init__()
        self.front = nn.Linear(4, 8, bias=False)
        self.head = nn.Linear(8, 2)


def test_a_submodule_updated_by_itself_is_part_of_its_model_not_a_second_one():
    """fresh74 spindle_conv_fp16_master: a hand-written mixed-precision loop steps no module
    with an optimizer; it casts a frozen first layer with `model.front.update(...)`, then
    the whole model with `model.update(...)` at each step. The frozen layer, seen first,
    was censused as the trained model (`no_update:frozen_weights`)."""
    model = Filtered()
    model.front.freeze()
    mx.eval(model.parameters())
    sink = Records()
    watch = ParamWatch(sink)  # type: ignore[arg-type]
    watch.saw_model(model.front)
    watch.saw_model(model)
    _looked(watch, model, 1, 0)
    census_ = sink.got[0]["census"]
    assert len(census_) == 1 and census_[0]["model"] == "Filtered"
    assert census_[0]["trainable_matrices"] == 1 and census_[0]["frozen_matrices"] == 1
