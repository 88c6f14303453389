# Harbour pontoon camera: estimate the drift velocity (px/frame, x and y) of a
# floating marker from the last 4 greyscale frames stacked as channels, the way
# frame stacks feed a conv net (one strided 2-D conv, then dense). Heteroscedastic Gaussian head, SGD with
# momentum under cosine annealing with warm restarts (3 cycles),
# gradient norm clipped at 2.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

K, S = 4, 12
rng = np.random.default_rng(11)
yy, xx = np.mgrid[0:S, 0:S]


def make(n):
    v = rng.uniform(-1.0, 1.0, size=(n, 2)).astype(np.float32)
    frames = np.zeros((n, S, S, K), dtype=np.float32)
    for i in range(n):
        c = rng.uniform(4.5, 7.5, size=2) - v[i] * (K - 1) / 2
        for k in range(K):
            cx, cy = c + v[i] * k + rng.normal(0, 0.12, size=2)
            frames[i, :, :, k] = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 2.0)
    frames += rng.normal(0, 0.15, size=frames.shape).astype(np.float32)
    # the logged target is read off a noisy tracker (sd 0.08 px/frame): a noise floor
    target = v + rng.normal(0, 0.08, size=v.shape).astype(np.float32)
    return mx.array(frames), mx.array(target), mx.array(v)


class StackNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(K, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16 * 36, 96)
        self.mu = nn.Linear(96, 2)
        self.logvar = nn.Linear(96, 2)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.fc(h.reshape(h.shape[0], -1)))
        return self.mu(h), mx.clip(self.logvar(h), -9.0, 3.0)


def nll(model, x, y):
    mu, lv = model(x)
    return (0.5 * (lv + (y - mu) ** 2 / mx.exp(lv)) + 0.5 * math.log(2 * math.pi)).mean()


xtr, ytr, _ = make(6000)
xva, yva, vva = make(800)
mx.random.seed(5)
model = StackNet()
CYCLE, CYCLES, B = 300, 3, 64
sched = optim.join_schedules(
    [optim.cosine_decay(0.03, CYCLE, 5e-4) for _ in range(CYCLES)],
    [CYCLE * c for c in range(1, CYCLES)],
)
opt = optim.SGD(learning_rate=sched, momentum=0.9)
vg = nn.value_and_grad(model, nll)
print(f"data: {xtr.shape[0]} train / {xva.shape[0]} val stacks of {K} frames {S}x{S}; tracker noise sd 0.08 px/frame")
print(f"baseline: predict zero velocity -> val RMSE {float(mx.sqrt((yva ** 2).mean()).item()):.3f} px/frame; "
      f"tracker floor RMSE 0.080; Gaussian NLL floor about {0.5 * math.log(2 * math.pi * 0.0064) + 0.5:+.3f} nats")
t0 = time.time()
window = []
for step in range(1, CYCLE * CYCLES + 1):
    idx = mx.array(rng.integers(0, xtr.shape[0], size=B))
    lr = opt.learning_rate.item()
    loss, g = vg(model, xtr[idx], ytr[idx])
    g, gnorm = optim.clip_grad_norm(g, 2.0)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step == 1:
        leaves = tree_flatten(g)
        print(f"grad check: {len(leaves)} leaves, zero leaves: {[k for k, a in leaves if float(mx.abs(a).max()) == 0.0]}")
    if step % 150 == 0:
        mu, lv = model(xva)
        v_nll = nll(model, xva, yva).item()
        rmse = float(mx.sqrt(((mu - yva) ** 2).mean()).item())
        rmse_true = float(mx.sqrt(((mu - vva) ** 2).mean()).item())
        sd = float(mx.exp(0.5 * lv).mean().item())
        cyc = (step - 1) // CYCLE + 1
        print(f"cycle={cyc} step={step} lr={lr:.5f} train_nll={np.mean(window):+.4f} val_nll={v_nll:+.4f} "
              f"val_rmse={rmse:.4f} rmse_vs_true={rmse_true:.4f} pred_sd={sd:.4f} t={time.time() - t0:.1f}s")
        window = []
print(f"done: {CYCLE * CYCLES} steps in {time.time() - t0:.1f}s")
