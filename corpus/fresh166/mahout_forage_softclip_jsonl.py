# Elephant camp: predict daily forage intake (kg) of each elephant from the mahout's log sheet.
# Tiny MLP with a hand-written soft-clip activation (custom VJP), compiled AdamW step,
# learning rate warmed up from exactly 0, JSON-lines log per epoch.
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N_TR, N_VA = 6000, 1200


def make_log(n):
    body_kg = rng.uniform(2200, 5200, n)            # body mass
    age = rng.uniform(4, 60, n)                     # years
    walk_km = rng.gamma(3.0, 2.0, n)                # km walked in forest
    temp_c = rng.normal(29, 4, n)                   # midday temperature
    musth = (rng.random(n) < 0.08).astype(float)    # bull in musth eats less
    lactating = (rng.random(n) < 0.15).astype(float)
    bath_min = rng.uniform(10, 120, n)
    kg = (0.042 * body_kg * (1 + 0.012 * walk_km) * (1 - 0.006 * np.maximum(temp_c - 30, 0) * 3)
          * (1 - 0.25 * musth) * (1 + 0.18 * lactating)
          * (1 - 0.004 * np.abs(age - 30)) + 0.03 * bath_min + rng.normal(0, 6, n))
    X = np.stack([body_kg, age, walk_km, temp_c, musth, lactating, bath_min], 1)
    return X.astype(np.float32), kg.astype(np.float32)


Xtr, ytr = make_log(N_TR)
Xva, yva = make_log(N_VA)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ttr, tva = (ytr - ymu) / ysd, (yva - ymu) / ysd
Xtr, ttr, Xva, tva = map(mx.array, (Xtr, ttr, Xva, tva))


@mx.custom_function
def softclip(x):
    # x / (1 + |x|), a bounded activation
    return x / (1 + mx.abs(x))


@softclip.vjp
def softclip_vjp(primals, cotangent, output):
    x = primals
    d = 1 + mx.abs(x)
    return cotangent / (d * d)


class ForageNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = softclip(self.l1(x))
        h = softclip(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(3)
model = ForageNet()

# quick check of the custom VJP against finite differences
xs = mx.array([-2.0, -0.3, 0.0, 0.7, 3.0])
g = mx.grad(lambda z: softclip(z).sum())(xs)
eps = 1e-3
fd = (softclip(xs + eps) - softclip(xs - eps)) / (2 * eps)
print(json.dumps({"check": "softclip_vjp", "max_abs_diff": round(float(mx.max(mx.abs(g - fd))), 6)}))

EPOCHS, BS = 30, 128
steps_per_epoch = N_TR // BS
total = EPOCHS * steps_per_epoch
warm = 4 * steps_per_epoch
warmup = optim.linear_schedule(0.0, 3e-3, warm)          # starts at exactly 0
cosine = optim.cosine_decay(3e-3, total - warm, 1e-5)
opt = optim.AdamW(learning_rate=optim.join_schedules([warmup, cosine], [warm]), weight_decay=1e-4)


def loss_fn(m, x, t):
    return nn.losses.huber_loss(m(x), t, delta=1.0, reduction="mean")


state = [model.state, opt.state]


# every parameter should receive gradient
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], ttr[:256])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"check": "grad_nonzero", "params": len(tree_flatten(g0)), "zero_grad": zero}))

def _step(x, t):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, t)
    opt.update(model, grads)
    return loss


train_step = mx.compile(_step, inputs=state, outputs=state)

base_mae = float(np.abs(yva - ytr.mean()).mean())
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TR))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss = train_step(Xtr[idx], ttr[idx])
        mx.eval(loss, state)
        tot += loss.item()
    pred = model(Xva) * ysd + ymu
    mae = float(mx.abs(pred - mx.array(yva)).mean())
    rec = {"ep": ep, "lr": round(float(opt.learning_rate), 6), "huber": round(tot / steps_per_epoch, 4),
           "val_mae_kg": round(mae, 2), "mean_guess_mae_kg": round(base_mae, 2)}
    print(json.dumps(rec))
print(json.dumps({"done": True, "sec": round(time.time() - t0, 1), "final_val_mae_kg": round(mae, 2),
                  "gain_vs_mean_guess_pct": round(100 * (1 - mae / base_mae), 1)}))
