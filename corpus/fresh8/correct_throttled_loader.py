# Classifier fed by a loader that simulates slow storage: every 25th batch the
# loader "fetches a new shard" and sleeps ~1.5 s. Training stalls visibly during
# fetches but always resumes; the run finishes by itself.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

rng = np.random.default_rng(11)
centers = rng.normal(scale=2.0, size=(5, 16)).astype(np.float32)


def shard_loader(n_batches, bs=64):
    for b in range(n_batches):
        if b % 25 == 0:
            time.sleep(1.5)          # slow shard fetch
        y = rng.integers(0, 5, size=bs)
        x = centers[y] + rng.normal(size=(bs, 16)).astype(np.float32)
        yield mx.array(x), mx.array(y)


model = nn.Sequential(nn.Linear(16, 48), nn.ReLU(), nn.Linear(48, 5))
opt = optim.Lion(learning_rate=3e-4, weight_decay=0.01)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
t_last = time.time()
run = 0.0
for i, (x, y) in enumerate(shard_loader(300), start=1):
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run = 0.9 * run + 0.1 * loss.item() if i > 1 else loss.item()
    if i % 20 == 0:
        now = time.time()
        print(f"it {i:3d}/300  ce(ema)={run:.4f}  {20 / (now - t_last):6.1f} it/s")
        t_last = now
print("finished")
