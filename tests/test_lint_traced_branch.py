"""MLX065 on small programs: a compiled function branching on a Python value the program
changes between calls, and the argument or constant branches that stay silent."""

from __future__ import annotations

from lint_snippets import fired


def test_mlx065_branch_on_a_module_loop_counter_or_a_global() -> None:
    code = """
ACCUM = 4
count = 0

@mx.compile
def step(x):
    global count
    count += 1
    while count > 100:
        break
    return x * 2 if it % ACCUM == 0 else x

for it in range(100):
    y = step(x)
"""
    assert fired(code, "MLX065") == [9, 11]


def test_mlx065_arguments_constants_and_locals_are_clean() -> None:
    code = """
ACCUM = 4
DEBUG = False

@mx.compile
def step(x, do_update):
    n = x.shape[0]
    if do_update:
        x = x * 2
    if DEBUG or n > ACCUM:
        x = x + 1
    return x

for it in range(100):
    y = step(x, it % ACCUM == 0)
"""
    assert fired(code, "MLX065") == []
