"""Wheelwright's log: predict the dish depth (mm) of a cartwheel after the hot
iron tyre is shrunk on.  Whether the tyre was 'blood hot' or 'straw hot' is not
written down, so the outcome is bimodal -> a small mixture density network."""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(5)
rng = np.random.default_rng(7)
N = 3000
diam = rng.uniform(0.9, 1.6, N)          # wheel diameter (m)
spokes = rng.integers(10, 17, N)         # spoke count
oak_moist = rng.uniform(10, 22, N)       # felloe moisture (%)
gap = rng.uniform(4, 14, N)              # tyre shortfall (mm)
hot = rng.random(N) < 0.55               # hidden: tyre blood hot or not
base = 6 + 9 * (diam - 0.9) + 0.45 * gap - 0.15 * (oak_moist - 16)
depth = np.where(hot, base + 7.0 + 0.2 * spokes, base - 1.5) + rng.normal(0, 0.9, N)

X = np.stack([diam, spokes, oak_moist, gap], 1).astype(np.float32)
X = (X - X.mean(0)) / X.std(0)
y_mu, y_sd = depth.mean(), depth.std()
Y = ((depth - y_mu) / y_sd).astype(np.float32)
Xtr, Ytr = mx.array(X[:2500]), mx.array(Y[:2500])
Xva, Yva = mx.array(X[2500:]), mx.array(Y[2500:])

K = 3
LOG2PI = math.log(2 * math.pi)


class MDN(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 24), nn.Tanh(), nn.Linear(24, 24), nn.Tanh())
        self.logit = nn.Linear(24, K)
        self.mu = nn.Linear(24, K)
        self.logsig = nn.Linear(24, K)

    def __call__(self, x):
        h = self.body(x)
        return self.logit(h), self.mu(h), mx.clip(self.logsig(h), -3.0, 2.0)


def nll(model, x, y):
    logit, mu, logsig = model(x)
    logpi = logit - mx.logsumexp(logit, axis=-1, keepdims=True)
    z = (y[:, None] - mu) * mx.exp(-logsig)
    comp = -0.5 * z * z - logsig - 0.5 * LOG2PI
    return -mx.logsumexp(logpi + comp, axis=-1).mean()


# reference: one Gaussian over the standardised target (what a plain regressor's
# noise model would score); mean 0, sd 1 -> 0.5*log(2pi) + 0.5
ref_gauss = 0.5 * LOG2PI + 0.5

model = MDN()
mx.eval(model.parameters())
STEPS = 400
warm = optim.linear_schedule(0.0, 8e-3, 60)
decay = optim.cosine_decay(8e-3, STEPS - 60, 2e-4)
opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [60]), weight_decay=1e-2)
step_fn = nn.value_and_grad(model, nll)

t0 = time.time()
for it in range(STEPS + 1):
    lr_now = opt.learning_rate.item()
    loss, grads = step_fn(model, Xtr, Ytr)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        va = nll(model, Xva, Yva).item()
        gn = math.sqrt(sum((g * g).sum().item() for _, g in nn.utils.tree_flatten(grads)))
        print(json.dumps({"it": it, "lr": round(lr_now, 6), "nll_nats": round(loss.item(), 4),
                          "val_nll_nats": round(va, 4), "single_gauss_ref": round(ref_gauss, 4),
                          "grad_l2": round(gn, 4), "secs": round(time.time() - t0, 2)}))

logit, mu, logsig = model(Xva)
pi = mx.softmax(logit, axis=-1)
mean_mm = (pi * mu).sum(-1) * y_sd + y_mu
mae = mx.abs(mean_mm - (Yva * y_sd + y_mu)).mean().item()
print(json.dumps({"final": True, "val_nll_nats": round(nll(model, Xva, Yva).item(), 4),
                  "val_mae_mm_of_mixture_mean": round(mae, 3),
                  "pi_mean": [round(v, 3) for v in pi.mean(0).tolist()]}))
