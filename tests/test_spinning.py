"""`judging/spinning`: a busy stall in the program's own Python with no MLX frame on the
native main thread gets the endless-loop fix naming the line; a lazy backlog (MLX natively on
the main thread), a stall in an installed package's code, or a missing native dump keep the
generic one."""

from __future__ import annotations

from mlxprobe.judging.spinning import in_own_python

PYTHON = '''Main thread 0x00007f5d65806b80 (most recent call first):
  File "/home/u/train.py", line 41 in iterate_batches
  File "/home/u/train.py", line 81 in <module>

Thread 0x00007f5d4cfff6c0 (most recent call first):
  File "/usr/lib/python3.11/threading.py", line 331 in wait
'''
NATIVE = '''Process 18288: python train.py
Thread 18288 (active+gil): "MainThread"
    permutation (numpy/random/mtrand.cpython-311-x86_64-linux-gnu.so)
    iterate_batches (train.py:41)
    <module> (train.py:81)
Thread 18293 (idle): "mlxprobe-lifeline"
    mlx::core::eval_impl (libmlx.so)
'''


def test_a_stall_in_own_python_with_no_mlx_frame_names_the_line():
    assert in_own_python(PYTHON, NATIVE) == "train.py:41 (iterate_batches)"


def test_a_backlog_a_package_frame_or_no_native_dump_say_nothing():
    backlog = NATIVE.replace("permutation (numpy", "mlx::core::eval_impl (libmlx.so)\n    x (numpy")
    assert in_own_python(PYTHON, backlog) is None
    package = PYTHON.replace("/home/u/train.py\", line 41",
                             "/venv/lib/python3.11/site-packages/datasets/x.py\", line 9")
    assert in_own_python(package, NATIVE) is None
    assert in_own_python(PYTHON, "") is None
