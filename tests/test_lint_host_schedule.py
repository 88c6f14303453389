"""MLX139: a hand-written learning-rate schedule that returns a Python number."""

from __future__ import annotations

from lint_snippets import fired

CODE = """
import math
BASE_LR, WARMUP, TOTAL = 2e-3, 100, 1200

def lr_schedule(step):
    step = int(step)
    if step < WARMUP:
        lr = BASE_LR * (step + 1) / WARMUP
    else:
        p = (step - WARMUP) / max(1, TOTAL - WARMUP)
        lr = 1e-5 + 0.5 * (BASE_LR - 1e-5) * (1 + math.cos(math.pi * min(p, 1.0)))
    return lr

opt = optim.Adam(learning_rate=lr_schedule)
"""


def test_mlx139_a_schedule_that_converts_the_step_returns_a_float():
    assert fired(CODE, "MLX139") == [14]


def test_mlx139_lambdas_in_place_or_bound_and_a_positional_rate():
    code = """
    import math
    sched = lambda s: 1e-3 * 0.5 * (1 + math.cos(math.pi * s.item() / 1000))
    a = optim.AdamW(learning_rate=sched)
    b = optim.SGD(lambda s: 1e-3 * min(1.0, float(s) / 100))
    """
    assert fired(code, "MLX139") == [4, 5]


def test_mlx139_schedules_that_return_arrays_are_clean():
    wrapped = CODE.replace("return lr", "return mx.array(lr)")
    from_step = """
    def warm(step):
        return 1e-3 * mx.minimum(1.0, step / 100)
    a = optim.Adam(learning_rate=warm)
    b = optim.Adam(learning_rate=lambda step: 1e-3 * step / 100)
    c = optim.Adam(learning_rate=optim.cosine_decay(1e-3, 1000))
    d = optim.Adam(learning_rate=1e-3)
    """
    for code in (wrapped, from_step):
        assert fired(code, "MLX139") == []
