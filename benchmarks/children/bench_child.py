"""Children for the benchmarks (run by mlxprobe's runner, never imported by the parent).

Settings come from the environment (the benchmark passes them through `RunSpec.env`):
BENCH_SECONDS (steady), BENCH_KB, BENCH_STEPS, BENCH_STEP_S (grow, grow_mlx).

- steady: the fixed tiny-LM loop of scenarios/step2_hang.py, for BENCH_SECONDS seconds.
- grow: plain Python, keeps BENCH_KB KiB (touched, so resident) per step.
- grow_mlx: the same with evaluated MLX arrays kept alive.
"""

import os
import time

SCENARIO = {
    "id": "bench",
    "title": "benchmark children",
    "variants": {"steady": "pass", "grow": "leak", "grow_mlx": "leak"},
}


def _setting(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def steady(probe):
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim
    from mlxprobe_scenarios._lm import make_model, next_token_loss
    from mlxprobe_scenarios._text import batches, split

    model = make_model(0)
    optimizer = optim.AdamW(learning_rate=3e-3)
    loss_and_grad = nn.value_and_grad(model, next_token_loss)
    train, _ = split()
    end = time.monotonic() + _setting("BENCH_SECONDS", 20)
    probe.reset_clock()
    for tokens in batches(train, 8, 32, seed=1):
        loss, grads = loss_and_grad(model, tokens)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)
        probe.step(loss=loss.item())
        if time.monotonic() > end:
            return


def _grow(probe, make):  # noqa: ANN001 - probe, (bytes per step, step) -> object kept
    size = int(_setting("BENCH_KB", 0) * 1024)
    pace = _setting("BENCH_STEP_S", 0.01)
    keep = []
    for step in range(int(_setting("BENCH_STEPS", 100))):
        keep.append(make(size, step))
        time.sleep(pace)
        probe.step(loss=10.0 / (1 + step))


def grow(probe):
    _grow(probe, lambda size, step: bytes([1 + step % 255]) * size)


def grow_mlx(probe):
    import mlx.core as mx

    def make(size, step):
        kept = mx.full((max(1, size // 4),), float(step), dtype=mx.float32)
        mx.eval(kept)
        return kept

    _grow(probe, make)
