"""MLX061 (rules/processes.py) on small programs: pools and processes started with the fork
method (the default, or a fork context) whose workers run MLX in a module that runs MLX fire;
spawn or forkserver contexts, a spawn start method set for the module, workers without MLX
and a parent without MLX stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

HEADER = """\
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import Pool, Process
import mlx.core as mx
import numpy as np
from functools import partial
"""

WORKER = """
def work(seed, scale=1.0):
    mx.random.seed(seed)
    return np.array(mx.random.normal((4,)) * scale)

def plain(seed):
    return np.random.default_rng(seed).normal(size=4)

def main():
    w = mx.zeros((4,))
    mx.eval(w)
    {start}
"""


def check(start: str) -> list[int]:
    return fired(WORKER.replace("{start}", start), "MLX061", header=HEADER)


@pytest.mark.parametrize("start", [
    "pool = mp.Pool(2)\n    out = pool.map(work, range(4))",
    "with Pool(2) as pool:\n        out = pool.imap_unordered(partial(work, scale=2.0), range(4))",
    "p = Process(target=work, args=(0,))\n    p.start()",
    "with ProcessPoolExecutor(2) as ex:\n        fut = ex.submit(work, 1)",
    "ctx = mp.get_context('fork')\n    out = ctx.Pool(2).map(work, range(4))",
    "out = mp.get_context().Pool(2).apply_async(work, (3,))",
])
def test_mlx061_fork_started_workers_that_run_mlx(start: str) -> None:
    assert len(check(start)) == 1


@pytest.mark.parametrize("start", [
    "pool = mp.get_context('spawn').Pool(2)\n    out = pool.map(work, range(4))",
    "ctx = mp.get_context('forkserver')\n    p = ctx.Process(target=work, args=(0,))",
    "ex = ProcessPoolExecutor(2, mp_context=mp.get_context('spawn'))\n    ex.submit(work, 1)",
    "pool = mp.Pool(2)\n    out = pool.map(plain, range(4))",
])
def test_mlx061_spawn_contexts_and_mlx_free_workers_are_clean(start: str) -> None:
    assert check(start) == []


def test_mlx061_spawn_start_method_set_for_the_module() -> None:
    code = WORKER.replace("{start}", "pool = mp.Pool(2)\n    out = pool.map(work, range(4))")
    code += "\nif __name__ == '__main__':\n    mp.set_start_method('spawn')\n    main()\n"
    assert fired(code, "MLX061", header=HEADER) == []


def test_mlx061_parent_that_runs_no_mlx_is_clean() -> None:
    code = """
def work(seed):
    return np.array(mx.random.normal((4,)))

def main():
    with mp.Pool(2) as pool:
        return pool.map(work, range(4))
"""
    assert fired(code, "MLX061", header=HEADER) == []
