"""MLX074 on small programs: a compiled step handed a Python number made from the loop's
counter; and the near misses that stay silent (an mx.array, a value fixed per epoch, a
counter reset at each update, a function that is not compiled)."""

from __future__ import annotations

from lint_snippets import fired

LOOP = """
WARMUP = 100

@mx.compile
def train_step(x, y, scale):
    return ((x - y) ** 2).mean() * scale

def plain(x, y, scale):
    return ((x - y) ** 2).mean() * scale

step = 0
for epoch in range(3):
    for x, y in batches:
        step += 1
        {body}
        optimizer.update(model, grads)
"""


def test_mlx074_a_changing_float_into_a_compiled_step() -> None:
    body = "warm = min(1.0, step / WARMUP)\n        loss = train_step(x, y, warm)"
    assert fired(LOOP.format(body=body), "MLX074") == [16]
    body = "loss = train_step(x, y, 0.5 ** step)"
    assert fired(LOOP.format(body=body), "MLX074") == [15]


def test_mlx074_silent_on_arrays_epochs_resets_and_plain_functions() -> None:
    for body in ("loss = train_step(x, y, mx.array(min(1.0, step / WARMUP)))",
                 "loss = train_step(x, y, 0.9 ** epoch)",
                 "loss = plain(x, y, min(1.0, step / WARMUP))",
                 "loss = train_step(x, y, 1.0)"):
        assert fired(LOOP.format(body=body), "MLX074") == [], body
    reset = LOOP.replace("step += 1", "step += 1\n        if step == 4:\n            step = 0")
    assert fired(reset.format(body="loss = train_step(x, y, step)"), "MLX074") == []
