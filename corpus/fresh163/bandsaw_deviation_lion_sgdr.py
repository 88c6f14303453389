# Sawmill headrig: predict bandsaw blade deviation (micrometres, mean |off-line| over a cut)
# from feed speed, blade strain, tooth bite, log density, moisture and blade temperature.
# Lion optimizer, compiled step, warmup-from-zero + cosine warm restarts, JSON lines.
import json, math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

mx.random.seed(7)
N, NV = 4096, 512
def make(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, 6), key=k1)
    # feed speed, strain, tooth bite, density, moisture, blade temp (standardised)
    dev = (95.0 + 6.0 * x[:, 0] - 4.5 * mx.tanh(x[:, 1]) + 2.0 * x[:, 2] * x[:, 3]
           - 3.0 * x[:, 3] + 1.5 * mx.sin(2 * x[:, 4]) + 0.8 * x[:, 5] ** 2)
    y = dev + 0.7 * mx.random.normal((n,), key=k2)
    return x, y
xtr, ytr = make(N, mx.random.key(1))
xva, yva = make(NV, mx.random.key(2))
mu, sd = ytr.mean(), ytr.std()

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64); self.l2 = nn.Linear(64, 64); self.out = nn.Linear(64, 1)
    def __call__(self, x):
        h = nn.silu(self.l1(x)); h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)

model = Net()
CYCLE, WARM, CYCLES = 150, 20, 4
warm = optim.linear_schedule(0.0, 3e-4, WARM)
cos = optim.cosine_decay(3e-4, CYCLE - WARM, end=1e-6)
def lr_at(s):
    c = s % CYCLE
    return warm(c) if c < WARM else cos(c - WARM)
opt = optim.Lion(learning_rate=0.0, weight_decay=0.01)

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), (y - mu) / sd)

state = [model.state, opt.state]
@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, g)
    return loss

# gradient audit once before training
_, g0 = nn.value_and_grad(model, loss_fn)(model, xtr[:256], ytr[:256])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))

base_mae = float(mx.abs(yva - mu).mean())
B = 128
t0 = time.time()
for s in range(CYCLE * CYCLES):
    opt.learning_rate = mx.array(lr_at(s))
    idx = mx.random.randint(0, N, (B,))
    loss = step(xtr[idx], ytr[idx])
    mx.eval(loss, model.parameters(), opt.state)
    if s % 25 == 0 or s % CYCLE == CYCLE - 1:
        pred = model(xva) * sd + mu
        mae = float(mx.abs(pred - yva).mean())
        print(json.dumps({"cycle": s // CYCLE, "it": s % CYCLE, "lr": round(float(lr_at(s)), 7),
                          "train_mse_z": round(loss.item(), 4), "val_mae_um": round(mae, 3),
                          "mean_pred_mae_um": round(base_mae, 3)}))
pred = model(xva) * sd + mu
mae = float(mx.abs(pred - yva).mean())
print(json.dumps({"event": "done", "val_mae_um": round(mae, 3), "baseline_um": round(base_mae, 3),
                  "skill_pct": round(100 * (1 - mae / base_mae), 1), "secs": round(time.time() - t0, 1)}))
