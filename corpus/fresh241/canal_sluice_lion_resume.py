# Canal sluice: predict the water-level rise (cm) of a lock chamber after one
# minute from 4 gauge readings. Tiny MLP, Lion optimizer, linear warm-up from
# exactly 0, interrupted run with a checkpoint, restored into fresh objects.
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3)


def make(n):
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = 0.8 * x[:, 0] - 0.5 * x[:, 1] * x[:, 2] + 0.3 * np.tanh(x[:, 3]) + 0.1 * rng.normal(size=n)
    return mx.array(x), mx.array(y.astype(np.float32))


xtr, ytr = make(2048)
xte, yte = make(512)
baseline = float(mx.mean((yte - mx.mean(ytr)) ** 2))
NOISE = 0.01


def build():
    return nn.Sequential(nn.Linear(4, 32), nn.GELU(), nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 1))


def loss_fn(m, x, y):
    return mx.mean((m(x).squeeze(-1) - y) ** 2)


sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, 40), optim.cosine_decay(1e-3, 360, 1e-5)], [40]
)
TOTAL, STOP_AT, BS = 400, 200, 64
ckpt = os.path.join(tempfile.mkdtemp(), "sluice")


def run(model, opt, start, stop):
    vg = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, 2048, BS))
        loss, g = vg(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if step % 50 == 0 or step == stop - 1:
            te = float(loss_fn(model, xte, yte))
            print(f"{step},{float(opt.learning_rate):.2e},{loss.item():.4f},{te:.4f},{baseline:.4f},{NOISE:.4f}")


print("step,lr,train_mse,test_mse,mean_predictor_mse,noise_floor")
mx.random.seed(0)
model = build()
opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
run(model, opt, 0, STOP_AT)
model.save_weights(ckpt + ".safetensors")
mx.save_safetensors(ckpt + "_opt.safetensors", dict(tree_flatten(opt.state)))
print(f"# interrupted at step {STOP_AT}, checkpoint written")

model2 = build()
model2.load_weights(ckpt + ".safetensors")
opt2 = optim.Lion(learning_rate=sched, weight_decay=1e-3)
opt2.state = tree_unflatten(list(mx.load(ckpt + "_opt.safetensors").items()))
print(f"# resumed at optimizer step {int(opt2.step)}")
run(model2, opt2, STOP_AT, TOTAL)
final = float(loss_fn(model2, xte, yte))
print(f"# final test_mse {final:.4f} vs mean-predictor {baseline:.4f} (noise floor {NOISE:.4f})")
