"""`watching/evaluation`: a busy stall in one MLX evaluation is extended while it lasts no
longer than the time from the first heartbeat to it; an idle stall, a stall with no MLX frame
on the native main thread, a stall before any heartbeat, and one past the allowance are not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mlxprobe.watching.evaluation import FACTOR, LongEvaluation
from mlxprobe.watching.native_frames import in_mlx

IN_MLX = '''Process 7: python train.py
Thread 7 (active+gil): "MainThread"
    mlx::core::eval_impl (libmlx.so)
    <module> (train.py:76)
Thread 9 (idle): "mlxprobe-lifeline"
'''
IN_PYTHON = IN_MLX.replace("mlx::core::eval_impl (libmlx.so)", "permutation (numpy/x.so)")
BUSY, IDLE = (1.0, 1.0), (0.0, 0.0)


def test_a_final_evaluation_after_a_minute_of_training_is_extended_then_held():
    look = LongEvaluation()  # first step at 0 s, last sign at 60 s
    assert look.allows((640, 9), 60.0, 0.0, 70.0, BUSY, IN_MLX)
    assert look.evidence == {"inside_evaluation_s": 10.0, "worked_before_s": 60.0,
                             "factor": FACTOR}
    # later looks of the same stall keep its start, though the runner moved its clock
    assert look.allows((640, 9), 75.0, 0.0, 119.0, BUSY, IN_MLX)
    assert not look.allows((640, 9), 115.0, 0.0, 121.0, BUSY, IN_MLX)
    assert look.evidence["inside_evaluation_s"] == 61.0


def test_a_backlog_after_quick_steps_an_idle_wait_or_python_are_held():
    assert not LongEvaluation().allows((500, 0), 0.1, 0.0, 10.0, BUSY, IN_MLX)
    assert not LongEvaluation().allows((640, 9), 60.0, 0.0, 70.0, IDLE, IN_MLX)
    assert not LongEvaluation().allows((640, 9), 60.0, 0.0, 70.0, BUSY, IN_PYTHON)
    assert not LongEvaluation().allows((0, 0), 60.0, None, 70.0, BUSY, IN_MLX)
    assert not in_mlx("")


def test_a_new_sign_starts_a_new_stall():
    look = LongEvaluation()
    assert not look.allows((10, 0), 1.0, 0.0, 12.0, BUSY, IN_MLX)
    assert look.allows((11, 0), 30.0, 0.0, 40.0, BUSY, IN_MLX)


@given(worked=st.floats(0.0, 1e4), inside=st.floats(0.0, 1e4))
def test_extended_exactly_while_inside_is_within_the_work_before(worked, inside):
    look = LongEvaluation()
    allowed = look.allows((1, 1), worked, 0.0, worked + inside, BUSY, IN_MLX)
    assert allowed == (worked + inside - worked <= FACTOR * worked)
