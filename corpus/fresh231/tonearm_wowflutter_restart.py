# Turntable service bench: estimate wow and flutter (peak speed deviation, %) from a
# 1.28 s pitch-deviation trace. Stage A trains on clean bench captures; stage B freezes
# the front-end conv, restarts the schedule from lr 0 and adds rumble + hiss (harder data).
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
FS, N = 200, 256
t = np.arange(N) / FS
SCALE = mx.array([0.10, 0.04])  # typical magnitude of each target, %


def capture(n, hiss):
    wow = rng.uniform(0.02, 0.30, n)          # % peak
    flut = rng.uniform(0.01, 0.12, n)         # % peak
    fw = rng.uniform(0.8, 3.0, n)[:, None]
    ff = rng.uniform(12.0, 40.0, n)[:, None]
    ph = rng.uniform(0, 2 * math.pi, (n, 2))
    x = (wow[:, None] * np.sin(2 * math.pi * fw * t + ph[:, :1])
         + flut[:, None] * np.sin(2 * math.pi * ff * t + ph[:, 1:]))
    if hiss > 0:
        x = x + hiss * rng.standard_normal((n, N)) + 0.05 * np.sin(2 * math.pi * 0.3 * t + ph[:, :1])
    y = np.stack([wow, flut], 1)
    return mx.array((x * 10).astype(np.float32)[..., None]), mx.array(y.astype(np.float32))


class FlutterNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.front = nn.Conv1d(1, 16, 9, stride=2, padding=4)
        self.mid = nn.Conv1d(16, 32, 9, stride=2, padding=4)
        self.head = nn.Sequential(nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, 2))

    def __call__(self, x):
        h = nn.relu(self.front(x))
        h = nn.relu(self.mid(h))
        feats = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(feats) * SCALE


def mse(model, x, y):
    return (((model(x) - y) / SCALE) ** 2).mean()


def rmse_pct(model, x, y):
    e = mx.sqrt(((model(x) - y) ** 2).mean(axis=0))
    return e.tolist()


model = FlutterNet()
mx.eval(model.parameters())
step_grad = nn.value_and_grad(model, mse)

print("| stage | step | lr | train nmse | val rmse wow % | val rmse flutter % | mean-guess wow % | mean-guess flutter % |")
print("|---|---|---|---|---|---|---|---|")
for stage, hiss, steps in (("A", 0.0, 160), ("B", 0.04, 160)):
    xtr, ytr = capture(1024, hiss)
    xva, yva = capture(256, hiss)
    base = mx.sqrt(((yva - ytr.mean(axis=0)) ** 2).mean(axis=0)).tolist()
    if stage == "B":
        model.front.freeze()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 0.05, 20), optim.cosine_decay(0.05, steps - 20, 1e-4)], [20])
    opt = optim.SGD(learning_rate=sched, momentum=0.9)
    if stage == "A":
        _, g = step_grad(model, xtr[:64], ytr[:64])
        zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
        print(f"<!-- grad audit: {len(tree_flatten(g))} tensors, zero-grad: {zero} -->")
    for step in range(steps):
        idx = mx.array(rng.integers(0, xtr.shape[0], 64))
        lr_now = float(sched(step))
        loss, grads = step_grad(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == steps - 1:
            w, f = rmse_pct(model, xva, yva)
            print(f"| {stage} | {step} | {lr_now:.4f} | {loss.item():.6f} | {w:.4f} | {f:.4f} | {base[0]:.4f} | {base[1]:.4f} |")
w, f = rmse_pct(model, xva, yva)
print(f"final: wow rmse {w:.4f} % (mean-guess {base[0]:.4f} %), flutter rmse {f:.4f} % (mean-guess {base[1]:.4f} %)")
